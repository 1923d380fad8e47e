//! The posterior of a GP's hyperparameters on fixed data: their layout in `θ` (`Hyper`), their
//! priors, and the negative log posterior with its analytic gradient (`Likelihood`), which the
//! MAP fit (`model`) and the MCMC sampler (`mcmc`) both move on.
//!
//! `θ = [log ℓ_1..D, log σ², log σ_n², m, log α]`, and for a kernel with an additive part
//! (`kernel::Covariance`) one more, the logit of its share `w`: the length of `θ` says which.
//! Priors: `log ℓ ~ N(½ ln D, 3)` (lengthscales that grow with the dimension; the `√2 +` of
//! Hvarfner et al.'s prior made the model too smooth on the anchor problems), `log σ² ~ N(0, 1)`,
//! `log σ_n² ~ N(ln 1e-3, 3²)`, `m ~ N(0, 1)`, `log α ~ N(0, 1)`, `logit w ~ N(−2, 2²)`.

use super::kernel::shape;
use super::linalg;
use crate::config::search::Kernel;

pub(super) const LOG_2PI: f64 = 1.837_877_066_409_345_5;

#[derive(Debug, Clone, PartialEq)]
pub struct Hyper {
    pub log_lengthscales: Vec<f64>,
    pub log_signal: f64,
    pub log_noise: f64,
    pub mean: f64,
    pub log_alpha: f64,
    /// The logit of the additive part's share of the kernel; `None`: the product kernel alone.
    pub additive: Option<f64>,
}

/// The hyperparameters after the lengthscales in `θ`, without the additive share.
const TAIL: usize = 4;

impl Hyper {
    pub fn to_vec(&self) -> Vec<f64> {
        let mut v = self.log_lengthscales.clone();
        v.extend([self.log_signal, self.log_noise, self.mean, self.log_alpha]);
        v.extend(self.additive);
        v
    }

    /// The hyperparameters of `θ` for `d` features (one more value: the additive share's logit).
    pub(crate) fn from_vec(v: &[f64], d: usize) -> Hyper {
        Hyper {
            log_lengthscales: v[..d].to_vec(),
            log_signal: v[d],
            log_noise: v[d + 1],
            mean: v[d + 2],
            log_alpha: v[d + 3],
            additive: v.get(d + TAIL).copied(),
        }
    }

    /// The additive part's share `w` of the kernel, from its logit (the value the fit moves).
    pub fn additive_share(&self) -> Option<f64> {
        self.additive.map(|logit| 1.0 / (1.0 + (-logit).exp()))
    }

    /// The same hyperparameters with an additive part of share logit `logit` (or without one).
    pub fn with_additive(&self, logit: Option<f64>) -> Hyper {
        Hyper {
            additive: logit,
            ..self.clone()
        }
    }
}

/// The prior mean of the additive share's logit: a share of about 0.12, so that the product
/// kernel's interactions dominate unless the data say otherwise.
pub const ADDITIVE_PRIOR_MEAN: f64 = -2.0;
const ADDITIVE_PRIOR_SD: f64 = 2.0;

pub(super) fn lengthscale_prior_mean(d: usize) -> f64 {
    0.5 * (d.max(1) as f64).ln()
}

const LENGTHSCALE_PRIOR_SD: f64 = 1.732_050_807_568_877_2;
pub(super) const NOISE_PRIOR_MEAN: f64 = -6.907_755_278_982_137; // ln 1e-3
const NOISE_PRIOR_SD: f64 = 3.0;

/// Negative log prior and its gradient for `d` features, added to the negative log likelihood.
pub(super) fn neg_log_prior(h: &[f64], d: usize, grad: &mut [f64]) -> f64 {
    let mut total = 0.0;
    let mut normal = |i: usize, mu: f64, sd: f64, total: &mut f64| {
        let z = (h[i] - mu) / sd;
        *total += 0.5 * z * z;
        grad[i] += z / sd;
    };
    let mu = lengthscale_prior_mean(d);
    for i in 0..d {
        normal(i, mu, LENGTHSCALE_PRIOR_SD, &mut total);
    }
    normal(d, 0.0, 1.0, &mut total);
    normal(d + 1, NOISE_PRIOR_MEAN, NOISE_PRIOR_SD, &mut total);
    normal(d + 2, 0.0, 1.0, &mut total);
    normal(d + 3, 0.0, 1.0, &mut total);
    if h.len() > d + TAIL {
        normal(d + TAIL, ADDITIVE_PRIOR_MEAN, ADDITIVE_PRIOR_SD, &mut total);
    }
    total
}

