//! The local executor: runs as processes of this machine, each in its own process group.
//!
//! Every run is started and watched by the coordinator's runner (`hpsearch _runner`, see
//! `runner`), one process started with the first run, which enforces the time limits and leaves a
//! record of each script's end in its folder. This executor sends it requests, notices when runs
//! end (their records, or their processes gone with their supervisor), and stops process groups.

use super::contract::{
    Adoption, Ended, Executor, ExecutorError, Known, RunEnd, RunSpec, Submitted,
};
use super::process::{is_alive, signal_group};
use super::runner::{StartReply, StartRequest};
use super::supervise::{read_started, read_status, ProcessIdentity, RunStatus};
use nix::sys::signal::Signal;
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Extra time past a run's limit and grace before the executor itself kills a run whose
/// supervisor failed to (the supervisor is the first line; this is the safety net).
const SAFETY_MARGIN: Duration = Duration::from_secs(30);

/// How long a stop waits for the runner's replies to the starts it was asked for: they come in
/// milliseconds, unless the runner hangs, and a stop must end even then (a run whose reply has
/// not come is not stopped: a resume finds it by its start record).
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// How long a run whose process is gone may go without a record while its supervisor lives
/// (the supervisor writes it right after reaping the process) before it counts as interrupted.
const RECORD_WAIT: Duration = Duration::from_secs(10);

struct LocalRun {
    spec: RunSpec,
    /// The process leading the run's group (the script, or an older version's wrapper).
    pid: i32,
    pid_start: Option<u64>,
    /// What writes the run's record, when not `pid` itself.
    supervisor: Option<ProcessIdentity>,
    started: Instant,
    /// When a stop was asked for, so that SIGKILL follows after the grace period.
    stopping_since: Option<Instant>,
    /// Since when the run's process has been seen gone without a record.
    gone_since: Option<Instant>,
    /// When the run's process was last seen alive (see `ALIVE_CHECK_INTERVAL`).
    seen_alive: Option<Instant>,
}

/// How long a run seen alive goes without another look at its process. Its supervisor's record
/// tells its end at once; the process is looked at only to notice a run that ended with its
/// supervisor (a reboot, a kill of the runner), which waits RECORD_WAIT anyway. Looking at
/// every poll cost each of eight runs in flight a read of /proc at every run's end.
const ALIVE_CHECK_INTERVAL: Duration = Duration::from_millis(500);

impl LocalRun {
    /// The record of the run's end, or the verdict that none will come; `None` while it runs.
    fn end(&mut self) -> Option<RunEnd> {
        if let Some(status) = read_status(&self.spec.folder) {
            return Some(end_from_status(&status));
        }
        if self
            .seen_alive
            .is_some_and(|t| t.elapsed() < ALIVE_CHECK_INTERVAL)
        {
            return None;
        }
        if is_alive(self.pid, self.pid_start) {
            self.seen_alive = Some(Instant::now());
            return None;
        }
        let supervised = self.supervisor.is_some_and(|s| s.is_alive());
        let since = *self.gone_since.get_or_insert_with(Instant::now);
        if supervised && since.elapsed() < RECORD_WAIT {
            return None;
        }
        // The record may have landed between the two looks.
        if let Some(status) = read_status(&self.spec.folder) {
            return Some(end_from_status(&status));
        }
        Some(RunEnd::Interrupted(
            "the run's process is gone and recorded no end (the machine restarted, or the run was killed with its supervisor)".into(),
        ))
    }

    /// Whether the run still goes: no record yet, and its process or its supervisor lives.
    fn going(&self) -> bool {
        read_status(&self.spec.folder).is_none()
            && (is_alive(self.pid, self.pid_start) || self.supervisor.is_some_and(|s| s.is_alive()))
    }
}

/// The coordinator's end of its runner.
struct Runner {
    process: Child,
    /// The runner as a process, told apart from a later one with its pid (the supervisor of
    /// every run it starts).
    identity: ProcessIdentity,
    requests: ChildStdin,
    replies: BufReader<ChildStdout>,
}

impl Runner {
    fn start(binary: &PathBuf) -> std::io::Result<Runner> {
        let mut process = Command::new(binary)
            .arg("_runner")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()?;
        let missing = || std::io::Error::other("the runner's pipes are missing");
        let requests = process.stdin.take().ok_or_else(missing)?;
        let replies = BufReader::new(process.stdout.take().ok_or_else(missing)?);
        Ok(Runner {
            identity: ProcessIdentity::of(process.id() as i32),
            process,
            requests,
            replies,
        })
    }

