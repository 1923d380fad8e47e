//! Calls to Slurm's client commands, and what their answers mean: durations, and whether a
//! refused `sbatch` is worth trying again (slurmctld busy or down) or never will be (a request
//! no node can satisfy, an unknown partition or account).

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Seconds of a Slurm duration: `[D-][HH:]MM:SS` (`INVALID`, `UNLIMITED`, empty: None).
pub fn parse_slurm_duration(text: &str) -> Option<f64> {
    let text = text.trim();
    let (days, clock) = match text.split_once('-') {
        Some((d, rest)) => (d.parse::<f64>().ok()?, rest),
        None => (0.0, text),
    };
    let parts: Vec<f64> = clock
        .split(':')
        .map(|p| p.parse::<f64>().ok())
        .collect::<Option<_>>()?;
    let seconds = match parts.as_slice() {
        [s] => *s,
        [m, s] => m * 60.0 + s,
        [h, m, s] => h * 3600.0 + m * 60.0 + s,
        _ => return None,
    };
    Some(days * 86_400.0 + seconds)
}

/// How long one Slurm command may take before hpsearch gives up on it: slurmctld answers in
/// milliseconds when it is up, and a command waiting out its MessageTimeout means it is not.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(20);

/// Why a Slurm command gave no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// It ran and said no: its stderr and exit status, on one line.
    Refused(String),
    /// It could not run, ran past its limit, or was interrupted by a stop: slurmctld may be down.
    NoAnswer(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(m) | Failure::NoAnswer(m) => f.write_str(m),
        }
    }
}

/// Runs a Slurm command to its end, or until `limit` passes or `interrupt` is set (a stop was
/// asked for): then the command is killed, so that Ctrl-C takes effect at once whatever
/// slurmctld is doing.
pub fn run_bounded(
    command: &mut Command,
    limit: Duration,
    interrupt: Option<&AtomicBool>,
) -> Result<String, Failure> {
    let name = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::NoAnswer(format!("cannot run {name}: {e}")))?;
    // Read both pipes while waiting, so that a long answer cannot fill a pipe and stall.
    let stdout = PipeReader::start(child.stdout.take().map(OwnedFd::from));
    let stderr = PipeReader::start(child.stderr.take().map(OwnedFd::from));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(Failure::NoAnswer(format!("{name}: {e}"))),
        }
        let stopped = interrupt.is_some_and(|flag| flag.load(Ordering::Relaxed));
        if stopped || started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure::NoAnswer(if stopped {
                format!("{name} was interrupted by a stop")
            } else {
                format!("{name} gave no answer within {} s", limit.as_secs())
            }));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // The pipes end with the command, unless a process it left behind holds them (a site's
    // wrapper around sbatch that starts a daemon): then what was read by a short while after
    // the command's exit is its answer.
    let grace = Instant::now() + AFTER_EXIT_GRACE;
    let out = String::from_utf8_lossy(&stdout.finish(grace)).into_owned();
    let err = String::from_utf8_lossy(&stderr.finish(grace)).into_owned();
    if status.success() {
        return Ok(out);
    }
    let message = format!("{} ({status})", one_line(&err));
    if cannot_reach_controller(&err) {
        Err(Failure::NoAnswer(message))
    } else {
        Err(Failure::Refused(message))
    }
}

/// How long a command's output pipes are waited for once it has exited.
const AFTER_EXIT_GRACE: Duration = Duration::from_secs(2);

/// One of a command's output pipes, read on a thread of its own into a buffer shared with the
/// caller, who can take what has come so far without waiting for the pipe's end.
///
/// Once the caller has its answer (or gave up on the command), the thread closes the pipe and
/// ends within `ABANDON_CHECK`, even while a process the command left behind still holds the
/// pipe's other end: before, each such call kept a thread, a file descriptor and a growing
/// buffer for as long as that process lived, and a site's sbatch wrapper that leaves a daemon
/// on every call ran a long search out of descriptors.
struct PipeReader {
    bytes: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    ended: std::sync::mpsc::Receiver<()>,
    abandoned: std::sync::Arc<AtomicBool>,
}

/// How often a pipe's reader looks whether it is still wanted.
const ABANDON_CHECK: Duration = Duration::from_millis(100);

/// The most a command's pipe is read into memory: Slurm's answers are lines.
const MAX_ANSWER_BYTES: usize = 16 << 20;

impl PipeReader {
    fn start(pipe: Option<OwnedFd>) -> PipeReader {
        let bytes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let abandoned = std::sync::Arc::new(AtomicBool::new(false));
        let (sender, ended) = std::sync::mpsc::channel();
        let (shared, given_up) = (bytes.clone(), abandoned.clone());
        std::thread::spawn(move || {
            if let Some(pipe) = pipe {
                read_until_end_or_abandoned(pipe, &shared, &given_up);
            }
            let _ = sender.send(());
        });
        PipeReader {
            bytes,
            ended,
            abandoned,
        }
    }

    /// What the pipe gave, once it has ended or `deadline` has passed.
    fn finish(self, deadline: Instant) -> Vec<u8> {
        let _ = self
            .ended
            .recv_timeout(deadline.saturating_duration_since(Instant::now()));
        self.bytes
            .lock()
            .map(|mut bytes| std::mem::take(&mut *bytes))
            .unwrap_or_default()
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }
}

