//! The local executor: runs as child processes of this machine, each in its own process group.
//!
//! Every run is started through `hpsearch _wrap` (see `wrapper`), which enforces the time limit
//! and leaves a record of the script's end in the run's folder. This executor only starts
//! wrappers, notices when they end, reads their records and cleans up their process groups.

use super::contract::{
    Adoption, Ended, Executor, ExecutorError, Known, RunEnd, RunSpec, Submitted,
};
use super::process::{is_alive, signal_group, start_ticks};
use super::wrapper::{read_started, read_status, RunStatus};
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Extra time past a run's limit and grace before the executor itself kills a run whose wrapper
/// failed to (the wrapper is the first line; this is the safety net).
const SAFETY_MARGIN: Duration = Duration::from_secs(30);

struct LocalRun {
    spec: RunSpec,
    /// `None` for a run adopted from an earlier coordinator: not our child, watched through /proc.
    child: Option<Child>,
    pid: i32,
    pid_start: Option<u64>,
    started: Instant,
    /// When a stop was asked for, so that SIGKILL follows after the grace period.
    stopping_since: Option<Instant>,
}

pub struct LocalExecutor {
    wrapper: PathBuf,
    runs: BTreeMap<u64, LocalRun>,
}

impl LocalExecutor {
    /// `wrapper` is the hpsearch binary (its `_wrap` command).
    pub fn new(wrapper: PathBuf) -> Self {
        LocalExecutor {
            wrapper,
            runs: BTreeMap::new(),
        }
    }

    fn end_of(&self, run: &LocalRun, exit: Option<std::process::ExitStatus>) -> RunEnd {
        match read_status(&run.spec.folder) {
            Some(status) => end_from_status(&status),
            None => match exit {
                Some(status) => {
                    use std::os::unix::process::ExitStatusExt;
                    RunEnd::Interrupted(format!(
                        "the run's wrapper was ended ({}) before it could record how the script ended",
                        status.code().map_or_else(
                            || format!("signal {}", status.signal().unwrap_or(0)),
                            |c| format!("exit code {c}")
                        )
                    ))
                }
                None => RunEnd::Interrupted(
                    "the run's process disappeared without recording how the script ended".into(),
                ),
            },
        }
    }
}

pub fn end_from_status(status: &RunStatus) -> RunEnd {
    if let Some(message) = &status.start_error {
        return RunEnd::StartFailed(message.clone());
    }
    if status.timed_out {
        return RunEnd::TimedOut;
    }
    match (status.exit_code, status.signal) {
        (Some(code), _) => RunEnd::Exited(code),
        (None, Some(signal)) => RunEnd::Signaled(signal),
        (None, None) => RunEnd::Lost("the run ended without an exit code or signal".into()),
    }
}

