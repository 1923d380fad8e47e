//! `hpsearch _runner`: one process that starts and watches every local run of a coordinator.
//!
//! The coordinator could start each script itself, but then a run's end would be known only to
//! the coordinator, and lost with it; one `hpsearch _wrap` process per run keeps the record but
//! costs a second process start per run, which was most of the coordinator's overhead on short
//! runs. The runner is a child of the coordinator in its own process group (a terminal's Ctrl-C
//! reaches the coordinator, which stops the runs itself). For each request it starts the script in
//! a new process group of its own and answers with its pid; then a thread of the run (one kept
//! from an earlier run when one is idle, `watchers`) writes
//! `.hpsearch_started.json` (the script's pid, and the runner's as its supervisor), watches the
//! run (`supervise`), writes `.hpsearch_status.json` and wakes the coordinator (SIGCHLD). The
//! start record comes after the answer, so that the coordinator prepares its next run meanwhile;
//! it has the pid from the answer.
//!
//! When the coordinator goes away (its end of the pipe closes, a crash included), the runner
//! starts nothing more, watches the runs in flight to their end, writes their records, and exits:
//! a coordinator started by `resume` finds them as it finds a wrapper's.
//!
//! The protocol is one JSON line each way: a `StartRequest`, then a `StartReply`.

use super::process::start_ticks;
use super::supervise::{
    record_start_error, reserve_record, supervise, write_record, ProcessIdentity, RunStarted,
    Watch, STARTED_FILE, STATUS_FILE,
};
use super::watchers::Watchers;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StartRequest {
    /// The run's folder: its working directory, where log.txt and the records go.
    pub folder: PathBuf,
    pub program: PathBuf,
    pub arguments: Vec<String>,
    pub time_limit_seconds: f64,
    pub grace_seconds: f64,
    pub signal_after_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StartReply {
    pub pid: Option<i32>,
    pub pid_start: Option<u64>,
    pub started_at: f64,
    /// Why the script could not be started.
    pub error: Option<String>,
    /// Whether that reason would stop any run alike (a full disk, a forbidden folder).
    #[serde(default)]
    pub common: bool,
}

/// Serves requests on standard input until it closes; returns the exit code.
pub fn serve() -> i32 {
    // The runner outlives a hangup, an interrupt, a stop and a closed pipe, to write the records
    // of the runs it watches. Handlers, unlike ignored signals, reset on exec: the scripts get
    // the default behaviour.
    let survived = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGPIPE,
    ] {
        let _ = signal_hook::flag::register(signal, std::sync::Arc::clone(&survived));
    }
    let coordinator = std::os::unix::process::parent_id() as i32;
    let me = ProcessIdentity::of(std::process::id() as i32);
    let mut watchers = Watchers::default();
    let mut output = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let (reply, launched) = match serde_json::from_str::<StartRequest>(&line) {
            Ok(request) => start(request),
            Err(e) => (
                StartReply {
                    pid: None,
                    pid_start: None,
                    started_at: crate::clock::now(),
                    error: Some(format!("the runner got a request it cannot read: {e}")),
                    common: true,
                },
                None,
            ),
        };
        let mut text = serde_json::to_string(&reply).unwrap_or_default();
        text.push('\n');
        let answered = output
            .write_all(text.as_bytes())
            .and_then(|()| output.flush());
        // The run's watch begins after the answer, so that the coordinator goes on with its
        // next run while this process writes the start record and starts the watching thread.
        if let Some(launched) = launched {
            watchers.run(move || launched.watch(me, coordinator));
        }
        if answered.is_err() {
            break;
        }
    }
    // The coordinator is done or gone: the runs in flight still get their records.
    watchers.wait_all();
    0
}

/// A script just started, to be watched.
struct Launched {
    child: std::process::Child,
    pid: i32,
    pid_start: Option<u64>,
    started_at: f64,
    watch: Watch,
}

impl Launched {
    /// Writes the run's start record and watches the run to its end (on a thread of its own,
    /// see `Watchers`).
    fn watch(self, me: ProcessIdentity, coordinator: i32) {
        let Launched {
            child,
            pid,
            pid_start,
            started_at,
            watch,
        } = self;
        write_record(
            &watch.folder.join(STARTED_FILE),
            &RunStarted {
                pid,
                pid_start,
                started_at,
                supervisor: Some(me),
            },
        );
        reserve_record(&watch.folder.join(STATUS_FILE));
        // `supervise` waits for the pid itself (wait4, for the run's own resource use); the
        // handle is not needed, and dropping it neither waits nor kills.
        drop(child);
        supervise(pid, watch, started_at);
        // Wake the coordinator's loop, if it is still the one that asked.
        if std::os::unix::process::parent_id() as i32 == coordinator {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(coordinator),
                nix::sys::signal::Signal::SIGCHLD,
            );
        }
    }
}

/// Starts the script of a request: the reply, and the run to watch when it started.
fn start(request: StartRequest) -> (StartReply, Option<Launched>) {
    let started_at = crate::clock::now();
    let failed = |message: String, common: bool| {
        let reply = StartReply {
            pid: None,
            pid_start: None,
            started_at,
            error: Some(message),
            common,
        };
        (reply, None)
    };
    // One open file for the script's stdout, its stderr and the runner's notes.
    let log_path = request.folder.join("log.txt");
    let handles = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .and_then(|log| Ok((log.try_clone()?, log.try_clone()?, log)));
    let (log, log_err, notes) = match handles {
        Ok(handles) => handles,
        Err(e) => {
            return failed(
                format!("cannot open {}: {e}", log_path.display()),
                super::contract::is_common_io_problem(&e),
            )
        }
    };
    let spawned = Command::new(&request.program)
        .args(&request.arguments)
        .current_dir(&request.folder)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn();
    let child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let message = format!("cannot start {}: {e}", request.program.display());
            record_start_error(&request.folder, &message, started_at);
            return failed(message, false);
        }
    };
    let pid = child.id() as i32;
    let pid_start = start_ticks(pid);
    let seconds = crate::clock::duration_from_secs;
    let watch = Watch {
        folder: request.folder,
        time_limit: seconds(request.time_limit_seconds),
        grace: seconds(request.grace_seconds),
        signal_after: request.signal_after_seconds.map(seconds),
        group: pid,
        not_counted: None,
        notes: Some(notes),
    };
    let reply = StartReply {
        pid: Some(pid),
        pid_start,
        started_at,
        error: None,
        common: false,
    };
    let launched = Launched {
        child,
        pid,
        pid_start,
        started_at,
        watch,
    };
    (reply, Some(launched))
}
