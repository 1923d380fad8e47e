//! Early stopping in the coordinator's loop: reading the progress of the runs in flight, asking
//! the rule (`pruning`) about each new result, stopping the runs it condemns, and recording their
//! ends as `pruned`.
//!
//! A decision is written to the store (`stop_step`) before the run is signalled, so it outlives
//! the coordinator: on resume a run that still lives is signalled again, and its end, whenever it
//! comes, is recorded as pruned. The curves are rebuilt on the first loop step of a session from
//! every run's progress file; what a run passed before is not judged again.

use super::curves::ProgressReader;
use super::definition::Definition;
use super::events::Event;
use super::pruning::{direction, Pruner, Stop, ORDER_CHECK_MIN_RUNS};
use super::search::{Coordinator, CoordinatorError};
use crate::executor::Ended;
use crate::store::{Finish, RunState};
use regex::Regex;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The early-stopping state of a session.
#[derive(Debug)]
pub(super) struct Watcher {
    pruner: Pruner,
    /// The runs whose progress is read, each where its reading got to.
    readers: BTreeMap<u64, ProgressReader>,
    /// Why each run was stopped, for its end's record (a decision of an earlier session has
    /// only its step in the store).
    reasons: BTreeMap<u64, String>,
    /// The other numeric keys of each watched run's last progress line: a pruned run's metrics.
    metrics: BTreeMap<u64, serde_json::Map<String, serde_json::Value>>,
    loaded: bool,
    /// The rules compare losses in the search's direction: the objective times this.
    sign: f64,
    /// `progress_pattern`: read log.txt through it instead of progress.jsonl.
    pattern: Option<Regex>,
    /// Whether the search log has said that a run succeeded short of `max_step` (once a session).
    short_run_noted: bool,
}

impl Watcher {
    /// The search's watcher, when its `early_stopping` rule is on.
    pub(super) fn new(definition: &Definition) -> Option<Watcher> {
        let rule = definition.search.early_stopping;
        rule.is_on().then(|| Watcher {
            pruner: Pruner::new(rule),
            readers: BTreeMap::new(),
            reasons: BTreeMap::new(),
            metrics: BTreeMap::new(),
            loaded: false,
            sign: direction(definition.search.y_transformation),
            pattern: definition
                .job
                .progress_pattern
                .as_ref()
                .map(|p| p.0.clone()),
            short_run_noted: false,
        })
    }

    /// Takes in what the run reported since the last read (from the start for a run not read
    /// yet): every new point joins its curve, judged by the rule when `judge`, and the first
    /// decision to stop it is returned. Returns also the notes of malformed lines.
    fn take_in(&mut self, id: u64, folder: &Path, judge: bool) -> (Option<Stop>, Vec<String>) {
        let reader = self.readers.entry(id).or_default();
        // A run being judged is read a bounded chunk per loop step; a run's curve read without
        // judging (an ended run, or one found in flight on resume) is read to its end.
        let (points, notes) = if judge {
            reader.read(folder, self.pattern.as_ref())
        } else {
            reader.read_all(folder, self.pattern.as_ref())
        };
        let mut stop = None;
        if let Some(last) = points.last() {
            self.metrics.insert(id, last.metrics.clone());
        }
        for point in points {
            let judged = self.pruner.add(
                id,
                point.step,
                self.sign * point.objective,
                judge && stop.is_none(),
            );
            stop = stop.or(judged);
        }
        (stop, notes)
    }

    /// The run's last reported step and objective (as the script wrote it).
    fn last(&self, id: u64) -> Option<(u64, f64)> {
        self.pruner
            .last(id)
            .map(|(step, loss)| (step, self.sign * loss))
    }
}

impl Coordinator {
    /// One loop step of early stopping: reads the progress of every run in flight and stops
    /// those the rule condemns.
    pub(super) fn watch_progress(&mut self) -> Result<(), CoordinatorError> {
        let Some(mut watcher) = self.watcher.take() else {
            return Ok(());
        };
        let result = self.watch_with(&mut watcher);
        self.watcher = Some(watcher);
        result
    }

