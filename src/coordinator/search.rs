//! The coordinator: the loop that asks the strategy, starts runs through the executor, records
//! their results in the store and publishes what readers see. It is the store's only writer.

use super::definition::{Definition, DefinitionError};
use super::events::{Event, LogObserver, Observer, Summary};
use super::imputation::imputed_loss;
use super::outcome::{judge, Outcome};
use super::tally::{tally, Observations};
use crate::config::model::SAVE_FOLDER;
use crate::config::search::FailureValue;
use crate::executor::{Adoption, Ended, Executor, ExecutorError, ExecutorEvent, Known, RunSpec};
use crate::project::lock::{self, CoordinatorLock, LockError};
use crate::project::SearchPaths;
use crate::store::{Accounting, Combination, Finish, NewCombination, RunState, Store, StoreError};
use crate::strategy::{Strategy, StrategyError, SuggestContext};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
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
    Ok(paths)
}

pub struct Coordinator {
    pub(super) paths: SearchPaths,
    pub(super) store: Store,
    pub(super) definition: Definition,
    strategy: Box<dyn Strategy>,
    pub(super) executor: Box<dyn Executor>,
    pub(super) seed: u64,
    observers: Vec<Box<dyn Observer>>,
    log: LogObserver,
    pub(super) combinations: Vec<Combination>,
    /// How many of `combinations` are replicate rows (kept by `summarize`).
    replicate_rows: u64,
    /// What the strategy is given of `combinations`, kept by `reload` and `refresh`.
    observations: Observations,
    restart: VecDeque<u64>,
    /// Rows created ahead of their start, for strategies whose suggestions do not depend on
    /// results (see `create_ahead`): always the newest rows, none of them prepared yet.
    ahead: VecDeque<u64>,
    exhausted: bool,
    elapsed_before: f64,
    session: Instant,
    /// The heartbeat that lets the next session count this one's time after a crash.
    _session_clock: super::elapsed::SessionClock,
    wakeups: super::wakeups::Wakeups,
    pub(super) stop_requests: u32,
    pub(super) last_publish: Option<Instant>,
    /// Each settled row's published text, kept between publishes (told of every row change).
    pub(super) published: crate::export::published::RowCache,
    pub(super) summary: Summary,
    /// While the executor refuses runs (a scheduler down), submissions wait until then.
    paused_until: Option<Instant>,
    backoff: Duration,
    /// `replicate` runs only the replicate phase: no new suggestions, no search_time.
    replicates_only: bool,
    /// The `stop_after_failures` rule's view of this session's ends.
    fail_fast: super::fail_fast::FailFast,
    /// Set when the scheduler refused a run for a reason every run shares: the search stops.
    refused: Option<String>,
    /// Set by the signal thread on a stop request, for the executor and `fill`.
    interrupt: Arc<AtomicBool>,
    /// Corrupted rows found in the store, published for `status` and `results` to show.
    pub(super) row_warnings: Vec<String>,
    /// Early stopping's state, when search_config.json turns it on.
    pub(super) watcher: Option<super::early_stop::Watcher>,
    _lock: CoordinatorLock,
}

/// The input.json key that tells a run its full length under asha and hyperband.
const MAX_STEP: &str = "max_step";

/// The meta key that records that the replicate phase's runs were created (and how many).
const REPLICATES_CREATED: &str = "replicates_created";

/// How often a local run killed from outside (no end record) is run again before it counts as lost.
const LOCAL_MAX_RESTARTS: u64 = 2;

const MIN_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

const IDLE_WAIT: Duration = Duration::from_millis(250);

/// How long a step's writes may wait for the next step's commit (see `run_loop`).
const COMMIT_DELAY: Duration = Duration::from_millis(10);

