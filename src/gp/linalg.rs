//! Small dense linear algebra for the GP engine on flat row-major buffers.
//!
//! A GP with `n ≤ 400` observations needs a Cholesky factor, triangular solves and the inverse of
//! a symmetric positive-definite matrix; written here over contiguous rows (dot products with
//! independent accumulators, row updates) they run several times faster than the generic
//! column-major routines and allocate nothing in the hot loops. Matrices are `n × n`, entry
//! `(i, j)` at `i * n + j`; a Cholesky factor `L` (lower) is stored in the lower triangle and its
//! upper triangle is left untouched.
//!
//! The factor, the solves and the inverse are compiled twice, for the baseline x86-64 and for
//! AVX2, and the copy the processor supports is chosen at run time (`multiversion`). Both copies
//! do the same operations in the same order (the four accumulators of `dot` become one register
//! of four lanes, and Rust never fuses a multiply and an add on its own), so they give the same
//! bits: a search replays identically on any processor.

use multiversion::multiversion;

/// `Σ a_i b_i` with four independent accumulators, accumulator `k` taking the terms `i ≡ k (mod
/// 4)` in order, summed as `(acc₀ + acc₁) + (acc₂ + acc₃)` plus the tail (`dots` with one row, so
/// the blocked routines' entries have the same bits as those computed one at a time).
#[inline(always)]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    dots([&a[..n]], &b[..n])[0]
}