    fn watch_with(&mut self, watcher: &mut Watcher) -> Result<(), CoordinatorError> {
        if !watcher.loaded {
            self.load_curves(watcher)?;
        }
        let ids: Vec<u64> = watcher.readers.keys().copied().collect();
        for id in ids {
            let Some(c) = self.combination(id) else {
                continue;
            };
            if c.state != RunState::Running || c.stop_step.is_some() {
                continue;
            }
            let folder = self.paths.combination_dir(id);
            let (stop, mut notes) = watcher.take_in(id, &folder, true);
            // A control is recorded before anything else of the run changes: on resume no later
            // rung stops it.
            for (control, rung, why) in watcher.pruner.take_controls() {
                self.store.set_control_step(control, rung)?;
                self.store.commit_and_continue()?;
                self.refresh(&[control])?;
                self.emit(Event::Note(format!("run {control}: {why}")));
                notes.push(why);
            }
            note_in_log(&folder, &notes);
            let Some(stop) = stop else {
                continue;
            };
            let (step, objective) = watcher.last(id).unwrap_or((stop.step, f64::NAN));
            self.store.set_stop_step(id, stop.step)?;
            self.store.set_steps(id, Some(step))?;
            self.refresh(&[id])?;
            self.emit(Event::Note(format!(
                "run {id} stopped early at step {}: {} (last objective {objective})",
                stop.step, stop.reason
            )));
            watcher.reasons.insert(id, stop.reason);
            // The decision is durable before the run hears of it: a coordinator that dies
            // after the signal finds the run stopped early on resume, not failed.
            self.store.commit_and_continue()?;
            self.executor.cancel(id);
        }
        Ok(())
    }

    /// The curves of every run of the search, from their progress files: finished runs join the
    /// record, runs in flight are watched from where they are, and a run an earlier session
    /// stopped that still lives is signalled again.
    fn load_curves(&mut self, watcher: &mut Watcher) -> Result<(), CoordinatorError> {
        watcher.loaded = true;
        let rows: Vec<(u64, RunState, Option<u64>, Option<u64>)> = self
            .combinations
            .iter()
            .filter(|c| c.state.is_final() || c.state.is_active())
            .map(|c| (c.id, c.state, c.stop_step, c.control_step))
            .collect();
        for (id, state, stop_step, control_step) in rows {
            // Malformed lines were noted in the run's log when they were first read.
            let _ = watcher.take_in(id, &self.paths.combination_dir(id), false);
            // A run a rung stopped is decided there, for the order check; a control goes on.
            if let Some(step) = stop_step {
                watcher.pruner.stopped(id, step);
            }
            if let Some(rung) = control_step {
                watcher.pruner.control(id, rung);
            }
            if state.is_final() {
                watcher.readers.remove(&id);
                watcher.metrics.remove(&id);
                watcher.pruner.ended(id, state == RunState::Succeeded);
            } else if stop_step.is_some() {
                self.executor.cancel(id);
            }
        }
        Ok(())
    }

    /// Starts watching a run the executor just took.
    pub(super) fn watch_run(&mut self, id: u64) {
        if let Some(watcher) = self.watcher.as_mut() {
            watcher.readers.insert(id, ProgressReader::default());
        }
    }

    /// Records the end of a run early stopping stopped, as `pruned` with its last reported
    /// result; `false` when the run was not stopped by it (its end is judged as usual).
    pub(super) fn record_pruned_end(&mut self, ended: &Ended) -> Result<bool, CoordinatorError> {
        let id = ended.combination_id;
        let Some(stop_step) = self.combination(id).and_then(|c| c.stop_step) else {
            return Ok(false);
        };
        let Some(mut watcher) = self.watcher.take() else {
            return Ok(false);
        };
        if !watcher.loaded {
            self.load_curves(&mut watcher)?;
        }
        // What it reported between the decision and its end counts: the step it reached.
        let folder = self.paths.combination_dir(id);
        let (_, notes) = watcher.take_in(id, &folder, false);
        note_in_log(&folder, &notes);
        watcher.readers.remove(&id);
        watcher.pruner.ended(id, false);
        let last = watcher.last(id);
        let reason = watcher.reasons.remove(&id).unwrap_or_else(|| {
            format!("stopped early at step {stop_step} by the early_stopping rule")
        });
        let metrics = watcher.metrics.remove(&id).unwrap_or_default();
        self.watcher = Some(watcher);
        let objective = last.map(|(_, objective)| objective);
        let loss = objective.and_then(|o| {
            super::outcome::transform(o, self.definition.search.y_transformation).ok()
        });
        let finish = Finish {
            state: RunState::Pruned,
            finished_at: ended.finished_at,
            objective,
            loss,
            kind: None,
            reason: Some(&reason),
            metrics: &metrics,
        };
        let step = last.map_or(stop_step, |(step, _)| step);
        self.account(ended)?;
        self.store.transaction(|store| {
            store.finish(id, &finish)?;
            store.set_steps(id, Some(step))
        })?;
        self.refresh(&[id])?;
        self.emit(Event::RunPruned {
            id,
            step,
            objective,
            reason,
        });
        self.publish(false)?;
        Ok(true)
    }

