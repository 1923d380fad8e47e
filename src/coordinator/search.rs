//! The coordinator: the loop that asks the strategy, starts runs through the executor, records
//! their results in the store and publishes what readers see. It is the store's only writer.

use super::definition::{Definition, DefinitionError};
use super::events::{Event, LogObserver, Observer, Summary};
use super::imputation::imputed_loss;
use super::outcome::{judge, Outcome};
use crate::config::model::SAVE_FOLDER;
use crate::config::search::FailureValue;
use crate::executor::{Adoption, Ended, Executor, ExecutorError, Known, RunSpec};
use crate::export::data_file;
use crate::export::snapshot::{ConfigCopy, Snapshot};
use crate::project::lock::{self, CoordinatorLock, LockError};
use crate::project::paths::write_atomically;
use crate::project::SearchPaths;
use crate::store::{Accounting, Combination, Finish, NewCombination, RunState, Store, StoreError};
use crate::strategy::{Observation, Strategy, StrategyError, SuggestContext};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver};
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
    seed: u64,
    observers: Vec<Box<dyn Observer>>,
    log: LogObserver,
    pub(super) combinations: Vec<Combination>,
    restart: VecDeque<u64>,
    exhausted: bool,
    elapsed_before: f64,
    session: Instant,
    signals: Receiver<i32>,
    pub(super) stop_requests: u32,
    last_publish: Option<Instant>,
    summary: Summary,
    /// While the executor refuses runs (a scheduler down), submissions wait until then.
    paused_until: Option<Instant>,
    backoff: Duration,
    /// `replicate` runs only the replicate phase: no new suggestions, no search_time.
    replicates_only: bool,
    _lock: CoordinatorLock,
}

/// The meta key that records that the replicate phase's runs were created (and how many).
const REPLICATES_CREATED: &str = "replicates_created";

const MIN_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

