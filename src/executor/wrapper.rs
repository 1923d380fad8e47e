//! `hpsearch _wrap`: the small parent of every local run.
//!
//! It runs the user's script, enforces the job's time limit (SIGTERM to the run's process group,
//! SIGKILL after the grace period), and records how the script ended in `.hpsearch_status.json`
//! in the run's folder. Because the record is a file, the outcome survives the coordinator: a
//! coordinator restarted by `resume` reads it for runs that ended while nobody watched.

use super::process::signal_group;
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub const STATUS_FILE: &str = ".hpsearch_status.json";
pub const STARTED_FILE: &str = ".hpsearch_started.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunStatus {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub start_error: Option<String>,
    pub started_at: f64,
    pub finished_at: f64,
    /// The peak resident memory of the script's largest process, in MB (getrusage).
    #[serde(default)]
    pub peak_memory_mb: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunStarted {
    pub pid: i32,
    pub pid_start: Option<u64>,
    pub started_at: f64,
}

pub fn read_status(folder: &Path) -> Option<RunStatus> {
    serde_json::from_str(&std::fs::read_to_string(folder.join(STATUS_FILE)).ok()?).ok()
}

pub fn read_started(folder: &Path) -> Option<RunStarted> {
    serde_json::from_str(&std::fs::read_to_string(folder.join(STARTED_FILE)).ok()?).ok()
}

pub struct WrapArgs {
    pub folder: PathBuf,
    pub time_limit: Duration,
    pub grace: Duration,
    pub program: PathBuf,
    pub arguments: Vec<String>,
}

/// Runs the wrapped script; returns the exit code for the wrapper process.
pub fn run(args: WrapArgs) -> i32 {
    // The run's whole process group is signalled on a timeout or a stop; the wrapper outlives
    // those signals to write the record. Handlers, unlike ignored signals, reset on exec, so the
    // script still gets the default behaviour.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&stop));
    }
    let started_at = crate::clock::now();
    let own_pid = std::process::id() as i32;
    let started = RunStarted {
        pid: own_pid,
        pid_start: super::process::start_ticks(own_pid),
        started_at,
    };
    let _ = crate::project::paths::write_atomically(
        &args.folder.join(STARTED_FILE),
        serde_json::to_string(&started)
            .unwrap_or_default()
            .as_bytes(),
    );

    let written = Arc::new(Mutex::new(false));
    let record = {
        let folder = args.folder.clone();
        let written = Arc::clone(&written);
        move |status: RunStatus| {
            let Ok(mut done) = written.lock() else { return };
            if !*done {
                let text = serde_json::to_string(&status).unwrap_or_default();
                let _ = crate::project::paths::write_atomically(
                    &folder.join(STATUS_FILE),
                    text.as_bytes(),
                );
                *done = true;
            }
        }
    };

    let mut child = match Command::new(&args.program).args(&args.arguments).spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("hpsearch: cannot start {}: {e}", args.program.display());
            record(RunStatus {
                exit_code: None,
                signal: None,
                timed_out: false,
                start_error: Some(format!("cannot start {}: {e}", args.program.display())),
                started_at,
                finished_at: crate::clock::now(),
                peak_memory_mb: None,
            });
            return 127;
        }
    };

    let timed_out = Arc::new(AtomicBool::new(false));
    let (finished_tx, finished_rx) = mpsc::channel::<()>();
    let timer = {
        let timed_out = Arc::clone(&timed_out);
        let record = record.clone();
        let (limit, grace) = (args.time_limit, args.grace);
        std::thread::spawn(move || {
            if finished_rx.recv_timeout(limit) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            timed_out.store(true, Ordering::SeqCst);
            eprintln!(
                "hpsearch: the run passed its time limit of {limit:?}; stopping it (SIGTERM)"
            );
            signal_group(own_pid, Signal::SIGTERM);
            if finished_rx.recv_timeout(grace) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            eprintln!(
                "hpsearch: the run did not stop within {grace:?} of SIGTERM; killing it (SIGKILL)"
            );
            record(RunStatus {
                exit_code: None,
                signal: Some(Signal::SIGKILL as i32),
                timed_out: true,
                start_error: None,
                started_at,
                finished_at: crate::clock::now(),
                peak_memory_mb: None,
            });
            signal_group(own_pid, Signal::SIGKILL);
        })
    };

    let status = child.wait();
    let _ = finished_tx.send(());
    let _ = timer.join();
    use std::os::unix::process::ExitStatusExt;
    let (exit_code, signal) = match &status {
        Ok(s) => (s.code(), s.signal()),
        Err(_) => (None, None),
    };
    record(RunStatus {
        exit_code,
        signal,
        timed_out: timed_out.load(Ordering::SeqCst),
        start_error: status.as_ref().err().map(|e| format!("lost the run: {e}")),
        started_at,
        finished_at: crate::clock::now(),
        peak_memory_mb: children_peak_memory_mb(),
    });
    exit_code.unwrap_or(128 + signal.unwrap_or(0))
}

/// Peak resident memory of the largest waited-for child process, in MB. Linux reports
/// `ru_maxrss` in kilobytes.
fn children_peak_memory_mb() -> Option<f64> {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).ok()?;
    let kilobytes = usage.max_rss();
    (kilobytes > 0).then(|| kilobytes as f64 / 1024.0)
}
