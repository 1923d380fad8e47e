//! Watching one run of the user's script: its time limit, its checkpoint signal, its memory,
//! and the record of how it ended.
//!
//! Two supervisors use it: the coordinator's runner (`runner`, one process for every local run)
//! and `hpsearch _wrap` (`wrapper`, one per Slurm job). Either writes `.hpsearch_started.json`
//! when the run starts and `.hpsearch_status.json` when it ends, in the run's folder: because
//! the record is a file, the outcome survives the coordinator, and a coordinator restarted by
//! `resume` reads it for runs that ended while nobody watched.

use super::process::signal_group;
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// The peak resident memory of the run, in MB: the larger of the highest sum of the resident
    /// memory of every process of the run's group (sampled from /proc) and the largest single
    /// process's peak (getrusage).
    #[serde(default)]
    pub peak_memory_mb: Option<f64>,
    /// CPU seconds the run used, user and system, its waited-for descendants included (wait4).
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
}

/// Written when a run starts: the process leading the run's group, and what supervises it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunStarted {
    pub pid: i32,
    pub pid_start: Option<u64>,
    pub started_at: f64,
    /// The process that waits for the run and writes its record (the coordinator's runner),
    /// when it is not `pid` itself (a wrapper, which leads its run's group).
    #[serde(default)]
    pub supervisor: Option<ProcessIdentity>,
}

/// A process, told apart from a later one with the same pid by its start time.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ProcessIdentity {
    pub pid: i32,
    pub start_ticks: Option<u64>,
}

impl ProcessIdentity {
    pub fn of(pid: i32) -> ProcessIdentity {
        ProcessIdentity {
            pid,
            start_ticks: super::process::start_ticks(pid),
        }
    }

    pub fn is_alive(&self) -> bool {
        super::process::is_alive(self.pid, self.start_ticks)
    }
}

/// The most of a run's own records that is read: they hold a few hundred bytes.
const MAX_RECORD_BYTES: u64 = 1 << 20;

