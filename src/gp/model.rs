//! A Gaussian-process regression model: MAP fit of the kernel hyperparameters, predictions with
//! gradients, and how well it predicts its own data left out one at a time.
//!
//! Shapes: `n` observations of `D` features; `x: n × D` (unit-cube features), `y: n` (already
//! normalised by the caller). The fit maximises the log posterior of the hyperparameters
//! (`likelihood`) with multi-start L-BFGS-B on analytic gradients. The noise variance lies
//! within `MIN_NOISE ..= 1` or a tighter bound the caller sets (`Noise`).

use super::kernel::{squared_distance, values_in_place, Covariance};
use super::likelihood::{lengthscale_prior_mean, LOG_2PI, NOISE_PRIOR_MEAN};
use super::likelihood::{Hyper, Likelihood, ADDITIVE_PRIOR_MEAN};
use super::linalg;
use crate::config::search::Kernel;
use rand::RngExt;
use rcompat_lbfgsb::{optim_lbfgsb_with_gradient, Bounds, OptimControl};
use std::cell::RefCell;

pub const MIN_NOISE: f64 = 1e-6;

/// What a fit may assume about the observation noise, a variance in the units of the
/// (standardised) targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// Held at `MIN_NOISE`: the losses are exact (`exact_feval`).
    Exact,
    /// Fitted, within `MIN_NOISE ..= ` this variance.
    AtMost(f64),
}

impl Noise {
    /// Fitted, up to the targets' whole variance.
    pub const FITTED: Noise = Noise::AtMost(1.0);

    /// The bounds of `log σ_n²` in a fit.
    fn log_bounds(self) -> (f64, f64) {
        match self {
            Noise::Exact => (MIN_NOISE.ln(), MIN_NOISE.ln()),
            Noise::AtMost(v) => (MIN_NOISE.ln(), v.max(MIN_NOISE).ln()),
        }
    }
}

/// The last objective evaluation: θ, value, gradient (L-BFGS-B asks for value and gradient apart).
type Evaluated = (Vec<f64>, f64, Vec<f64>);

