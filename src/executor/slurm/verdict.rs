//! How a Slurm job ended, from its state in squeue or sacct, the wrapper's record in the run's
//! folder and slurmstepd's words in its log: an end to record, or a resubmission (a preempted
//! or node-failed job, up to the profile's `max_resubmits`).

use super::{SlurmExecutor, SlurmJob};
use crate::executor::contract::RunEnd;
use crate::executor::local::end_from_status;
use crate::executor::supervise::read_status;
use std::path::Path;

pub(super) enum Verdict {
    End(RunEnd),
    Resubmit(String),
}

impl SlurmExecutor {
    /// Decides how a job that left the queue (or reached a final state) ended.
    pub(super) fn verdict(
        &self,
        job: &SlurmJob,
        slurm_state: Option<&str>,
        exit_code: &str,
    ) -> Verdict {
        let record = read_status(&job.spec.folder);
        let state = slurm_state.unwrap_or("");
        match state {
            "PREEMPTED" | "NODE_FAIL" | "BOOT_FAIL" if !job.stopping => {
                if job.resubmits < self.profile.max_resubmits {
                    return Verdict::Resubmit(state.to_string());
                }
                return Verdict::End(RunEnd::NodeFailure(format!(
                    "the job ended {state} and was already submitted again {} time(s) (max_resubmits in cluster profile \"{}\")",
                    job.resubmits, self.profile.name
                )));
            }
            "OUT_OF_MEMORY" => return Verdict::End(RunEnd::OutOfMemory),
            // Without cgroups Slurm's OverMemoryKill ends the job FAILED (0:9), or CANCELLED,
            // and slurmstepd says why in the job's output: a memory kill is a memory kill
            // whichever mechanism made it.
            "FAILED" | "CANCELLED" | "" if !job.stopping && killed_for_memory(&job.spec.folder) => {
                return Verdict::End(RunEnd::OutOfMemory);
            }
            "TIMEOUT" => return Verdict::End(RunEnd::TimedOut),
            // The wrapper records a signal when scancel stops the script; Slurm knows why.
            s if s.starts_with("CANCELLED")
                && !job.stopping
                && record.as_ref().is_none_or(|r| r.exit_code != Some(0)) =>
            {
                return Verdict::End(RunEnd::CancelledOutside);
            }
            _ => {}
        }
        if let Some(record) = record {
            return Verdict::End(end_from_status(&record));
        }
        match state {
            "COMPLETED" => Verdict::End(RunEnd::Exited(0)),
            // sacct's ExitCode is `code:signal`: a job killed by a signal has code 0.
            "FAILED" => match parse_exit_code(exit_code) {
                Some((_, signal)) if signal != 0 => Verdict::End(RunEnd::Signaled(signal)),
                Some((code, _)) => Verdict::End(RunEnd::Exited(code)),
                None => Verdict::End(RunEnd::Lost(format!(
                    "Slurm job {} FAILED without a record of how the script ended, and with no exit code Slurm could give ({exit_code:?})",
                    job.job_id
                ))),
            },
            "" => Verdict::End(RunEnd::Lost(format!(
                "Slurm job {} left the queue without a record of how the script ended (is the job's folder on a file system the nodes share? is accounting off?)",
                job.job_id
            ))),
            other => Verdict::End(RunEnd::Lost(format!("Slurm job {} ended {other} without a record of how the script ended", job.job_id))),
        }
    }
}

/// sacct's `ExitCode`, `code:signal`.
fn parse_exit_code(text: &str) -> Option<(i32, i32)> {
    let (code, signal) = text.trim().split_once(':')?;
    Some((code.parse().ok()?, signal.parse().ok()?))
}

/// What slurmstepd writes into a job's output when it kills the job for its memory.
fn killed_for_memory(folder: &Path) -> bool {
    let tail = crate::executor::log_tail(&folder.join("log.txt"), 20).to_ascii_lowercase();
    tail.contains("exceeded job memory limit")
        || tail.contains("exceeded step memory limit")
        || tail.contains("oom-kill")
        || tail.contains("out of memory")
}

/// Job states in which the job's script runs (or is being cleaned up after running).
pub(super) fn is_running(state: &str) -> bool {
    matches!(
        state,
        "RUNNING" | "COMPLETING" | "STOPPED" | "SUSPENDED" | "STAGE_OUT"
    )
}

/// Job states after which a job will not run again.
pub(super) fn is_final(state: &str) -> bool {
    matches!(
        state,
        "COMPLETED"
            | "FAILED"
            | "TIMEOUT"
            | "CANCELLED"
            | "NODE_FAIL"
            | "PREEMPTED"
            | "BOOT_FAIL"
            | "DEADLINE"
            | "OUT_OF_MEMORY"
    ) || state.starts_with("CANCELLED")
}
