//! Small dense linear algebra for the GP engine on flat row-major buffers.
//!
//! A GP with `n ≤ 400` observations needs a Cholesky factor, triangular solves and the inverse of
//! a symmetric positive-definite matrix. Matrices are `n × n`, entry `(i, j)` at `i * n + j`; a
//! Cholesky factor `L` (lower) is stored in the lower triangle. The factor and the inverse, the
//! O(n³) steps of every likelihood evaluation, are faer's blocked, SIMD kernels (3-6× faster
//! than row loops at n = 100-200); the O(n²) solves and dot products are written here over
//! contiguous rows (independent accumulators, no allocation in the hot loops).

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::{MatMut, MatRef, Par};

/// `Σ a_i b_i` with four independent accumulators (lets the compiler pipeline and vectorise).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let chunks = n / 4;
    for c in 0..chunks {
        let i = 4 * c;
        acc[0] += a[i] * b[i];
        acc[1] += a[i + 1] * b[i + 1];
        acc[2] += a[i + 2] * b[i + 2];
        acc[3] += a[i + 3] * b[i + 3];
    }
    let mut tail = 0.0;
    for i in 4 * chunks..n {
        tail += a[i] * b[i];
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `y += a · x`.
#[inline]
pub fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// In-place Cholesky factorisation of the lower triangle of `a` (`n × n`): `false` when the
/// matrix is not numerically positive definite. `L` ends in the lower triangle and `Lᵀ` in the
/// upper one.
pub fn cholesky_in_place(a: &mut [f64], n: usize) -> bool {
    // faer's kernels want columns contiguous: mirror the lower triangle into the upper one, so
    // that the buffer read column-major holds the same matrix in its lower triangle, factor
    // that, then mirror the factor (there, column-major lower: here, row-major upper) back.
    mirror_lower_into_upper(a, n);
    let mut memory = MemBuffer::new(llt::factor::cholesky_in_place_scratch::<f64>(
        n,
        Par::Seq,
        Default::default(),
    ));
    let factored = llt::factor::cholesky_in_place(
        MatMut::from_column_major_slice_mut(&mut a[..n * n], n, n),
        Default::default(),
        Par::Seq,
        MemStack::new(&mut memory),
        Default::default(),
    );
    if factored.is_err() || (0..n).any(|i| !a[i * n + i].is_finite()) {
        return false;
    }
    for i in 0..n {
        for j in 0..i {
            a[i * n + j] = a[j * n + i];
        }
    }
    true
}

fn mirror_lower_into_upper(a: &mut [f64], n: usize) {
    for i in 0..n {
        for j in 0..i {
            a[j * n + i] = a[i * n + j];
        }
    }
}

/// The Cholesky factor of `k + jitter·I` (lower triangle of `k` read), raising the jitter until
/// it exists; the factor and the jitter that was needed.
pub fn robust_cholesky(k: &[f64], n: usize, out: &mut Vec<f64>) -> Option<f64> {
    let scale = (0..n)
        .map(|i| k[i * n + i])
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let mut jitter = 0.0;
    for attempt in 0..9 {
        out.clear();
        out.extend_from_slice(k);
        if jitter > 0.0 {
            for i in 0..n {
                out[i * n + i] += jitter;
            }
        }
        if cholesky_in_place(out, n) {
            return Some(jitter);
        }
        jitter = scale * 1e-10 * 10f64.powi(attempt);
    }
    None
}

/// Solves `L x = b` in place (`L` lower, row-major).
pub fn solve_lower(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let row = &l[i * n..i * n + i + 1];
        b[i] = (b[i] - dot(&row[..i], &b[..i])) / row[i];
    }
}

/// Solves `Lᵀ x = b` in place (`L` lower, row-major).
pub fn solve_lower_transposed(l: &[f64], n: usize, b: &mut [f64]) {
    for i in (0..n).rev() {
        let row = &l[i * n..i * n + i + 1];
        let x = b[i] / row[i];
        b[i] = x;
        axpy(-x, &row[..i], &mut b[..i]);
    }
}

/// `K⁻¹` from the Cholesky factor of `K` (its lower triangle read), written to the lower
/// triangle of `out` (`n × n`).
pub fn inverse_from_cholesky(l: &[f64], n: usize, out: &mut [f64]) {
    let mut memory = MemBuffer::new(llt::inverse::inverse_scratch::<f64>(n, Par::Seq));
    llt::inverse::inverse(
        MatMut::from_row_major_slice_mut(&mut out[..n * n], n, n),
        MatRef::from_row_major_slice(&l[..n * n], n, n),
        Par::Seq,
        MemStack::new(&mut memory),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(n: usize) -> Vec<f64> {
        let mut k = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let d = i as f64 - j as f64;
                k[i * n + j] = (-0.1 * d * d).exp() + if i == j { 0.5 } else { 0.0 };
            }
        }
        k
    }

    #[test]
    fn factor_solves_and_inverse_agree_with_the_matrix() {
        // 150 takes faer's blocked paths; only the lower triangle is read (the likelihood
        // fills no other), so the upper one holds NaN here.
        for n in [9, 150] {
            let k = spd(n);
            let mut lower_only = k.clone();
            for i in 0..n {
                for j in i + 1..n {
                    lower_only[i * n + j] = f64::NAN;
                }
            }
            let mut l = Vec::new();
            assert_eq!(robust_cholesky(&lower_only, n, &mut l), Some(0.0));
            for i in 0..n {
                for j in 0..=i {
                    let llt: f64 = (0..=j).map(|m| l[i * n + m] * l[j * n + m]).sum();
                    assert!((llt - k[i * n + j]).abs() < 1e-10, "n={n} ({i},{j}): {llt}");
                }
            }
            let b: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
            let mut x = b.clone();
            solve_lower(&l, n, &mut x);
            solve_lower_transposed(&l, n, &mut x);
            for i in 0..n {
                let kx: f64 = (0..n).map(|j| k[i * n + j] * x[j]).sum();
                assert!((kx - b[i]).abs() < 1e-10, "n={n}: {kx} vs {}", b[i]);
            }
            let mut inv = vec![0.0; n * n];
            inverse_from_cholesky(&l, n, &mut inv);
            for i in 0..n {
                for j in 0..n {
                    let e: f64 = (0..n)
                        .map(|m| {
                            let (a, b) = if i >= m { (i, m) } else { (m, i) };
                            inv[a * n + b] * k[m * n + j]
                        })
                        .sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((e - want).abs() < 1e-10, "n={n} ({i},{j}): {e}");
                }
            }
        }
    }

    #[test]
    fn a_matrix_that_is_not_a_number_has_no_factor() {
        let n = 70;
        let mut k = spd(n);
        k[40 * n + 3] = f64::NAN;
        assert_eq!(robust_cholesky(&k, n, &mut Vec::new()), None);
        let mut indefinite = spd(n);
        indefinite[60 * n + 60] = -1.0;
        assert!(!cholesky_in_place(&mut indefinite, n));
    }

    #[test]
    fn a_singular_matrix_gets_jitter() {
        let n = 3;
        let k = vec![1.0; n * n];
        let mut l = Vec::new();
        let jitter = robust_cholesky(&k, n, &mut l).unwrap();
        assert!(jitter > 0.0);
    }
}