const PUBLISH_INTERVAL: Duration = Duration::from_millis(500);
const IDLE_WAIT: Duration = Duration::from_millis(250);

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
        let elapsed_before = store
            .meta("elapsed_seconds")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0);
        let (tx, signals) = mpsc::channel();
        use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
        let mut hooks = signal_hook::iterator::Signals::new([SIGCHLD, SIGINT, SIGTERM, SIGHUP])
            .map_err(|e| CoordinatorError::io(&paths.dir, e))?;
        std::thread::spawn(move || {
            for signal in hooks.forever() {
                if tx.send(signal).is_err() {
                    break;
                }
            }
        });
        let log = LogObserver::open(&paths.log());
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
            restart: VecDeque::new(),
            exhausted: false,
            elapsed_before,
            session: Instant::now(),
            signals,
            stop_requests: 0,
            last_publish: None,
            summary: Summary::default(),
            paused_until: None,
            backoff: Duration::ZERO,
            replicates_only: false,
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
        self.summarize();
        Ok(())
    }

    /// Reads again only the combinations a write changed: a search of thousands of runs would
    /// otherwise re-read all of them several times per run. Ids are 0, 1, 2, ..., so an id is
    /// its index.
    fn refresh(&mut self, ids: &[u64]) -> Result<(), StoreError> {
        for id in ids {
            let Some(c) = self.store.combination(*id)? else {
                continue;
            };
            let i = *id as usize;
            if self.combinations.get(i).is_some_and(|old| old.id == *id) {
                self.combinations[i] = c;
            } else if i == self.combinations.len() {
                self.combinations.push(c);
            } else {
                return self.reload();
            }
        }
        self.summarize();
        Ok(())
    }

    fn summarize(&mut self) {
        let mut s = Summary {
            created: self.combinations.len() as u64,
            planned: Some(self.definition.search.max_suggestions).map(|m| {
                let replicates = self
                    .combinations
                    .iter()
                    .filter(|c| c.replicate_of.is_some())
                    .count() as u64;
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

    fn elapsed(&self) -> f64 {
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
        self.reconcile()?;
        self.run_loop()
    }

    fn run_loop(&mut self) -> Result<SearchEnd, CoordinatorError> {
        let end = loop {
            self.drain_signals(Duration::ZERO);
            if self.stop_requests > 0 {
                break self.stop_everything()?;
            }
            for ended in self.executor.poll() {
                self.record_end(ended)?;
            }
            if !self.time_left() {
                break self.stop_for_time()?;
            }
            self.fill()?;
            if self.executor.active() == 0 && self.restart.is_empty() && !self.can_suggest() {
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
            self.publish(false)?;
            self.drain_signals(IDLE_WAIT);
        };
        let (state, reason) = match &end {
            SearchEnd::Finished(r) => ("finished", r.clone()),
            SearchEnd::Stopped(r) => ("stopped", r.clone()),
        };
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
            .filter(|c| c.state == RunState::Running)
            .count();
        let end = self.stop_everything()?;
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

    /// Waits up to `wait` for a signal (a child ended, or a stop was asked for).
    pub(super) fn drain_signals(&mut self, wait: Duration) {
        let first = if wait.is_zero() {
            self.signals.try_recv().ok()
        } else {
            self.signals.recv_timeout(wait).ok()
        };
        for signal in first
            .into_iter()
            .chain(std::iter::from_fn(|| self.signals.try_recv().ok()))
        {
            if signal != signal_hook::consts::SIGCHLD {
                self.stop_requests += 1;
            }
        }
    }

    fn can_suggest(&self) -> bool {
        let suggested = self
            .combinations
            .iter()
            .filter(|c| c.replicate_of.is_none())
            .count() as u64;
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
            kill_grace: Duration::from_secs_f64(self.definition.job.kill_grace_seconds),
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
                        )?;
                    }
                    self.emit(Event::RunAdopted {
                        id: c.id,
                        job_id: submitted.job_id,
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
        while self.executor.active() < slots {
            if let Some(id) = self.restart.pop_front() {
                let was_interrupted = self
                    .combinations
                    .iter()
                    .any(|c| c.id == id && c.state == RunState::Interrupted);
                if was_interrupted {
                    self.emit(Event::RunRestarted { id });
                }
                if !self.start(id)? {
                    break;
                }
                continue;
            }
            if !self.can_suggest() {
                break;
            }
            let Some(id) = self.create_next()? else {
                self.exhausted = true;
                break;
            };
            if !self.start(id)? {
                break;
            }
        }
        Ok(())
    }

    /// Asks the strategy for the next combination and records it (state `created`).
    fn create_next(&mut self) -> Result<Option<u64>, CoordinatorError> {
        let space = &self.definition.model.space;
        let mut finished = Vec::new();
        let mut pending = Vec::new();
        for c in &self.combinations {
            match c.state {
                RunState::Succeeded | RunState::Failed | RunState::Cancelled => {
                    finished.push(Observation {
                        point: c.point.clone(),
                        loss: if c.state == RunState::Cancelled {
                            None
                        } else {
                            c.loss
                        },
                    })
                }
                _ => pending.push(c.point.clone()),
            }
        }
        let context = SuggestContext {
            space,
            finished: &finished,
            pending: &pending,
            sequence: self.combinations.len() as u64,
            seed: self.seed,
        };
        let Some(suggestion) = self.strategy.suggest(&context)? else {
            return Ok(None);
        };
        let params = space.decode(&suggestion.point);
        let previous_results_count = self
            .combinations
            .iter()
            .filter(|c| matches!(c.state, RunState::Succeeded | RunState::Failed))
            .count() as u64;
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
            .combinations
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.params.clone())
            .unwrap_or_default();
        let mut input = serde_json::Map::new();
        for (name, value) in &self.definition.model.variables {
            if name == SAVE_FOLDER {
                continue;
            }
            input.insert(
                name.clone(),
                params.get(name).cloned().unwrap_or_else(|| value.clone()),
            );
        }
        input.insert(
            SAVE_FOLDER.to_string(),
            Value::String(folder.display().to_string()),
        );
        let text = serde_json::to_string_pretty(&Value::Object(input)).unwrap_or_default();
        let path = folder.join("input.json");
        write_atomically(&path, text.as_bytes()).map_err(|e| CoordinatorError::io(&path, e))
    }

    /// Starts the run of a combination; `false` when the executor cannot take runs now.
    fn start(&mut self, id: u64) -> Result<bool, CoordinatorError> {
        self.write_input(id)?;
        let spec = self.spec(id);
        match self.executor.submit(&spec) {
            Ok(submitted) => {
                self.store.mark_running(
                    id,
                    &submitted.job_id,
                    submitted.pid,
                    submitted.pid_start,
                    submitted.started_at,
                )?;
                self.refresh(&[id])?;
                let (params, label) = self
                    .combinations
                    .iter()
                    .find(|c| c.id == id)
                    .map(|c| (c.params.clone(), c.search_type.clone()))
                    .unwrap_or_default();
                self.emit(Event::RunStarted {
                    id,
                    job_id: submitted.job_id,
                    params,
                    label,
                });
            }
            Err(ExecutorError::Start { message, .. }) => {
                let now = crate::clock::now();
                self.record_end(Ended {
                    combination_id: id,
                    end: crate::executor::RunEnd::StartFailed(message),
                    finished_at: now,
                    scheduler: Default::default(),
                })?;
            }
            Err(ExecutorError::Unavailable { message }) => {
                // The executor cannot take runs now: keep this one first in line and wait.
                self.restart.push_front(id);
                self.backoff = (self.backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
                self.paused_until = Some(Instant::now() + self.backoff);
                let text = format!(
                    "cannot submit runs now ({message}); trying again in {:?}",
                    self.backoff
                );
                self.emit(Event::Note(text));
                return Ok(false);
            }
        }
        self.backoff = Duration::ZERO;
        Ok(true)
    }

    /// Records how a run ended, and keeps every imputed loss current.
    fn record_end(&mut self, ended: Ended) -> Result<(), CoordinatorError> {
        let id = ended.combination_id;
        let outcome = judge(
            &ended.end,
            &self.paths.combination_dir(id),
            self.definition.search.y_transformation,
            self.definition.job.time_hours,
        );
        let accounting = Accounting {
            scheduler_state: ended.scheduler.state.clone(),
            elapsed_seconds: ended.scheduler.elapsed_seconds,
            peak_memory_mb: crate::executor::wrapper::read_status(&self.paths.combination_dir(id))
                .and_then(|s| s.peak_memory_mb),
        };
        self.store.set_accounting(id, &accounting)?;
        let rules = self.definition.search.y_failure_value.clone();
        let mut losses: Vec<f64> = self
            .combinations
            .iter()
            .filter(|c| c.state == RunState::Succeeded && c.id != id)
            .filter_map(|c| c.loss)
            .collect();
        let mut changed = vec![id];
        let event = match &outcome {
            Outcome::Success {
                objective,
                loss,
                metrics,
            } => {
                losses.push(*loss);
                // Only the failures imputed with `max` depend on the losses seen so far.
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
                let finish = Finish {
                    state: RunState::Succeeded,
                    finished_at: ended.finished_at,
                    objective: Some(*objective),
                    loss: Some(*loss),
                    kind: None,
                    reason: None,
                    metrics,
                };
                self.store.transaction(|store| {
                    store.finish(id, &finish)?;
                    for other in &stale {
                        store.set_loss(*other, imputed)?;
                    }
                    Ok(())
                })?;
                changed.extend(stale);
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
                let imputed = imputed_loss(rules.rule_for(kind.name()), &losses);
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
                Event::RunFailed {
                    id,
                    kind: kind.name(),
                    reason: reason.clone(),
                    imputed,
                }
            }
        };
        self.refresh(&changed)?;
        self.emit(event);
        self.publish(false)?;
        Ok(())
    }

    /// Stops every run: SIGTERM, then SIGKILL after the grace period, or at once on a second
    /// signal. The runs are marked interrupted, so `resume` runs them again.
    fn stop_runs(&mut self) -> Vec<u64> {
        let active: Vec<u64> = self
            .combinations
            .iter()
            .filter(|c| c.state == RunState::Running)
            .map(|c| c.id)
            .collect();
        for id in &active {
            self.executor.cancel(*id);
        }
        let grace = Duration::from_secs_f64(self.definition.job.kill_grace_seconds);
        let deadline = Instant::now() + grace;
        let requests = self.stop_requests;
        while self.executor.active() > 0
            && Instant::now() < deadline
            && self.stop_requests <= requests.max(1)
        {
            let _ = self.executor.poll();
            self.drain_signals(Duration::from_millis(20));
        }
        self.executor.stop_all(Duration::ZERO);
        active
    }

    fn stop_everything(&mut self) -> Result<SearchEnd, CoordinatorError> {
        self.emit(Event::Note(
            "stop requested: stopping the running combinations".into(),
        ));
        let stopped = self.stop_runs();
        self.store.transaction(|store| {
            for id in &stopped {
                store.mark_interrupted(*id)?;
            }
            Ok(())
        })?;
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
        let hours = self.definition.search.search_time_hours;
        let reason = format!("search_time ({hours} h) ran out before the run finished");
        let stopped = self.stop_runs();
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
            "search_time ({hours} h) ran out"
        )))
    }

    /// Writes the data file and the snapshot for readers (at most every PUBLISH_INTERVAL unless forced).
    pub(super) fn publish(&mut self, force: bool) -> Result<(), CoordinatorError> {
        if !force
            && self
                .last_publish
                .is_some_and(|t| t.elapsed() < PUBLISH_INTERVAL)
        {
            return Ok(());
        }
        self.last_publish = Some(Instant::now());
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
        let table = data_file::render(&self.paths, &names, &self.combinations, now);
        let path = self.paths.data_file();
        write_atomically(&path, table.as_bytes()).map_err(|e| CoordinatorError::io(&path, e))?;
        let search = &self.definition.search;
        let snapshot = Snapshot {
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
            summary: self.summary.clone(),
            combinations: self.combinations.clone(),
            search_config: ConfigCopy::of(&self.definition.files[0]),
            model_config: ConfigCopy::of(&self.definition.files[2]),
            test_runs: self.store.test_runs()?,
        };
        let path = self.paths.snapshot();
        let text = serde_json::to_string(&snapshot).unwrap_or_default();
        write_atomically(&path, text.as_bytes()).map_err(|e| CoordinatorError::io(&path, e))
    }
}
