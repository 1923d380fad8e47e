//! Stationary kernel shapes as functions of the squared scaled distance.
//!
//! Notation: for inputs `x, x'` and lengthscales `ℓ`, `s = Σ_j (x_j − x'_j)² / ℓ_j²`; a kernel is
//! `k(x, x') = σ² · g(s)`. Each shape returns `g`, `dg/ds` and `dg/d log α` (only RatQuad has α).

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
