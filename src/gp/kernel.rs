//! The covariance function: stationary kernel shapes as functions of the squared scaled
//! distance, and the covariance built from them, a product (ARD) kernel or its mixture with a
//! first-order additive one.
//!
//! Notation: for inputs `x, x'` and lengthscales `ℓ`, `s_j = (x_j − x'_j)² / ℓ_j²` and
//! `s = Σ_j s_j`; the product kernel is `k(x, x') = σ² · g(s)`, the mixture
//! `σ² [(1 − w) g(s) + w/D Σ_j g(s_j)]` with the additive share `w` in (0, 1). Each shape returns
//! `g`, `dg/ds` and `dg/d log α` (only RatQuad has α).

use super::exp::exp_in_place;
use super::likelihood::Hyper;
use crate::config::search::Kernel;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub value: f64,
    pub d_s: f64,
    pub d_log_alpha: f64,
}

pub fn shape(kernel: Kernel, s: f64, alpha: f64) -> Shape {
    let s = s.max(0.0);
    match kernel {
        Kernel::ExpQuad => {
            let g = (-0.5 * s).exp();
            Shape {
                value: g,
                d_s: -0.5 * g,
                d_log_alpha: 0.0,
            }
        }
        Kernel::RatQuad => {
            let u = s / (2.0 * alpha);
            let base = 1.0 + u;
            let g = base.powf(-alpha);
            Shape {
                value: g,
                d_s: -0.5 * base.powf(-alpha - 1.0),
                d_log_alpha: alpha * g * (-(base.ln()) + u / base),
            }
        }
        Kernel::Matern52 => {
            let r = s.sqrt();
            let sqrt5 = 5f64.sqrt();
            let e = (-sqrt5 * r).exp();
            Shape {
                value: (1.0 + sqrt5 * r + 5.0 / 3.0 * s) * e,
                d_s: -5.0 / 6.0 * (1.0 + sqrt5 * r) * e,
                d_log_alpha: 0.0,
            }
        }
        Kernel::Matern32 => {
            let r = s.sqrt();
            let sqrt3 = 3f64.sqrt();
            let e = (-sqrt3 * r).exp();
            Shape {
                value: (1.0 + sqrt3 * r) * e,
                d_s: -1.5 * e,
                d_log_alpha: 0.0,
            }
        }
    }
}

/// `g(s)` for every `s` in `values`, in place (the kernel chosen once, outside the loop; the
/// exponentials taken over the whole slice at once, `exp.rs`).
pub fn values_in_place(kernel: Kernel, alpha: f64, values: &mut [f64]) {
    match kernel {
        Kernel::ExpQuad => {
            values.iter_mut().for_each(|s| *s = -0.5 * s.max(0.0));
            exp_in_place(values);
        }
        Kernel::RatQuad => values
            .iter_mut()
            .for_each(|s| *s = (1.0 + s.max(0.0) / (2.0 * alpha)).powf(-alpha)),
        Kernel::Matern52 | Kernel::Matern32 => {
            let c = if kernel == Kernel::Matern52 {
                5f64.sqrt()
            } else {
                3f64.sqrt()
            };
            let mut e: Vec<f64> = values.iter().map(|s| -c * s.max(0.0).sqrt()).collect();
            exp_in_place(&mut e);
            for (s, e) in values.iter_mut().zip(&e) {
                let s0 = s.max(0.0);
                let r = s0.sqrt();
                *s = if kernel == Kernel::Matern52 {
                    (1.0 + c * r + 5.0 / 3.0 * s0) * e
                } else {
                    (1.0 + c * r) * e
                };
            }
        }
    }
}

