//! The `Executor` trait: submit runs, poll for the ones that ended, stop them.

use std::path::PathBuf;
use std::time::Duration;

/// One run of the user's script for one combination.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub combination_id: u64,
    /// The combination's folder: the run's working directory, holding input.json and log.txt.
    pub folder: PathBuf,
    pub program: PathBuf,
    pub script: PathBuf,
    pub input: PathBuf,
    pub time_limit: Duration,
    pub kill_grace: Duration,
    /// How long before `time_limit` the script gets SIGUSR1, to checkpoint; zero: never.
    pub checkpoint_signal: Duration,
}

impl RunSpec {
    /// The `hpsearch _wrap` arguments before `--`: the folder, the limit the wrapper enforces,
    /// the grace period, and when to send the checkpoint signal (counted from the start).
    pub fn wrap_args(&self, enforced_limit: Duration) -> Vec<String> {
        let mut args = vec![
            "_wrap".to_string(),
            "--folder".into(),
            self.folder.display().to_string(),
            "--time-limit".into(),
            enforced_limit.as_secs_f64().to_string(),
            "--grace".into(),
            self.kill_grace.as_secs_f64().to_string(),
        ];
        if !self.checkpoint_signal.is_zero() && self.checkpoint_signal < self.time_limit {
            args.push("--signal-after".into());
            args.push(
                (self.time_limit - self.checkpoint_signal)
                    .as_secs_f64()
                    .to_string(),
            );
        }
        args
    }
}

/// What an executor says about a run it started.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    pub job_id: String,
    /// Waiting in the scheduler's queue, not started yet; `ExecutorEvent::Started` follows.
    pub queued: bool,
    pub pid: Option<i32>,
    pub pid_start: Option<u64>,
    pub started_at: f64,
}

/// How a run ended, before its output is read.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEnd {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    StartFailed(String),
    /// The scheduler says the job ran out of memory.
    OutOfMemory,
    /// The job was cancelled by someone other than hpsearch (scancel, an admin).
    CancelledOutside,
    /// The node failed or the job was preempted more often than the profile allows to resubmit.
    NodeFailure(String),
    /// The run vanished without a record of how it ended.
    Lost(String),
    /// The run was killed from outside with its wrapper (a reboot, the OOM killer taking the
    /// session, `kill -9` of the process group) and left no end record: nothing is known about
    /// its hyperparameters, so the coordinator runs it again.
    Interrupted(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    pub combination_id: u64,
    pub end: RunEnd,
    pub finished_at: f64,
    /// What a scheduler said of the run, when there is one.
    pub scheduler: SchedulerRecord,
}

/// A scheduler's final word on a run: its state (e.g. Slurm's `COMPLETED`, `TIMEOUT`) and the
/// run time it measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchedulerRecord {
    pub state: Option<String>,
    pub elapsed_seconds: Option<f64>,
    /// The GPUs the scheduler allocated the job (Slurm: `gres/gpu` of sacct's AllocTRES).
    pub gpus: Option<u64>,
}

/// A run known to the store from an earlier coordinator.
#[derive(Debug, Clone)]
pub struct Known {
    pub spec: RunSpec,
    pub job_id: Option<String>,
    pub pid: Option<i32>,
    pub pid_start: Option<u64>,
    pub started_at: Option<f64>,
}

/// What became of a known run when a new coordinator looked for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Adoption {
    /// Still going; the executor now tracks it and `poll` will report its end.
    Running(Submitted),
    /// It ended while no coordinator watched.
    Ended(Ended),
    /// It never started: run it now.
    NeverStarted,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// This run cannot start (a missing program, an unwritable folder): record it as failed.
    #[error("cannot start the run of combination {id}: {message}")]
    Start { id: u64, message: String },
    /// Nothing can start now (the scheduler is down or busy): try again later.
    #[error("cannot submit runs now: {message}")]
    Unavailable { message: String },
    /// The scheduler refuses this run for a reason no retry changes and that every run of the
    /// search shares (a request no node can satisfy, an unknown partition): the search stops.
    #[error("the scheduler refuses the run of combination {id}: {message}")]
    Refused { id: u64, message: String },
}

