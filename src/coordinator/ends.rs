//! Recording how a run ended: judged from its end and output.json, imputed when it failed,
//! accounted (time, memory, CPU, GPUs), or run again when it was interrupted from outside.

use super::events::Event;
use super::imputation::imputed_loss;
use super::outcome::{judge, Outcome};
use super::search::{Coordinator, CoordinatorError, LOCAL_MAX_RESTARTS};
use crate::config::search::FailureValue;
use crate::executor::Ended;
use crate::store::{Accounting, Combination, Finish, RunState};

impl Coordinator {
    /// Records how a run ended, and keeps every imputed loss current.
    pub(super) fn record_end(&mut self, ended: Ended) -> Result<(), CoordinatorError> {
        let id = ended.combination_id;
        if self.record_pruned_end(&ended)? {
            return Ok(());
        }
        if let crate::executor::RunEnd::Interrupted(reason) = &ended.end {
            if self.run_again_after_interruption(id, reason)? {
                return Ok(());
            }
        }
        if ended.end == crate::executor::RunEnd::TimedOut && self.checkpointed_for_requeue(id) {
            let reason = "its time limit came after it saved a checkpoint (requeue_on_timeout)";
            if self.run_again_after_interruption(id, reason)? {
                return Ok(());
            }
        }
        if let crate::executor::RunEnd::StartFailed(_) = &ended.end {
            if let Some(problem) = super::preflight::common_start_problem(&self.definition.job) {
                // Not this combination's failure: every run would fail alike right now.
                self.store.mark_interrupted(id)?;
                self.refresh(&[id])?;
                self.pause_submissions(id, &problem);
                return Ok(());
            }
        }
        let outcome = judge(
            &ended.end,
            &self.paths.combination_dir(id),
            self.definition.search.y_transformation,
            self.definition.job.time_hours,
        );
        // A run that failed as its disk filled up: the failure is the disk's, not the
        // combination's (its output could not be written). It runs again once there is room.
        if let Outcome::Failure { kind, .. } = &outcome {
            if super::preflight::may_be_the_disk(*kind) {
                let ended_while_full = self
                    .disk_full_since
                    .filter(|since| ended.finished_at >= *since)
                    .map(|_| "its disk was full when it ended".to_string());
                if let Some(problem) =
                    super::preflight::disk_full(&self.paths.dir).or(ended_while_full)
                {
                    // Counted as a restart: a combination whose own output fills the disk is
                    // recorded failed after `max_resubmits` tries instead of looping for ever.
                    let reason = format!("its output.json could not be read while {problem}");
                    if self.run_again_after_interruption(id, &reason)? {
                        self.pause_submissions(id, &problem);
                        return Ok(());
                    }
                }
            }
        }
        self.account(&ended)?;
        let rules = self.definition.search.y_failure_value.clone();
        // The other succeeded runs' losses: a pass over every row, so taken only when `max`
        // needs them.
        let other_losses = |combinations: &[Combination]| -> Vec<f64> {
            combinations
                .iter()
                .filter(|c| c.state == RunState::Succeeded && c.id != id)
                .filter_map(|c| c.loss)
                .collect()
        };
        let mut changed = vec![id];
        let event = match &outcome {
            Outcome::Success {
                objective,
                loss,
                metrics,
            } => {
                // Only the failures imputed with `max` depend on the losses seen so far; with no
                // failure yet (the summary counts them) there is none to bring up to date.
                let (imputed, stale) = if self.summary.failed == 0 {
                    (None, Vec::new())
                } else {
                    let mut losses = other_losses(&self.combinations);
                    losses.push(*loss);
                    let imputed = imputed_loss(FailureValue::Max, &losses);
                    let stale: Vec<u64> = self
                        .combinations
                        .iter()
                        .filter(|c| c.state == RunState::Failed && c.id != id && c.loss != imputed)
                        .filter(|c| {
                            let kind = c.failure_kind.map(|k| k.name()).unwrap_or_default();
                            rules.rule_for(kind) == FailureValue::Max
                        })
                        .map(|c| c.id)
                        .collect();
                    (imputed, stale)
                };
                let finish = Finish {
                    state: RunState::Succeeded,
                    finished_at: ended.finished_at,
                    objective: Some(*objective),
                    loss: Some(*loss),
                    kind: None,
                    reason: None,
                    metrics,
                };
                if stale.is_empty() {
                    self.store.finish(id, &finish)?;
                } else {
                    self.store.transaction(|store| {
                        store.finish(id, &finish)?;
                        for other in &stale {
                            store.set_loss(*other, imputed)?;
                        }
                        Ok(())
                    })?;
                }
                changed.extend(stale);
                self.fail_fast.record_success();
                Event::RunSucceeded {
                    id,
                    objective: *objective,
                    loss: *loss,
                }
            }
            Outcome::Failure {
                kind,
                reason,
                objective,
                metrics,
            } => {
                let rule = rules.rule_for(kind.name());
                let imputed = if rule == FailureValue::Max {
                    imputed_loss(rule, &other_losses(&self.combinations))
                } else {
                    imputed_loss(rule, &[])
                };
                let finish = Finish {
                    state: RunState::Failed,
                    finished_at: ended.finished_at,
                    objective: *objective,
                    loss: imputed,
                    kind: Some(*kind),
                    reason: Some(reason),
                    metrics,
                };
                self.store.finish(id, &finish)?;
                self.fail_fast.record_failure(id, *kind, reason);
                Event::RunFailed {
                    id,
                    kind: kind.name(),
                    reason: reason.clone(),
                    imputed,
                }
            }
        };
        self.progress_ended(id, matches!(outcome, Outcome::Success { .. }))?;
        self.refresh(&changed)?;
        self.emit(event);
        self.publish(false)?;
        Ok(())
    }