/// `shape` for every `s` in `s`: its value, `dg/ds` and `dg/d log α` into the three outputs,
/// the exponentials taken over the whole slice at once.
pub fn shapes(
    kernel: Kernel,
    alpha: f64,
    s: &[f64],
    value: &mut [f64],
    d_s: &mut [f64],
    d_log_alpha: &mut [f64],
) {
    match kernel {
        Kernel::RatQuad => {
            for (i, s) in s.iter().enumerate() {
                let g = shape(kernel, *s, alpha);
                value[i] = g.value;
                d_s[i] = g.d_s;
                d_log_alpha[i] = g.d_log_alpha;
            }
        }
        Kernel::ExpQuad => {
            for (v, s) in value.iter_mut().zip(s) {
                *v = -0.5 * s.max(0.0);
            }
            exp_in_place(&mut value[..s.len()]);
            for (d, g) in d_s.iter_mut().zip(value.iter()).take(s.len()) {
                *d = -0.5 * g;
            }
            d_log_alpha[..s.len()].fill(0.0);
        }
        Kernel::Matern52 | Kernel::Matern32 => {
            let c = if kernel == Kernel::Matern52 {
                5f64.sqrt()
            } else {
                3f64.sqrt()
            };
            for (v, s) in value.iter_mut().zip(s) {
                *v = -c * s.max(0.0).sqrt();
            }
            exp_in_place(&mut value[..s.len()]);
            for ((v, d), s) in value.iter_mut().zip(d_s.iter_mut()).zip(s) {
                let (s0, e) = (s.max(0.0), *v);
                let r = s0.sqrt();
                if kernel == Kernel::Matern52 {
                    *v = (1.0 + c * r + 5.0 / 3.0 * s0) * e;
                    *d = -5.0 / 6.0 * (1.0 + c * r) * e;
                } else {
                    *v = (1.0 + c * r) * e;
                    *d = -1.5 * e;
                }
            }
            d_log_alpha[..s.len()].fill(0.0);
        }
    }
}

pub(super) fn squared_distance(a: &[f64], b: &[f64], inv_ls2: &[f64]) -> f64 {
    let mut s = 0.0;
    for ((x, y), w) in a.iter().zip(b).zip(inv_ls2) {
        s += (x - y) * (x - y) * w;
    }
    s
}

/// The covariance of a GP with given hyperparameters, ready to evaluate between two points.
#[derive(Debug, Clone)]
pub(super) struct Covariance {
    pub kernel: Kernel,
    pub inv_ls2: Vec<f64>,
    pub sf2: f64,
    pub alpha: f64,
    /// The additive share, `None` for the product kernel alone.
    pub additive: Option<f64>,
}

impl Covariance {
    pub fn new(kernel: Kernel, hyper: &Hyper) -> Covariance {
        Covariance {
            kernel,
            inv_ls2: hyper
                .log_lengthscales
                .iter()
                .map(|l| (-2.0 * l).exp())
                .collect(),
            sf2: hyper.log_signal.exp(),
            alpha: hyper.log_alpha.exp(),
            additive: hyper.additive_share(),
        }
    }

    /// One pair's covariance (the reference `row` is tested against).
    #[cfg(test)]
    pub fn value(&self, a: &[f64], b: &[f64]) -> f64 {
        debug_assert_eq!(a.len(), b.len());
        let product = shape(
            self.kernel,
            squared_distance(a, b, &self.inv_ls2),
            self.alpha,
        )
        .value;
        match self.additive {
            None => self.sf2 * product,
            Some(w) => {
                let sum: f64 = a
                    .iter()
                    .zip(b)
                    .zip(&self.inv_ls2)
                    .map(|((x, y), l)| shape(self.kernel, (x - y) * (x - y) * l, self.alpha).value)
                    .sum();
                self.sf2 * ((1.0 - w) * product + w / a.len() as f64 * sum)
            }
        }
    }

