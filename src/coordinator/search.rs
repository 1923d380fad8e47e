//! The coordinator: the loop that asks the strategy, starts runs through the executor, records
//! their results in the store and publishes what readers see. It is the store's only writer.

use super::definition::{Definition, DefinitionError};
use super::events::{Event, LogObserver, Observer, Summary};
use super::tally::{tally, Observations};
use crate::executor::{Adoption, Executor, ExecutorEvent, Known, RunSpec};
use crate::project::lock::{self, CoordinatorLock, LockError};
use crate::project::SearchPaths;
use crate::store::{Combination, NewCombination, RunState, Store, StoreError};
use crate::strategy::{Strategy, StrategyError};
use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Strategy(#[from] StrategyError),
    #[error(transparent)]
    TestPhase(#[from] super::test_phase::TestPhaseError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl CoordinatorError {
    pub(super) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        CoordinatorError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// How a coordinator's run of a search ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchEnd {
    /// Nothing left to do: the grid is done, max_suggestions or search_time reached.
    Finished(String),
    /// Stopped by a signal or `cancel`; `resume` continues it.
    Stopped(String),
    /// Stopped early because its first runs all failed alike (`stop_after_failures`); `resume`
    /// continues it once the cause is fixed.
    Failed(String),
}

/// Creates a new search folder for a definition and records the definition in its store.
pub fn create(definition: &Definition) -> Result<SearchPaths, CoordinatorError> {
    let paths =
        crate::project::allocate(&definition.project()).map_err(|e| CoordinatorError::Io {
            path: definition.project().display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
    // A search that could not be made whole (a full disk, say) leaves no folder behind:
    // one with a lock file alone would be listed as starting forever.
    if let Err(error) = record_definition(definition, &paths) {
        let _ = std::fs::remove_dir_all(&paths.dir);
        return Err(error);
    }
    Ok(paths)
}

/// Writes a new search's definition, seed and config copies into its folder.
fn record_definition(definition: &Definition, paths: &SearchPaths) -> Result<(), CoordinatorError> {
    let _lock = lock::acquire(&paths.lock())?;
    let store = Store::open_writer(&paths.database())?;
    definition.save(&store)?;
    let seed = definition
        .search
        .random_seed
        .unwrap_or_else(|| u64::from(rand::random::<u32>()));
    store.set_meta("search_id", &paths.search_id.to_string())?;
    store.set_meta("random_seed", &seed.to_string())?;
    store.set_meta("created_at", &crate::clock::now().to_string())?;
    store.set_meta("state", "created")?;
    store.set_meta("elapsed_seconds", "0")?;
    for (file, name) in
        definition
            .files
            .iter()
            .zip(["search_config.json", "job_config.json", "model_config.json"])
    {
        let copy = paths.config_copy(name);
        std::fs::write(&copy, &file.text).map_err(|e| CoordinatorError::io(&copy, e))?;
    }
    Ok(())
}

pub struct Coordinator {
    pub(super) paths: SearchPaths,
    pub(super) store: Store,
    pub(super) definition: Definition,
    pub(super) strategy: Box<dyn Strategy>,
    pub(super) executor: Box<dyn Executor>,
    pub(super) seed: u64,
    pub(super) observers: Vec<Box<dyn Observer>>,
    pub(super) log: LogObserver,
    pub(super) combinations: Vec<Combination>,
    /// How many of `combinations` are replicate rows (kept by `summarize`).
    pub(super) replicate_rows: u64,
    /// What the strategy is given of `combinations`, kept by `reload` and `refresh`.
    pub(super) observations: Observations,
    pub(super) restart: VecDeque<u64>,
    /// Rows created ahead of their start, for strategies whose suggestions do not depend on
    /// results (see `fill_from_ahead`): always the newest rows, none of them prepared yet.
    pub(super) ahead: VecDeque<u64>,
    pub(super) exhausted: bool,
    pub(super) elapsed_before: f64,
    pub(super) session: Instant,
    /// The heartbeat that lets the next session count this one's time after a crash.
    pub(super) _session_clock: super::elapsed::SessionClock,
    pub(super) wakeups: super::wakeups::Wakeups,
    pub(super) stop_requests: u32,
    pub(super) last_publish: Option<Instant>,
    /// When the last publish was written, what it cost and how many rows it showed; and whether
    /// a row has changed since (see `publish`: a publish that only the clock would change waits
    /// longer).
    pub(super) last_written: Option<(Instant, Duration, usize)>,
    pub(super) rows_changed: bool,
    /// Each settled row's published text, kept between publishes (told of every row change).
    pub(super) published: crate::export::published::RowCache,
    pub(super) summary: Summary,
    /// While the executor refuses runs (a scheduler down), submissions wait until then.
    pub(super) paused_until: Option<Instant>,
    pub(super) backoff: Duration,
    /// `replicate` runs only the replicate phase: no new suggestions, no search_time.
    pub(super) replicates_only: bool,
    /// The `stop_after_failures` rule's view of this session's ends.
    pub(super) fail_fast: super::fail_fast::FailFast,
    /// Set when the scheduler refused a run for a reason every run shares: the search stops.
    pub(super) refused: Option<String>,
    /// Set by the stop signals' handler (see `wakeups`), for the executor and `fill`.
    pub(super) interrupt: Arc<AtomicBool>,
    /// Corrupted rows found in the store, published for `status` and `results` to show.
    pub(super) row_warnings: Vec<String>,
    /// Since when (wall clock) the disk was full before this coordinator opened: a run it takes
    /// over that ended since then without a readable output runs again (`full_disk.rs`).
    pub(super) disk_full_since: Option<f64>,
    /// Early stopping's state, when search_config.json turns it on.
    pub(super) watcher: Option<super::early_stop::Watcher>,
    /// Held for the coordinator's life; `None` where its caller holds it (`open_locked`).
    pub(super) _lock: Option<CoordinatorLock>,
}

/// The input.json key that tells a run its full length under asha and hyperband.
pub(super) const MAX_STEP: &str = "max_step";

/// The meta key that records that the replicate phase's runs were created (and how many).
pub(super) const REPLICATES_CREATED: &str = "replicates_created";

/// How often a local run killed from outside (no end record) is run again before it counts as lost.
pub(super) const LOCAL_MAX_RESTARTS: u64 = 2;

pub(super) const MIN_BACKOFF: Duration = Duration::from_secs(2);
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(300);

pub(super) const IDLE_WAIT: Duration = Duration::from_millis(250);

/// How long a step's writes may wait for the next step's commit (see `run_loop`).
pub(super) const COMMIT_DELAY: Duration = Duration::from_millis(10);

impl Coordinator {
    /// Takes over a search folder: the lock, the store, the definition recorded in it.
    /// `wrapper` is the hpsearch binary whose `_wrap` command runs each script.
    pub fn open(
        paths: SearchPaths,
        wrapper: std::path::PathBuf,
        observers: Vec<Box<dyn Observer>>,
    ) -> Result<Coordinator, CoordinatorError> {
        let lock = lock::acquire(&paths.lock())?;
        let mut coordinator = Self::open_locked(paths, wrapper, observers)?;
        coordinator._lock = Some(lock);
        Ok(coordinator)
    }

    /// `open` for a caller that holds the search's lock itself: a pause for a full disk keeps it
    /// while no coordinator is open (`full_disk.rs`).
    pub(super) fn open_locked(
        paths: SearchPaths,
        wrapper: std::path::PathBuf,
        observers: Vec<Box<dyn Observer>>,
    ) -> Result<Coordinator, CoordinatorError> {
        // The exports' writer is the lock's holder: what an earlier one left mid-publish goes.
        for export in [
            paths.data_file(),
            crate::export::data_file::full_path(&paths),
            paths.snapshot(),
        ] {
            crate::project::paths::remove_leftover_temporaries(&export);
        }
        let store = Store::open_writer(&paths.database())?;
        let definition = Definition::from_store(&store)?;
        let strategy = crate::strategy::build(&definition.search);
        let executor = crate::executor::build(&definition.job, wrapper, &paths);
        let seed = store.require_meta("random_seed")?.parse().unwrap_or(0);
        let (elapsed_before, session_clock) = super::elapsed::start_session(&store, &paths.dir)?;
        // A stop also sets this flag, which an executor blocked on its scheduler watches.
        let interrupt = Arc::new(AtomicBool::new(false));
        let wakeups = super::wakeups::Wakeups::install(&interrupt)
            .map_err(|e| CoordinatorError::io(&paths.dir, e))?;
        let mut executor = executor;
        executor.set_interrupt(Arc::clone(&interrupt));
        executor.set_max_running(definition.search.max_active_points as usize);
        let log = LogObserver::open(&paths.log());
        let watcher = super::early_stop::Watcher::new(&definition);
        let mut coordinator = Coordinator {
            paths,
            store,
            definition,
            strategy,
            executor,
            seed,
            observers,
            log,
            combinations: Vec::new(),
            replicate_rows: 0,
            observations: Observations::default(),
            restart: VecDeque::new(),
            ahead: VecDeque::new(),
            exhausted: false,
            elapsed_before,
            session: Instant::now(),
            _session_clock: session_clock,
            wakeups,
            stop_requests: 0,
            last_publish: None,
            last_written: None,
            rows_changed: true,
            published: Default::default(),
            summary: Summary::default(),
            paused_until: None,
            backoff: Duration::ZERO,
            replicates_only: false,
            fail_fast: Default::default(),
            refused: None,
            interrupt,
            row_warnings: Vec::new(),
            disk_full_since: None,
            watcher,
            _lock: None,
        };
        coordinator.reload()?;
        Ok(coordinator)
    }

    pub fn paths(&self) -> &SearchPaths {
        &self.paths
    }

    /// Reads every combination from the store again.
    pub(super) fn reload(&mut self) -> Result<(), StoreError> {
        self.combinations = self.store.combinations()?;
        self.published.clear();
        self.rows_changed = true;
        self.observations = Observations::of(&self.combinations);
        self.summarize();
        for warning in self.store.take_warnings() {
            self.emit(Event::Note(format!("warning: {warning}")));
            self.row_warnings.push(warning.to_string());
        }
        Ok(())
    }

    /// Reads again only the combinations a write changed: a search of thousands of runs would
    /// otherwise re-read all of them several times per run. Ids are 0, 1, 2, ..., so an id is
    /// its index.
    pub(super) fn refresh(&mut self, ids: &[u64]) -> Result<(), StoreError> {
        let mut tallied = true;
        for id in ids {
            let Some(c) = self.store.combination(*id)? else {
                continue;
            };
            let i = *id as usize;
            self.published.forget(i);
            self.rows_changed = true;
            // The summary follows each row's change (see `tally`), or one full pass at the end.
            if self.combinations.get(i).is_some_and(|old| old.id == *id) {
                let old = std::mem::replace(&mut self.combinations[i], c);
                tallied &= tally(&mut self.summary, Some(&old), &self.combinations[i]);
                self.observations.update(Some(&old), &self.combinations[i]);
            } else if i == self.combinations.len() {
                tallied &= tally(&mut self.summary, None, &c);
                self.observations.update(None, &c);
                self.combinations.push(c);
            } else {
                return self.reload();
            }
        }
        if tallied && !self.replicates_only {
            self.summary.elapsed_seconds = self.elapsed();
        } else {
            self.summarize();
        }
        Ok(())
    }

    /// The combination `id`, found by its index (ids are 0, 1, 2, ...), not by a scan.
    pub(super) fn combination(&self, id: u64) -> Option<&Combination> {
        match self.combinations.get(id as usize) {
            Some(c) if c.id == id => Some(c),
            _ => self.combinations.iter().find(|c| c.id == id),
        }
    }

    fn summarize(&mut self) {
        let replicates = self
            .combinations
            .iter()
            .filter(|c| c.replicate_of.is_some())
            .count() as u64;
        self.replicate_rows = replicates;
        let mut s = Summary {
            created: self.combinations.len() as u64,
            planned: Some(self.definition.search.max_suggestions).map(|m| {
                let main = self
                    .strategy
                    .size(&self.definition.model.space)
                    .map_or(m, |n| n.min(m));
                if self.replicates_only {
                    // The search proper is over: everything there is to do exists already.
                    self.combinations.len() as u64
                } else {
                    main + replicates
                }
            }),
            elapsed_seconds: self.elapsed(),
            ..Summary::default()
        };
        for c in &self.combinations {
            match c.state {
                RunState::Running => s.running += 1,
                RunState::Succeeded => s.succeeded += 1,
                RunState::Failed => s.failed += 1,
                RunState::Cancelled => s.cancelled += 1,
                RunState::Pruned => s.pruned += 1,
                RunState::Queued => s.queued += 1,
                RunState::Created | RunState::Interrupted => {}
            }
            if c.state == RunState::Succeeded {
                if let Some(loss) = c.loss {
                    if s.best_loss.is_none_or(|b| loss < b) {
                        s.best_loss = Some(loss);
                        s.best_id = Some(c.id);
                    }
                }
            }
        }
        self.summary = s;
    }

    pub(super) fn elapsed(&self) -> f64 {
        self.elapsed_before + self.session.elapsed().as_secs_f64()
    }

    pub(super) fn emit(&mut self, event: Event) {
        self.log.event(&event, &self.summary);
        for observer in &mut self.observers {
            observer.event(&event, &self.summary);
        }
    }

    fn time_left(&self) -> bool {
        self.replicates_only || self.elapsed() < self.definition.search.search_time_hours * 3600.0
    }

    /// The replicate phase for a search that has ended: `runs` more runs of each of the `top_k`
    /// best settings, with a progress bar like a search's. search_time does not apply.
    pub fn replicate(mut self, top_k: u64, runs: u64) -> Result<SearchEnd, CoordinatorError> {
        self.replicates_only = true;
        self.summarize();
        self.emit(Event::SearchStarted {
            search_id: self.paths.search_id,
            resumed: true,
            seed: self.seed,
        });
        self.reconcile()?;
        let created = self.create_replicates(top_k, runs)?;
        self.restart.extend(created);
        self.summarize();
        self.run_loop()
    }

    /// Records `runs` repeats of each of the `top_k` best distinct settings of the search proper,
    /// in the store before any of them runs (so a crash loses none); returns their ids.
    fn create_replicates(&mut self, top_k: u64, runs: u64) -> Result<Vec<u64>, CoordinatorError> {
        let mut ranked: Vec<&Combination> = self
            .combinations
            .iter()
            .filter(|c| c.replicate_of.is_none() && c.state == RunState::Succeeded)
            .filter(|c| c.loss.is_some_and(f64::is_finite))
            .collect();
        ranked.sort_by(|a, b| {
            a.loss
                .unwrap_or(f64::INFINITY)
                .total_cmp(&b.loss.unwrap_or(f64::INFINITY))
                .then(a.id.cmp(&b.id))
        });
        let mut chosen: Vec<Combination> = Vec::new();
        for c in ranked {
            if chosen.len() as u64 >= top_k {
                break;
            }
            if !chosen.iter().any(|o| o.params == c.params) {
                chosen.push(c.clone());
            }
        }
        let mut ids = Vec::new();
        let now = crate::clock::now();
        let previous_results_count = self
            .combinations
            .iter()
            .filter(|c| matches!(c.state, RunState::Succeeded | RunState::Failed))
            .count() as u64;
        let chosen_ids: Vec<u64> = chosen.iter().map(|c| c.id).collect();
        self.store.transaction(|store| {
            for original in &chosen {
                for _ in 0..runs {
                    ids.push(store.insert(&NewCombination {
                        search_type: "replicate",
                        point: &original.point,
                        params: &original.params,
                        previous_results_count,
                        created_at: now,
                        replicate_of: Some(original.id),
                    })?);
                }
            }
            store.set_meta(REPLICATES_CREATED, &format!("{top_k}x{runs}"))?;
            Ok(())
        })?;
        self.reload()?;
        let listed: Vec<String> = chosen_ids.iter().map(|id| id.to_string()).collect();
        self.emit(Event::Note(format!(
            "replicate phase: {runs} more run(s) of each of the {} best settings (combinations {}): {} runs",
            chosen_ids.len(),
            listed.join(", "),
            ids.len()
        )));
        Ok(ids)
    }

    /// Runs the search until it is finished or stopped.
    pub fn run(mut self, resumed: bool) -> Result<SearchEnd, CoordinatorError> {
        self.store.set_meta("state", "running")?;
        let seed = self.seed;
        self.emit(Event::SearchStarted {
            search_id: self.paths.search_id,
            resumed,
            seed,
        });
        for warning in self.definition.model.warnings.clone() {
            self.emit(Event::Note(format!("warning: {warning}")));
        }
        self.reconcile()?;
        // Only the runs taken over just now may have ended while the disk was full.
        self.disk_full_since = None;
        // Readers see the search running, with what the resume found, before any run starts;
        // and this first publish, which renders every row (0.6 s at 100,000), holds up no run.
        self.publish(true)?;
        self.run_loop()
    }

    fn run_loop(&mut self) -> Result<SearchEnd, CoordinatorError> {
        let end = loop {
            self.drain_signals(Duration::ZERO);
            if self.stop_requests > 0 {
                break self.stop_everything()?;
            }
            // One commit for the step's writes (see Store::begin_batch), at the step's end or
            // with the next step's (below); `start` flushes before each new run's folder exists.
            self.store.begin_batch()?;
            self.record_answers()?;
            for ended in self.executor.poll() {
                self.record_end(ended)?;
            }
            self.watch_progress()?;
            self.executor_events()?;
            if let Some(why) = self.failing_fast() {
                break self.stop_early(why)?;
            }
            if !self.time_left() {
                break self.stop_for_time()?;
            }
            self.fill()?;
            self.executor_events()?;
            if let Some(why) = self.refused.take() {
                break self.stop_early(why)?;
            }
            if let Some(why) = self.failing_fast() {
                break self.stop_early(why)?;
            }
            if self.executor.active() == 0
                && self.restart.is_empty()
                && self.ahead.is_empty()
                && !self.can_suggest()
            {
                let search = &self.definition.search;
                let (top_k, runs) = (search.replicate_top_k, search.replicates);
                if !self.replicates_only
                    && runs > 0
                    && self.store.meta(REPLICATES_CREATED)?.is_none()
                {
                    let created = self.create_replicates(top_k, runs)?;
                    self.restart.extend(created);
                    continue;
                }
                let reason = if self.replicates_only {
                    format!(
                        "the replicate phase is done ({} replicate runs)",
                        self.combinations
                            .iter()
                            .filter(|c| c.replicate_of.is_some())
                            .count()
                    )
                } else if self.exhausted {
                    format!(
                        "all {} combinations of the {} search are done",
                        self.combinations.len(),
                        self.definition.search.search_type.name()
                    )
                } else {
                    format!(
                        "max_suggestions ({}) combinations are done",
                        self.definition.search.max_suggestions
                    )
                };
                break SearchEnd::Finished(reason);
            }
            // Group commit: when another run ends within COMMIT_DELAY, the next step's first
            // start commits this step's writes with its own (one fsync a run instead of two).
            // Every write the delay holds back is also in a run's record file, which a resume
            // reads; and nothing is published before it is committed.
            let woken = self.drain_signals(COMMIT_DELAY);
            if !woken || self.publish_due() {
                self.store.commit_batch()?;
            }
            self.publish(false)?;
            if !woken {
                self.drain_signals(IDLE_WAIT.saturating_sub(COMMIT_DELAY));
            }
        };
        let (state, reason) = match &end {
            SearchEnd::Finished(r) => ("finished", r.clone()),
            SearchEnd::Stopped(r) | SearchEnd::Failed(r) => ("stopped", r.clone()),
        };
        // A step that ended the loop early (a stop, search_time) has its batch still open.
        self.record_answers()?;
        self.drop_ahead()?;
        self.store.commit_batch()?;
        self.store.set_meta("state", state)?;
        self.store.set_meta("end_reason", &reason)?;
        self.reload()?;
        self.publish(true)?;
        if let Some(report) = self.executor.load_report() {
            self.emit(Event::Note(report));
        }
        self.emit(Event::SearchEnded { reason });
        Ok(end)
    }

    /// Waits up to `wait` for a signal (a child ended, or a stop was asked for); whether one came.
    pub(super) fn drain_signals(&mut self, wait: Duration) -> bool {
        let woken = self.wakeups.wait(wait);
        self.stop_requests = self.stop_requests.saturating_add(woken.stops);
        woken.any
    }

    pub(super) fn can_suggest(&self) -> bool {
        let suggested = self.combinations.len() as u64 - self.replicate_rows;
        !self.replicates_only
            && !self.exhausted
            && suggested < self.definition.search.max_suggestions
    }

    pub(super) fn spec(&self, id: u64) -> RunSpec {
        let folder = self.paths.combination_dir(id);
        RunSpec {
            combination_id: id,
            input: folder.join("input.json"),
            folder,
            program: self.definition.job.environment_path.clone(),
            script: self.definition.job.script_path.clone(),
            time_limit: self.definition.job.time_limit(),
            kill_grace: self.definition.job.kill_grace(),
            checkpoint_signal: crate::clock::duration_from_secs(
                self.definition.job.checkpoint_signal_seconds,
            ),
        }
    }

    /// Settles every combination an earlier coordinator left unfinished.
    pub(super) fn reconcile(&mut self) -> Result<(), CoordinatorError> {
        let unfinished: Vec<Combination> = self
            .combinations
            .iter()
            .filter(|c| c.state.is_pending())
            .cloned()
            .collect();
        for c in unfinished {
            if c.state == RunState::Interrupted {
                self.restart.push_back(c.id);
                continue;
            }
            let known = Known {
                spec: self.spec(c.id),
                job_id: c.job_id.clone(),
                pid: c.pid,
                pid_start: c.pid_start,
                started_at: c.started_at,
            };
            match self.executor.adopt(&known) {
                Adoption::Running(submitted) => {
                    if c.state == RunState::Created {
                        self.store_submission(c.id, &submitted)?;
                    } else if c.state == RunState::Queued && !submitted.queued {
                        // It started while no coordinator watched.
                        self.store.mark_started(c.id, submitted.started_at)?;
                    }
                    self.emit(Event::RunAdopted {
                        id: c.id,
                        job_id: submitted.job_id,
                        queued: submitted.queued,
                    });
                }
                Adoption::Ended(ended) => self.record_end(ended)?,
                Adoption::NeverStarted => self.restart.push_back(c.id),
            }
        }
        self.reload()?;
        Ok(())
    }

    /// Records what the executor reported besides ends: a resubmitted run's new job id goes into
    /// the store before anything else (so a resume finds that job, not the dead one), and
    /// every note reaches the search log.
    pub(super) fn executor_events(&mut self) -> Result<(), CoordinatorError> {
        for event in self.executor.take_events() {
            match event {
                ExecutorEvent::Note(text) => self.emit(Event::Note(text)),
                ExecutorEvent::Started { combination_id, at } => {
                    self.store.mark_started(combination_id, at)?;
                    self.refresh(&[combination_id])?;
                }
                ExecutorEvent::Resubmitted {
                    combination_id,
                    job_id,
                    note,
                } => {
                    self.store.record_resubmission(combination_id, &job_id)?;
                    self.refresh(&[combination_id])?;
                    self.emit(Event::Note(note));
                }
            }
        }
        Ok(())
    }

    /// The `stop_after_failures` verdict, outside the replicate phase.
    fn failing_fast(&self) -> Option<String> {
        if self.replicates_only {
            return None;
        }
        self.fail_fast.verdict(
            self.definition.search.stop_after_failures,
            self.summary.succeeded > 0,
            &self.paths.dir,
        )
    }
}
