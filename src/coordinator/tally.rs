//! What the coordinator derives from every row, kept current as single rows change instead of
//! recomputed from all of them: the summary's counts and the strategy's observations. A search
//! of 100,000 combinations changes a few rows per run, and a pass over every row (with a copy
//! of each point) per change would cost more than the run.

use super::events::Summary;
use crate::store::{Combination, RunState};
use crate::strategy::Observation;
use std::collections::BTreeMap;

/// Moves `summary` from `old` (`None`: a new row) to `new`, the same combination as stored now.
/// Returns `false`, leaving `summary` as it was, when only a pass over every row can tell the
/// result: the best row changed, or a replicate row (which `planned` counts) came or went.
pub(super) fn tally(summary: &mut Summary, old: Option<&Combination>, new: &Combination) -> bool {
    let best_changed = old.is_some_and(|o| summary.best_id == Some(o.id));
    let replicate = new.replicate_of.is_some() || old.is_some_and(|o| o.replicate_of.is_some());
    if best_changed || replicate {
        return false;
    }
    match old {
        Some(old) => {
            if let Some(n) = count_of(summary, old.state) {
                *n = n.saturating_sub(1);
            }
        }
        None => summary.created += 1,
    }
    if let Some(n) = count_of(summary, new.state) {
        *n += 1;
    }
    if let (RunState::Succeeded, Some(loss)) = (new.state, new.loss) {
        // As the full pass decides: the lowest loss, and the lowest id among equal ones.
        let better = match (summary.best_loss, summary.best_id) {
            (Some(best), Some(id)) => loss < best || (loss == best && new.id < id),
            _ => true,
        };
        if better {
            summary.best_loss = Some(loss);
            summary.best_id = Some(new.id);
        }
    }
    true
}

fn count_of(summary: &mut Summary, state: RunState) -> Option<&mut u64> {
    match state {
        RunState::Queued => Some(&mut summary.queued),
        RunState::Running => Some(&mut summary.running),
        RunState::Succeeded => Some(&mut summary.succeeded),
        RunState::Failed => Some(&mut summary.failed),
        RunState::Cancelled => Some(&mut summary.cancelled),
        RunState::Pruned => Some(&mut summary.pruned),
        RunState::Created | RunState::Interrupted => None,
    }
}

/// The finished observations and the pending points the strategy is given, each in id order,
/// as a pass over every row would build them: succeeded, failed (with its imputed loss) and
/// cancelled (no loss) rows are finished, and pruned ones with the loss of their last reported
/// result and the step they reached (where on its learning curve the loss was taken);
/// created, running and interrupted rows are pending.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Observations {
    finished_ids: Vec<u64>,
    pub(super) finished: Vec<Observation>,
    pending_ids: Vec<u64>,
    pub(super) pending: Vec<Vec<f64>>,
    /// How many succeeded rows reported each last step: the longest is a whole run's length
    /// when the early-stopping rule has no `max_step`.
    succeeded_steps: BTreeMap<u64, usize>,
}

impl Observations {
    pub(super) fn of(combinations: &[Combination]) -> Observations {
        let mut all = Observations::default();
        for c in combinations {
            all.update(None, c);
        }
        all
    }

    /// The most steps a succeeded run reported (`None`: none reported any).
    pub(super) fn longest_succeeded(&self) -> Option<u64> {
        self.succeeded_steps.keys().next_back().copied()
    }

    /// Follows one row's change: `old` is the row as it was (`None`: a new row).
    pub(super) fn update(&mut self, old: Option<&Combination>, new: &Combination) {
        let id = new.id;
        if let Some(steps) = old.and_then(succeeded_steps) {
            if let Some(n) = self.succeeded_steps.get_mut(&steps) {
                *n -= 1;
                if *n == 0 {
                    self.succeeded_steps.remove(&steps);
                }
            }
        }
        if let Some(steps) = succeeded_steps(new) {
            *self.succeeded_steps.entry(steps).or_default() += 1;
        }
        match (old.map(is_finished), is_finished(new)) {
            // The usual change of a finished row (a new imputed loss): in place.
            (Some(true), true) => {
                if let Ok(i) = self.finished_ids.binary_search(&id) {
                    self.finished[i] = observation(new);
                    return;
                }
            }
            (Some(false), false) => {
                if let Ok(i) = self.pending_ids.binary_search(&id) {
                    self.pending[i] = new.point.clone();
                    return;
                }
            }
            _ => {}
        }
        if let Ok(i) = self.finished_ids.binary_search(&id) {
            self.finished_ids.remove(i);
            self.finished.remove(i);
        }
        if let Ok(i) = self.pending_ids.binary_search(&id) {
            self.pending_ids.remove(i);
            self.pending.remove(i);
        }
        if is_finished(new) {
            let i = self.finished_ids.partition_point(|other| *other < id);
            self.finished_ids.insert(i, id);
            self.finished.insert(i, observation(new));
        } else {
            let i = self.pending_ids.partition_point(|other| *other < id);
            self.pending_ids.insert(i, id);
            self.pending.insert(i, new.point.clone());
        }
    }
}

fn is_finished(c: &Combination) -> bool {
    c.state.is_final()
}

fn succeeded_steps(c: &Combination) -> Option<u64> {
    (c.state == RunState::Succeeded)
        .then_some(c.steps)
        .flatten()
}

