//! The rows of the store, as the rest of the program sees them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where a combination is in its life. `Created` rows exist before their run is started, so a
/// crash between the two loses nothing; `Interrupted` rows were stopped by a shutdown and run
/// again on resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Created,
    /// Submitted to a scheduler and waiting in its queue (Slurm's PENDING): not running yet.
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Interrupted,
    /// Stopped early by the `early_stopping` rule: its intermediate results were clearly worse
    /// than other runs' at the same step. Final, and not a failure.
    Pruned,
}

impl RunState {
    pub const ALL: [RunState; 8] = [
        RunState::Created,
        RunState::Queued,
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Cancelled,
        RunState::Interrupted,
        RunState::Pruned,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RunState::Created => "created",
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
            RunState::Interrupted => "interrupted",
            RunState::Pruned => "pruned",
        }
    }

    pub fn parse(text: &str) -> Option<RunState> {
        RunState::ALL.into_iter().find(|s| s.name() == text)
    }

    /// Finished for good: it has a result or a recorded reason for having none.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::Cancelled | RunState::Pruned
        )
    }

    /// Still owed a run: the coordinator must start (or restart) it.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            RunState::Created | RunState::Interrupted | RunState::Queued | RunState::Running
        )
    }

    /// Handed to an executor and not ended: waiting in a queue or running.
    pub fn is_active(self) -> bool {
        matches!(self, RunState::Queued | RunState::Running)
    }
}

/// Why a run gave no usable objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    NonZeroExit,
    KilledBySignal,
    TimedOut,
    MissingOutput,
    UnparseableOutput,
    NoObjective,
    NonFiniteObjective,
    TransformationFailed,
    StartFailed,
    OutOfMemory,
    CancelledOutside,
    NodeFailure,
    Lost,
}

impl FailureKind {
    pub const ALL: [FailureKind; 13] = [
        FailureKind::NonZeroExit,
        FailureKind::KilledBySignal,
        FailureKind::TimedOut,
        FailureKind::MissingOutput,
        FailureKind::UnparseableOutput,
        FailureKind::NoObjective,
        FailureKind::NonFiniteObjective,
        FailureKind::TransformationFailed,
        FailureKind::StartFailed,
        FailureKind::OutOfMemory,
        FailureKind::CancelledOutside,
        FailureKind::NodeFailure,
        FailureKind::Lost,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FailureKind::NonZeroExit => "non_zero_exit",
            FailureKind::KilledBySignal => "killed_by_signal",
            FailureKind::TimedOut => "timed_out",
            FailureKind::MissingOutput => "missing_output",
            FailureKind::UnparseableOutput => "unparseable_output",
            FailureKind::NoObjective => "no_objective",
            FailureKind::NonFiniteObjective => "non_finite_objective",
            FailureKind::TransformationFailed => "transformation_failed",
            FailureKind::StartFailed => "start_failed",
            FailureKind::OutOfMemory => "out_of_memory",
            FailureKind::CancelledOutside => "cancelled_outside",
            FailureKind::NodeFailure => "node_failure",
            FailureKind::Lost => "lost",
        }
    }

    pub fn parse(text: &str) -> Option<FailureKind> {
        FailureKind::ALL.into_iter().find(|k| k.name() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Combination {
    pub id: u64,
    pub state: RunState,
    pub search_type: String,
    /// Unit-cube point the strategy suggested.
    pub point: Vec<f64>,
    /// Hyperparameter values, by name, in the model config's order.
    pub params: Map<String, Value>,
    /// Results collected when the combination was created.
    pub previous_results_count: u64,
    /// Whether its run has ever been handed to an executor.
    pub is_queued: bool,
    /// The executor's id for the run: `local:PID`, or a Slurm job id.
    pub job_id: Option<String>,
    pub pid: Option<i32>,
    /// Kernel start time of `pid`, to tell our process from a later one with a reused pid.
    pub pid_start: Option<u64>,
    pub created_at: f64,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub attempts: u32,
    /// The objective as the script wrote it.
    pub objective: Option<f64>,
    /// The loss the search minimises: transformed objective, or imputed for a failure.
    pub loss: Option<f64>,
    pub failure_kind: Option<FailureKind>,
    pub failure_reason: Option<String>,
    /// The other numbers of an object output.json.
    pub metrics: Map<String, Value>,
    /// For a run of the replicate phase: the combination whose setting it repeats.
    #[serde(default)]
    pub replicate_of: Option<u64>,
    /// The scheduler's final word on the run (Slurm's job state), when there is a scheduler.
    #[serde(default)]
    pub scheduler_state: Option<String>,
    /// Run time as the scheduler's accounting measured it.
    #[serde(default)]
    pub elapsed_seconds: Option<f64>,
    /// Peak resident memory of the run, in MB (sacct's MaxRSS, or the wrapper's rusage).
    #[serde(default)]
    pub peak_memory_mb: Option<f64>,
    /// The last step the run reported in its progress, when it reported any.
    #[serde(default)]
    pub steps: Option<u64>,
    /// The step at which early stopping stopped it (set before the run is signalled).
    #[serde(default)]
    pub stop_step: Option<u64>,
    /// The rung at which early stopping's order check let it go on as a control: a run that
    /// rung would have stopped, run to the end so the check sees how such runs end.
    #[serde(default)]
    pub control_step: Option<u64>,
    /// CPU seconds the run used (user and system, its processes together), when measured.
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    /// GPUs the scheduler allocated the run (Slurm's accounting), when it says.
    #[serde(default)]
    pub gpus: Option<u64>,
}

/// One run of the test phase: a chosen setting run once with `"phase": "test"` in input.json.
/// Its score is kept apart from the validation scores the search compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRun {
    pub id: u64,
    pub combination_id: u64,
    pub state: RunState,
    pub job_id: Option<String>,
    pub started_at: f64,
    pub finished_at: Option<f64>,
    pub objective: Option<f64>,
    pub loss: Option<f64>,
    pub failure_kind: Option<FailureKind>,
    pub failure_reason: Option<String>,
    pub metrics: Map<String, Value>,
}

impl Combination {
    /// Minutes the run took (or has taken so far, given `now`): the scheduler's own measure
    /// when it gave one, else from its start (not its submission: a queue's wait is not run
    /// time) to its end.
    pub fn job_minutes(&self, now: f64) -> Option<f64> {
        if let Some(seconds) = self.elapsed_seconds.filter(|s| s.is_finite() && *s >= 0.0) {
            return Some(seconds / 60.0);
        }
        if self.state == RunState::Queued {
            return None;
        }
        let start = self.started_at?;
        let end = self.finished_at.unwrap_or(now);
        Some(((end - start) / 60.0).max(0.0))
    }
}
