//! What runs of the same settings say about the loss: whether it is deterministic.
//!
//! A search cannot tell a narrow valley from noise by fitting a model (both are differences
//! between close runs that the smooth part does not explain), but two runs of the same settings
//! can: a deterministic loss gives the same value twice.

use super::super::contract::SuggestContext;
use std::collections::HashMap;

/// What the data file's `search_type` column says for the noise check's repeat.
pub(super) const REPEAT_LABEL: &str = "repeat";
/// Two losses of the same settings count as the same within this share of their magnitude.
const SAME_LOSS: f64 = 1e-9;

pub(super) struct Repeats {
    /// Whether some settings have been run, or are running, twice or more.
    pub made: bool,
    /// Whether every pair of finished runs of the same settings gave the same loss; `None` while
    /// no settings have two finished runs with a loss.
    pub deterministic: Option<bool>,
}

impl Repeats {
    /// `keys` holds each finished run's combination key (`None` for a point of another
    /// length), in the order of `context.finished`; `pending_keys` those of the runs in flight.
    pub fn of(
        context: &SuggestContext,
        keys: &[Option<String>],
        pending_keys: &[String],
    ) -> Repeats {
        let mut losses: HashMap<&str, Vec<Option<f64>>> = HashMap::new();
        for (o, key) in context.finished.iter().zip(keys) {
            if let Some(key) = key {
                losses
                    .entry(key.as_str())
                    .or_default()
                    .push(o.loss.filter(|l| l.is_finite()));
            }
        }
        let made = losses.values().any(|l| l.len() > 1)
            || pending_keys.iter().any(|k| losses.contains_key(k.as_str()));
        let mut deterministic = None;
        for runs in losses.values() {
            let finite: Vec<f64> = runs.iter().flatten().copied().collect();
            if finite.len() < 2 {
                continue;
            }
            let same = finite
                .windows(2)
                .all(|w| (w[0] - w[1]).abs() <= SAME_LOSS * w[0].abs().max(w[1].abs()).max(1e-300));
            deterministic = Some(deterministic.unwrap_or(true) && same);
        }
        Repeats {
            made,
            deterministic,
        }
    }
}

/// `data` and `reached` with the runs of the same settings (at the same share of their length)
/// as one, at their mean loss: a model that may assume little noise cannot fit two values at one
/// point, and a repeat is one setting's loss measured twice. `keys` holds each datum's
/// combination key.
pub(super) fn merged<'a>(
    data: Vec<(&'a Vec<f64>, f64)>,
    reached: Vec<f64>,
    keys: &[&str],
) -> (Vec<(&'a Vec<f64>, f64)>, Vec<f64>) {
    let mut first: HashMap<(&str, u64), usize> = HashMap::new();
    let mut sums: Vec<(f64, usize)> = Vec::with_capacity(data.len());
    let (mut kept, mut kept_reached) = (Vec::with_capacity(data.len()), Vec::new());
    for (((point, loss), share), key) in data.into_iter().zip(reached).zip(keys) {
        let key = (*key, share.to_bits());
        match first.get(&key) {
            Some(i) => {
                sums[*i].0 += loss;
                sums[*i].1 += 1;
            }
            None => {
                first.insert(key, kept.len());
                sums.push((loss, 1));
                kept.push((point, loss));
                kept_reached.push(share);
            }
        }
    }
    for ((_, loss), (sum, count)) in kept.iter_mut().zip(&sums) {
        if *count > 1 {
            *loss = sum / *count as f64;
        }
    }
    (kept, kept_reached)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Space;
    use crate::strategy::Observation;

    fn context<'a>(
        space: &'a Space,
        finished: &'a [Observation],
        pending: &'a [Vec<f64>],
    ) -> SuggestContext<'a> {
        SuggestContext {
            space,
            finished,
            pending,
            sequence: finished.len() as u64,
            seed: 0,
            full_length: None,
            budget: None,
        }
    }

    #[test]
    fn a_repeat_with_the_same_loss_says_deterministic_and_one_that_differs_says_noisy() {
        let space = Space::unit_cube(2);
        let repeats = |context: &SuggestContext| {
            let (keys, pending) = context.keys();
            Repeats::of(context, &keys, &pending)
        };
        let run = |p: [f64; 2], loss: Option<f64>| Observation::whole(p.to_vec(), loss);
        let mut finished = vec![run([0.2, 0.3], Some(1.5)), run([0.7, 0.1], Some(0.4))];
        let none = context(&space, &finished, &[]);
        assert!(!repeats(&none).made);
        assert_eq!(repeats(&none).deterministic, None);
        // In flight: made, nothing learnt yet.
        let pending = vec![vec![0.7, 0.1]];
        let in_flight = repeats(&context(&space, &finished, &pending));
        assert!(in_flight.made);
        assert_eq!(in_flight.deterministic, None);
        // A failed repeat is made but says nothing.
        finished.push(run([0.7, 0.1], None));
        let failed = repeats(&context(&space, &finished, &[]));
        assert!(failed.made);
        assert_eq!(failed.deterministic, None);
        finished.push(run([0.7, 0.1], Some(0.4)));
        let same = repeats(&context(&space, &finished, &[]));
        assert_eq!(same.deterministic, Some(true));
        finished.push(run([0.2, 0.3], Some(1.5 + 1e-6)));
        let differs = repeats(&context(&space, &finished, &[]));
        assert_eq!(differs.deterministic, Some(false));
    }

    #[test]
    fn runs_of_the_same_settings_are_one_observation_at_their_mean_loss() {
        let (a, b) = (vec![0.2, 0.3], vec![0.7, 0.1]);
        let data = vec![(&a, 1.0), (&b, 4.0), (&a, 2.0)];
        let (kept, reached) = merged(data, vec![1.0, 1.0, 1.0], &["a", "b", "a"]);
        assert_eq!(kept, vec![(&a, 1.5), (&b, 4.0)]);
        assert_eq!(reached, vec![1.0, 1.0]);
        // Taken at different shares of a run's length, they stay apart.
        let data = vec![(&a, 1.0), (&a, 2.0)];
        let (kept, _) = merged(data, vec![0.5, 1.0], &["a", "a"]);
        assert_eq!(kept.len(), 2);
    }
}