fn observation(c: &Combination) -> Observation {
    Observation {
        point: c.point.clone(),
        loss: if c.state == RunState::Cancelled {
            None
        } else {
            c.loss
        },
        stopped_at: (c.state == RunState::Pruned).then_some(c.steps).flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(id: u64, state: RunState, loss: Option<f64>) -> Combination {
        serde_json::from_value(json!({
            "id": id, "state": state, "search_type": "random", "point": [0.5], "params": {},
            "previous_results_count": 0, "is_queued": false, "job_id": null, "pid": null,
            "pid_start": null, "created_at": 0.0, "started_at": null, "finished_at": null,
            "attempts": 0, "objective": loss, "loss": loss, "failure_kind": null,
            "failure_reason": null, "metrics": {}
        }))
        .expect("a combination")
    }

    #[test]
    fn follows_a_run_from_created_to_succeeded_and_keeps_the_first_best() {
        let mut s = Summary::default();
        let created = row(0, RunState::Created, None);
        assert!(tally(&mut s, None, &created));
        let running = row(0, RunState::Running, None);
        assert!(tally(&mut s, Some(&created), &running));
        assert_eq!((s.created, s.running), (1, 1));
        let done = row(0, RunState::Succeeded, Some(2.0));
        assert!(tally(&mut s, Some(&running), &done));
        assert_eq!((s.running, s.succeeded), (0, 1));
        assert_eq!((s.best_loss, s.best_id), (Some(2.0), Some(0)));

        let other = row(1, RunState::Running, None);
        assert!(tally(&mut s, None, &other));
        assert!(tally(
            &mut s,
            Some(&other),
            &row(1, RunState::Succeeded, Some(2.0))
        ));
        assert_eq!(
            s.best_id,
            Some(0),
            "an equal loss of a later id is not better"
        );
        assert!(tally(
            &mut s,
            Some(&row(2, RunState::Running, None)),
            &row(2, RunState::Failed, Some(9.0))
        ));
        assert_eq!(
            s.best_id,
            Some(0),
            "a failure's imputed loss is never the best"
        );
        assert_eq!(s.failed, 1);
    }

    #[test]
    fn observations_follow_rows_as_a_full_pass_would_build_them() {
        let mut rows: Vec<Combination> = (0..6).map(|i| row(i, RunState::Created, None)).collect();
        let mut kept = Observations::of(&rows);
        fn change(kept: &mut Observations, rows: &mut Vec<Combination>, new: Combination) {
            let i = new.id as usize;
            if i == rows.len() {
                kept.update(None, &new);
                rows.push(new);
            } else {
                let old = std::mem::replace(&mut rows[i], new);
                kept.update(Some(&old), &rows[i]);
            }
            assert_eq!(*kept, Observations::of(rows), "after a change of {i}");
        }
        change(&mut kept, &mut rows, row(3, RunState::Running, None));
        change(&mut kept, &mut rows, row(3, RunState::Succeeded, Some(1.0)));
        change(&mut kept, &mut rows, row(1, RunState::Running, None));
        change(&mut kept, &mut rows, row(1, RunState::Failed, Some(5.0)));
        change(&mut kept, &mut rows, row(1, RunState::Failed, Some(7.0)));
        change(&mut kept, &mut rows, row(0, RunState::Cancelled, Some(2.0)));
        change(&mut kept, &mut rows, row(6, RunState::Created, None));
        change(&mut kept, &mut rows, row(5, RunState::Interrupted, None));
        change(&mut kept, &mut rows, row(3, RunState::Interrupted, None));
        assert_eq!(kept.finished.len(), 2);
        assert_eq!(kept.finished[0].loss, None, "a cancelled run has no loss");
        assert_eq!(kept.finished[1].loss, Some(7.0));
        assert_eq!(kept.pending.len(), 5);
        // Runs that report progress: a pruned run is seen at the step it reached, and the
        // longest succeeded run gives a whole run's length.
        let with_steps = |id, state, loss, steps| Combination {
            steps: Some(steps),
            ..row(id, state, loss)
        };
        change(
            &mut kept,
            &mut rows,
            with_steps(2, RunState::Succeeded, Some(0.5), 27),
        );
        change(
            &mut kept,
            &mut rows,
            with_steps(4, RunState::Succeeded, Some(0.6), 30),
        );
        change(
            &mut kept,
            &mut rows,
            with_steps(5, RunState::Pruned, Some(0.9), 3),
        );
        assert_eq!(kept.longest_succeeded(), Some(30));
        let pruned = kept.finished.iter().find(|o| o.loss == Some(0.9)).unwrap();
        assert_eq!(pruned.stopped_at, Some(3));
        assert!(kept
            .finished
            .iter()
            .filter(|o| o.loss != Some(0.9))
            .all(|o| o.stopped_at.is_none()));
        change(
            &mut kept,
            &mut rows,
            with_steps(0, RunState::Succeeded, Some(0.7), 30),
        );
        change(
            &mut kept,
            &mut rows,
            with_steps(4, RunState::Interrupted, None, 30),
        );
        assert_eq!(kept.longest_succeeded(), Some(30), "row 0 still reached 30");
        change(
            &mut kept,
            &mut rows,
            with_steps(0, RunState::Interrupted, None, 30),
        );
        assert_eq!(
            kept.longest_succeeded(),
            Some(27),
            "no row that reached 30 is succeeded now"
        );
    }

    #[test]
    fn leaves_the_best_row_and_replicates_to_a_full_pass() {
        let mut s = Summary {
            best_loss: Some(1.0),
            best_id: Some(3),
            ..Summary::default()
        };
        let before = s.clone();
        let best = row(3, RunState::Succeeded, Some(1.0));
        assert!(!tally(
            &mut s,
            Some(&best),
            &row(3, RunState::Interrupted, None)
        ));
        let mut replicate = row(4, RunState::Created, None);
        replicate.replicate_of = Some(3);
        assert!(!tally(&mut s, None, &replicate));
        assert_eq!(s, before, "untouched when it declines");
    }
}
