//! Starting runs: filling free slots from restarts, rows created ahead and new suggestions;
//! making each run's row durable before its folder and input.json exist; sending it to the
//! executor and recording its answer; and pausing submissions when no run can start now.

use super::events::Event;
use super::search::{Coordinator, CoordinatorError, MAX_BACKOFF, MAX_STEP, MIN_BACKOFF};
use crate::config::model::SAVE_FOLDER;
use crate::executor::{Ended, ExecutorError, RunSpec};
use crate::project::paths::write_atomically;
use crate::store::{NewCombination, RunState};
use crate::strategy::SuggestContext;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What preparing a run came to.
pub(super) enum Prepared {
    Ready(RunSpec),
    /// Nothing can start now, for a reason every run would meet alike.
    Paused(String),
    /// This run cannot start (its own folder's problem): it is recorded failed to start.
    Failed(String),
}

impl Coordinator {
    /// Starts runs until every slot is used or nothing is left to start.
    pub(super) fn fill(&mut self) -> Result<(), CoordinatorError> {
        let slots = self.definition.search.max_active_points as usize;
        if self.paused_until.is_some_and(|t| Instant::now() < t) {
            return Ok(());
        }
        if self.executor.submits_waves()
            && (!self.strategy.adapts_to_results() || !self.can_suggest())
        {
            return self.fill_wave(slots);
        }
        if !self.strategy.adapts_to_results() {
            return self.fill_from_ahead(slots);
        }
        // The step's new rows first, queued like restarts: the first start's flush then makes
        // them all durable in one commit before any of their folders exists (Store::flush),
        // not one commit per run. The strategy sees the same pending points either way.
        let free = slots.saturating_sub(self.executor.active() + self.restart.len());
        for _ in 0..free {
            if self.interrupt.load(Ordering::Relaxed) || self.refused.is_some() {
                break;
            }
            if !self.can_suggest() {
                break;
            }
            let Some(id) = self.create_next()? else {
                self.exhausted = true;
                break;
            };
            self.restart.push_back(id);
        }
        self.start_waiting(slots)?;
        Ok(())
    }