/// The negative log posterior of the hyperparameters on fixed data, prepared for many
/// evaluations: the per-dimension squared differences of every pair of observations are computed
/// once, and the buffers are reused.
pub struct Likelihood<'a> {
    kernel: Kernel,
    n: usize,
    d: usize,
    y: &'a [f64],
    /// For each pair `i > j` (in the order (1,0), (2,0), (2,1), …), `d` squared differences.
    diff2: Vec<f64>,
    k0: Vec<f64>,
    d_s: Vec<f64>,
    d_alpha: Vec<f64>,
    /// With an additive part: per pair and dimension its `∂k/∂s_j`, and per pair `∂k/∂ logit w`.
    d_s_dims: Vec<f64>,
    d_share: Vec<f64>,
    chol: Vec<f64>,
    inverse: Vec<f64>,
    scratch: Vec<f64>,
    alpha: Vec<f64>,
}

impl<'a> Likelihood<'a> {
    pub fn new(kernel: Kernel, x: &[Vec<f64>], y: &'a [f64]) -> Self {
        let n = x.len();
        let d = x.first().map_or(0, Vec::len);
        let mut diff2 = Vec::with_capacity(n * n.saturating_sub(1) / 2 * d);
        for i in 1..n {
            for j in 0..i {
                diff2.extend(x[i].iter().zip(&x[j]).map(|(a, b)| (a - b) * (a - b)));
            }
        }
        let pairs = n * n.saturating_sub(1) / 2;
        Likelihood {
            kernel,
            n,
            d,
            y,
            diff2,
            k0: vec![0.0; n * n],
            d_s: vec![0.0; pairs],
            d_alpha: vec![0.0; pairs],
            d_s_dims: Vec::new(),
            d_share: Vec::new(),
            chol: Vec::with_capacity(n * n),
            inverse: vec![0.0; n * n],
            scratch: Vec::with_capacity(n * n),
            alpha: vec![0.0; n],
        }
    }