    /// After any other end of a watched run: its last results join the record, and the step it
    /// reached is stored.
    pub(super) fn progress_ended(
        &mut self,
        id: u64,
        succeeded: bool,
    ) -> Result<(), CoordinatorError> {
        let Some(watcher) = self.watcher.as_mut() else {
            return Ok(());
        };
        // Read to its end even without a reader: a run that ended while no coordinator watched
        // (collected on resume) has its whole file unread, and the steps it reached are what a
        // search that never stopped would store.
        let folder = self.paths.combination_dir(id);
        let (_, notes) = watcher.take_in(id, &folder, false);
        note_in_log(&folder, &notes);
        watcher.readers.remove(&id);
        watcher.metrics.remove(&id);
        watcher.pruner.ended(id, succeeded);
        let Some((step, _)) = watcher.last(id) else {
            return Ok(());
        };
        self.store.set_steps(id, Some(step))?;
        // Where the script stops short of `max_step`, no rung ever judges: said once.
        let rungs = self.definition.search.early_stopping.rungs().copied();
        if let Some(rungs) = rungs.filter(|r| succeeded && r.ends_unseen_by_order_check(step)) {
            if !watcher.short_run_noted {
                watcher.short_run_noted = true;
                let rule = self.definition.search.early_stopping.name();
                self.emit(Event::Note(format!(
                    "early_stopping: combination {id} succeeded at step {step}, short of max_step ({}); {rule}'s order_check judges a rung only once {ORDER_CHECK_MIN_RUNS} runs have reported at max_step, so while runs end short of it none is stopped: set early_stopping.max_step in search_config.json to the step your script ends at (or \"order_check\": false)",
                    rungs.max_step
                )));
            }
        }
        Ok(())
    }
}

/// Malformed progress lines are the script's to fix: a note in the run's own log, and the run
/// goes on.
fn note_in_log(folder: &std::path::Path, notes: &[String]) {
    if notes.is_empty() {
        return;
    }
    // Only into a regular file, opened without waiting: a named pipe in the log's place would
    // hold the coordinator.
    let Ok(mut log) = crate::executor::run_files::open_regular_to_append(&folder.join("log.txt"))
    else {
        return;
    };
    for note in notes {
        let _ = writeln!(log, "hpsearch: {note}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_for_a_log_that_is_a_named_pipe_is_dropped_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(
            &dir.path().join("log.txt"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        let folder = dir.path().to_path_buf();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            note_in_log(
                &folder,
                &["progress.jsonl line 1: not a JSON object; skipped".into()],
            );
            let _ = sender.send(());
        });
        receiver
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("writing the note waited for a reader of the pipe");
    }

    #[test]
    fn a_curve_taken_in_without_judging_is_read_to_its_end() {
        // A run that ended while no coordinator watched is read once, on resume: the steps it
        // reached were those of its file's first 4 MB.
        let dir = tempfile::tempdir().unwrap();
        let lines = super::super::curves::write_long_progress(dir.path());
        let mut watcher = Watcher {
            pruner: Pruner::new(crate::config::early_stopping::EarlyStopping::default()),
            readers: BTreeMap::new(),
            reasons: BTreeMap::new(),
            metrics: BTreeMap::new(),
            loaded: true,
            sign: 1.0,
            pattern: None,
            short_run_noted: false,
        };
        let _ = watcher.take_in(7, dir.path(), false);
        assert_eq!(watcher.last(7), Some((lines, 0.5)));
    }

    #[test]
    fn a_note_is_appended_to_a_regular_log() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("log.txt"), "epoch 1\n").unwrap();
        note_in_log(dir.path(), &["a note".into()]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("log.txt")).unwrap(),
            "epoch 1\nhpsearch: a note\n"
        );
    }
}
