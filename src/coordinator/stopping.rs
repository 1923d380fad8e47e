//! Stopping a search: on a signal, when search_time runs out, when failures stop it early, and
//! `cancel` of a search whose coordinator is gone. Runs stopped are marked to run again on
//! resume, except that a run which finished by itself during the stop is kept.

use super::events::Event;
use super::outcome::{judge, Outcome};
use super::search::{Coordinator, CoordinatorError, SearchEnd};
use crate::store::{Finish, RunState};
use std::time::{Duration, Instant};

impl Coordinator {
    /// Stops the runs an earlier coordinator left behind, without starting anything; returns how many.
    pub fn cancel(mut self) -> Result<usize, CoordinatorError> {
        self.reconcile()?;
        self.restart.clear();
        let running = self
            .combinations
            .iter()
            .filter(|c| c.state.is_active())
            .count();
        let finished = self.store.meta("state")?.as_deref() == Some("finished");
        let end = self.stop_everything()?;
        if finished && running == 0 {
            // A finished search stays finished: there was nothing to cancel.
            self.reload()?;
            self.publish(true)?;
            return Ok(0);
        }
        self.store.set_meta("state", "stopped")?;
        if let SearchEnd::Stopped(reason) = end {
            self.store.set_meta(
                "end_reason",
                &reason.replace("stopped by a signal", "stopped by `hpsearch cancel`"),
            )?;
        }
        self.reload()?;
        self.publish(true)?;
        Ok(running)
    }

    /// Stops a search whose first runs all failed alike: its runs in flight are interrupted (they
    /// run again on resume) and the search ends `stopped` with the reason.
    pub(super) fn stop_early(&mut self, why: String) -> Result<SearchEnd, CoordinatorError> {
        self.emit(Event::Note(why.clone()));
        self.stop_and_interrupt()?;
        Ok(SearchEnd::Failed(why))
    }

    /// Stops the runs in flight and marks them interrupted (they run again on resume); returns
    /// their ids.
    pub(super) fn stop_and_interrupt(&mut self) -> Result<Vec<u64>, CoordinatorError> {
        let stopped = self.stop_runs()?;
        self.store.transaction(|store| {
            for id in &stopped {
                store.mark_interrupted(*id)?;
            }
            Ok(())
        })?;
        Ok(stopped)
    }

    /// Stops every run: SIGTERM, then SIGKILL after the grace period, or at once on a second
    /// signal. The runs are marked interrupted, so `resume` runs them again.
    ///
    /// A run that finished by itself meanwhile (it exited and wrote a usable output.json while
    /// the stop was under way) is recorded as the success it is; the rest are returned, for the
    /// caller to mark.
    pub(super) fn stop_runs(&mut self) -> Result<Vec<u64>, CoordinatorError> {
        // A run whose start is not yet answered is running all the same (its script may have
        // started): without its answer it would be neither stopped nor kept, and would end the
        // search `running` in the store after a full grace period's wait.
        self.record_answers_waiting()?;
        let active: Vec<u64> = self
            .combinations
            .iter()
            .filter(|c| c.state.is_active())
            .map(|c| c.id)
            .collect();
        self.executor.cancel_all(&active);
        let grace = self.definition.job.kill_grace();
        let deadline = Instant::now() + grace;
        let requests = self.stop_requests;
        let mut ended = Vec::new();
        while self.executor.active() > 0
            && Instant::now() < deadline
            && self.stop_requests <= requests.max(1)
            && !self.executor.unreachable()
        {
            ended.extend(self.executor.poll());
            self.drain_signals(Duration::from_millis(20));
        }
        // With the scheduler unreachable, the runs may go on: they stay `running` in the store,
        // so that a resume takes them over by their job ids instead of starting them again.
        let unconfirmed = self.executor.unreachable();
        self.executor.stop_all(Duration::ZERO);
        let _ = self.executor_events();
        if unconfirmed {
            return Ok(Vec::new());
        }
        let mut collected = Vec::new();
        for end in ended {
            let outcome = judge(
                &end.end,
                &self.paths.combination_dir(end.combination_id),
                self.definition.search.y_transformation,
                self.definition.job.time_hours,
            );
            if matches!(outcome, Outcome::Success { .. }) {
                collected.push(end.combination_id);
                self.record_end(end)?;
            }
        }
        Ok(active
            .into_iter()
            .filter(|id| !collected.contains(id))
            .collect())
    }

    pub(super) fn stop_everything(&mut self) -> Result<SearchEnd, CoordinatorError> {
        self.emit(Event::Note(
            "stop requested: stopping the running combinations".into(),
        ));
        let stopped = self.stop_and_interrupt()?;
        for id in stopped {
            self.emit(Event::RunStopped {
                id,
                reason: "the search was stopped; it runs again on resume".into(),
            });
        }
        Ok(SearchEnd::Stopped(format!(
            "stopped by a signal; continue with `hpsearch resume {}`",
            self.paths.dir.display()
        )))
    }

    pub(super) fn stop_for_time(&mut self) -> Result<SearchEnd, CoordinatorError> {
        let hours = crate::clock::hours_text(self.definition.search.search_time_hours);
        let reason = format!("search_time ({hours}) ran out before the run finished");
        let stopped = self.stop_runs()?;
        let now = crate::clock::now();
        let empty = serde_json::Map::new();
        self.store.transaction(|store| {
            for id in &stopped {
                store.finish(
                    *id,
                    &Finish {
                        state: RunState::Cancelled,
                        finished_at: now,
                        objective: None,
                        loss: None,
                        kind: None,
                        reason: Some(&reason),
                        metrics: &empty,
                    },
                )?;
            }
            Ok(())
        })?;
        for id in &stopped {
            self.emit(Event::RunStopped {
                id: *id,
                reason: reason.clone(),
            });
        }
        Ok(SearchEnd::Finished(format!(
            "search_time ({hours}) ran out"
        )))
    }
}
