//! Acquisition functions for minimisation, in a numerically stable form.
//!
//! Each returns a score to *maximise* and its derivatives with respect to the posterior mean `μ`
//! and standard deviation `σ` (the caller chains them to the inputs). EI and MPI are returned as
//! logarithms (log-EI, log-PI), which stay finite and informative far from the incumbent where
//! EI itself underflows to 0. With `z = (best − ξ − μ) / σ`:
//! - EI: `log σ + log h(z)`, `h(z) = φ(z) + z Φ(z)`;
//! - MPI: `log Φ(z)`;
//! - LCB: `−(μ − κ σ)` with κ = `LCB_KAPPA` = 2: a lower confidence bound two standard deviations
//!   below the mean, a common middle between exploitation (κ → 0) and exploration.
//!
//! `ξ` = `IMPROVEMENT_MARGIN` (in normalised loss units) keeps EI and MPI from clinging to the
//! incumbent.

use crate::config::search::Acquisition;

pub const LCB_KAPPA: f64 = 2.0;
pub const IMPROVEMENT_MARGIN: f64 = 0.0;

const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

fn pdf(z: f64) -> f64 {
    INV_SQRT_2PI * (-0.5 * z * z).exp()
}

fn log_pdf(z: f64) -> f64 {
    INV_SQRT_2PI.ln() - 0.5 * z * z
}

fn cdf(z: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-z / std::f64::consts::SQRT_2)
}

/// Below this z the closed forms lose precision and the asymptotic series take over.
const TAIL: f64 = -8.0;

/// `log h(z)` and `Φ(z) / h(z)`.
fn log_h_and_ratio(z: f64) -> (f64, f64) {
    if z > TAIL {
        let (p, c) = (pdf(z), cdf(z));
        let h = (p + z * c).max(f64::MIN_POSITIVE);
        (h.ln(), c / h)
    } else {
        let z2 = z * z;
        let series_h = 1.0 - 3.0 / z2 + 15.0 / (z2 * z2) - 105.0 / (z2 * z2 * z2);
        let series_c = 1.0 - 1.0 / z2 + 3.0 / (z2 * z2) - 15.0 / (z2 * z2 * z2);
        (
            log_pdf(z) - 2.0 * (-z).ln() + series_h.ln(),
            -z * series_c / series_h,
        )
    }
}

/// `log Φ(z)` and `φ(z) / Φ(z)`.
fn log_cdf_and_ratio(z: f64) -> (f64, f64) {
    if z > TAIL {
        let c = cdf(z).max(f64::MIN_POSITIVE);
        (c.ln(), pdf(z) / c)
    } else {
        let z2 = z * z;
        let series = 1.0 - 1.0 / z2 + 3.0 / (z2 * z2) - 15.0 / (z2 * z2 * z2);
        (log_pdf(z) - (-z).ln() + series.ln(), -z / series)
    }
}

/// The score and its derivatives `(score, d/dμ, d/dσ)`; `kappa` is LCB's κ (`LCB_KAPPA`, or a
/// smaller one for the final suggestions of a budget).
pub fn score(kind: Acquisition, mean: f64, sd: f64, best: f64, kappa: f64) -> (f64, f64, f64) {
    let sd = sd.max(1e-9);
    let z = (best - IMPROVEMENT_MARGIN - mean) / sd;
    match kind {
        Acquisition::Ei => {
            let (log_h, ratio) = log_h_and_ratio(z);
            (sd.ln() + log_h, -ratio / sd, 1.0 / sd - ratio * z / sd)
        }
        Acquisition::Mpi => {
            let (log_c, ratio) = log_cdf_and_ratio(z);
            (log_c, -ratio / sd, -ratio * z / sd)
        }
        Acquisition::Lcb => (-(mean - kappa * sd), -1.0, kappa),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ei_is_finite_and_monotone_far_from_the_incumbent() {
        let mut last = f64::INFINITY;
        for mean in [0.0, 1.0, 5.0, 10.0, 20.0, 40.0] {
            let (s, _, _) = score(Acquisition::Ei, mean, 1.0, 0.0, LCB_KAPPA);
            assert!(s.is_finite() && s < last, "mean {mean}: {s}");
            last = s;
        }
    }

    #[test]
    fn the_tail_series_joins_the_closed_form() {
        let below = log_h_and_ratio(TAIL - 1e-9);
        let above = log_h_and_ratio(TAIL + 1e-9);
        assert!((below.0 - above.0).abs() < 1e-4, "{below:?} {above:?}");
        assert!((below.1 - above.1).abs() / above.1 < 1e-3);
        let below = log_cdf_and_ratio(TAIL - 1e-9);
        let above = log_cdf_and_ratio(TAIL + 1e-9);
        assert!((below.0 - above.0).abs() < 1e-4, "{below:?} {above:?}");
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for kind in [Acquisition::Ei, Acquisition::Mpi, Acquisition::Lcb] {
            for (mean, sd) in [(0.3, 0.5), (2.0, 0.2), (12.0, 1.0), (-1.0, 0.7)] {
                let (_, dm, ds) = score(kind, mean, sd, 0.0, LCB_KAPPA);
                let h = 1e-6;
                let num_m = (score(kind, mean + h, sd, 0.0, LCB_KAPPA).0
                    - score(kind, mean - h, sd, 0.0, LCB_KAPPA).0)
                    / (2.0 * h);
                let num_s = (score(kind, mean, sd + h, 0.0, LCB_KAPPA).0
                    - score(kind, mean, sd - h, 0.0, LCB_KAPPA).0)
                    / (2.0 * h);
                assert!(
                    (dm - num_m).abs() < 1e-3 * (1.0 + num_m.abs()),
                    "{kind:?} dμ at {mean},{sd}: {dm} vs {num_m}"
                );
                assert!(
                    (ds - num_s).abs() < 1e-3 * (1.0 + num_s.abs()),
                    "{kind:?} dσ at {mean},{sd}: {ds} vs {num_s}"
                );
            }
        }
    }
}
