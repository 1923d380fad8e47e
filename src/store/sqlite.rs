//! The search's SQLite database: the source of truth for combinations, their state and results.
//!
//! One writer: the coordinator that holds the search's lock (see `project::lock`). The database
//! is opened in exclusive locking mode, so a second writer fails at once, and then switched to a
//! write-ahead log. WAL normally needs shared memory (which network file systems lack), but not
//! in exclusive locking mode: SQLite then keeps the WAL index in the process's own memory and
//! never creates `-shm`. With `synchronous = FULL` a commit is durable when it returns, as with
//! the rollback journal, at one fsync instead of four. Other processes read the snapshot the
//! coordinator publishes, never the database.
//!
//! Writes are committed one by one, or grouped: between `begin_batch` and `commit_batch` every
//! write joins one transaction, which `flush` commits early where something outside the store
//! must not happen before the writes are durable (a run's folder before its row, say).

use super::record::{Combination, FailureKind, RunState, TestRun};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};
use serde_json::{Map, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("search database {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("search database {path}: {message}")]
    Corrupt { path: String, message: String },
    /// A write failed for want of space: SQLite's "database or disk is full", or its "disk I/O
    /// error" where the system's answer was an exceeded quota (SQLite names only ENOSPC).
    #[error("search database {path}: {what}: {source}")]
    OutOfSpace {
        path: String,
        what: &'static str,
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Whether the error is a full disk or an exceeded quota, which freeing space cures.
    pub fn is_out_of_space(&self) -> bool {
        matches!(self, StoreError::OutOfSpace { .. })
    }
}

/// What a failed write's system error says of the space left: `None` when it is not about
/// space. `errno` is the one SQLite saw (`sqlite3_system_errno`).
fn lack_of_space(source: &rusqlite::Error, errno: i32) -> Option<&'static str> {
    let rusqlite::Error::SqliteFailure(failure, _) = source else {
        return None;
    };
    use rusqlite::ErrorCode::{CannotOpen, DiskFull, SystemIoFailure};
    // A log file that cannot be created (SQLite makes its write-ahead log again at each
    // opening) is the same want of space: a full disk, or a quota on the number of files.
    match (failure.code, errno) {
        (DiskFull | SystemIoFailure | CannotOpen, libc::EDQUOT) => {
            Some("the disk quota is exceeded")
        }
        (DiskFull, _) | (SystemIoFailure | CannotOpen, libc::ENOSPC) => Some("the disk is full"),
        _ => None,
    }
}

pub struct Store {
    conn: Connection,
    path: String,
    /// Problems found in the rows read so far; see `take_warnings`.
    warnings: RefCell<RowWarnings>,
    /// Whether the open batch holds a row inserted since its last commit (see `flush`).
    unflushed_insert: Cell<bool>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS combinations (
    id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    search_type TEXT NOT NULL,
    point TEXT NOT NULL,
    params TEXT NOT NULL,
    previous_results_count INTEGER NOT NULL,
    is_queued INTEGER NOT NULL DEFAULT 0,
    job_id TEXT,
    pid INTEGER,
    pid_start INTEGER,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    objective REAL,
    loss REAL,
    failure_kind TEXT,
    failure_reason TEXT,
    metrics TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS test_runs (
    id INTEGER PRIMARY KEY,
    combination_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    job_id TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    objective REAL,
    loss REAL,
    failure_kind TEXT,
    failure_reason TEXT,
    metrics TEXT NOT NULL DEFAULT '{}'
);
";

/// Columns added after the first release, with their types: `open_writer` adds the ones an
/// older database lacks, so searches started by an older hpsearch still resume.
const ADDED_COLUMNS: [(&str, &str); 10] = [
    ("interruptions", "INTEGER NOT NULL DEFAULT 0"),
    ("replicate_of", "INTEGER"),
    ("scheduler_state", "TEXT"),
    ("elapsed_seconds", "REAL"),
    ("peak_memory_mb", "REAL"),
    ("steps", "INTEGER"),
    ("stop_step", "INTEGER"),
    ("cpu_seconds", "REAL"),
    ("gpus", "INTEGER"),
    ("control_step", "INTEGER"),
];

/// A new combination, before the store gives it an id.
pub struct NewCombination<'a> {
    pub search_type: &'a str,
    pub point: &'a [f64],
    pub params: &'a Map<String, Value>,
    pub previous_results_count: u64,
    pub created_at: f64,
    /// The combination this one repeats, for the runs of the replicate phase.
    pub replicate_of: Option<u64>,
}

/// What a scheduler's accounting says of a finished run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accounting {
    pub scheduler_state: Option<String>,
    pub elapsed_seconds: Option<f64>,
    pub peak_memory_mb: Option<f64>,
    /// CPU seconds of the run (its supervisor's wait4), when measured.
    pub cpu_seconds: Option<f64>,
    /// GPUs the scheduler allocated the run.
    pub gpus: Option<u64>,
}

/// How a run ended, as the coordinator records it.
pub struct Finish<'a> {
    pub state: RunState,
    pub finished_at: f64,
    pub objective: Option<f64>,
    pub loss: Option<f64>,
    pub kind: Option<FailureKind>,
    pub reason: Option<&'a str>,
    pub metrics: &'a Map<String, Value>,
}