/// What an executor has to tell the coordinator besides runs that ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutorEvent {
    /// A line for the search log (a scheduler outage starting or ending).
    Note(String),
    /// A run was submitted again under a new job id (after a node failure or preemption): the
    /// coordinator records the id before anything else, so a resume finds the new job.
    Resubmitted {
        combination_id: u64,
        job_id: String,
        note: String,
    },
    /// A queued run started running, at this wall-clock time.
    Started { combination_id: u64, at: f64 },
}

/// Whether a file-system error would stop every run alike (a full disk or quota, a read-only
/// or forbidden folder) rather than one run: an executor reports it as `Unavailable`.
pub fn is_common_io_problem(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    is_out_of_space(error)
        || matches!(
            error.kind(),
            ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied
        )
}

/// Whether a file-system error is a full disk or an exceeded quota, which freeing space cures.
pub fn is_out_of_space(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded
    )
}

pub trait Executor {
    fn submit(&mut self, spec: &RunSpec) -> Result<Submitted, ExecutorError>;
    /// Submits a run without waiting for the answer where the executor can, so that the
    /// coordinator prepares its next run while this one starts: `Ok(None)`, and the answer
    /// comes from `answers`. The run counts in `active` from now on.
    fn send(&mut self, spec: &RunSpec) -> Result<Option<Submitted>, ExecutorError> {
        self.submit(spec).map(Some)
    }
    /// The answers that have come to the runs `send` left unanswered, in the order sent; a run
    /// not answered yet has not ended. `poll` reports a run's end only after its answer was
    /// taken here.
    fn answers(&mut self) -> Vec<(u64, Result<Submitted, ExecutorError>)> {
        Vec::new()
    }
    /// `answers`, waiting (as long as the executor allows) for those that have not come: a stop
    /// takes every run that started into account, including one whose answer was on its way.
    fn answers_waiting(&mut self) -> Vec<(u64, Result<Submitted, ExecutorError>)> {
        self.answers()
    }
    /// Finds a run started by an earlier coordinator and takes it over.
    fn adopt(&mut self, known: &Known) -> Adoption;
    /// The runs that ended since the last poll.
    fn poll(&mut self) -> Vec<Ended>;
    /// Stops one run (SIGTERM, then SIGKILL after its grace period); `poll` reports its end.
    fn cancel(&mut self, combination_id: u64);
    /// Stops several runs at once, as `cancel` does each. An executor that can stop them in one
    /// request overrides it, so that none of them starts while the others are being stopped.
    fn cancel_all(&mut self, combination_ids: &[u64]) {
        for &id in combination_ids {
            self.cancel(id);
        }
    }
    /// Stops every run and waits for them, at most `grace` before killing; returns their ids.
    fn stop_all(&mut self, grace: Duration) -> Vec<u64>;
    fn active(&self) -> usize;
    /// A flag the coordinator sets when a stop is asked for: an executor blocked on its
    /// scheduler gives up at once.
    fn set_interrupt(&mut self, _flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {}
    /// The most runs the search may have running at once (`max_active_points`), for an
    /// executor whose scheduler enforces it (see `submit_wave`).
    fn set_max_running(&mut self, _max_running: usize) {}
    /// Resubmissions and notes since the last call.
    fn take_events(&mut self) -> Vec<ExecutorEvent> {
        Vec::new()
    }
    /// Whether the scheduler does not answer now: a stop then cannot wait for confirmation that
    /// runs ended.
    fn unreachable(&self) -> bool {
        false
    }
    /// Whether runs that do not depend on each other can go out many at once, as one
    /// submission that the scheduler itself holds to a number running at a time (Slurm job
    /// arrays, when the cluster profile asks for them).
    fn submits_waves(&self) -> bool {
        false
    }
    /// Submits `specs` as one wave, at most `max_running` of them running at a time together
    /// with every run already in flight (`active`). Returns what went out, in order: all of
    /// `specs`, or the first of them when a later part was not accepted (those wait for a
    /// later step). Only called when `submits_waves` says so.
    fn submit_wave(
        &mut self,
        specs: &[RunSpec],
        _max_running: usize,
    ) -> Result<Vec<Submitted>, ExecutorError> {
        Err(ExecutorError::Unavailable {
            message: format!(
                "this executor submits runs one at a time, not {} at once",
                specs.len()
            ),
        })
    }
    /// A line for the search log about the load this executor put on its scheduler, if any.
    fn load_report(&self) -> Option<String> {
        None
    }
}
