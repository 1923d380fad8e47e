//! The loss recorded for failed runs under `y_failure_value`.
//!
//! `max` (the seed: "1.05 × the largest loss seen so far") is defined as
//! `worst + 0.05 × max(|worst|, worst − best)`, falling back to a scale of 1 when both are 0. When
//! every loss is ≥ 0 this is exactly 1.05 × worst; when losses are negative (e.g. with
//! `y_transformation: neg`) it is still worse than every real loss, where 1.05 × worst would be
//! better than the worst. Before any run has succeeded there is no scale, so failures carry no
//! loss until the first success; every new success updates all imputed losses.

use crate::config::search::FailureValue;

pub fn imputed_loss(rule: FailureValue, losses: &[f64]) -> Option<f64> {
    match rule {
        FailureValue::Number(x) => Some(x),
        FailureValue::Nan => None,
        FailureValue::Max => {
            let worst = losses.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let best = losses.iter().copied().fold(f64::INFINITY, f64::min);
            if !worst.is_finite() {
                return None;
            }
            let scale = worst.abs().max(worst - best);
            let scale = if scale > 0.0 { scale } else { 1.0 };
            Some(worst + 0.05 * scale)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_is_the_seeds_rule_for_positive_losses() {
        assert_eq!(imputed_loss(FailureValue::Max, &[1.0, 2.0, 4.0]), Some(4.2));
    }

    #[test]
    fn max_is_worse_than_every_loss_when_losses_are_negative() {
        let losses = [-10.0, -3.0, -5.0];
        let imputed = imputed_loss(FailureValue::Max, &losses).unwrap();
        assert!(losses.iter().all(|l| imputed > *l), "{imputed}");
        assert!(imputed_loss(FailureValue::Max, &[0.0]).unwrap() > 0.0);
    }

    #[test]
    fn no_loss_before_the_first_success_and_none_for_nan() {
        assert_eq!(imputed_loss(FailureValue::Max, &[]), None);
        assert_eq!(imputed_loss(FailureValue::Nan, &[1.0]), None);
        assert_eq!(imputed_loss(FailureValue::Number(7.5), &[]), Some(7.5));
    }
}