    /// Negative log posterior at `theta` and its gradient.
    pub fn evaluate(&mut self, theta: &[f64]) -> (f64, Vec<f64>) {
        let (n, d) = (self.n, self.d);
        let h = Hyper::from_vec(theta, d);
        let inv_ls2: Vec<f64> = h
            .log_lengthscales
            .iter()
            .map(|l| (-2.0 * l).exp())
            .collect();
        let sf2 = h.log_signal.exp();
        let sn2 = h.log_noise.exp();
        let alpha_rq = h.log_alpha.exp();
        let rq = self.kernel == Kernel::RatQuad;
        let share = h.additive_share();
        if share.is_some() && self.d_share.is_empty() {
            self.d_s_dims = vec![0.0; self.d_s.len() * d];
            self.d_share = vec![0.0; self.d_s.len()];
        }
        let per_dim = 1.0 / d.max(1) as f64;
        let mut p = 0;
        for i in 0..n {
            for j in 0..i {
                let diff2 = &self.diff2[p * d..(p + 1) * d];
                let s = linalg::dot(diff2, &inv_ls2);
                let g = shape(self.kernel, s, alpha_rq);
                match share {
                    None => {
                        self.k0[i * n + j] = sf2 * g.value;
                        self.d_s[p] = sf2 * g.d_s;
                        if rq {
                            self.d_alpha[p] = sf2 * g.d_log_alpha;
                        }
                    }
                    Some(w) => {
                        let (mut sum, mut sum_alpha) = (0.0, 0.0);
                        for f in 0..d {
                            let one = shape(self.kernel, diff2[f] * inv_ls2[f], alpha_rq);
                            sum += one.value;
                            sum_alpha += one.d_log_alpha;
                            self.d_s_dims[p * d + f] = sf2 * w * per_dim * one.d_s;
                        }
                        self.k0[i * n + j] = sf2 * ((1.0 - w) * g.value + w * per_dim * sum);
                        self.d_s[p] = sf2 * (1.0 - w) * g.d_s;
                        self.d_share[p] = sf2 * (per_dim * sum - g.value) * w * (1.0 - w);
                        if rq {
                            self.d_alpha[p] =
                                sf2 * ((1.0 - w) * g.d_log_alpha + w * per_dim * sum_alpha);
                        }
                    }
                }
                p += 1;
            }
            self.k0[i * n + i] = sf2 + sn2;
        }
        let mut grad = vec![0.0; theta.len()];
        if linalg::robust_cholesky(&self.k0, n, &mut self.chol).is_none() {
            return (1e25, grad);
        }
        for (a, y) in self.alpha.iter_mut().zip(self.y) {
            *a = y - h.mean;
        }
        // rᵀ K⁻¹ r = |L⁻¹ r|², read off between the two triangular solves.
        linalg::solve_lower(&self.chol, n, &mut self.alpha);
        let r_dot_alpha = linalg::dot(&self.alpha, &self.alpha);
        linalg::solve_lower_transposed(&self.chol, n, &mut self.alpha);
        let log_det: f64 = 2.0 * (0..n).map(|i| self.chol[i * n + i].ln()).sum::<f64>();
        let nll = 0.5 * r_dot_alpha + 0.5 * log_det + 0.5 * n as f64 * LOG_2PI;
        linalg::inverse_from_cholesky(&self.chol, n, &mut self.scratch, &mut self.inverse);
        // W = K⁻¹ − ααᵀ; dNLL/dθ = ½ tr(W dK/dθ), summed over i > j twice plus the diagonal.
        let mut acc = vec![0.0; d];
        let (mut signal, mut alpha_sum, mut share_sum) = (0.0, 0.0, 0.0);
        let mut p = 0;
        for i in 0..n {
            let ai = self.alpha[i];
            for j in 0..i {
                let w = self.inverse[i * n + j] - ai * self.alpha[j];
                let t = w * self.d_s[p];
                let diff2 = &self.diff2[p * d..(p + 1) * d];
                if share.is_some() {
                    let dims = &self.d_s_dims[p * d..(p + 1) * d];
                    for ((a, x), one) in acc.iter_mut().zip(diff2).zip(dims) {
                        *a += (t + w * one) * x;
                    }
                    share_sum += w * self.d_share[p];
                } else {
                    for (a, x) in acc.iter_mut().zip(diff2) {
                        *a += t * x;
                    }
                }
                signal += w * self.k0[i * n + j];
                if rq {
                    alpha_sum += w * self.d_alpha[p];
                }
                p += 1;
            }
        }
        let trace_w: f64 = (0..n)
            .map(|i| self.inverse[i * n + i] - self.alpha[i] * self.alpha[i])
            .sum();
        for f in 0..d {
            grad[f] = -2.0 * inv_ls2[f] * acc[f];
        }
        grad[d] = signal + 0.5 * trace_w * sf2;
        grad[d + 1] = 0.5 * trace_w * sn2;
        grad[d + 2] = -self.alpha.iter().sum::<f64>();
        grad[d + 3] = if rq { alpha_sum } else { 0.0 };
        if share.is_some() {
            grad[d + TAIL] = share_sum;
        }
        let prior = neg_log_prior(theta, d, &mut grad);
        if !rq {
            grad[d + 3] = 0.0;
        }
        (nll + prior, grad)
    }
}

/// Negative log posterior of the hyperparameters and its gradient.
pub fn objective(kernel: Kernel, x: &[Vec<f64>], y: &[f64], theta: &[f64]) -> (f64, Vec<f64>) {
    Likelihood::new(kernel, x, y).evaluate(theta)
}