impl Executor for LocalExecutor {
    fn submit(&mut self, spec: &RunSpec) -> Result<Submitted, ExecutorError> {
        let fail = |message: String| ExecutorError::Start {
            id: spec.combination_id,
            message,
        };
        for stale in [super::wrapper::STATUS_FILE, super::wrapper::STARTED_FILE] {
            let _ = std::fs::remove_file(spec.folder.join(stale));
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(spec.folder.join("log.txt"))
            .map_err(|e| {
                let message = format!("cannot open {}: {e}", spec.folder.join("log.txt").display());
                if super::contract::is_common_io_problem(&e) {
                    ExecutorError::Unavailable { message }
                } else {
                    fail(message)
                }
            })?;
        let log_err = log.try_clone().map_err(|e| fail(e.to_string()))?;
        let child = Command::new(&self.wrapper)
            .args(spec.wrap_args(spec.time_limit))
            .arg("--")
            .arg(&spec.program)
            .arg(&spec.script)
            .arg(&spec.input)
            .current_dir(&spec.folder)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .spawn()
            .map_err(|e| fail(format!("cannot start {}: {e}", self.wrapper.display())))?;
        let pid = child.id() as i32;
        let pid_start = start_ticks(pid);
        let started_at = crate::clock::now();
        self.runs.insert(
            spec.combination_id,
            LocalRun {
                spec: spec.clone(),
                child: Some(child),
                pid,
                pid_start,
                started: Instant::now(),
                stopping_since: None,
            },
        );
        Ok(Submitted {
            queued: false,
            job_id: format!("local:{pid}"),
            pid: Some(pid),
            pid_start,
            started_at,
        })
    }

    fn adopt(&mut self, known: &Known) -> Adoption {
        let folder = &known.spec.folder;
        // The pid comes from the store, or from the wrapper's own note when the coordinator died
        // between starting the run and recording it.
        let identity = match (known.pid, known.pid_start) {
            (Some(pid), ticks) => Some((pid, ticks, known.started_at)),
            (None, _) => read_started(folder).map(|s| (s.pid, s.pid_start, Some(s.started_at))),
        };
        let Some((pid, ticks, started_at)) = identity else {
            return Adoption::NeverStarted;
        };
        if is_alive(pid, ticks) {
            let started_at = started_at.unwrap_or_else(crate::clock::now);
            let elapsed = crate::clock::duration_from_secs(crate::clock::now() - started_at);
            self.runs.insert(
                known.spec.combination_id,
                LocalRun {
                    spec: known.spec.clone(),
                    child: None,
                    pid,
                    pid_start: ticks,
                    started: Instant::now()
                        .checked_sub(elapsed)
                        .unwrap_or_else(Instant::now),
                    stopping_since: None,
                },
            );
            return Adoption::Running(Submitted {
                queued: false,
                job_id: format!("local:{pid}"),
                pid: Some(pid),
                pid_start: ticks,
                started_at,
            });
        }
        signal_group(pid, Signal::SIGKILL);
        let (end, finished_at) = match read_status(folder) {
            Some(status) => (end_from_status(&status), status.finished_at),
            None => (
                RunEnd::Interrupted("the run's process is gone and recorded no end (the machine restarted, or the run was killed with its coordinator)".into()),
                crate::clock::now(),
            ),
        };
        Adoption::Ended(Ended {
            combination_id: known.spec.combination_id,
            end,
            finished_at,
            scheduler: Default::default(),
        })
    }

    fn poll(&mut self) -> Vec<Ended> {
        let mut ended = Vec::new();
        let ids: Vec<u64> = self.runs.keys().copied().collect();
        for id in ids {
            let Some(run) = self.runs.get_mut(&id) else {
                continue;
            };
            let exit = match run.child.as_mut() {
                Some(child) => match child.try_wait() {
                    Ok(Some(status)) => Some(Some(status)),
                    Ok(None) => None,
                    Err(_) => Some(None),
                },
                None => (!is_alive(run.pid, run.pid_start)).then_some(None),
            };
            match exit {
                Some(status) => {
                    let Some(run) = self.runs.remove(&id) else {
                        continue;
                    };
                    // Whatever the script left behind in its group goes with it.
                    signal_group(run.pid, Signal::SIGKILL);
                    let end = self.end_of(&run, status);
                    ended.push(Ended {
                        combination_id: id,
                        end,
                        finished_at: crate::clock::now(),
                        scheduler: Default::default(),
                    });
                }
                None => {
                    let limit = run
                        .spec
                        .time_limit
                        .saturating_add(run.spec.kill_grace)
                        .saturating_add(SAFETY_MARGIN);
                    if let Some(since) = run.stopping_since {
                        if since.elapsed() >= run.spec.kill_grace {
                            signal_group(run.pid, Signal::SIGKILL);
                        }
                    } else if run.started.elapsed() > limit {
                        signal_group(run.pid, Signal::SIGKILL);
                        let _ = std::fs::write(
                            run.spec.folder.join(super::wrapper::STATUS_FILE),
                            serde_json::to_string(&RunStatus {
                                exit_code: None,
                                signal: Some(9),
                                timed_out: true,
                                start_error: None,
                                started_at: 0.0,
                                finished_at: crate::clock::now(),
                                peak_memory_mb: None,
                            })
                            .unwrap_or_default(),
                        );
                    }
                }
            }
        }
        ended
    }

    fn cancel(&mut self, combination_id: u64) {
        if let Some(run) = self.runs.get_mut(&combination_id) {
            signal_group(run.pid, Signal::SIGTERM);
            run.stopping_since.get_or_insert_with(Instant::now);
        }
    }

    fn stop_all(&mut self, grace: Duration) -> Vec<u64> {
        let ids: Vec<u64> = self.runs.keys().copied().collect();
        for run in self.runs.values() {
            signal_group(run.pid, Signal::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            self.runs.retain(|_, run| match run.child.as_mut() {
                Some(child) => !matches!(child.try_wait(), Ok(Some(_)) | Err(_)),
                None => is_alive(run.pid, run.pid_start),
            });
            if self.runs.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for (_, mut run) in std::mem::take(&mut self.runs) {
            signal_group(run.pid, Signal::SIGKILL);
            if let Some(child) = run.child.as_mut() {
                let _ = child.wait();
            }
        }
        ids
    }

    fn active(&self) -> usize {
        self.runs.len()
    }
}
