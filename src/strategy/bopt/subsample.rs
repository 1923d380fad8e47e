//! Which observations a fit and a prediction see once there are many: all of them up to a cap,
//! then the best and a random rest (the caps keep a suggestion under a second at 5,000 runs).

use rand::RngExt;

/// Most observations the hyperparameters are fitted on (the best ones and a random rest); the
/// prediction still uses up to `MAX_PREDICT` of them.
pub(super) const MAX_FIT: usize = 150;
pub(super) const MAX_PREDICT: usize = 400;

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