    /// What the scheduler and the run's supervisor measured of an ended run.
    pub(super) fn account(&mut self, ended: &Ended) -> Result<(), CoordinatorError> {
        let id = ended.combination_id;
        let status = crate::executor::supervise::read_status(&self.paths.combination_dir(id));
        let accounting = Accounting {
            scheduler_state: ended.scheduler.state.clone(),
            elapsed_seconds: ended.scheduler.elapsed_seconds,
            peak_memory_mb: status.as_ref().and_then(|s| s.peak_memory_mb),
            cpu_seconds: status.as_ref().and_then(|s| s.cpu_seconds),
            gpus: ended.scheduler.gpus,
        };
        self.store.set_accounting(id, &accounting)?;
        Ok(())
    }

    /// A run killed from outside with no end record (a reboot, the OOM killer) says nothing about
    /// its hyperparameters: it is owed a run again, up to `max_resubmits` times (2 for local
    /// runs). Returns false when it has been interrupted too often and is to be recorded `lost`.
    pub(super) fn run_again_after_interruption(
        &mut self,
        id: u64,
        reason: &str,
    ) -> Result<bool, CoordinatorError> {
        let limit = match &self.definition.job.cluster {
            crate::config::cluster::Cluster::Slurm(profile) => profile.max_resubmits,
            _ => LOCAL_MAX_RESTARTS,
        };
        if self.store.interruptions(id)? >= limit {
            self.emit(Event::Note(format!(
                "combination {id}: interrupted again ({reason}) after {limit} restart(s); recording it as lost"
            )));
            return Ok(false);
        }
        let count = self.store.mark_killed_from_outside(id)?;
        self.refresh(&[id])?;
        self.restart.push_back(id);
        self.emit(Event::Note(format!(
            "combination {id}: {reason}; it will run again (restart {count} of at most {limit})"
        )));
        Ok(true)
    }

    /// Whether a timed-out run is to be submitted again from its checkpoint: the cluster
    /// profile asks for it (`requeue_on_timeout`), and the run wrote a `checkpoint...` file or
    /// folder in its folder during this attempt.
    pub(super) fn checkpointed_for_requeue(&self, id: u64) -> bool {
        let crate::config::cluster::Cluster::Slurm(profile) = &self.definition.job.cluster else {
            return false;
        };
        if !profile.requeue_on_timeout {
            return false;
        }
        let started = self
            .combinations
            .get(id as usize)
            .and_then(|c| c.started_at)
            .unwrap_or(0.0);
        let Ok(entries) = std::fs::read_dir(self.paths.combination_dir(id)) else {
            return false;
        };
        entries.flatten().any(|entry| {
            let named = entry
                .file_name()
                .to_string_lossy()
                .starts_with("checkpoint");
            let written = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .is_some_and(|t| t.as_secs_f64() + 1.0 >= started);
            named && written
        })
    }
}
