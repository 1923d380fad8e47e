//! The covariance function: stationary kernel shapes as functions of the squared scaled
//! distance, and the covariance built from them, a product (ARD) kernel or its mixture with a
//! first-order additive one.
//!
//! Notation: for inputs `x, x'` and lengthscales `ℓ`, `s_j = (x_j − x'_j)² / ℓ_j²` and
//! `s = Σ_j s_j`; the product kernel is `k(x, x') = σ² · g(s)`, the mixture
//! `σ² [(1 − w) g(s) + w/D Σ_j g(s_j)]` with the additive share `w` in (0, 1). Each shape returns
//! `g`, `dg/ds` and `dg/d log α` (only RatQuad has α).

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

/// `g(s)` for every `s` in `values`, in place (the kernel chosen once, outside the loop).
pub fn values_in_place(kernel: Kernel, alpha: f64, values: &mut [f64]) {
    match kernel {
        Kernel::ExpQuad => values
            .iter_mut()
            .for_each(|s| *s = (-0.5 * s.max(0.0)).exp()),
        Kernel::RatQuad => values
            .iter_mut()
            .for_each(|s| *s = (1.0 + s.max(0.0) / (2.0 * alpha)).powf(-alpha)),
        Kernel::Matern52 => {
            let sqrt5 = 5f64.sqrt();
            values.iter_mut().for_each(|s| {
                let s0 = s.max(0.0);
                let r = s0.sqrt();
                *s = (1.0 + sqrt5 * r + 5.0 / 3.0 * s0) * (-sqrt5 * r).exp();
            })
        }
        Kernel::Matern32 => {
            let sqrt3 = 3f64.sqrt();
            values.iter_mut().for_each(|s| {
                let r = s.max(0.0).sqrt();
                *s = (1.0 + sqrt3 * r) * (-sqrt3 * r).exp();
            })
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

    /// The value; `∂k/∂s` of the product part (`∂k/∂a_j` is it times `2 (a_j − b_j) / ℓ_j²`),
    /// and in `additive_gradient` the additive part's `∂k/∂a_j` (zeros without one), kept apart
    /// so that the product kernel's gradient is computed exactly as it always was.
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
            let mut many = [0.0, 0.01, 0.3, 4.0];
            values_in_place(kernel, 0.7, &mut many);
            for (s, v) in [0.0, 0.01, 0.3, 4.0].iter().zip(many) {
                assert_eq!(shape(kernel, *s, 0.7).value, v);
            }
        }
    }
}