// The records sit in the run's folder, which the script can write: only a regular file is read
// (`run_files`), so that nothing left in their place can hold or fill the coordinator.
pub fn read_status(folder: &Path) -> Option<RunStatus> {
    let text = super::run_files::read_regular(&folder.join(STATUS_FILE), MAX_RECORD_BYTES).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn read_started(folder: &Path) -> Option<RunStarted> {
    let text = super::run_files::read_regular(&folder.join(STARTED_FILE), MAX_RECORD_BYTES).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes a record in place; a run's folder that cannot be written loses only the record.
///
/// Not through a temporary file and a rename: each run writes two records, and on ext4 each new
/// inode costs a scan of recently deleted ones, which was the largest cost per run. A reader
/// that catches a record half written cannot parse it and takes it as not there yet; the
/// executor then waits for the supervisor (see `LocalRun::end`), and a record cut short by a
/// crash counts as no record, as the crash itself would.
///
/// Written over the file's space reserved at the run's start (`reserve_record`) without
/// truncating it first: a truncation would give that space back, and on a disk that filled up
/// meanwhile the record could then not be written, so that a run which ended well was taken for
/// interrupted and run again.
pub fn write_record<T: Serialize>(path: &Path, record: &T) {
    use std::io::Write;
    let text = serde_json::to_string(record).unwrap_or_default();
    let Some(mut file) = open_record(path) else {
        return;
    };
    if file.write_all(text.as_bytes()).is_ok() {
        // Whatever an earlier record left beyond this one goes (same size: nothing to do).
        let _ = file.set_len(text.len() as u64);
    }
}

/// The space a run's record of its end needs, reserved when the run starts: the file is
/// created empty (which reads as no record yet; the records of an earlier start were removed
/// before this one) with 4 KiB allocated past its end, where the file system can (fallocate
/// with KEEP_SIZE; NFSv3, ZFS and some parallel file systems cannot, and nothing is reserved).
pub fn reserve_record(path: &Path) {
    let Some(file) = open_record(path) else {
        return;
    };
    let _ = nix::fcntl::fallocate(
        &file,
        nix::fcntl::FallocateFlags::FALLOC_FL_KEEP_SIZE,
        0,
        RECORD_RESERVE,
    );
}

/// A record's file for writing, made if missing, its content and space kept.
fn open_record(path: &Path) -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .ok()
}

/// Bytes reserved for a run's record of its end (it holds a few hundred).
const RECORD_RESERVE: i64 = 4096;

/// How to watch a run.
pub struct Watch {
    pub folder: PathBuf,
    pub time_limit: Duration,
    pub grace: Duration,
    /// When to send the script SIGUSR1 (time to checkpoint), counted from its start; `None`:
    /// never.
    pub signal_after: Option<Duration>,
    /// The run's process group, signalled on a timeout.
    pub group: i32,
    /// A member of the group whose memory is not the run's (the wrapper, which leads it).
    pub not_counted: Option<i32>,
    /// Where the supervisor's notes go (the run's log.txt); `None`: standard error.
    pub notes: Option<std::fs::File>,
}

impl Watch {
    fn note(&self, text: &str) {
        match &self.notes {
            Some(file) => {
                let mut file = file;
                let _ = writeln!(file, "{text}");
            }
            None => errln!("{text}"),
        }
    }
}

/// The record of a run whose script could not be started.
pub fn record_start_error(folder: &Path, message: &str, started_at: f64) {
    write_record(
        &folder.join(STATUS_FILE),
        &RunStatus {
            exit_code: None,
            signal: None,
            timed_out: false,
            start_error: Some(message.to_string()),
            started_at,
            finished_at: crate::clock::now(),
            peak_memory_mb: None,
            cpu_seconds: None,
        },
    );
}

/// Waits for the script `pid` (a child of this process) to end, enforcing the watch's limits,
/// and writes the record of its end; returns it.
pub fn supervise(pid: i32, watch: Watch, started_at: f64) -> RunStatus {
    supervise_with(pid, watch, started_at, ProcessFd::open(pid))
}

/// `supervise`, with the process's descriptor when there is one (else two threads).
fn supervise_with(
    pid: i32,
    watch: Watch,
    started_at: f64,
    process: Option<ProcessFd>,
) -> RunStatus {
    let watch = Arc::new(watch);
    let written = Arc::new(Mutex::new(false));
    let record = {
        let folder = watch.folder.clone();
        let written = Arc::clone(&written);
        move |status: &RunStatus| {
            let Ok(mut done) = written.lock() else { return };
            if !*done {
                write_record(&folder.join(STATUS_FILE), status);
                *done = true;
            }
        }
    };
    let timed_out = Arc::new(AtomicBool::new(false));
    let (ended, group_peak_kb) = match process {
        // This thread keeps the run's clocks between looks at the process's descriptor, which
        // becomes readable when the process ends; then it reaps the process.
        Some(process) => {
            let ended_within = |wait: Duration| process.ended_within(wait);
            let peak = watch_clocks(pid, &watch, &ended_within, &timed_out, &record, started_at);
            (wait_for(pid), peak)
        }
        // A kernel without pidfd_open (before Linux 5.3): this thread waits for the process,
        // and a second one keeps the clocks until told that it ended.
        None => {
            let (finished_tx, finished_rx) = mpsc::channel::<()>();
            let watcher = {
                let timed_out = Arc::clone(&timed_out);
                let record = record.clone();
                let watch = Arc::clone(&watch);
                std::thread::spawn(move || {
                    let ended_within = |wait: Duration| {
                        finished_rx.recv_timeout(wait) != Err(mpsc::RecvTimeoutError::Timeout)
                    };
                    watch_clocks(pid, &watch, &ended_within, &timed_out, &record, started_at)
                })
            };
            let ended = wait_for(pid);
            let _ = finished_tx.send(());
            (ended, watcher.join().unwrap_or(0))
        }
    };
    let status = match ended {
        Ok(end) => RunStatus {
            exit_code: end.exit_code,
            signal: end.signal,
            timed_out: timed_out.load(Ordering::SeqCst),
            start_error: None,
            started_at,
            finished_at: crate::clock::now(),
            peak_memory_mb: peak_memory_mb(group_peak_kb, end.peak_memory_kb),
            cpu_seconds: Some(end.cpu_seconds),
        },
        Err(e) => RunStatus {
            exit_code: None,
            signal: None,
            timed_out: false,
            start_error: Some(format!("lost the run: {e}")),
            started_at,
            finished_at: crate::clock::now(),
            peak_memory_mb: None,
            cpu_seconds: None,
        },
    };
    record(&status);
    status
}

/// A descriptor of a process (Linux's pidfd) that becomes readable when the process ends: one
/// thread then both waits for a run and keeps its clocks, where it took two.
struct ProcessFd(std::os::fd::OwnedFd, i32);

impl ProcessFd {
    fn open(pid: i32) -> Option<ProcessFd> {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
        // SAFETY: the descriptor was just opened and is owned by nothing else.
        Some(ProcessFd(
            unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) },
            pid,
        ))
    }

    /// Whether the process ends within `wait` (at once when it already has).
    fn ended_within(&self, wait: Duration) -> bool {
        use std::os::fd::AsFd;
        // Rounded up to the millisecond, so that a wait of less than one does not spin.
        let millis = wait.as_micros().div_ceil(1000);
        let timeout =
            nix::poll::PollTimeout::try_from(millis).unwrap_or(nix::poll::PollTimeout::MAX);
        let mut fds = [nix::poll::PollFd::new(
            self.0.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, timeout) {
            Ok(ready) => ready > 0,
            // Interrupted: the caller looks again.
            Err(nix::errno::Errno::EINTR) => false,
            // Not expected; the clocks go on, and the process is asked directly.
            Err(_) => {
                std::thread::sleep(wait.min(Duration::from_millis(50)));
                has_ended(self.1)
            }
        }
    }
}