/// A failed statement's error, told apart when it is for want of space.
fn classify(conn: &Connection, path: String, source: rusqlite::Error) -> StoreError {
    // SAFETY: the handle is the live connection's own; sqlite3_system_errno only reads it.
    let errno = unsafe { rusqlite::ffi::sqlite3_system_errno(conn.handle()) };
    match lack_of_space(&source, errno) {
        Some(what) => StoreError::OutOfSpace { path, what, source },
        None => StoreError::Sqlite { path, source },
    }
}

impl Store {
    /// Opens (creating if needed) the database for writing. Only the lock holder may call this.
    pub fn open_writer(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        let wrap = |source| StoreError::Sqlite {
            path: name.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(wrap)?;
        // Exclusive locking before the first access in WAL mode: no shared memory, ever.
        conn.execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE; PRAGMA busy_timeout = 2000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
        )
        .map_err(|e| classify(&conn, name.clone(), e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| classify(&conn, name.clone(), e))?;
        conn.set_prepared_statement_cache_capacity(48);
        let store = Store {
            conn,
            path: name,
            warnings: RefCell::default(),
            unflushed_insert: Cell::new(false),
        };
        store.add_missing_columns()?;
        Ok(store)
    }

    fn add_missing_columns(&self) -> Result<(), StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT name FROM pragma_table_info('combinations')")
            .map_err(|e| self.err(e))?;
        let present: Vec<String> = statement
            .query_map([], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        for (column, kind) in ADDED_COLUMNS {
            if !present.iter().any(|p| p == column) {
                self.conn
                    .execute_batch(&format!(
                        "ALTER TABLE combinations ADD COLUMN {column} {kind}"
                    ))
                    .map_err(|e| self.err(e))?;
            }
        }
        Ok(())
    }

    /// Opens the database read-only; safe when no coordinator is writing it.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Sqlite {
            path: name.clone(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(2))
            .map_err(|source| StoreError::Sqlite {
                path: name.clone(),
                source,
            })?;
        Ok(Store {
            conn,
            path: name,
            warnings: RefCell::default(),
            unflushed_insert: Cell::new(false),
        })
    }

