//! Which observations a fit and a prediction see once there are many: all of them up to a cap,
//! then the best and a random rest (the caps keep a suggestion under a second at 5,000 runs).
//! The fit's cap grows with the dimension while a search is within a usual budget.

use rand::RngExt;

/// Most observations the hyperparameters are fitted on once a search has outgrown
/// `fit_limit`'s full fit (the best ones and a random rest); the prediction still uses up to
/// `MAX_PREDICT` of them.
pub(super) const MAX_FIT: usize = 150;
pub(super) const MAX_PREDICT: usize = 400;
/// Results per hyperparameter up to which every result is fitted, in any dimension...
const FULL_FIT_PER_DIM: usize = 10;
/// ...but never more than this many: the gain was measured up to 200 (20 D), and a fit's cost
/// grows with the cube of its rows (250 rows in 50 D took a cold suggestion from 1.2 to 4.8 s).
const MAX_FULL_FIT: usize = 200;

/// How many of `n` observations in `dims` dimensions the hyperparameters are fitted on: all of
/// them while `n` is at most `max(MAX_FIT, 10·dims)` (200 at most), else `MAX_FIT`.
///
/// Why: in 20 D a typical budget (10·d) ends at 200 results, and fitting the last 50 on a
/// sample of 150 lost on the broad benchmark (docs/benchmarks/broad-benchmark.md, "The fit's cap in 20 D":
/// 148 / 57 seed pairs, 7 problems better, none worse). Past the full fit the cap falls back
/// to `MAX_FIT`, so a search of thousands of results costs what it did (a suggestion under a
/// second at 5,000 results in 20 D); a larger cap everywhere doubled that.
pub(super) fn fit_limit(n: usize, dims: usize) -> usize {
    let full = FULL_FIT_PER_DIM
        .saturating_mul(dims)
        .clamp(MAX_FIT, MAX_FULL_FIT);
    if n <= full {
        n
    } else {
        MAX_FIT
    }
}

/// Indices of `data` by increasing loss.
pub(super) fn loss_order(data: &[(&Vec<f64>, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by(|a, b| data[*a].1.total_cmp(&data[*b].1));
    order
}

/// At most `limit` of the indices in `order` (best first): all of them, or the best fifth of the
/// limit and a random rest.
pub(super) fn keep(order: &[usize], limit: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<usize> {
    if order.len() <= limit {
        return order.to_vec();
    }
    let best = limit / 5;
    let mut rest: Vec<usize> = order[best..].to_vec();
    for i in 0..(limit - best) {
        let j = rng.random_range(i..rest.len());
        rest.swap(i, j);
    }
    order[..best]
        .iter()
        .copied()
        .chain(rest.into_iter().take(limit - best))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_is_fitted_within_ten_per_dimension_and_a_sample_beyond() {
        // Up to 150 results, or 10 per dimension where that is more, all are fitted.
        assert_eq!(fit_limit(120, 2), 120);
        assert_eq!(fit_limit(150, 5), 150);
        assert_eq!(fit_limit(151, 5), MAX_FIT);
        assert_eq!(fit_limit(200, 20), 200);
        assert_eq!(fit_limit(201, 20), MAX_FIT);
        // A long search keeps the cheap fit in any dimension.
        assert_eq!(fit_limit(5_000, 20), MAX_FIT);
        assert_eq!(fit_limit(200, 100), 200);
        assert_eq!(fit_limit(201, 100), MAX_FIT);
    }
}
