//! Publishing for readers: the data files (`hp_search_data.txt`, the seed's table, and
//! `hp_search_data_full.txt`, every column) and the snapshot (`hp_search_state.json`), each
//! written to a temporary file and renamed, so a reader sees a whole old or a whole new file.
//!
//! Publishing rewrites every file whole, so its cost grows with the search (about 0.5 KB of
//! snapshot per combination: 55 MB at 100,000). Routine publishes are therefore spaced by at
//! least `PUBLISH_INTERVAL` and by `COST_FACTOR` times what the last one cost, which keeps them
//! to a small share of the coordinator's time at any size; a forced publish (the end of a
//! search, a stop) is written at once. While no row changes (runs in flight for hours), only
//! the clock moves what a publish would write (the elapsed time, the run times of the runs in
//! flight): such a publish waits `CLOCK_ONLY_INTERVAL` and `CLOCK_ONLY_COST_FACTOR` times the
//! last one's cost. Without that wait a search of 50,000 rows rewrote about 40 MB every few
//! seconds, day and night, on the shared file system a cluster's searches live on.

use super::search::{Coordinator, CoordinatorError};
use crate::export::data_file;
use crate::export::snapshot::{ConfigCopy, Snapshot};
use crate::project::lock;
use crate::project::paths::{write_atomically, write_durably};
use std::time::{Duration, Instant};

/// The shortest time between two routine publishes.
pub(super) const PUBLISH_INTERVAL: Duration = Duration::from_millis(500);

/// A routine publish waits at least this many times the last one's cost: publishing takes at
/// most about 1 / (1 + COST_FACTOR) of the coordinator's time.
const COST_FACTOR: u32 = 12;

/// The shortest time between two publishes when no row has changed since the last one.
pub(super) const CLOCK_ONLY_INTERVAL: Duration = Duration::from_secs(10);

/// A publish that only the clock changes waits at least this many times the last one's cost
/// (at 50,000 rows, about 30 s): then publishing takes at most about 1% of an idle
/// coordinator's time and of the file system's.
const CLOCK_ONLY_COST_FACTOR: u32 = 100;

impl Coordinator {
    /// Whether `publish(false)` would write the exports now.
    pub(super) fn publish_due(&self) -> bool {
        // `last_publish` is when the last publish ended, pushed later by COST_FACTOR times its
        // cost; `elapsed` of an instant still to come is zero.
        self.last_publish
            .is_none_or(|t| t.elapsed() >= PUBLISH_INTERVAL)
    }

    /// Writes the data files and the snapshot for readers: at once when `force`, else when
    /// the last publish is old enough (see the module's doc).
    pub(super) fn publish(&mut self, force: bool) -> Result<(), CoordinatorError> {
        if !force && !self.publish_due() {
            return Ok(());
        }
        let shown = self.ahead_starts_at();
        if let (false, false, Some((written, cost, shown_then))) =
            (force, self.rows_changed, self.last_written)
        {
            let wait = CLOCK_ONLY_INTERVAL.max(cost.saturating_mul(CLOCK_ONLY_COST_FACTOR));
            if shown == shown_then && written.elapsed() < wait {
                return Ok(());
            }
        }
        let began = Instant::now();
        self.write_exports(force)?;
        let cost = began.elapsed();
        let now = Instant::now();
        self.last_publish = Some(now.checked_add(cost * COST_FACTOR).unwrap_or(now));
        self.last_written = Some((now, cost, shown));
        self.rows_changed = false;
        Ok(())
    }

    /// How many rows readers see: every row but those created ahead, which are the newest.
    fn ahead_starts_at(&self) -> usize {
        match self.ahead.front() {
            Some(&first) => self.combinations.partition_point(|c| c.id < first),
            None => self.combinations.len(),
        }
    }

    /// What the first `shown` runs cost so far (a pass over every row, as the rest of a
    /// publish is).
    fn compute(&self, now: f64, shown: usize) -> crate::export::compute::Compute {
        let job = &self.definition.job;
        let gpus = match job.processor_type {
            crate::config::job::ProcessorType::Gpu => job.gpus,
            crate::config::job::ProcessorType::Cpu => 0,
        };
        let max_step = self.definition.search.early_stopping.max_step();
        crate::export::compute::Compute::of(&self.combinations[..shown], gpus, max_step, now)
    }

    /// With `durable` (a forced publish: a search's end, a stop), each file is on disk before
    /// this returns: no coordinator may write them again.
    fn write_exports(&mut self, durable: bool) -> Result<(), CoordinatorError> {
        let write = |path: &std::path::Path, text: &[u8]| {
            if durable {
                write_durably(path, text)
            } else {
                write_atomically(path, text)
            }
        };
        self.store
            .set_meta("elapsed_seconds", &self.elapsed().to_string())?;
        self.summary.elapsed_seconds = self.elapsed();
        let now = crate::clock::now();
        let names: Vec<String> = self
            .definition
            .model
            .space
            .names()
            .map(String::from)
            .collect();
        // Rows created ahead of their start (`fill_from_ahead`) are not part of the search yet:
        // readers see the search without them, as it ends (they are deleted then).
        let shown = self.ahead_starts_at();
        let hidden = (self.combinations.len() - shown) as u64;
        let rendered = self
            .published
            .render(&self.paths, &names, &self.combinations[..shown], now);
        let tables = rendered.tables;
        // The full file first: a reader that sees the new seed file finds the full one as new.
        for (path, text) in [
            (data_file::full_path(&self.paths), tables.full),
            (self.paths.data_file(), tables.seed),
        ] {
            write(&path, text.as_bytes()).map_err(|e| CoordinatorError::io(&path, e))?;
        }
        // Before the rows are lent to the snapshot below.
        let compute = self.compute(now, shown);
        let mut summary = self.summary.clone();
        summary.created = summary.created.saturating_sub(hidden);
        let search = &self.definition.search;
        let mut snapshot = Snapshot {
            search_id: self.paths.search_id,
            project: self.paths.project.display().to_string(),
            search_folder: self.paths.dir.display().to_string(),
            state: self
                .store
                .meta("state")?
                .unwrap_or_else(|| "running".into()),
            end_reason: self.store.meta("end_reason")?,
            search_type: search.search_type.name().into(),
            y_transformation: search.y_transformation.name().into(),
            max_suggestions: search.max_suggestions,
            max_active_points: search.max_active_points,
            search_time_hours: search.search_time_hours,
            random_seed: self.seed,
            coordinator_pid: std::process::id(),
            coordinator_host: lock::hostname(),
            updated_at: now,
            hyperparameters: names,
            summary,
            // Rendered above, most of them kept from earlier publishes.
            combinations: Vec::new(),
            search_config: ConfigCopy::of(&self.definition.files[0]),
            model_config: ConfigCopy::of(&self.definition.files[2]),
            test_runs: Vec::new(),
            warnings: self.row_warnings.clone(),
            compute,
        };
        let test_runs = self.store.test_runs();
        let text = test_runs.map(|runs| {
            snapshot.test_runs = runs;
            snapshot
                .to_json_with_rows(&rendered.rows_json)
                .unwrap_or_default()
        });
        let path = self.paths.snapshot();
        write(&path, text?.as_bytes()).map_err(|e| CoordinatorError::io(&path, e))
    }
}