    /// `k(point, x_i)` for the `n` rows of `x` (`n × d` row-major) into `values`, the
    /// exponentials over all rows at once; with `gradients`, also each row's `∂k/∂s` of the
    /// product part into `d_s` and the additive part's `∂k/∂point` into `additive_gradient`
    /// (`n × d`), as `value_and_gradient` gives them one row at a time.
    pub fn row(
        &self,
        point: &[f64],
        x: &[f64],
        values: &mut [f64],
        gradients: Option<(&mut [f64], &mut [f64])>,
    ) {
        let d = point.len();
        let n = values.len();
        let mut s: Vec<f64> = x
            .chunks_exact(d.max(1))
            .take(n)
            .map(|xi| squared_distance(point, xi, &self.inv_ls2))
            .collect();
        let mut d_s = vec![0.0; n];
        let mut unused = vec![0.0; n];
        shapes(self.kernel, self.alpha, &s, values, &mut d_s, &mut unused);
        let Some(w) = self.additive else {
            values.iter_mut().for_each(|v| *v *= self.sf2);
            if let Some((out_d_s, additive_gradient)) = gradients {
                for (o, g) in out_d_s.iter_mut().zip(&d_s) {
                    *o = self.sf2 * g;
                }
                additive_gradient.fill(0.0);
            }
            return;
        };
        s.resize(n * d, 0.0);
        for (i, xi) in x.chunks_exact(d).take(n).enumerate() {
            for j in 0..d {
                let diff = point[j] - xi[j];
                s[i * d + j] = diff * diff * self.inv_ls2[j];
            }
        }
        let (mut one, mut one_d_s, mut unused) =
            (vec![0.0; n * d], vec![0.0; n * d], vec![0.0; n * d]);
        shapes(
            self.kernel,
            self.alpha,
            &s,
            &mut one,
            &mut one_d_s,
            &mut unused,
        );
        let per_dim = w / d as f64;
        for (i, v) in values.iter_mut().enumerate() {
            let sum: f64 = one[i * d..(i + 1) * d].iter().sum();
            *v = self.sf2 * ((1.0 - w) * *v + per_dim * sum);
        }
        if let Some((out_d_s, additive_gradient)) = gradients {
            for (o, g) in out_d_s.iter_mut().zip(&d_s) {
                *o = self.sf2 * (1.0 - w) * g;
            }
            for (i, xi) in x.chunks_exact(d).take(n).enumerate() {
                for j in 0..d {
                    additive_gradient[i * d + j] = self.sf2
                        * per_dim
                        * one_d_s[i * d + j]
                        * 2.0
                        * (point[j] - xi[j])
                        * self.inv_ls2[j];
                }
            }
        }
    }