/// Whether the child `pid` has ended (and waits to be reaped), without reaping it.
fn has_ended(pid: i32) -> bool {
    // SAFETY: an all-zero siginfo_t is a valid value of the plain C struct.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: `info` is a live local of the right type; the pid is id_t (unsigned) by type only.
    let answer = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
    // SAFETY: waitid filled `info` (or left it zeroed, which reads as pid 0).
    answer != 0 || unsafe { info.si_pid() } != 0
}

/// The clocks of a run until `ended_within` says it ended: samples the group's memory (every
/// `SAMPLE_INTERVAL` at first, then less often), sends SIGUSR1 at the checkpoint time, SIGTERM to
/// the group at the time limit and SIGKILL after the grace. Returns the peak memory seen, in kB.
fn watch_clocks(
    pid: i32,
    watch: &Watch,
    ended_within: &dyn Fn(Duration) -> bool,
    timed_out: &AtomicBool,
    record: &dyn Fn(&RunStatus),
    started_at: f64,
) -> u64 {
    let start = Instant::now();
    let page_kb = page_size_kb();
    let (limit, grace) = (watch.time_limit, watch.grace);
    let mut peak = 0;
    // The first sample comes after one interval: a run shorter than that costs no scan of /proc,
    // and wait4's figure covers it.
    let mut interval = SAMPLE_INTERVAL;
    let mut next_sample = start + interval;
    // A time that does not fit an Instant (a limit of years) never comes.
    let mut checkpoint_at = watch
        .signal_after
        .filter(|after| *after < limit)
        .and_then(|after| start.checked_add(after));
    let mut limit_at = start.checked_add(limit);
    let mut kill_at: Option<Instant> = None;
    loop {
        let next = [Some(next_sample), checkpoint_at, limit_at, kill_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_sample);
        let wait = next.saturating_duration_since(Instant::now());
        if ended_within(wait) {
            return peak;
        }
        let now = Instant::now();
        if now >= next_sample {
            peak = peak.max(group_rss_pages(watch.group, watch.not_counted) * page_kb);
            interval = (interval + interval / 4).min(MAX_SAMPLE_INTERVAL);
            next_sample = now + interval;
        }
        if checkpoint_at.is_some_and(|t| now >= t) {
            checkpoint_at = None;
            watch.note(&format!(
                "hpsearch: {:?} before the time limit: sending the script SIGUSR1 (time to checkpoint)",
                limit.saturating_sub(now - start)
            ));
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGUSR1);
        }
        if limit_at.is_some_and(|t| now >= t) {
            limit_at = None;
            timed_out.store(true, Ordering::SeqCst);
            watch.note(&format!(
                "hpsearch: the run passed its time limit of {limit:?}; stopping it (SIGTERM)"
            ));
            signal_group(watch.group, Signal::SIGTERM);
            kill_at = Some(now.checked_add(grace).unwrap_or(now));
        }
        if kill_at.is_some_and(|t| now >= t) {
            kill_at = None;
            watch.note(&format!(
                "hpsearch: the run did not stop within {grace:?} of SIGTERM; killing it (SIGKILL)"
            ));
            // A wrapper leads the group it kills: the record comes first.
            record(&RunStatus {
                exit_code: None,
                signal: Some(Signal::SIGKILL as i32),
                timed_out: true,
                start_error: None,
                started_at,
                finished_at: crate::clock::now(),
                peak_memory_mb: None,
                cpu_seconds: None,
            });
            signal_group(watch.group, Signal::SIGKILL);
        }
    }
}