    /// Starts the runs next in line until every slot is used or nothing is left; `false` when
    /// it stopped early because nothing may start now (a stop was asked for, the scheduler
    /// refuses, submissions are paused).
    fn start_waiting(&mut self, slots: usize) -> Result<bool, CoordinatorError> {
        while self.executor.active() < slots {
            if self.interrupt.load(Ordering::Relaxed) || self.refused.is_some() {
                return Ok(false); // a stop was asked for: the loop handles it first
            }
            let Some(id) = self.next_to_start()? else {
                break;
            };
            if !self.start(id)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// For a strategy whose suggestions do not depend on results: starts runs from the rows
    /// created ahead, then creates the next rows and commits them, after the starts went out.
    ///
    /// A row must be durable before its folder exists (`prepare`), and that commit's fsync
    /// was the longest wait between one run's end and the next run's start. Rows created a
    /// step ahead are already durable when a slot frees, and their commit overlaps the runs
    /// just started; refilled when fewer than `slots` are left, up to twice that, it is one
    /// commit per `slots` runs. Rows still ahead when the search ends are deleted (never
    /// started, no folder); after a crash, a resume starts them like any row never started.
    pub(super) fn fill_from_ahead(&mut self, slots: usize) -> Result<(), CoordinatorError> {
        // The first step (or a resume with fewer runs owed than slots) creates its rows
        // together, for one commit before their folders, not one commit per run.
        let free = slots.saturating_sub(self.executor.active());
        if self.ahead.len() + self.restart.len() < free {
            self.create_ahead(slots)?;
        }
        if !self.start_waiting(slots)? {
            return Ok(());
        }
        if self.ahead.len() < slots {
            self.create_ahead(slots)?;
        }
        Ok(())
    }

    /// Creates rows ahead up to twice `slots` (fewer when `max_suggestions` or the strategy's
    /// points run out) and commits them.
    fn create_ahead(&mut self, slots: usize) -> Result<(), CoordinatorError> {
        if self.exhausted || !self.can_suggest() {
            return Ok(());
        }
        while self.ahead.len() < 2 * slots && self.can_suggest() {
            let Some(id) = self.create_next()? else {
                self.exhausted = true;
                break;
            };
            self.ahead.push_back(id);
        }
        self.store.flush()?;
        Ok(())
    }

    /// Deletes the rows created ahead that never started (the search ends): they were never
    /// suggested to a run, and a finished search shows no row that never ran. The caller
    /// reloads the rows from the store before anything reads them (the end of `run_loop`).
    pub(super) fn drop_ahead(&mut self) -> Result<(), CoordinatorError> {
        let Some(&first) = self.ahead.front() else {
            return Ok(());
        };
        self.ahead.clear();
        self.store.delete_unstarted_from(first)?;
        Ok(())
    }

    /// The next run to start: the first waiting in line (a restart, a replicate, a row of
    /// this step, a row created ahead), else a new combination from the strategy; `None` when
    /// there is none.
    pub(super) fn next_to_start(&mut self) -> Result<Option<u64>, CoordinatorError> {
        if let Some(id) = self.restart.pop_front() {
            if self
                .combination(id)
                .is_some_and(|c| c.state == RunState::Interrupted)
            {
                self.emit(Event::RunRestarted { id });
            }
            return Ok(Some(id));
        }
        if let Some(id) = self.ahead.pop_front() {
            return Ok(Some(id));
        }
        if !self.can_suggest() {
            return Ok(None);
        }
        let created = self.create_next()?;
        if created.is_none() {
            self.exhausted = true;
        }
        Ok(created)
    }

    /// Makes a run ready to submit: its row durable, its folder and input.json written.
    pub(super) fn prepare(&mut self, id: u64) -> Result<Prepared, CoordinatorError> {
        if let Some(problem) = super::preflight::common_start_problem(&self.definition.job)
            .or_else(|| super::preflight::disk_full(&self.paths.dir))
        {
            return Ok(Prepared::Paused(problem));
        }
        // The row is durable before its folder exists; the pid recorded after the submit is
        // committed at the end of this step, right after its spawns.
        self.store.flush()?;
        if let Err(error) = self.write_input(id) {
            return Ok(match &error {
                CoordinatorError::Io { source, .. }
                    if super::preflight::is_common_io_problem(source) =>
                {
                    Prepared::Paused(error.to_string())
                }
                // This run's folder alone (a folder its earlier attempt left where input.json
                // goes, say): the run fails to start, with the reason, and the search goes on.
                CoordinatorError::Io { .. } => Prepared::Failed(format!(
                    "cannot write its input.json: {error}; clear the run's folder and `hpsearch resume` to run it again"
                )),
                _ => return Err(error),
            });
        }
        Ok(Prepared::Ready(self.spec(id)))
    }

    /// A run that could not start (not prepared, or refused by the executor): recorded so.
    fn record_start_failure(&mut self, id: u64, message: String) -> Result<(), CoordinatorError> {
        self.record_end(Ended {
            combination_id: id,
            end: crate::executor::RunEnd::StartFailed(message),
            finished_at: crate::clock::now(),
            scheduler: Default::default(),
        })
    }

    /// Submissions went through: a pause, if there was one, is over.
    pub(super) fn submissions_resumed(&mut self) {
        if !self.backoff.is_zero() {
            self.emit(Event::Note("runs start again".into()));
        }
        self.backoff = Duration::ZERO;
    }

    /// With job arrays, runs that do not depend on each other's results (the strategy's
    /// suggestions, restarts, replicates) go out as one wave of up to `MAX_WAVE` runs whenever a
    /// slot is free; the scheduler holds them to `slots` running at once.
    pub(super) fn fill_wave(&mut self, slots: usize) -> Result<(), CoordinatorError> {
        if self.executor.active() >= slots || self.refused.is_some() {
            return Ok(());
        }
        let mut ids: Vec<u64> = Vec::new();
        while ids.len() < crate::executor::MAX_WAVE && !self.interrupt.load(Ordering::Relaxed) {
            let Some(id) = self.next_to_start()? else {
                break;
            };
            ids.push(id);
        }
        // Every run of the wave is durable and has its input before the one sbatch.
        let mut specs = Vec::with_capacity(ids.len());
        let mut failed = Vec::new();
        for id in &ids {
            match self.prepare(*id)? {
                Prepared::Ready(spec) => specs.push(spec),
                Prepared::Failed(message) => {
                    self.record_start_failure(*id, message)?;
                    failed.push(*id);
                }
                Prepared::Paused(why) => {
                    let untried: Vec<u64> = ids
                        .iter()
                        .copied()
                        .filter(|i| !failed.contains(i))
                        .collect();
                    self.requeue_front(&untried);
                    if let Some(first) = untried.first() {
                        self.pause_submissions(*first, &why);
                    }
                    return Ok(());
                }
            }
        }
        if specs.is_empty() {
            return Ok(());
        }
        let ids: Vec<u64> = specs.iter().map(|spec| spec.combination_id).collect();
        match self.executor.submit_wave(&specs, slots) {
            Ok(submitted) => {
                let sent = submitted.len();
                for (id, run) in ids.iter().zip(submitted) {
                    self.record_submission(*id, run)?;
                }
                // What did not go out waits, first in line, for the next step.
                self.requeue_front(&ids[sent..]);
                self.submissions_resumed();
            }
            Err(error) => {
                // The first run stands for the wave: a refusal fails it alone (the search then
                // stops), the rest stay untried.
                self.requeue_front(&ids[1..]);
                self.submission_failed(ids[0], error)?;
            }
        }
        Ok(())
    }

    /// Puts runs back first in line, in their order.
    pub(super) fn requeue_front(&mut self, ids: &[u64]) {
        for id in ids.iter().rev() {
            self.restart.retain(|other| other != id);
            self.restart.push_front(*id);
        }
    }

    /// Asks the strategy for the next combination and records it (state `created`).
    pub(super) fn create_next(&mut self) -> Result<Option<u64>, CoordinatorError> {
        let space = &self.definition.model.space;
        let context = SuggestContext {
            space,
            finished: &self.observations.finished,
            pending: &self.observations.pending,
            sequence: self.combinations.len() as u64,
            seed: self.seed,
            // A whole run's length, for reading a pruned run's loss where it stopped.
            full_length: self
                .definition
                .search
                .early_stopping
                .max_step()
                .or_else(|| self.observations.longest_succeeded()),
            budget: Some(self.definition.search.max_suggestions),
        };
        let Some(suggestion) = self.strategy.suggest(&context)? else {
            return Ok(None);
        };
        let params = space.decode(&suggestion.point);
        // The summary is current: every change of `combinations` goes through `summarize`.
        let previous_results_count = self.summary.succeeded + self.summary.failed;
        let id = self.store.insert(&NewCombination {
            search_type: &suggestion.label,
            point: &suggestion.point,
            params: &params,
            previous_results_count,
            created_at: crate::clock::now(),
            replicate_of: None,
        })?;
        self.refresh(&[id])?;
        for note in suggestion.notes {
            self.emit(Event::Note(format!("combination {id}: {note}")));
        }
        Ok(Some(id))
    }

    pub(super) fn write_input(&self, id: u64) -> Result<(), CoordinatorError> {
        let folder = self.paths.combination_dir(id);
        std::fs::create_dir_all(&folder).map_err(|e| CoordinatorError::io(&folder, e))?;
        let params = self
            .combination(id)
            .map(|c| c.params.clone())
            .unwrap_or_default();
        let mut input = self.definition.model.input_values(&params);
        input.insert(
            SAVE_FOLDER.to_string(),
            Value::String(folder.display().to_string()),
        );
        // The step at which a run is complete under asha and hyperband, so that a script can
        // size its schedule (a learning-rate decay) to it; a variable of the user's own name wins.
        if let Some(max_step) = self.definition.search.early_stopping.max_step() {
            input
                .entry(MAX_STEP.to_string())
                .or_insert(Value::from(max_step));
        }
        let text = serde_json::to_string_pretty(&Value::Object(input)).unwrap_or_default();
        let path = folder.join("input.json");
        // Replaced, never written through: a run started again after an interruption finds its
        // earlier attempt's folder, where the script may have left input.json as a link (writing
        // through it would overwrite the file it points to) or a named pipe (opening it would
        // wait for a reader for ever).
        write_atomically(&path, text.as_bytes()).map_err(|e| CoordinatorError::io(&path, e))
    }

    /// Starts the run of a combination; `false` when the executor cannot take runs now.
    pub(super) fn start(&mut self, id: u64) -> Result<bool, CoordinatorError> {
        let spec = match self.prepare(id)? {
            Prepared::Ready(spec) => spec,
            Prepared::Paused(why) => {
                self.pause_submissions(id, &why);
                return Ok(false);
            }
            Prepared::Failed(message) => {
                // The next run may try: this one's problem is its own.
                self.record_start_failure(id, message)?;
                return Ok(true);
            }
        };
        match self.executor.send(&spec) {
            Ok(Some(submitted)) => {
                self.record_submission(id, submitted)?;
                self.submissions_resumed();
            }
            // Recorded, and a pause ended, when the executor answers (`record_answers`).
            Ok(None) => {}
            Err(error) => return self.submission_failed(id, error),
        }
        Ok(true)
    }

    /// Records the executor's answers to the runs sent without waiting (`Executor::send`):
    /// before anything else of a step, so that a run is known started before its end.
    pub(super) fn record_answers(&mut self) -> Result<(), CoordinatorError> {
        let answers = self.executor.answers();
        self.record(answers)
    }

    /// `record_answers`, waiting for answers still on their way (a stop must know every run
    /// that started).
    pub(super) fn record_answers_waiting(&mut self) -> Result<(), CoordinatorError> {
        let answers = self.executor.answers_waiting();
        self.record(answers)
    }

    fn record(
        &mut self,
        answers: Vec<(u64, Result<crate::executor::Submitted, ExecutorError>)>,
    ) -> Result<(), CoordinatorError> {
        for (id, answer) in answers {
            match answer {
                Ok(submitted) => {
                    self.record_submission(id, submitted)?;
                    self.submissions_resumed();
                }
                Err(error) => {
                    self.submission_failed(id, error)?;
                }
            }
        }
        Ok(())
    }

    /// Stores what the executor said of a run it took (or a resume found): its job id and
    /// process, queued or running since when.
    pub(super) fn store_submission(
        &self,
        id: u64,
        submitted: &crate::executor::Submitted,
    ) -> Result<(), CoordinatorError> {
        self.store.mark_running(
            id,
            &submitted.job_id,
            submitted.pid,
            submitted.pid_start,
            submitted.started_at,
            submitted.queued,
        )?;
        Ok(())
    }

    /// Records a run the executor took: its job id, and queued or running.
    pub(super) fn record_submission(
        &mut self,
        id: u64,
        submitted: crate::executor::Submitted,
    ) -> Result<(), CoordinatorError> {
        self.store_submission(id, &submitted)?;
        self.refresh(&[id])?;
        self.watch_run(id);
        let (params, label) = self
            .combination(id)
            .map(|c| (c.params.clone(), c.search_type.clone()))
            .unwrap_or_default();
        self.emit(Event::RunStarted {
            id,
            job_id: submitted.job_id,
            params,
            label,
        });
        Ok(())
    }

    /// What a refused submission means for the run and the search; `false`: nothing can start
    /// now. A run that cannot start is recorded failed and the next may try (`true`).
    pub(super) fn submission_failed(
        &mut self,
        id: u64,
        error: ExecutorError,
    ) -> Result<bool, CoordinatorError> {
        match error {
            ExecutorError::Start { message, .. } => self.record_start_failure(id, message)?,
            ExecutorError::Unavailable { message } => {
                self.pause_submissions(id, &message);
                return Ok(false);
            }
            ExecutorError::Refused { message, .. } => {
                // The same request goes out for every run: no later run can start either.
                self.record_start_failure(id, message.clone())?;
                self.refused = Some(format!(
                    "stopped: the scheduler refuses every run of this search ({message}); fix job_config.json (memory, num_processors, gpus, time) or the cluster profile (partition, account, qos), then `hpsearch resume {}`",
                    self.paths.dir.display()
                ));
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Nothing can start now, for a reason every run would meet alike: keeps `id` first in
    /// line, and waits a growing backoff before trying again; no combination is spent on it.
    pub(super) fn pause_submissions(&mut self, id: u64, why: &str) {
        self.restart.retain(|other| *other != id);
        self.restart.push_front(id);
        self.backoff = (self.backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
        self.paused_until = Some(Instant::now() + self.backoff);
        self.emit(Event::Note(format!(
            "cannot start runs now: {why}; submissions paused, trying again in {} s",
            self.backoff.as_secs()
        )));
    }
}