impl Coordinator {
    /// Takes over a search folder: the lock, the store, the definition recorded in it.
    /// `wrapper` is the hpsearch binary whose `_wrap` command runs each script.
    pub fn open(
        paths: SearchPaths,
        wrapper: std::path::PathBuf,
        observers: Vec<Box<dyn Observer>>,
    ) -> Result<Coordinator, CoordinatorError> {
        let lock = lock::acquire(&paths.lock())?;
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
            published: Default::default(),
            summary: Summary::default(),
            paused_until: None,
            backoff: Duration::ZERO,
            replicates_only: false,
            fail_fast: Default::default(),
            refused: None,
            interrupt,
            row_warnings: Vec::new(),
            watcher,
            _lock: lock,
        };
        coordinator.reload()?;
        Ok(coordinator)
    }

    pub fn paths(&self) -> &SearchPaths {
        &self.paths
    }

    /// Reads every combination from the store again.
    fn reload(&mut self) -> Result<(), StoreError> {
        self.combinations = self.store.combinations()?;
        self.published.clear();
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

    /// Waits up to `wait` for a signal (a child ended, or a stop was asked for); whether one came.
    pub(super) fn drain_signals(&mut self, wait: Duration) -> bool {
        let woken = self.wakeups.wait(wait);
        self.stop_requests = self.stop_requests.saturating_add(woken.stops);
        woken.any
    }

    fn can_suggest(&self) -> bool {
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
    fn reconcile(&mut self) -> Result<(), CoordinatorError> {
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
                        self.store.mark_running(
                            c.id,
                            &submitted.job_id,
                            submitted.pid,
                            submitted.pid_start,
                            submitted.started_at,
                            submitted.queued,
                        )?;
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

    /// Starts runs until every slot is used or nothing is left to start.
    fn fill(&mut self) -> Result<(), CoordinatorError> {
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
        while self.executor.active() < slots {
            if self.interrupt.load(Ordering::Relaxed) || self.refused.is_some() {
                break; // a stop was asked for: the loop handles it before starting more
            }
            let Some(id) = self.next_to_start()? else {
                break;
            };
            if !self.start(id)? {
                break;
            }
        }
        Ok(())
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
    fn fill_from_ahead(&mut self, slots: usize) -> Result<(), CoordinatorError> {
        while self.executor.active() < slots {
            if self.interrupt.load(Ordering::Relaxed) || self.refused.is_some() {
                return Ok(());
            }
            let Some(id) = self.next_to_start()? else {
                break;
            };
            if !self.start(id)? {
                return Ok(());
            }
        }
        if self.ahead.len() < slots && self.can_suggest() && !self.exhausted {
            while self.ahead.len() < 2 * slots && self.can_suggest() {
                let Some(id) = self.create_next()? else {
                    self.exhausted = true;
                    break;
                };
                self.ahead.push_back(id);
            }
            self.store.flush()?;
        }
        Ok(())
    }

    /// Deletes the rows created ahead that never started (the search ends): they were never
    /// suggested to a run, and a finished search shows no row that never ran.
    fn drop_ahead(&mut self) -> Result<(), CoordinatorError> {
        let Some(&first) = self.ahead.front() else {
            return Ok(());
        };
        self.ahead.clear();
        self.store.delete_unstarted_from(first)?;
        self.reload()?;
        Ok(())
    }

    /// The next run to start: the first waiting in line (a restart, a replicate, a row of
    /// this step, a row created ahead), else a new combination from the strategy; `None` when
    /// there is none.
    fn next_to_start(&mut self) -> Result<Option<u64>, CoordinatorError> {
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
    /// `Err(why)` inside: nothing can start now, for a reason every run would meet alike.
    fn prepare(&mut self, id: u64) -> Result<Result<RunSpec, String>, CoordinatorError> {
        if let Some(problem) = super::preflight::common_start_problem(&self.definition.job) {
            return Ok(Err(problem));
        }
        // The row is durable before its folder exists; the pid recorded after the submit is
        // committed at the end of this step, right after its spawns.
        self.store.flush()?;
        if let Err(error) = self.write_input(id) {
            if let CoordinatorError::Io { source, .. } = &error {
                if super::preflight::is_common_io_problem(source) {
                    return Ok(Err(error.to_string()));
                }
            }
            return Err(error);
        }
        Ok(Ok(self.spec(id)))
    }

    /// Submissions went through: a pause, if there was one, is over.
    fn submissions_resumed(&mut self) {
        if !self.backoff.is_zero() {
            self.emit(Event::Note("runs start again".into()));
        }
        self.backoff = Duration::ZERO;
    }

    /// With job arrays, runs that do not depend on each other's results (the strategy's
    /// suggestions, restarts, replicates) go out as one wave of up to `MAX_WAVE` runs whenever a
    /// slot is free; the scheduler holds them to `slots` running at once.
    fn fill_wave(&mut self, slots: usize) -> Result<(), CoordinatorError> {
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
        for id in &ids {
            match self.prepare(*id)? {
                Ok(spec) => specs.push(spec),
                Err(why) => {
                    self.requeue_front(&ids);
                    self.pause_submissions(ids[0], &why);
                    return Ok(());
                }
            }
        }
        if specs.is_empty() {
            return Ok(());
        }
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
    fn requeue_front(&mut self, ids: &[u64]) {
        for id in ids.iter().rev() {
            self.restart.retain(|other| other != id);
            self.restart.push_front(*id);
        }
    }

    /// Asks the strategy for the next combination and records it (state `created`).
    fn create_next(&mut self) -> Result<Option<u64>, CoordinatorError> {
        let space = &self.definition.model.space;
        let context = SuggestContext {
            space,
            finished: &self.observations.finished,
            pending: &self.observations.pending,
            sequence: self.combinations.len() as u64,
            seed: self.seed,
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

    fn write_input(&self, id: u64) -> Result<(), CoordinatorError> {
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
        // In place: the folder is new and nothing reads input.json before the run starts (a
        // resume writes it again for a run that never started).
        std::fs::write(&path, text.as_bytes()).map_err(|e| CoordinatorError::io(&path, e))
    }

    /// Starts the run of a combination; `false` when the executor cannot take runs now.
    fn start(&mut self, id: u64) -> Result<bool, CoordinatorError> {
        let spec = match self.prepare(id)? {
            Ok(spec) => spec,
            Err(why) => {
                self.pause_submissions(id, &why);
                return Ok(false);
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
        for (id, answer) in self.executor.answers() {
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

    /// Records a run the executor took: its job id, and queued or running.
    fn record_submission(
        &mut self,
        id: u64,
        submitted: crate::executor::Submitted,
    ) -> Result<(), CoordinatorError> {
        self.store.mark_running(
            id,
            &submitted.job_id,
            submitted.pid,
            submitted.pid_start,
            submitted.started_at,
            submitted.queued,
        )?;
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
    fn submission_failed(
        &mut self,
        id: u64,
        error: ExecutorError,
    ) -> Result<bool, CoordinatorError> {
        match error {
            ExecutorError::Start { message, .. } => {
                let now = crate::clock::now();
                self.record_end(Ended {
                    combination_id: id,
                    end: crate::executor::RunEnd::StartFailed(message),
                    finished_at: now,
                    scheduler: Default::default(),
                })?;
            }
            ExecutorError::Unavailable { message } => {
                self.pause_submissions(id, &message);
                return Ok(false);
            }
            ExecutorError::Refused { message, .. } => {
                // The same request goes out for every run: no later run can start either.
                self.record_end(Ended {
                    combination_id: id,
                    end: crate::executor::RunEnd::StartFailed(message.clone()),
                    finished_at: crate::clock::now(),
                    scheduler: Default::default(),
                })?;
                self.refused = Some(format!(
                    "stopped: the scheduler refuses every run of this search ({message}); fix job_config.json (memory, num_processors, gpus, time) or the cluster profile (partition, account, qos), then `hpsearch resume {}`",
                    self.paths.dir.display()
                ));
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Records what the executor reported besides ends: a resubmitted run's new job id goes into
    /// the store before anything else (so a resume finds that job, not the dead one), and
    /// every note reaches the search log.
    fn executor_events(&mut self) -> Result<(), CoordinatorError> {
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

    /// Nothing can start now, for a reason every run would meet alike: keeps `id` first in
    /// line, and waits a growing backoff before trying again; no combination is spent on it.
    fn pause_submissions(&mut self, id: u64, why: &str) {
        self.restart.retain(|other| *other != id);
        self.restart.push_front(id);
        self.backoff = (self.backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
        self.paused_until = Some(Instant::now() + self.backoff);
        self.emit(Event::Note(format!(
            "cannot start runs now: {why}; submissions paused, trying again in {} s",
            self.backoff.as_secs()
        )));
    }

    /// Records how a run ended, and keeps every imputed loss current.
    fn record_end(&mut self, ended: Ended) -> Result<(), CoordinatorError> {
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
    fn run_again_after_interruption(
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
    fn checkpointed_for_requeue(&self, id: u64) -> bool {
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

    /// Stops a search whose first runs all failed alike: its runs in flight are interrupted (they
    /// run again on resume) and the search ends `stopped` with the reason.
    fn stop_early(&mut self, why: String) -> Result<SearchEnd, CoordinatorError> {
        self.emit(Event::Note(why.clone()));
        self.stop_and_interrupt()?;
        Ok(SearchEnd::Failed(why))
    }

    /// Stops the runs in flight and marks them interrupted (they run again on resume); returns
    /// their ids.
    fn stop_and_interrupt(&mut self) -> Result<Vec<u64>, CoordinatorError> {
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
    fn stop_runs(&mut self) -> Result<Vec<u64>, CoordinatorError> {
        self.record_answers()?;
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

    fn stop_everything(&mut self) -> Result<SearchEnd, CoordinatorError> {
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

    fn stop_for_time(&mut self) -> Result<SearchEnd, CoordinatorError> {
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