/// How a child process ended, from wait4.
struct ChildEnd {
    exit_code: Option<i32>,
    signal: Option<i32>,
    /// The child's peak resident memory (and of its waited-for descendants), in kB.
    peak_memory_kb: Option<u64>,
    /// User and system CPU seconds of the child and its waited-for descendants.
    cpu_seconds: f64,
}

/// Waits for the child `pid` and its resource use: wait4, unlike getrusage, tells one child's
/// peak memory from the others' (a runner has many).
fn wait_for(pid: i32) -> std::io::Result<ChildEnd> {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals of the right types.
        let answer = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if answer == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    let (exit_code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    Ok(ChildEnd {
        exit_code,
        signal,
        peak_memory_kb: u64::try_from(usage.ru_maxrss).ok().filter(|kb| *kb > 0),
        cpu_seconds: seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime),
    })
}

fn seconds_of(time: libc::timeval) -> f64 {
    time.tv_sec as f64 + time.tv_usec as f64 / 1e6
}

/// How often the run's process group is sampled for its memory: every 200 ms at first, then
/// less often as the run goes on (up to every 2 s), so that a node running a hundred long runs
/// does not spend a core reading /proc. Memory grows over seconds in long runs; short ones are
/// sampled densely.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(200);
const MAX_SAMPLE_INTERVAL: Duration = Duration::from_secs(2);

fn page_size_kb() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(bytes).map_or(4, |b| (b / 1024).max(1))
}

/// The summed resident pages of every process in group `pgid` except `not_counted`.
fn group_rss_pages(pgid: i32, not_counted: Option<i32>) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| Some(*pid) != not_counted)
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            group_and_rss(&stat)
        })
        .filter(|(group, _)| *group == pgid)
        .map(|(_, rss)| rss)
        .sum()
}

/// The process group and the resident pages of a `/proc/PID/stat` line (fields 5 and 24; the
/// command name in parentheses may hold spaces, so fields are counted after its last `)`).
fn group_and_rss(stat: &str) -> Option<(i32, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let group = fields.get(2)?.parse().ok()?;
    let rss = fields.get(21)?.parse().ok()?;
    Some((group, rss))
}