/// Reads `pipe` into `bytes` (up to `MAX_ANSWER_BYTES`) until its end, or until `abandoned`;
/// the pipe is closed on return.
fn read_until_end_or_abandoned(
    pipe: OwnedFd,
    bytes: &std::sync::Mutex<Vec<u8>>,
    abandoned: &AtomicBool,
) {
    let mut file = std::fs::File::from(pipe);
    let mut chunk = [0u8; 8192];
    let wait = nix::poll::PollTimeout::try_from(ABANDON_CHECK.as_millis())
        .unwrap_or(nix::poll::PollTimeout::MAX);
    while !abandoned.load(Ordering::Relaxed) {
        let mut fds = [nix::poll::PollFd::new(
            file.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, wait) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => return,
        }
        match file.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                if let Ok(mut bytes) = bytes.lock() {
                    let room = MAX_ANSWER_BYTES.saturating_sub(bytes.len());
                    bytes.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// `run_bounded` with the usual limit and no interrupt, for one-off calls.
pub fn run(command: &mut Command) -> Result<String, String> {
    run_bounded(command, COMMAND_LIMIT, None).map_err(|f| f.to_string())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a client's error says slurmctld could not be reached (down, restarting, busy).
pub fn cannot_reach_controller(stderr: &str) -> bool {
    let text = stderr.to_ascii_lowercase();
    [
        "unable to contact slurm controller",
        "connection refused",
        "socket timed out",
        "communication connection failure",
        "slurm_receive_msg",
        "zero bytes were transmitted",
        "slurmctld not responding",
        "resource temporarily unavailable",
        "try again",
    ]
    .iter()
    .any(|p| text.contains(p))
}

/// Whether sbatch refused a job for a reason that no retry changes: a request no node can
/// satisfy, a partition, account or QOS that does not exist, options Slurm rejects. Limits on
/// jobs in flight (`QOSMaxSubmitJob...`, `AssocMaxSubmitJob...`) are not permanent: they lift
/// when runs end.
pub fn is_permanent_rejection(stderr: &str) -> bool {
    let text = stderr.to_ascii_lowercase();
    if text.contains("maxsubmit") || cannot_reach_controller(&text) {
        return false;
    }
    [
        "requested node configuration is not available",
        "invalid partition name",
        "memory specification can not be satisfied",
        "invalid account",
        "invalid qos",
        "invalid generic resource",
        "invalid gres",
        "invalid feature specification",
        "requested time limit is invalid",
        "job violates accounting/qos policy",
        "invalid job array specification",
        "unrecognized option",
        "invalid option",
        "cpu count per node can not be satisfied",
        "node count specification invalid",
        "requested partition configuration not available",
    ]
    .iter()
    .any(|p| text.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_that_leaves_a_process_holding_its_output_is_answered_on_its_exit() {
        // A wrapper that prints its answer and leaves a daemon with its stdout open: the pipes
        // never end, and the coordinator waited on them for as long as the daemon lived.
        let started = Instant::now();
        let out = run_bounded(
            Command::new("sh").args(["-c", "echo 4242; sleep 30 &"]),
            Duration::from_secs(60),
            None,
        );
        assert_eq!(out.ok().as_deref(), Some("4242\n"));
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "waited {:?} for the daemon",
            started.elapsed()
        );
    }

    #[test]
    fn a_process_left_holding_the_output_no_longer_keeps_a_reader_once_answered() {
        // The daemon writes to the inherited stdout for as long as it lives. Before, the pipe's
        // reader thread kept it open and its buffer growing for that whole time; now the pipe
        // is closed once the answer is taken, and the daemon's next write fails (SIGPIPE).
        let dir = tempfile::tempdir().expect("temp dir");
        let pid_file = dir.path().join("daemon.pid");
        let script = format!(
            "echo 4242; sh -c 'while :; do echo tick; sleep 0.05; done' & echo $! > {}",
            pid_file.display()
        );
        let out = run_bounded(
            Command::new("sh").args(["-c", &script]),
            Duration::from_secs(60),
            None,
        );
        assert_eq!(
            out.ok().as_deref().map(|o| o.lines().next()),
            Some(Some("4242"))
        );
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .expect("the daemon's pid")
            .trim()
            .parse()
            .expect("a pid");
        let alive = || {
            std::path::Path::new(&format!("/proc/{pid}")).exists()
                && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|stat| stat.contains(") Z "))
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let still_alive = alive();
        if still_alive {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        assert!(
            !still_alive,
            "the daemon still had a reader 5 s after the answer"
        );
    }

    #[test]
    fn permanent_refusals_are_told_from_an_unreachable_controller() {
        assert!(is_permanent_rejection(
            "sbatch: error: Batch job submission failed: Requested node configuration is not available"
        ));
        assert!(is_permanent_rejection(
            "sbatch: error: Batch job submission failed: Invalid partition name specified"
        ));
        assert!(is_permanent_rejection(
            "sbatch: error: Memory specification can not be satisfied"
        ));
        assert!(!is_permanent_rejection(
            "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)"
        ));
        assert!(!is_permanent_rejection(
            "sbatch: error: QOSMaxSubmitJobPerUserLimit"
        ));
    }

    #[test]
    fn a_command_past_its_limit_or_interrupted_is_killed_at_once() {
        let started = Instant::now();
        let out = run_bounded(
            Command::new("sleep").arg("30"),
            Duration::from_millis(200),
            None,
        );
        assert!(matches!(out, Err(Failure::NoAnswer(_))), "{out:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let flag = AtomicBool::new(true);
        let out = run_bounded(Command::new("sleep").arg("30"), COMMAND_LIMIT, Some(&flag));
        assert!(matches!(out, Err(Failure::NoAnswer(m)) if m.contains("interrupted")));
        assert_eq!(
            run_bounded(Command::new("echo").arg("hi"), COMMAND_LIMIT, None),
            Ok("hi\n".to_string())
        );
    }
}