/// `[dot(a₀, b), …, dot(a_{M−1}, b)]` in one pass over `b` (every `a_m` as long as `b`), `b`
/// read once for all of them. Written over chunks of four so that the compiler keeps each row's
/// accumulators in one vector register.
#[inline(always)]
fn dots<const M: usize>(a: [&[f64]; M], b: &[f64]) -> [f64; M] {
    let n = b.len();
    let mut acc = [[0.0f64; 4]; M];
    let chunks = n / 4;
    for (c, y) in b.chunks_exact(4).enumerate() {
        for (acc, a) in acc.iter_mut().zip(&a) {
            let x = &a[4 * c..4 * c + 4];
            for k in 0..4 {
                acc[k] += x[k] * y[k];
            }
        }
    }
    let mut out = [0.0; M];
    for ((out, acc), a) in out.iter_mut().zip(&acc).zip(&a) {
        let mut tail = 0.0;
        for i in 4 * chunks..n {
            tail += a[i] * b[i];
        }
        *out = (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail;
    }
    out
}

/// `y += a · x`.
#[inline(always)]
pub fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// In-place Cholesky factorisation of the lower triangle of `a` (`n × n`): `false` when the
/// matrix is not numerically positive definite.
#[multiversion(targets("x86_64+avx2"))]
pub fn cholesky_in_place(a: &mut [f64], n: usize) -> bool {
    // Rows in blocks of four: each finished row `j` above the block is read once for the four
    // rows' entries in column `j`; every entry is computed exactly as row by row.
    const BLOCK: usize = 4;
    let mut first = 0;
    while first < n {
        let rows = BLOCK.min(n - first);
        let (done, rest) = a.split_at_mut(first * n);
        if rows == BLOCK {
            for j in 0..first {
                let row_j = &done[j * n..j * n + j + 1];
                let sums = dots(
                    [
                        &rest[..j],
                        &rest[n..n + j],
                        &rest[2 * n..2 * n + j],
                        &rest[3 * n..3 * n + j],
                    ],
                    &row_j[..j],
                );
                for (r, sum) in sums.iter().enumerate() {
                    rest[r * n + j] = (rest[r * n + j] - sum) / row_j[j];
                }
            }
        }
        // The block's own triangle (and a short last block whole), row by row.
        let start = if rows == BLOCK { first } else { 0 };
        for r in 0..rows {
            let i = first + r;
            let (block_done, row_rest) = rest.split_at_mut(r * n);
            let row_i = &mut row_rest[..n];
            for j in start..i {
                let row_j = if j < first {
                    &done[j * n..j * n + j + 1]
                } else {
                    &block_done[(j - first) * n..(j - first) * n + j + 1]
                };
                let s = row_i[j] - dot(&row_i[..j], &row_j[..j]);
                row_i[j] = s / row_j[j];
            }
            let s = row_i[i] - dot(&row_i[..i], &row_i[..i]);
            if s.is_nan() || s <= 0.0 || s.is_infinite() {
                return false;
            }
            row_i[i] = s.sqrt();
        }
        first += rows;
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
#[multiversion(targets("x86_64+avx2"))]
pub fn solve_lower(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let row = &l[i * n..i * n + i + 1];
        b[i] = (b[i] - dot(&row[..i], &b[..i])) / row[i];
    }
}

/// Solves `Lᵀ x = b` in place (`L` lower, row-major).
#[multiversion(targets("x86_64+avx2"))]
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
#[multiversion(targets("x86_64+avx2"))]
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
    // (K⁻¹)_ij = Σ_{k ≥ max(i, j)} (L⁻¹)_ki (L⁻¹)_kj, four j at a time against one i.
    for i in 0..n {
        let zi = &scratch[i * n + i..(i + 1) * n];
        let mut j = 0;
        while j + 4 <= i + 1 {
            let z = |m: usize| &scratch[(j + m) * n + i..(j + m + 1) * n];
            let sums = dots([z(0), z(1), z(2), z(3)], zi);
            out[i * n + j..i * n + j + 4].copy_from_slice(&sums);
            j += 4;
        }
        for j in j..=i {
            out[i * n + j] = dot(&scratch[j * n + i..(j + 1) * n], zi);
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

    /// A kernel matrix of `n` random points in 3 D, the kind a fit factors (ill-conditioned for
    /// close points), plus a small diagonal.
    fn kernel_matrix(n: usize, seed: u64) -> Vec<f64> {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let x: Vec<[f64; 3]> = (0..n)
            .map(|_| [rng.random(), rng.random(), rng.random()])
            .collect();
        let mut k = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let s: f64 = (0..3).map(|f| (x[i][f] - x[j][f]).powi(2)).sum();
                k[i * n + j] = (-4.0 * s).exp() + if i == j { 1e-6 } else { 0.0 };
            }
        }
        k
    }

    /// The factor computed one row at a time, one `dot` per entry: the form the blocked factor
    /// must reproduce to the bit.
    fn cholesky_row_by_row(a: &mut [f64], n: usize) {
        for i in 0..n {
            for j in 0..=i {
                let s = a[i * n + j] - dot(&a[i * n..i * n + j], &a[j * n..j * n + j]);
                a[i * n + j] = if j == i { s.sqrt() } else { s / a[j * n + j] };
            }
        }
    }

    #[test]
    fn blocked_factor_and_inverse_have_the_bits_of_the_entry_by_entry_forms() {
        // Replays of kept searches depend on it: a build that moves one bit of the factor moves
        // the suggestions from there on. Sizes around the block of four and a fit's size.
        for (n, seed) in [
            (1, 0),
            (3, 1),
            (4, 2),
            (5, 3),
            (7, 4),
            (8, 5),
            (13, 6),
            (150, 7),
        ] {
            let k = kernel_matrix(n, seed);
            let mut blocked = k.clone();
            assert!(cholesky_in_place(&mut blocked, n), "n = {n}");
            let mut reference = k.clone();
            cholesky_row_by_row(&mut reference, n);
            for i in 0..n {
                for j in 0..=i {
                    let (b, r) = (blocked[i * n + j], reference[i * n + j]);
                    assert_eq!(
                        b.to_bits(),
                        r.to_bits(),
                        "factor ({i}, {j}) of n = {n}: {b} vs {r}"
                    );
                }
            }
            let (mut scratch, mut inverse) = (Vec::new(), vec![0.0; n * n]);
            inverse_from_cholesky(&blocked, n, &mut scratch, &mut inverse);
            for i in 0..n {
                for j in 0..=i {
                    let (zi, zj) = (&scratch[i * n..(i + 1) * n], &scratch[j * n..(j + 1) * n]);
                    let r = dot(&zi[i..], &zj[i..]);
                    let b = inverse[i * n + j];
                    assert_eq!(b.to_bits(), r.to_bits(), "inverse ({i}, {j}) of n = {n}");
                }
            }
        }
    }

    #[test]
    fn dot_sums_four_accumulators_in_a_fixed_order() {
        // The order the kept searches were made with: lanes i mod 4, then (0 + 1) + (2 + 3) +
        // tail. Numbers chosen so that another order rounds differently.
        let a = [1e16, 1.0, -1e16, 1.0, 3.0, 1.0, 1.0, 1.0, 0.5];
        let b = [1.0; 9];
        let lanes: [f64; 4] = [1e16 + 3.0, 1.0 + 1.0, -1e16 + 1.0, 1.0 + 1.0];
        let want = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + 0.5;
        assert_eq!(dot(&a, &b).to_bits(), want.to_bits());
        let sequential: f64 = a.iter().sum();
        assert_ne!(
            want, sequential,
            "the example does not tell the orders apart"
        );
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