/// The run's peak memory in MB from the sampled group peak and getrusage's largest process,
/// both in kB; `None` when neither saw anything.
fn peak_memory_mb(group_kb: u64, children_kb: Option<u64>) -> Option<f64> {
    let kilobytes = group_kb.max(children_kb.unwrap_or(0));
    (kilobytes > 0).then(|| kilobytes as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_group_and_rss_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (my (odd) prog) S 1 4200 4200 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    12345 123456789 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0";
        assert_eq!(group_and_rss(stat), Some((4200, 2560)));
        assert_eq!(group_and_rss("garbage"), None);
        assert_eq!(group_and_rss("1 (x) S 1"), None);
    }

    /// A script that ignores SIGTERM, past a time limit of 0.3 s with a grace of 0.3 s.
    // `supervise` reaps the child (wait4), as it does every run's.
    #[allow(clippy::zombie_processes)]
    fn supervise_a_stubborn_script(with_process_fd: bool) -> (RunStatus, Duration) {
        use std::os::unix::process::CommandExt;
        let folder = tempfile::tempdir().expect("a temporary folder");
        let child = std::process::Command::new("sh")
            .args(["-c", "trap '' TERM; sleep 30"])
            .process_group(0)
            .spawn()
            .expect("sh starts");
        let pid = child.id() as i32;
        let watch = Watch {
            folder: folder.path().to_path_buf(),
            time_limit: Duration::from_millis(300),
            grace: Duration::from_millis(300),
            signal_after: None,
            group: pid,
            not_counted: None,
            notes: None,
        };
        let process = if with_process_fd {
            Some(ProcessFd::open(pid).expect("this kernel has pidfd_open (Linux 5.3 or later)"))
        } else {
            None
        };
        let began = Instant::now();
        let status = supervise_with(pid, watch, crate::clock::now(), process);
        let took = began.elapsed();
        // The record on file is the one written just before the SIGKILL (a wrapper that leads
        // the group dies with it), without the resource use that only the reaping tells.
        let record = read_status(folder.path()).expect("the run's record");
        assert!(record.timed_out && record.signal == Some(9), "{record:?}");
        (status, took)
    }

    #[test]
    fn a_run_past_its_limit_is_stopped_and_recorded_with_either_way_of_waiting() {
        for with_process_fd in [true, false] {
            let (status, took) = supervise_a_stubborn_script(with_process_fd);
            assert!(status.timed_out, "{with_process_fd}: {status:?}");
            assert_eq!(
                status.signal,
                Some(9),
                "{with_process_fd}: SIGTERM is ignored"
            );
            assert!(
                took >= Duration::from_millis(600) && took < Duration::from_secs(10),
                "{with_process_fd}: stopped after {took:?}, not at the limit and its grace"
            );
        }
    }

    #[test]
    fn the_process_descriptor_tells_a_running_process_from_an_ended_one() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.3")
            .spawn()
            .expect("sleep starts");
        let process = ProcessFd::open(child.id() as i32).expect("pidfd_open");
        assert!(!process.ended_within(Duration::from_millis(50)));
        assert!(!has_ended(child.id() as i32));
        assert!(process.ended_within(Duration::from_secs(10)));
        assert!(has_ended(child.id() as i32), "ended, not yet reaped");
        assert!(child.wait().expect("reaped").success());
    }

    #[test]
    fn the_peak_is_the_larger_of_the_group_sum_and_the_largest_process() {
        assert_eq!(peak_memory_mb(0, None), None);
        assert_eq!(peak_memory_mb(2048, Some(1024)), Some(2.0));
        assert_eq!(peak_memory_mb(1024, Some(3072)), Some(3.0));
    }

    #[test]
    fn sums_the_members_of_a_process_group_but_not_its_leader() {
        use std::os::unix::process::CommandExt;
        // A shell that leads its own group and starts two sleeping children in it.
        let mut leader = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & sleep 5 & wait"])
            .process_group(0)
            .spawn()
            .expect("sh starts");
        let pgid = leader.id() as i32;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut pages = 0;
        while pages == 0 && std::time::Instant::now() < deadline {
            pages = group_rss_pages(pgid, Some(pgid));
            std::thread::yield_now();
        }
        signal_group(pgid, Signal::SIGKILL);
        let _ = leader.wait();
        assert!(pages > 0, "the sleeping children's memory is counted");
    }
}