    /// Runs one write through the connection's statement cache: the coordinator repeats the same
    /// few statements for every run, and parsing each again costs more than running it.
    fn write<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.conn.prepare_cached(sql)?.execute(params)
    }

    /// A statement without parameters that the coordinator runs at every step (a commit): kept
    /// prepared, as parsing it again each time cost more than running it.
    fn execute_cached(&self, sql: &str) -> Result<(), StoreError> {
        self.write(sql, []).map(|_| ()).map_err(|e| self.err(e))
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        classify(&self.conn, self.path.clone(), source)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.write("INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", params![key, value])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn require_meta(&self, key: &str) -> Result<String, StoreError> {
        self.meta(key)?.ok_or_else(|| StoreError::Corrupt {
            path: self.path.clone(),
            message: format!(
                "the search's `{key}` is missing; was the search created by hpsearch?"
            ),
        })
    }

    /// Records a combination before its run starts, and returns its id (0, 1, 2, ...).
    pub fn insert(&self, new: &NewCombination) -> Result<u64, StoreError> {
        let id: u64 = self
            .conn
            .prepare_cached("SELECT COALESCE(MAX(id) + 1, 0) FROM combinations")
            .and_then(|mut statement| statement.query_row([], |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        self.write(
                "INSERT INTO combinations(id, state, search_type, point, params, previous_results_count, created_at, replicate_of)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    id,
                    RunState::Created.name(),
                    new.search_type,
                    serde_json::to_string(new.point).unwrap_or_default(),
                    Value::Object(new.params.clone()).to_string(),
                    new.previous_results_count,
                    new.created_at,
                    new.replicate_of
                ],
            )
            .map_err(|e| self.err(e))?;
        if !self.conn.is_autocommit() {
            self.unflushed_insert.set(true);
        }
        Ok(id)
    }

    /// Deletes the combinations from `first` on that never left `created` (rows created ahead
    /// of their start, when the search ends first). Only the newest rows may go: ids stay
    /// 0, 1, 2, ... without a gap.
    pub fn delete_unstarted_from(&self, first: u64) -> Result<(), StoreError> {
        let later_started: bool = self
            .conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM combinations WHERE id >= ?1 AND state != ?2)",
            )
            .and_then(|mut statement| {
                statement.query_row(params![first, RunState::Created.name()], |r| r.get(0))
            })
            .map_err(|e| self.err(e))?;
        if later_started {
            return Err(StoreError::Corrupt {
                path: self.path.clone(),
                message: format!(
                    "rows after combination {first} have started; only the newest unstarted rows can be deleted"
                ),
            });
        }
        self.write("DELETE FROM combinations WHERE id >= ?1", params![first])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A run handed to its executor: `queued` when it waits in a scheduler's queue (then its
    /// start time is set when it starts, `mark_started`), else running since `started_at`.
    pub fn mark_running(
        &self,
        id: u64,
        job_id: &str,
        pid: Option<i32>,
        pid_start: Option<u64>,
        started_at: f64,
        queued: bool,
    ) -> Result<(), StoreError> {
        let (state, started_at) = if queued {
            (RunState::Queued, None)
        } else {
            (RunState::Running, Some(started_at))
        };
        self.write(
                "UPDATE combinations SET state = ?2, is_queued = 1, job_id = ?3, pid = ?4, pid_start = ?5, started_at = ?6,
                 attempts = attempts + 1, finished_at = NULL WHERE id = ?1",
                params![id, state.name(), job_id, pid, pid_start, started_at],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A queued run started running at `started_at`.
    pub fn mark_started(&self, id: u64, started_at: f64) -> Result<(), StoreError> {
        self.write(
            "UPDATE combinations SET state = ?2, started_at = ?3 WHERE id = ?1 AND state = ?4",
            params![
                id,
                RunState::Running.name(),
                started_at,
                RunState::Queued.name()
            ],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn finish(&self, id: u64, finish: &Finish) -> Result<(), StoreError> {
        self.finish_row("combinations", id, finish)
    }

    /// Records how a run ended in `table` (`combinations` or `test_runs`: same columns).
    fn finish_row(&self, table: &str, id: u64, finish: &Finish) -> Result<(), StoreError> {
        self.write(
                &format!(
                    "UPDATE {table} SET state = ?2, finished_at = ?3, objective = ?4, loss = ?5, failure_kind = ?6,
                     failure_reason = ?7, metrics = ?8 WHERE id = ?1"
                ),
                params![
                    id,
                    finish.state.name(),
                    finish.finished_at,
                    finish.objective,
                    finish.loss,
                    finish.kind.map(FailureKind::name),
                    finish.reason,
                    Value::Object(finish.metrics.clone()).to_string()
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A run killed from outside that left no end record (`RunEnd::Interrupted`): counted, and
    /// owed a run again like one stopped by a shutdown. Returns how often it happened so far.
    pub fn mark_killed_from_outside(&self, id: u64) -> Result<u64, StoreError> {
        self.write(
            "UPDATE combinations SET state = ?2, pid = NULL, pid_start = NULL,
                 interruptions = interruptions + 1 WHERE id = ?1",
            params![id, RunState::Interrupted.name()],
        )
        .map_err(|e| self.err(e))?;
        self.interruptions(id)
    }

    /// How often a combination's run was killed from outside without an end record.
    pub fn interruptions(&self, id: u64) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT interruptions FROM combinations WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(|e| self.err(e))
    }

    /// A run stopped by a shutdown: it will run again on resume.
    /// A run submitted again under a new job id (a node failure, a preemption): recorded at
    /// once, and counted as an attempt.
    pub fn record_resubmission(&self, id: u64, job_id: &str) -> Result<(), StoreError> {
        self.write(
            "UPDATE combinations SET job_id = ?2, attempts = attempts + 1 WHERE id = ?1",
            params![id, job_id],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn mark_interrupted(&self, id: u64) -> Result<(), StoreError> {
        self.write(
            "UPDATE combinations SET state = ?2, pid = NULL, pid_start = NULL WHERE id = ?1",
            params![id, RunState::Interrupted.name()],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn set_accounting(&self, id: u64, accounting: &Accounting) -> Result<(), StoreError> {
        self.write(
                "UPDATE combinations SET scheduler_state = ?2, elapsed_seconds = ?3, peak_memory_mb = ?4, cpu_seconds = ?5, gpus = ?6 WHERE id = ?1",
                params![
                    id,
                    accounting.scheduler_state,
                    accounting.elapsed_seconds,
                    accounting.peak_memory_mb,
                    accounting.cpu_seconds,
                    accounting.gpus
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The last step a run reported in its progress (progress.jsonl or `progress_pattern`).
    pub fn set_steps(&self, id: u64, steps: Option<u64>) -> Result<(), StoreError> {
        self.write(
            "UPDATE combinations SET steps = ?2 WHERE id = ?1",
            params![id, steps],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records that the early-stopping rule stopped the run at `step`, before it is signalled:
    /// a coordinator that dies before the run ends finds the decision on resume, stops the run
    /// again if it still lives, and records its end as `pruned`.
    pub fn set_stop_step(&self, id: u64, step: u64) -> Result<(), StoreError> {
        self.write(
            "UPDATE combinations SET stop_step = ?2 WHERE id = ?1",
            params![id, step],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records that early stopping's order check let the run go on past `rung` as a control, so
    /// that on resume no later rung stops it.
    pub fn set_control_step(&self, id: u64, rung: u64) -> Result<(), StoreError> {
        self.write(
            "UPDATE combinations SET control_step = ?2 WHERE id = ?1",
            params![id, rung],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records the start of a test-phase run; returns its number (0, 1, ...).
    pub fn insert_test_run(
        &self,
        combination_id: u64,
        job_id: &str,
        started_at: f64,
    ) -> Result<u64, StoreError> {
        let id: u64 = self
            .conn
            .query_row("SELECT COALESCE(MAX(id) + 1, 0) FROM test_runs", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        self.write(
                "INSERT INTO test_runs(id, combination_id, state, job_id, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, combination_id, RunState::Running.name(), job_id, started_at],
            )
            .map_err(|e| self.err(e))?;
        Ok(id)
    }

    pub fn finish_test_run(&self, id: u64, finish: &Finish) -> Result<(), StoreError> {
        self.finish_row("test_runs", id, finish)
    }

    pub fn test_runs(&self) -> Result<Vec<TestRun>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT id, combination_id, state, job_id, started_at, finished_at, objective, loss, failure_kind,
                 failure_reason, metrics FROM test_runs ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], |r| {
                let state: String = r.get(2)?;
                let kind: Option<String> = r.get(8)?;
                let metrics: String = r.get(10)?;
                Ok(TestRun {
                    id: r.get(0)?,
                    combination_id: r.get(1)?,
                    state: RunState::parse(&state).unwrap_or(RunState::Failed),
                    job_id: r.get(3)?,
                    started_at: r.get(4)?,
                    finished_at: r.get(5)?,
                    objective: r.get(6)?,
                    loss: r.get(7)?,
                    failure_kind: kind.as_deref().and_then(FailureKind::parse),
                    failure_reason: r.get(9)?,
                    metrics: serde_json::from_str(&metrics).unwrap_or_default(),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    pub fn set_loss(&self, id: u64, loss: Option<f64>) -> Result<(), StoreError> {
        self.write(
            "UPDATE combinations SET loss = ?2 WHERE id = ?1",
            params![id, loss],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Runs several writes as one transaction: all of them land, or none. Inside a batch it is
    /// a savepoint of the batch's transaction: all of them land with the batch, or none.
    pub fn transaction<T>(
        &mut self,
        work: impl FnOnce(&Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (begin, commit, rollback) = if self.conn.is_autocommit() {
            ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
        } else {
            (
                "SAVEPOINT work",
                "RELEASE work",
                "ROLLBACK TO work; RELEASE work",
            )
        };
        self.execute_cached(begin)?;
        match work(self) {
            Ok(value) => {
                self.execute_cached(commit)?;
                Ok(value)
            }
            Err(error) => {
                let _ = self.conn.execute_batch(rollback);
                Err(error)
            }
        }
    }

    /// Starts grouping writes: every write until `commit_batch` joins one transaction, so that
    /// the writes of a whole step of the coordinator cost one commit (one fsync), not one each.
    /// A crash before the commit loses the batch's writes as if it had come before them.
    pub fn begin_batch(&self) -> Result<(), StoreError> {
        if self.conn.is_autocommit() {
            self.execute_cached("BEGIN IMMEDIATE")?;
        }
        Ok(())
    }

    /// Makes the rows inserted in the batch so far durable, with the batch's other writes, and
    /// goes on batching: for the moment before a run's folder is made, which must follow its
    /// row. Without a new row since the last commit it does nothing, so that the starts of
    /// several rows inserted together cost one commit. Not for use inside `transaction`.
    pub fn flush(&self) -> Result<(), StoreError> {
        if self.unflushed_insert.get() {
            self.commit_and_continue()?;
        }
        Ok(())
    }

    /// Makes the batch's writes so far durable and goes on batching: for a decision that must
    /// survive a crash before it acts (a run stopped early is signalled after its stop step is
    /// committed).
    pub fn commit_and_continue(&self) -> Result<(), StoreError> {
        if !self.conn.is_autocommit() {
            self.execute_cached("COMMIT")?;
            self.execute_cached("BEGIN IMMEDIATE")?;
            self.unflushed_insert.set(false);
        }
        Ok(())
    }

    /// Commits the batch's writes and stops batching.
    pub fn commit_batch(&self) -> Result<(), StoreError> {
        if !self.conn.is_autocommit() {
            self.execute_cached("COMMIT")?;
        }
        self.unflushed_insert.set(false);
        Ok(())
    }

    pub fn combinations(&self) -> Result<Vec<Combination>, StoreError> {
        self.select("ORDER BY id", [])
    }

    /// One combination, as stored now.
    pub fn combination(&self, id: u64) -> Result<Option<Combination>, StoreError> {
        Ok(self.select("WHERE id = ?1", [id])?.pop())
    }

    fn select<P: rusqlite::Params>(
        &self,
        tail: &str,
        params: P,
    ) -> Result<Vec<Combination>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(&format!(
                "SELECT id, state, search_type, point, params, previous_results_count, is_queued, job_id, pid, pid_start,
                 created_at, started_at, finished_at, attempts, objective, loss, failure_kind, failure_reason, metrics,
                 replicate_of, scheduler_state, elapsed_seconds, peak_memory_mb, steps, stop_step, cpu_seconds, gpus, control_step
                 FROM combinations {tail}"
            ))
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map(params, read_row)
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        let mut found = Vec::new();
        for row in rows {
            let (combination, warnings) = row.map_err(|e| self.err(e))?;
            out.push(combination);
            found.extend(warnings);
        }
        if !found.is_empty() {
            self.warnings.borrow_mut().add(found);
        }
        Ok(out)
    }

    /// The problems found in rows read since the last call, each (combination, column) once for
    /// the store's life: a corrupted value is read as a default so the search goes on, and
    /// whoever reads the rows tells the user.
    pub fn take_warnings(&self) -> Vec<RowWarning> {
        std::mem::take(&mut self.warnings.borrow_mut().new)
    }
}

impl Drop for Store {
    /// A batch still open (its step ended early, by an error) is committed, as its writes
    /// would have been one by one.
    fn drop(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("COMMIT");
        }
    }
}

/// A column of a combination's row that could not be read as written and was read as a default.
#[derive(Debug, Clone, PartialEq)]
pub struct RowWarning {
    pub combination: u64,
    pub column: &'static str,
    /// What was wrong and what was read instead.
    pub problem: String,
}

impl std::fmt::Display for RowWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "combination {}: the search database's `{}` column {}",
            self.combination, self.column, self.problem
        )
    }
}

#[derive(Default)]
struct RowWarnings {
    reported: HashSet<(u64, &'static str)>,
    new: Vec<RowWarning>,
}

impl RowWarnings {
    fn add(&mut self, found: Vec<RowWarning>) {
        for warning in found {
            if self.reported.insert((warning.combination, warning.column)) {
                self.new.push(warning);
            }
        }
    }
}

/// A stored text, quoted and shortened for a one-line message.
fn quoted(text: &str) -> String {
    let short: String = text.chars().take(60).collect();
    let more = if short.len() < text.len() { "..." } else { "" };
    format!("{short:?}{more}")
}

/// A JSON column read as `T`, or `T::default()` with a warning naming what was wrong.
fn json_column<T: serde::de::DeserializeOwned + Default>(
    id: u64,
    column: &'static str,
    text: &str,
    read_as: &str,
    warnings: &mut Vec<RowWarning>,
) -> T {
    match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            let reason = e.to_string().replace('\n', " ");
            warnings.push(RowWarning {
                combination: id,
                column,
                problem: format!("holds {} ({reason}); read as {read_as}", quoted(text)),
            });
            T::default()
        }
    }
}

/// One combination's row, with a warning for each column that had to be read as a default.
fn read_row(r: &Row) -> rusqlite::Result<(Combination, Vec<RowWarning>)> {
    let id: u64 = r.get(0)?;
    let state: String = r.get(1)?;
    let point: String = r.get(3)?;
    let params: String = r.get(4)?;
    let kind: Option<String> = r.get(16)?;
    let metrics: String = r.get(18)?;
    let mut warnings = Vec::new();
    let state = RunState::parse(&state).unwrap_or_else(|| {
        warnings.push(RowWarning {
            combination: id,
            column: "state",
            problem: format!("holds the unknown state {}; read as failed", quoted(&state)),
        });
        RunState::Failed
    });
    let failure_kind = kind.as_deref().and_then(|k| {
        let parsed = FailureKind::parse(k);
        if parsed.is_none() {
            warnings.push(RowWarning {
                combination: id,
                column: "failure_kind",
                problem: format!("holds the unknown failure kind {}; read as none", quoted(k)),
            });
        }
        parsed
    });
    let point = json_column(id, "point", &point, "an empty point", &mut warnings);
    let params = json_column(id, "params", &params, "no values", &mut warnings);
    let metrics = json_column(id, "metrics", &metrics, "no metrics", &mut warnings);
    let combination = Combination {
        id,
        state,
        search_type: r.get(2)?,
        point,
        params,
        previous_results_count: r.get(5)?,
        is_queued: r.get::<_, i64>(6)? != 0,
        job_id: r.get(7)?,
        pid: r.get(8)?,
        pid_start: r.get(9)?,
        created_at: r.get(10)?,
        started_at: r.get(11)?,
        finished_at: r.get(12)?,
        attempts: r.get(13)?,
        objective: r.get(14)?,
        loss: r.get(15)?,
        failure_kind,
        failure_reason: r.get(17)?,
        metrics,
        replicate_of: r.get(19)?,
        scheduler_state: r.get(20)?,
        elapsed_seconds: r.get(21)?,
        peak_memory_mb: r.get(22)?,
        steps: r.get(23)?,
        stop_step: r.get(24)?,
        cpu_seconds: r.get(25)?,
        gpus: r.get(26)?,
        control_step: r.get(27)?,
    };
    Ok((combination, warnings))
}

#[cfg(test)]
mod tests {
    use super::lack_of_space;
    use rusqlite::ffi;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    /// SQLite calls only ENOSPC "database or disk is full"; an exceeded quota reaches it as a
    /// "disk I/O error", which read as a hardware fault.
    #[test]
    fn a_write_failed_for_want_of_space_is_told_apart_quota_included() {
        assert_eq!(
            lack_of_space(&failure(ffi::SQLITE_FULL), libc::ENOSPC),
            Some("the disk is full")
        );
        assert_eq!(
            lack_of_space(&failure(ffi::SQLITE_IOERR_WRITE), libc::EDQUOT),
            Some("the disk quota is exceeded")
        );
        assert_eq!(
            lack_of_space(&failure(ffi::SQLITE_IOERR_FSYNC), libc::ENOSPC),
            Some("the disk is full")
        );
        assert_eq!(
            lack_of_space(&failure(ffi::SQLITE_IOERR_READ), libc::EIO),
            None
        );
        assert_eq!(
            lack_of_space(&failure(ffi::SQLITE_CORRUPT), libc::ENOSPC),
            None
        );
    }
}