    /// Sends a request; an error means it never reached the runner.
    fn send(&mut self, request: &StartRequest) -> Result<(), String> {
        let mut text = serde_json::to_string(request).map_err(|e| e.to_string())?;
        // One write: the pipe is not buffered.
        text.push('\n');
        without_sigpipe(|| {
            self.requests.write_all(text.as_bytes())?;
            self.requests.flush()
        })
        .map_err(|e| e.to_string())
    }

    /// Whether a reply can be read without waiting, now or within `wait` (`Duration::MAX`: as
    /// long as it takes). A reply is one write of one line, shorter than the pipe's atomic size,
    /// so a readable pipe holds a whole one.
    fn reply_within(&self, wait: Duration) -> bool {
        use std::os::fd::AsFd;
        if !self.replies.buffer().is_empty() {
            return true;
        }
        let deadline = Instant::now().checked_add(wait);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let timeout = match left {
                // Rounded up to the millisecond, so that a wait of less than one does not spin.
                Some(left) => nix::poll::PollTimeout::try_from(left.as_micros().div_ceil(1000))
                    .unwrap_or(nix::poll::PollTimeout::MAX),
                None => nix::poll::PollTimeout::NONE,
            };
            let mut fds = [nix::poll::PollFd::new(
                self.replies.get_ref().as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            // Readable, or closed (the runner died): either way a read does not wait.
            match nix::poll::poll(&mut fds, timeout) {
                Ok(ready) => return ready > 0,
                // A signal (a run's end) came: wait on for what is left.
                Err(nix::errno::Errno::EINTR) if left.is_none_or(|l| !l.is_zero()) => continue,
                Err(_) => return false,
            }
        }
    }

    /// Reads the reply to the oldest request not yet answered; an error means the runner is
    /// gone, and the run asked for may have started.
    fn receive(&mut self) -> Result<StartReply, String> {
        let mut line = String::new();
        match self.replies.read_line(&mut line) {
            Ok(0) => Err("the runner ended".into()),
            Ok(_) => serde_json::from_str(&line).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Runs `write` with SIGPIPE blocked in this thread, and takes back the SIGPIPE a write to a
/// runner that died raised: the coordinator (whose SIGPIPE is the default, so that `hpsearch ...
/// | head` ends quietly) gets the error `EPIPE` instead of dying.
fn without_sigpipe(write: impl FnOnce() -> std::io::Result<()>) -> std::io::Result<()> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    let mut pipe = SigSet::empty();
    pipe.add(Signal::SIGPIPE);
    let Ok(before) = pipe.thread_swap_mask(SigmaskHow::SIG_BLOCK) else {
        return write();
    };
    let result = write();
    if result
        .as_ref()
        .is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    {
        let no_wait = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid signal set and timespec; a null info pointer is allowed.
        unsafe {
            libc::sigtimedwait(pipe.as_ref(), std::ptr::null_mut(), &no_wait);
        }
    }
    let _ = before.thread_set_mask();
    result
}

pub struct LocalExecutor {
    /// The hpsearch binary (its `_runner` command).
    binary: PathBuf,
    runner: Option<Runner>,
    runs: BTreeMap<u64, LocalRun>,
    /// Runs sent to the runner whose reply has not been read, oldest first (the runner answers
    /// in order).
    unanswered: VecDeque<RunSpec>,
    /// Replies read but not yet taken by `answers`, in the order sent.
    answered: Vec<(u64, Result<Submitted, ExecutorError>)>,
}

impl LocalExecutor {
    /// `binary` is the hpsearch binary (its `_runner` command).
    pub fn new(binary: PathBuf) -> Self {
        LocalExecutor {
            binary,
            runner: None,
            runs: BTreeMap::new(),
            unanswered: VecDeque::new(),
            answered: Vec::new(),
        }
    }

    /// Sends a start request to the runner; a runner that died is started again once (what it
    /// was asked before and did not answer is settled first, see `settle`).
    fn send_request(&mut self, request: &StartRequest) -> Result<(), String> {
        let mut last = String::new();
        for _ in 0..2 {
            if self.runner.is_none() {
                match Runner::start(&self.binary) {
                    Ok(runner) => self.runner = Some(runner),
                    Err(e) => {
                        return Err(format!(
                            "cannot start the runner {} _runner: {e}",
                            self.binary.display()
                        ))
                    }
                }
            }
            let Some(runner) = self.runner.as_mut() else {
                continue;
            };
            match runner.send(request) {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            self.settle(Duration::MAX);
            self.drop_runner();
        }
        Err(format!("the runner does not answer: {last}"))
    }

    /// Reads the replies to the requests sent and not yet answered: those already there, and
    /// those that come within `wait` (`Duration::ZERO`: none; `Duration::MAX`: every one, as
    /// long as it takes). Each run that started is watched from now on, and every answer waits
    /// in `answered`.
    fn settle(&mut self, wait: Duration) {
        let deadline = Instant::now().checked_add(wait);
        while !self.unanswered.is_empty() {
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            if self.runner.as_ref().is_some_and(|r| !r.reply_within(left)) {
                break;
            }
            let Some(spec) = self.unanswered.pop_front() else {
                break;
            };
            let received = match self.runner.as_mut() {
                Some(runner) => runner.receive(),
                None => Err("the runner is gone".into()),
            };
            let reply = received.unwrap_or_else(|e| {
                // The runner died after it was asked (the run may have killed it): the run may
                // be under way, unsupervised, and must not start twice. Without its start
                // record, its process is unknown: it counts as a run interrupted at once
                // (started again, up to the restart limit), never as a request to send again,
                // which would run it twice.
                self.drop_runner();
                errln!("hpsearch: the runner ended while starting a run ({e})");
                let started = read_started(&spec.folder);
                StartReply {
                    pid: started.as_ref().map(|s| s.pid),
                    pid_start: started.as_ref().and_then(|s| s.pid_start),
                    started_at: started
                        .as_ref()
                        .map_or_else(crate::clock::now, |s| s.started_at),
                    error: None,
                    common: false,
                }
            });
            let answer = self.accept(&spec, reply);
            self.answered.push((spec.combination_id, answer));
        }
    }

    /// What the runner's reply says of a run: started (and watched from now on), or why not.
    fn accept(&mut self, spec: &RunSpec, reply: StartReply) -> Result<Submitted, ExecutorError> {
        let pid = match (reply.pid, reply.error) {
            (Some(pid), None) => pid,
            // The runner died while starting it: no process to watch, the run is interrupted.
            (None, None) => 0,
            (_, error) => {
                let message = error.unwrap_or_else(|| "the runner gave no pid".into());
                return Err(if reply.common {
                    ExecutorError::Unavailable { message }
                } else {
                    ExecutorError::Start {
                        id: spec.combination_id,
                        message,
                    }
                });
            }
        };
        let supervisor = self.runner.as_ref().map(|r| r.identity);
        let known_pid = (pid > 0).then_some(pid);
        self.runs.insert(
            spec.combination_id,
            LocalRun {
                spec: spec.clone(),
                pid,
                pid_start: reply.pid_start,
                supervisor,
                started: Instant::now(),
                stopping_since: None,
                gone_since: None,
                seen_alive: None,
            },
        );
        Ok(Submitted {
            queued: false,
            job_id: known_pid.map_or_else(|| "local:?".into(), |pid| format!("local:{pid}")),
            pid: known_pid,
            pid_start: reply.pid_start,
            started_at: reply.started_at,
        })
    }

    /// Ends a runner that stopped answering.
    fn drop_runner(&mut self) {
        if let Some(mut dead) = self.runner.take() {
            let _ = dead.process.kill();
            let _ = dead.process.wait();
        }
    }
}

impl Drop for LocalExecutor {
    fn drop(&mut self) {
        // Closing its input tells the runner to finish; it exits once its runs have ended.
        if let Some(mut runner) = self.runner.take() {
            drop(runner.requests);
            // With no run left it ends at once; with runs in flight (an error ended the
            // coordinator) it goes on watching them, and is not waited for.
            let deadline = Instant::now() + Duration::from_secs(1);
            while matches!(runner.process.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
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
        self.send(spec)?;
        self.settle(Duration::MAX);
        // Its answer is the last; the answers to earlier sends wait for `answers`.
        match self.answered.pop() {
            Some((id, answer)) if id == spec.combination_id => answer,
            other => {
                self.answered.extend(other);
                Err(ExecutorError::Unavailable {
                    message: "the runner did not answer".into(),
                })
            }
        }
    }

    fn send(&mut self, spec: &RunSpec) -> Result<Option<Submitted>, ExecutorError> {
        // Records of an earlier start of this combination (a restart) would read as this one's.
        for stale in [
            super::supervise::STATUS_FILE,
            super::supervise::STARTED_FILE,
        ] {
            let _ = std::fs::remove_file(spec.folder.join(stale));
        }
        let signal_after = (!spec.checkpoint_signal.is_zero()
            && spec.checkpoint_signal < spec.time_limit)
            .then(|| (spec.time_limit - spec.checkpoint_signal).as_secs_f64());
        let request = StartRequest {
            folder: spec.folder.clone(),
            program: spec.program.clone(),
            arguments: vec![
                spec.script.display().to_string(),
                spec.input.display().to_string(),
            ],
            time_limit_seconds: spec.time_limit.as_secs_f64(),
            grace_seconds: spec.kill_grace.as_secs_f64(),
            signal_after_seconds: signal_after,
        };
        self.send_request(&request)
            .map_err(|message| ExecutorError::Unavailable { message })?;
        self.unanswered.push_back(spec.clone());
        Ok(None)
    }

    fn answers(&mut self) -> Vec<(u64, Result<Submitted, ExecutorError>)> {
        // Without waiting: a run's reply comes before its end, so a run whose reply is not
        // there yet has not ended, and the coordinator goes on while the runner starts it.
        self.settle(Duration::ZERO);
        std::mem::take(&mut self.answered)
    }

    fn answers_waiting(&mut self) -> Vec<(u64, Result<Submitted, ExecutorError>)> {
        self.settle(ANSWER_WAIT);
        std::mem::take(&mut self.answered)
    }

    fn adopt(&mut self, known: &Known) -> Adoption {
        let folder = &known.spec.folder;
        // The pid comes from the store, or from the run's start record when the coordinator
        // died between starting the run and recording it.
        let started = read_started(folder);
        let identity = match known.pid {
            Some(pid) => Some((pid, known.pid_start, known.started_at)),
            None => started
                .as_ref()
                .map(|s| (s.pid, s.pid_start, Some(s.started_at))),
        };
        let Some((pid, ticks, started_at)) = identity else {
            return Adoption::NeverStarted;
        };
        let supervisor = started.filter(|s| s.pid == pid).and_then(|s| s.supervisor);
        let started_at = started_at.unwrap_or_else(crate::clock::now);
        let elapsed = crate::clock::duration_from_secs(crate::clock::now() - started_at);
        let mut run = LocalRun {
            spec: known.spec.clone(),
            pid,
            pid_start: ticks,
            supervisor,
            started: Instant::now()
                .checked_sub(elapsed)
                .unwrap_or_else(Instant::now),
            stopping_since: None,
            gone_since: None,
            seen_alive: None,
        };
        match run.end() {
            // Still running, or gone a moment ago with its supervisor about to record the end.
            None => {
                self.runs.insert(known.spec.combination_id, run);
                Adoption::Running(Submitted {
                    queued: false,
                    job_id: format!("local:{pid}"),
                    pid: Some(pid),
                    pid_start: ticks,
                    started_at,
                })
            }
            Some(end) => {
                signal_group(pid, Signal::SIGKILL);
                Adoption::Ended(Ended {
                    combination_id: known.spec.combination_id,
                    end,
                    finished_at: read_status(folder)
                        .map_or_else(crate::clock::now, |s| s.finished_at),
                    scheduler: Default::default(),
                })
            }
        }
    }

    fn poll(&mut self) -> Vec<Ended> {
        self.settle(Duration::ZERO);
        let mut ended = Vec::new();
        // A run whose start the coordinator has not yet taken (`answers`) ends after it.
        let ids: Vec<u64> = self
            .runs
            .keys()
            .copied()
            .filter(|id| !self.answered.iter().any(|(other, _)| other == id))
            .collect();
        for id in ids {
            let Some(run) = self.runs.get_mut(&id) else {
                continue;
            };
            if let Some(end) = run.end() {
                // Whatever the script left behind in its group goes with it.
                signal_group(run.pid, Signal::SIGKILL);
                self.runs.remove(&id);
                ended.push(Ended {
                    combination_id: id,
                    end,
                    finished_at: crate::clock::now(),
                    scheduler: Default::default(),
                });
                continue;
            }
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
                super::supervise::write_record(
                    &run.spec.folder.join(super::supervise::STATUS_FILE),
                    &RunStatus {
                        exit_code: None,
                        signal: Some(9),
                        timed_out: true,
                        start_error: None,
                        started_at: 0.0,
                        finished_at: crate::clock::now(),
                        peak_memory_mb: None,
                        cpu_seconds: None,
                    },
                );
            }
        }
        ended
    }

    fn cancel(&mut self, combination_id: u64) {
        self.settle(ANSWER_WAIT);
        if let Some(run) = self.runs.get_mut(&combination_id) {
            signal_group(run.pid, Signal::SIGTERM);
            run.stopping_since.get_or_insert_with(Instant::now);
        }
    }

    fn stop_all(&mut self, grace: Duration) -> Vec<u64> {
        self.settle(ANSWER_WAIT);
        let ids: Vec<u64> = self.runs.keys().copied().collect();
        for run in self.runs.values() {
            signal_group(run.pid, Signal::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            self.runs.retain(|_, run| run.going());
            if self.runs.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for run in std::mem::take(&mut self.runs).into_values() {
            signal_group(run.pid, Signal::SIGKILL);
        }
        ids
    }

    fn active(&self) -> usize {
        self.runs.len() + self.unanswered.len()
    }
}
