//! Small dense linear algebra for the GP engine on flat row-major buffers.
//!
//! A GP with `n ≤ 400` observations needs a Cholesky factor, triangular solves and the inverse of
//! a symmetric positive-definite matrix; written here over contiguous rows (dot products with
//! independent accumulators, row updates) they run several times faster than the generic
//! column-major routines and allocate nothing in the hot loops. Matrices are `n × n`, entry
//! `(i, j)` at `i * n + j`; a Cholesky factor `L` (lower) is stored in the lower triangle and its
//! upper triangle is left untouched.

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
/// matrix is not numerically positive definite.
pub fn cholesky_in_place(a: &mut [f64], n: usize) -> bool {
    for i in 0..n {
        let (done, rest) = a.split_at_mut(i * n);
        let row_i = &mut rest[..n];
        for j in 0..i {
            let row_j = &done[j * n..j * n + j + 1];
            let s = row_i[j] - dot(&row_i[..j], &row_j[..j]);
            row_i[j] = s / row_j[j];
        }
        let s = row_i[i] - dot(&row_i[..i], &row_i[..i]);
        if s.is_nan() || s <= 0.0 || s.is_infinite() {
            return false;
        }
        row_i[i] = s.sqrt();
    }
    true
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

/// `K⁻¹` from the Cholesky factor of `K`, written to the lower triangle of `out` (`n × n`);
/// `scratch` holds `L⁻ᵀ` row by row (row `c` = column `c` of `L⁻¹`).
pub fn inverse_from_cholesky(l: &[f64], n: usize, scratch: &mut Vec<f64>, out: &mut [f64]) {
    scratch.clear();
    scratch.resize(n * n, 0.0);
    // Row c of `scratch`: z with L z = e_c (z_k = 0 for k < c).
    for c in 0..n {
        let z = &mut scratch[c * n..(c + 1) * n];
        for k in c..n {
            let row = &l[k * n..k * n + k + 1];
            let rhs = if k == c { 1.0 } else { 0.0 };
            z[k] = (rhs - dot(&row[c..k], &z[c..k])) / row[k];
        }
    }
    // (K⁻¹)_ij = Σ_{k ≥ max(i, j)} (L⁻¹)_ki (L⁻¹)_kj.
    for i in 0..n {
        for j in 0..=i {
            let zi = &scratch[i * n..(i + 1) * n];
            let zj = &scratch[j * n..(j + 1) * n];
            out[i * n + j] = dot(&zi[i..], &zj[i..]);
        }
    }
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
        let n = 9;
        let k = spd(n);
        let mut l = Vec::new();
        assert_eq!(robust_cholesky(&k, n, &mut l), Some(0.0));
        let b: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
        let mut x = b.clone();
        solve_lower(&l, n, &mut x);
        solve_lower_transposed(&l, n, &mut x);
        for i in 0..n {
            let kx: f64 = (0..n).map(|j| k[i * n + j] * x[j]).sum();
            assert!((kx - b[i]).abs() < 1e-10, "{kx} vs {}", b[i]);
        }
        let mut inv = vec![0.0; n * n];
        let mut scratch = Vec::new();
        inverse_from_cholesky(&l, n, &mut scratch, &mut inv);
        for i in 0..n {
            for j in 0..n {
                let e: f64 = (0..n)
                    .map(|m| {
                        let (a, b) = if i >= m { (i, m) } else { (m, i) };
                        inv[a * n + b] * k[m * n + j]
                    })
                    .sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((e - want).abs() < 1e-10, "({i},{j}): {e}");
            }
        }
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