/// A fitted GP, ready to predict.
#[derive(Debug, Clone)]
pub struct Gp {
    pub kernel: Kernel,
    pub hyper: Hyper,
    /// Observations, `n × d` row-major.
    x: Vec<f64>,
    d: usize,
    /// Cholesky factor of `K + σ_n² I` (+ jitter), lower, row-major `n × n`.
    chol: Vec<f64>,
    alpha: Vec<f64>,
    /// The targets `y` it was built on (a believer rebuilds on them).
    targets: Vec<f64>,
    covariance: Covariance,
    /// Diagonal jitter the factorisation needed beyond the noise (0 for a healthy fit).
    pub jitter: f64,
    /// The negative log posterior of the hyperparameters when the GP came from a fit.
    pub neg_log_posterior: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Prediction {
    pub mean: f64,
    pub variance: f64,
    /// Gradients with respect to the input features (empty when not asked for).
    pub d_mean: Vec<f64>,
    pub d_variance: Vec<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum GpError {
    #[error("the GP's covariance matrix is not positive definite even with jitter")]
    NotPositiveDefinite,
    #[error("no data to fit")]
    NoData,
}

/// How many candidates `Gp::predict_batch` handles at a time (their kernel rows stay in cache).
const BATCH: usize = 64;

impl Gp {
    /// A GP with given hyperparameters on data `x`, `y`.
    pub fn new(kernel: Kernel, hyper: Hyper, x: Vec<Vec<f64>>, y: &[f64]) -> Result<Gp, GpError> {
        let noise = hyper.log_noise.exp();
        Gp::with_noise(kernel, hyper, x, y, |_| noise)
    }

    /// This GP with runs in flight counted as observed at its own posterior mean, exactly (the
    /// "kriging believer"), and the values they are believed to have. Exactly, not with the
    /// fitted noise: a run in flight will tell the latent loss there, and with a noisy belief
    /// the acquisition stayed high at a believed point, so parallel suggestions piled up on one
    /// spot (docs/benchmarks.md "Runs in flight").
    pub fn believing(&self, points: &[Vec<f64>]) -> Result<(Gp, Vec<f64>), GpError> {
        let believed: Vec<f64> = points.iter().map(|p| self.predict(p, false).mean).collect();
        let n = self.len();
        let d = self.d;
        let mut x: Vec<Vec<f64>> = (0..n)
            .map(|i| self.x[i * d..(i + 1) * d].to_vec())
            .collect();
        x.extend(points.iter().cloned());
        let mut y = self.targets.clone();
        y.extend(&believed);
        let noise = self.hyper.log_noise.exp();
        let gp = Gp::with_noise(self.kernel, self.hyper.clone(), x, &y, |i| {
            if i < n {
                noise
            } else {
                MIN_NOISE
            }
        })?;
        Ok((gp, believed))
    }

    /// A GP on data `x`, `y` whose `i`-th observation has noise variance `noise(i)`.
    fn with_noise(
        kernel: Kernel,
        hyper: Hyper,
        x: Vec<Vec<f64>>,
        y: &[f64],
        noise: impl Fn(usize) -> f64,
    ) -> Result<Gp, GpError> {
        let n = x.len();
        if n == 0 {
            return Err(GpError::NoData);
        }
        let d = x[0].len();
        let covariance = Covariance::new(kernel, &hyper);
        let mut k = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..i {
                k[i * n + j] = covariance.value(&x[i], &x[j]);
            }
            k[i * n + i] = covariance.sf2 + noise(i);
        }
        let mut chol = Vec::with_capacity(n * n);
        let jitter =
            linalg::robust_cholesky(&k, n, &mut chol).ok_or(GpError::NotPositiveDefinite)?;
        let mut alpha: Vec<f64> = y.iter().map(|v| v - hyper.mean).collect();
        linalg::solve_lower(&chol, n, &mut alpha);
        linalg::solve_lower_transposed(&chol, n, &mut alpha);
        Ok(Gp {
            kernel,
            hyper,
            x: x.into_iter().flatten().collect(),
            d,
            chol,
            alpha,
            targets: y.to_vec(),
            covariance,
            jitter,
            neg_log_posterior: None,
        })
    }

    /// The starting points of a MAP fit: the prior's centre and `random` draws around it.
    pub fn default_starts(
        d: usize,
        noise: Noise,
        random: usize,
        rng: &mut impl rand::Rng,
    ) -> Vec<Hyper> {
        let mu = lengthscale_prior_mean(d);
        let centre = Hyper {
            log_lengthscales: vec![mu.min(1.0); d],
            log_signal: 0.0,
            log_noise: if noise == Noise::Exact {
                MIN_NOISE.ln()
            } else {
                NOISE_PRIOR_MEAN
            },
            mean: 0.0,
            log_alpha: 0.0,
            additive: None,
        };
        let mut starts = vec![centre];
        for _ in 0..random {
            let mut v: Vec<f64> = (0..d).map(|_| rng.random_range(-2.5..1.5)).collect();
            v.extend([
                rng.random_range(-1.0..1.0),
                if noise == Noise::Exact {
                    MIN_NOISE.ln()
                } else {
                    rng.random_range(-10.0..-2.0)
                },
                rng.random_range(-0.5..0.5),
                0.0,
            ]);
            starts.push(Hyper::from_vec(&v, d));
        }
        starts
    }

    /// MAP fit with multi-start L-BFGS-B; `starts` random restarts beside the prior's centre.
    pub fn fit(
        kernel: Kernel,
        x: Vec<Vec<f64>>,
        y: &[f64],
        noise: Noise,
        starts: usize,
        rng: &mut impl rand::Rng,
    ) -> Result<Gp, GpError> {
        let d = x.first().ok_or(GpError::NoData)?.len();
        let inits = Self::default_starts(d, noise, starts, rng);
        Self::fit_from(kernel, x, y, noise, &inits, 60)
    }

    /// MAP fit by L-BFGS-B (at most `max_iterations` each) from each of `inits` (clamped into
    /// the bounds, the noise's included); the best wins. The first init says whether the kernel
    /// has an additive part (every init is read that way).
    pub fn fit_from(
        kernel: Kernel,
        x: Vec<Vec<f64>>,
        y: &[f64],
        noise: Noise,
        inits: &[Hyper],
        max_iterations: usize,
    ) -> Result<Gp, GpError> {
        if x.is_empty() {
            return Err(GpError::NoData);
        }
        let d = x[0].len();
        let (noise_low, noise_high) = noise.log_bounds();
        let mut lower = vec![(1e-3f64).ln(); d];
        let mut upper = vec![(1e3f64).ln(); d];
        lower.extend([
            -6.0,
            noise_low,
            -4.0,
            if kernel == Kernel::RatQuad { -3.0 } else { 0.0 },
        ]);
        upper.extend([
            6.0,
            noise_high,
            4.0,
            if kernel == Kernel::RatQuad { 3.0 } else { 0.0 },
        ]);
        let additive = inits.first().is_some_and(|h| h.additive.is_some());
        if additive {
            lower.push(-6.0);
            upper.push(6.0);
        }
        let bounds = Bounds::new(lower.clone(), upper.clone()).map_err(|_| GpError::NoData)?;
        let likelihood = RefCell::new(Likelihood::new(kernel, &x, y));
        let cache: RefCell<Option<Evaluated>> = RefCell::new(None);
        let evaluate = |theta: &[f64]| -> (f64, Vec<f64>) {
            if let Some((t, v, g)) = cache.borrow().as_ref() {
                if t.as_slice() == theta {
                    return (*v, g.clone());
                }
            }
            let (v, g) = likelihood.borrow_mut().evaluate(theta);
            *cache.borrow_mut() = Some((theta.to_vec(), v, g.clone()));
            (v, g)
        };
        let mut best: Option<(f64, Vec<f64>)> = None;
        for init in inits {
            let init: Vec<f64> = init
                .with_additive(additive.then(|| init.additive.unwrap_or(ADDITIVE_PRIOR_MEAN)))
                .to_vec()
                .iter()
                .zip(&lower)
                .zip(&upper)
                .map(|((v, lo), hi)| v.clamp(*lo, *hi))
                .collect();
            let mut control = OptimControl::default_for_dimension(init.len());
            control.maxit = max_iterations;
            control.factr = 1e9;
            let result = optim_lbfgsb_with_gradient(
                init.clone(),
                bounds.clone(),
                |t| evaluate(t).0,
                |t| evaluate(t).1,
                control,
            );
            let (value, theta) = match result {
                Ok(r) => (r.value, r.par),
                Err(_) => (evaluate(&init).0, init),
            };
            if value.is_finite() && best.as_ref().is_none_or(|(b, _)| value < *b) {
                best = Some((value, theta));
            }
        }
        let (value, theta) = match best {
            Some((v, t)) => (Some(v), t),
            None => (None, inits.first().ok_or(GpError::NoData)?.to_vec()),
        };
        let mut gp = Gp::new(kernel, Hyper::from_vec(&theta, d), x, y)?;
        gp.neg_log_posterior = value;
        Ok(gp)
    }

    pub fn len(&self) -> usize {
        self.alpha.len()
    }

    /// The sum over the training points of the log density the GP gives each one's target when
    /// fitted to all the others (Rasmussen & Williams §5.4.2: read off K⁻¹, no refit).
    pub fn leave_one_out_log_density(&self) -> f64 {
        let n = self.alpha.len();
        let (mut scratch, mut inverse) = (Vec::new(), vec![0.0; n * n]);
        linalg::inverse_from_cholesky(&self.chol, n, &mut scratch, &mut inverse);
        (0..n)
            .map(|i| {
                let precision = inverse[i * n + i].max(f64::MIN_POSITIVE);
                let residual = self.alpha[i] / precision;
                0.5 * precision.ln() - 0.5 * residual * residual * precision - 0.5 * LOG_2PI
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.alpha.is_empty()
    }

    /// Posterior mean and variance at `point`, with their gradients when `gradients` is set.
    pub fn predict(&self, point: &[f64], gradients: bool) -> Prediction {
        let (n, d) = (self.alpha.len(), self.d);
        let mut k = vec![0.0; n];
        // The product part's ∂k_i/∂s, and the additive part's ∂k_i/∂point (n × d row-major),
        // only when asked for.
        let mut dk_ds = vec![0.0; n];
        let mut dk_additive = vec![0.0; if gradients { n * d } else { 0 }];
        for i in 0..n {
            let xi = &self.x[i * d..(i + 1) * d];
            k[i] = if gradients {
                let (value, d_s) = self.covariance.value_and_gradient(
                    point,
                    xi,
                    &mut dk_additive[i * d..(i + 1) * d],
                );
                dk_ds[i] = d_s;
                value
            } else {
                self.covariance.value(point, xi)
            };
        }
        let mean = self.hyper.mean + linalg::dot(&k, &self.alpha);
        let mut v = k;
        linalg::solve_lower(&self.chol, n, &mut v);
        let variance = (self.covariance.sf2 - linalg::dot(&v, &v)).max(1e-12);
        if !gradients {
            return Prediction {
                mean,
                variance,
                d_mean: Vec::new(),
                d_variance: Vec::new(),
            };
        }
        let mut w = v;
        linalg::solve_lower_transposed(&self.chol, n, &mut w);
        let mut d_mean = vec![0.0; d];
        let mut d_variance = vec![0.0; d];
        let inv_ls2 = &self.covariance.inv_ls2;
        let additive = self.covariance.additive.is_some();
        for i in 0..n {
            let xi = &self.x[i * d..(i + 1) * d];
            let (a, b) = (dk_ds[i] * self.alpha[i], -2.0 * w[i] * dk_ds[i]);
            for j in 0..d {
                let g = 2.0 * (point[j] - xi[j]) * inv_ls2[j];
                d_mean[j] += a * g;
                d_variance[j] += b * g;
                if additive {
                    let extra = dk_additive[i * d + j];
                    d_mean[j] += self.alpha[i] * extra;
                    d_variance[j] += -2.0 * w[i] * extra;
                }
            }
        }
        Prediction {
            mean,
            variance,
            d_mean,
            d_variance,
        }
    }

    /// Posterior means and variances of `m` points (`points`: `m × d` row-major), the same
    /// numbers as `predict` without gradients, computed a block of candidates at a time (kernel
    /// rows, then one forward substitution over the block's rows).
    pub fn predict_batch(&self, points: &[f64], means: &mut [f64], variances: &mut [f64]) {
        let (n, d) = (self.alpha.len(), self.d);
        let m = means
            .len()
            .min(variances.len())
            .min(points.len() / d.max(1));
        let mut block = vec![0.0; n * BATCH];
        for start in (0..m).step_by(BATCH) {
            let b = BATCH.min(m - start);
            // Row i of the block: k(x_i, candidate) for the block's candidates.
            let cov = &self.covariance;
            for i in 0..n {
                let xi = &self.x[i * d..(i + 1) * d];
                let row = &mut block[i * BATCH..i * BATCH + b];
                for (c, out) in row.iter_mut().enumerate() {
                    let p = &points[(start + c) * d..(start + c + 1) * d];
                    *out = match cov.additive {
                        // The product kernel's shape is applied to the whole block below.
                        None => squared_distance(p, xi, &cov.inv_ls2),
                        Some(_) => cov.value(p, xi),
                    };
                }
            }
            if cov.additive.is_none() {
                values_in_place(self.kernel, cov.alpha, &mut block[..n * BATCH]);
                block[..n * BATCH].iter_mut().for_each(|v| *v *= cov.sf2);
            }
            let mean = &mut means[start..start + b];
            let var = &mut variances[start..start + b];
            mean.fill(self.hyper.mean);
            var.fill(0.0);
            for i in 0..n {
                let (done, rest) = block.split_at_mut(i * BATCH);
                let row = &mut rest[..b];
                linalg::axpy(self.alpha[i], row, mean);
                let l = &self.chol[i * n..i * n + i + 1];
                for (j, lij) in l[..i].iter().enumerate() {
                    linalg::axpy(-lij, &done[j * BATCH..j * BATCH + b], row);
                }
                let inv = 1.0 / l[i];
                for (v, r) in var.iter_mut().zip(row.iter_mut()) {
                    *r *= inv;
                    *v += *r * *r;
                }
            }
            for v in var.iter_mut() {
                *v = (self.covariance.sf2 - *v).max(1e-12);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::likelihood::{neg_log_prior, objective};
    use super::*;
    use rand::SeedableRng;

    fn data() -> (Vec<Vec<f64>>, Vec<f64>) {
        let x: Vec<Vec<f64>> = (0..12)
            .map(|i| vec![i as f64 / 11.0, ((i * 7) % 12) as f64 / 11.0])
            .collect();
        let y = x.iter().map(|p| (6.0 * p[0]).sin() + p[1] * p[1]).collect();
        (x, y)
    }

    #[test]
    fn a_believed_run_pins_the_model_where_it_is_in_flight_and_moves_no_mean() {
        let (x, y) = data();
        let hyper = Hyper {
            log_lengthscales: vec![-1.0, -0.5],
            log_signal: 0.0,
            // Noisy data: a believed run must still pin the latent loss, not add another
            // noisy observation.
            log_noise: 0.1f64.ln(),
            mean: 0.2,
            log_alpha: 0.0,
            additive: None,
        };
        let gp = Gp::new(Kernel::Matern52, hyper, x.clone(), &y).unwrap();
        let in_flight = vec![vec![0.33, 0.61], vec![0.8, 0.1]];
        let (believing, believed) = gp.believing(&in_flight).unwrap();
        assert_eq!(believing.len(), x.len() + 2);
        for (p, value) in in_flight.iter().zip(&believed) {
            let before = gp.predict(p, false);
            let after = believing.predict(p, false);
            assert!((value - before.mean).abs() < 1e-12);
            assert!(
                (after.mean - before.mean).abs() < 1e-6,
                "{} vs {}",
                after.mean,
                before.mean
            );
            assert!(
                after.variance < 1e-4 * before.variance,
                "{} of {}",
                after.variance,
                before.variance
            );
        }
        // Believing the model's own mean leaves its mean everywhere as it was, and shrinks its
        // variance: the observed points are kept with their noise.
        for p in [vec![0.1, 0.9], vec![0.5, 0.5], x[3].clone()] {
            let (before, after) = (gp.predict(&p, false), believing.predict(&p, false));
            assert!((after.mean - before.mean).abs() < 1e-6);
            assert!(after.variance <= before.variance + 1e-12);
            if p == x[3] {
                assert!(
                    after.variance > 1e-3,
                    "an observed point keeps its noise: {}",
                    after.variance
                );
            }
        }
    }

    #[test]
    fn hyperparameter_gradient_matches_finite_differences_for_every_kernel() {
        let (x, y) = data();
        // The product kernel, then with an additive part (its share's logit last).
        let product = vec![-0.7, -0.2, 0.3, -5.0, 0.1, 0.4];
        let mixed = [product.clone(), vec![0.5]].concat();
        for (kernel, theta) in Kernel::ALL
            .into_iter()
            .flat_map(|k| [(k, product.clone()), (k, mixed.clone())])
        {
            let (_, grad) = objective(kernel, &x, &y, &theta);
            for i in 0..theta.len() {
                // log α (index D + 3) moves RatQuad alone.
                if kernel != Kernel::RatQuad && i == 2 + 3 {
                    continue;
                }
                let h = 1e-5;
                let mut up = theta.clone();
                up[i] += h;
                let mut down = theta.clone();
                down[i] -= h;
                let numeric = (objective(kernel, &x, &y, &up).0
                    - objective(kernel, &x, &y, &down).0)
                    / (2.0 * h);
                assert!(
                    (grad[i] - numeric).abs() < 1e-4 * (1.0 + numeric.abs()),
                    "{kernel:?} θ[{i}]: {} vs {numeric}",
                    grad[i]
                );
            }
        }
    }

    #[test]
    fn prediction_gradients_match_finite_differences() {
        let (x, y) = data();
        for (kernel, additive) in Kernel::ALL
            .into_iter()
            .flat_map(|k| [(k, None), (k, Some(0.5))])
        {
            let hyper = Hyper {
                log_lengthscales: vec![-1.0, -0.5],
                log_signal: 0.2,
                log_noise: -6.0,
                mean: 0.1,
                log_alpha: 0.3,
                additive,
            };
            let gp = Gp::new(kernel, hyper, x.clone(), &y).unwrap();
            let p = [0.33, 0.61];
            let batch: Vec<f64> = [p, [0.9, 0.1], [0.0, 1.0]].concat();
            let (mut means, mut vars) = (vec![0.0; 3], vec![0.0; 3]);
            gp.predict_batch(&batch, &mut means, &mut vars);
            for c in 0..3 {
                let one = gp.predict(&batch[2 * c..2 * c + 2], false);
                assert!((one.mean - means[c]).abs() < 1e-12);
                assert!((one.variance - vars[c]).abs() < 1e-12);
            }
            let pred = gp.predict(&p, true);
            for j in 0..2 {
                let h = 1e-6;
                let mut up = p;
                up[j] += h;
                let mut down = p;
                down[j] -= h;
                let (a, b) = (gp.predict(&up, false), gp.predict(&down, false));
                let dm = (a.mean - b.mean) / (2.0 * h);
                let dv = (a.variance - b.variance) / (2.0 * h);
                assert!(
                    (pred.d_mean[j] - dm).abs() < 1e-5,
                    "{kernel:?} dμ: {} vs {dm}",
                    pred.d_mean[j]
                );
                assert!(
                    (pred.d_variance[j] - dv).abs() < 1e-5,
                    "{kernel:?} dσ²: {} vs {dv}",
                    pred.d_variance[j]
                );
            }
        }
    }

    #[test]
    fn the_fit_and_the_predictions_use_one_and_the_same_covariance() {
        // The likelihood builds K itself (with its gradient); `Gp::new` builds it through
        // `Covariance`. The negative log likelihood must be that of the GP `Gp::new` makes.
        let (x, y) = data();
        let n = x.len();
        for kernel in Kernel::ALL {
            for theta in [
                vec![-0.7, -0.2, 0.3, -5.0, 0.1, 0.4],
                vec![-0.7, -0.2, 0.3, -5.0, 0.1, 0.4, 0.5],
            ] {
                let mut unused = vec![0.0; theta.len()];
                let prior = neg_log_prior(&theta, 2, &mut unused);
                let nll = objective(kernel, &x, &y, &theta).0 - prior;
                let gp = Gp::new(kernel, Hyper::from_vec(&theta, 2), x.clone(), &y).unwrap();
                assert_eq!(gp.jitter, 0.0);
                let fit: f64 = y
                    .iter()
                    .zip(&gp.alpha)
                    .map(|(v, a)| (v - gp.hyper.mean) * a)
                    .sum::<f64>()
                    * 0.5
                    + (0..n).map(|i| gp.chol[i * n + i].ln()).sum::<f64>()
                    + 0.5 * n as f64 * LOG_2PI;
                assert!(
                    (nll - fit).abs() < 1e-8 * fit.abs().max(1.0),
                    "{kernel:?} {theta:?}: {nll} vs {fit}"
                );
            }
        }
    }

    #[test]
    fn the_leave_one_out_density_is_that_of_each_point_predicted_from_the_rest() {
        let (x, y) = data();
        for additive in [None, Some(0.3)] {
            let hyper = Hyper {
                log_lengthscales: vec![-1.2, -0.4],
                log_signal: 0.1,
                log_noise: -4.0,
                mean: 0.2,
                log_alpha: 0.0,
                additive,
            };
            let gp = Gp::new(Kernel::Matern52, hyper.clone(), x.clone(), &y).unwrap();
            let refitted: f64 = (0..x.len())
                .map(|i| {
                    let (rest_x, rest_y): (Vec<Vec<f64>>, Vec<f64>) = x
                        .iter()
                        .zip(&y)
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, (p, v))| (p.clone(), *v))
                        .unzip();
                    let rest = Gp::new(Kernel::Matern52, hyper.clone(), rest_x, &rest_y).unwrap();
                    // The density of y_i under the prediction, the noise included.
                    let at = rest.predict(&x[i], false);
                    let variance = at.variance + hyper.log_noise.exp();
                    -0.5 * (2.0 * std::f64::consts::PI * variance).ln()
                        - (y[i] - at.mean).powi(2) / (2.0 * variance)
                })
                .sum();
            let read_off = gp.leave_one_out_log_density();
            assert!(
                (read_off - refitted).abs() < 1e-6 * refitted.abs().max(1.0),
                "{additive:?}: {read_off} vs {refitted}"
            );
        }
    }

    #[test]
    fn the_posterior_of_a_three_point_example_matches_the_closed_form() {
        // ExpQuad, ℓ = 0.8, σ² = 2, σ_n² = 0.1, m = 0.3 on x = 0, 0.5, 1.5 with y = 1, −1, 0.5.
        // At x* = 1: μ = m + k*ᵀ (K + σ_n² I)⁻¹ (y − m), σ² − k*ᵀ (K + σ_n² I)⁻¹ k*, with
        // K_ij = 2 exp(−(x_i − x_j)² / 1.28), solved apart from this code (numpy.linalg.solve).
        let hyper = Hyper {
            log_lengthscales: vec![0.8f64.ln()],
            log_signal: 2f64.ln(),
            log_noise: 0.1f64.ln(),
            mean: 0.3,
            log_alpha: 0.0,
            additive: None,
        };
        let x = vec![vec![0.0], vec![0.5], vec![1.5]];
        let gp = Gp::new(Kernel::ExpQuad, hyper, x, &[1.0, -1.0, 0.5]).unwrap();
        let at = gp.predict(&[1.0], false);
        assert!(
            (at.mean - -0.739_500_571_409_396_3).abs() < 1e-12,
            "{}",
            at.mean
        );
        assert!(
            (at.variance - 0.165_429_222_727_694_1).abs() < 1e-12,
            "{}",
            at.variance
        );
        // Far from the data the posterior returns to the prior: the mean m and the variance σ².
        let far = gp.predict(&[40.0], false);
        assert!((far.mean - 0.3).abs() < 1e-12 && (far.variance - 2.0).abs() < 1e-12);
    }

    #[test]
    fn the_noise_a_fit_assumes_stays_within_its_bound() {
        // Every point measured twice, 0.6 apart: only noise explains that. The free fit finds
        // noise of that order; bounded, it may not; exact, it is held at the floor.
        let (points, smooth) = data();
        let mut x = Vec::new();
        let mut y = Vec::new();
        for (p, v) in points.iter().zip(&smooth) {
            for error in [0.3, -0.3] {
                x.push(p.clone());
                y.push(v + error);
            }
        }
        let fitted_noise = |noise: Noise| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
            let gp = Gp::fit(Kernel::Matern52, x.clone(), &y, noise, 2, &mut rng).unwrap();
            gp.hyper.log_noise.exp()
        };
        let free = fitted_noise(Noise::FITTED);
        assert!(free > 0.02, "free noise {free}");
        let bounded = fitted_noise(Noise::AtMost(1e-3));
        assert!(bounded <= 1e-3 * (1.0 + 1e-9), "bounded noise {bounded}");
        let exact = fitted_noise(Noise::Exact);
        assert!(
            (exact / MIN_NOISE - 1.0).abs() < 1e-9,
            "exact noise {exact}"
        );
    }

    #[test]
    fn a_fitted_gp_interpolates_a_smooth_function() {
        let (x, y) = data();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let gp = Gp::fit(Kernel::Matern52, x.clone(), &y, Noise::FITTED, 2, &mut rng).unwrap();
        for (p, t) in x.iter().zip(&y) {
            let pred = gp.predict(p, false);
            assert!(
                (pred.mean - t).abs() < 0.05,
                "at {p:?}: {} vs {t}",
                pred.mean
            );
        }
        let held_out = [0.5, 0.5];
        let truth = (3.0f64).sin() + 0.25;
        assert!((gp.predict(&held_out, false).mean - truth).abs() < 0.3);
    }
}