    /// The value; `∂k/∂s` of the product part (`∂k/∂a_j` is it times `2 (a_j − b_j) / ℓ_j²`),
    /// and in `additive_gradient` the additive part's `∂k/∂a_j` (zeros without one), kept apart
    /// so that the product kernel's gradient is computed exactly as it always was. One pair at
    /// a time: the reference `row` is tested against.
    #[cfg(test)]
    pub fn value_and_gradient(
        &self,
        a: &[f64],
        b: &[f64],
        additive_gradient: &mut [f64],
    ) -> (f64, f64) {
        debug_assert_eq!(a.len(), b.len());
        let g = shape(
            self.kernel,
            squared_distance(a, b, &self.inv_ls2),
            self.alpha,
        );
        let Some(w) = self.additive else {
            additive_gradient.fill(0.0);
            return (self.sf2 * g.value, self.sf2 * g.d_s);
        };
        let d = a.len() as f64;
        let mut sum = 0.0;
        for (j, out) in additive_gradient.iter_mut().enumerate().take(a.len()) {
            let diff = a[j] - b[j];
            let one = shape(self.kernel, diff * diff * self.inv_ls2[j], self.alpha);
            sum += one.value;
            *out = self.sf2 * w / d * one.d_s * 2.0 * diff * self.inv_ls2[j];
        }
        (
            self.sf2 * ((1.0 - w) * g.value + w / d * sum),
            self.sf2 * (1.0 - w) * g.d_s,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_finite_differences_for_every_kernel() {
        for kernel in Kernel::ALL {
            for s in [0.01, 0.3, 1.0, 4.0, 20.0] {
                let alpha = 0.7;
                let h = 1e-6;
                let g = shape(kernel, s, alpha);
                let numeric = (shape(kernel, s + h, alpha).value
                    - shape(kernel, s - h, alpha).value)
                    / (2.0 * h);
                assert!(
                    (g.d_s - numeric).abs() < 1e-6,
                    "{kernel:?} s={s}: {} vs {numeric}",
                    g.d_s
                );
                let la = alpha.ln();
                let numeric_a = (shape(kernel, s, (la + h).exp()).value
                    - shape(kernel, s, (la - h).exp()).value)
                    / (2.0 * h);
                assert!(
                    (g.d_log_alpha - numeric_a).abs() < 1e-6,
                    "{kernel:?} s={s}: {} vs {numeric_a}",
                    g.d_log_alpha
                );
            }
            assert!((shape(kernel, 0.0, 1.0).value - 1.0).abs() < 1e-12);
            // The slice forms give the same numbers as `shape` (to the last bits of `exp`).
            let many = [0.0, 0.01, 0.3, 4.0, 900.0];
            let mut values = many;
            values_in_place(kernel, 0.7, &mut values);
            let (mut value, mut d_s, mut d_alpha) = ([0.0; 5], [0.0; 5], [0.0; 5]);
            shapes(kernel, 0.7, &many, &mut value, &mut d_s, &mut d_alpha);
            for (i, s) in many.iter().enumerate() {
                let g = shape(kernel, *s, 0.7);
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-14 * b.abs().max(1e-300);
                assert!(close(values[i], g.value), "{kernel:?} s={s}");
                assert!(close(value[i], g.value), "{kernel:?} s={s}");
                assert!(close(d_s[i], g.d_s), "{kernel:?} s={s}");
                assert!(close(d_alpha[i], g.d_log_alpha), "{kernel:?} s={s}");
            }
        }
    }

    #[test]
    fn a_row_at_once_gives_what_each_pair_gives() {
        let (d, n) = (4, 7);
        let x: Vec<f64> = (0..n * d).map(|i| ((i * 37) % 11) as f64 / 10.0).collect();
        let point = [0.3, 0.9, 0.05, 0.5];
        for kernel in Kernel::ALL {
            for additive in [None, Some(0.4)] {
                let hyper = Hyper {
                    log_lengthscales: vec![-1.0, -0.3, 0.2, -2.0],
                    log_signal: 0.3,
                    log_noise: -6.0,
                    mean: 0.0,
                    log_alpha: -0.4,
                    additive: additive.map(|w: f64| (w / (1.0 - w)).ln()),
                };
                let cov = Covariance::new(kernel, &hyper);
                let (mut values, mut d_s, mut grad) =
                    (vec![0.0; n], vec![0.0; n], vec![0.0; n * d]);
                cov.row(&point, &x, &mut values, Some((&mut d_s, &mut grad)));
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-13 * (1.0 + b.abs());
                for i in 0..n {
                    let xi = &x[i * d..(i + 1) * d];
                    let mut want_grad = vec![0.0; d];
                    let (v, ds) = cov.value_and_gradient(&point, xi, &mut want_grad);
                    assert!(close(values[i], v) && close(values[i], cov.value(&point, xi)));
                    assert!(
                        close(d_s[i], ds),
                        "{kernel:?} {additive:?}: {} vs {ds}",
                        d_s[i]
                    );
                    for j in 0..d {
                        assert!(
                            close(grad[i * d + j], want_grad[j]),
                            "{kernel:?} {additive:?}"
                        );
                    }
                }
                let mut plain = vec![0.0; n];
                cov.row(&point, &x, &mut plain, None);
                assert_eq!(plain, values);
            }
        }
    }
}
