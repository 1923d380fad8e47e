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
    /// The peak resident memory of the run, in MB: the larger of the highest sum of the resident
    /// memory of every process of the run's group (sampled from /proc) and the largest single
    /// process's peak (getrusage).
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

#[derive(Debug, PartialEq)]
pub struct WrapArgs {
    pub folder: PathBuf,
    pub time_limit: Duration,
    pub grace: Duration,
    /// When to send the script SIGUSR1 (time to checkpoint), counted from its start; `None`:
    /// never.
    pub signal_after: Option<Duration>,
    pub program: PathBuf,
    pub arguments: Vec<String>,
}

impl WrapArgs {
    /// Parses the words after `_wrap` (as `RunSpec::wrap_args` writes them, then `--` and the
    /// command). The wrapper starts once per run, so it is parsed here by hand rather than by
    /// building the whole command line's parser: that alone took a third of the wrapper's start.
    pub fn parse(words: &[std::ffi::OsString]) -> Result<WrapArgs, String> {
        let mut folder = None;
        let (mut time_limit, mut grace, mut signal_after) = (None, None, None);
        let mut rest = words.iter();
        loop {
            let Some(word) = rest.next() else {
                return Err("no command given after `--`".into());
            };
            let word = word.to_str().unwrap_or("");
            if word == "--" {
                break;
            }
            let mut value = || rest.next().ok_or_else(|| format!("{word} needs a value"));
            let seconds = |text: &std::ffi::OsString| {
                text.to_str()
                    .and_then(|t| t.parse::<f64>().ok())
                    .map(crate::clock::duration_from_secs)
                    .ok_or_else(|| {
                        format!(
                            "{word}: `{}` is not a number of seconds",
                            text.to_string_lossy()
                        )
                    })
            };
            match word {
                "--folder" => folder = Some(PathBuf::from(value()?)),
                "--time-limit" => time_limit = Some(seconds(value()?)?),
                "--grace" => grace = Some(seconds(value()?)?),
                "--signal-after" => signal_after = Some(seconds(value()?)?),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        let mut command = rest;
        let program = command
            .next()
            .ok_or_else(|| "no command given after `--`".to_string())?;
        let arguments = command
            .map(|a| {
                a.to_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("argument `{}` is not UTF-8", a.to_string_lossy()))
            })
            .collect::<Result<_, _>>()?;
        Ok(WrapArgs {
            folder: folder.ok_or("--folder is required")?,
            time_limit: time_limit.ok_or("--time-limit is required")?,
            grace: grace.ok_or("--grace is required")?,
            signal_after,
            program: PathBuf::from(program),
            arguments,
        })
    }
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

    let (sampler_stop, sampler) = start_group_sampler(own_pid);
    let timed_out = Arc::new(AtomicBool::new(false));
    let (finished_tx, finished_rx) = mpsc::channel::<()>();
    let script_pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let timer = {
        let timed_out = Arc::clone(&timed_out);
        let record = record.clone();
        let (limit, grace, signal_after) = (args.time_limit, args.grace, args.signal_after);
        std::thread::spawn(move || {
            let mut waited = Duration::ZERO;
            if let Some(after) = signal_after.filter(|a| *a < limit) {
                if finished_rx.recv_timeout(after) != Err(mpsc::RecvTimeoutError::Timeout) {
                    return;
                }
                eprintln!(
                    "hpsearch: {:?} before the time limit: sending the script SIGUSR1 (time to checkpoint)",
                    limit.saturating_sub(after)
                );
                let _ = nix::sys::signal::kill(script_pid, Signal::SIGUSR1);
                waited = after;
            }
            if finished_rx.recv_timeout(limit.saturating_sub(waited))
                != Err(mpsc::RecvTimeoutError::Timeout)
            {
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
    let _ = sampler_stop.send(());
    let _ = timer.join();
    let group_peak_kb = sampler.join().unwrap_or(0);
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
        peak_memory_mb: peak_memory_mb(group_peak_kb, children_peak_memory_kb()),
    });
    exit_code.unwrap_or(128 + signal.unwrap_or(0))
}

/// How often the run's process group is sampled for its memory: every 200 ms at first, then
/// less often as the run goes on (up to every 2 s), so that a node running a hundred long runs
/// does not spend a core reading /proc. Memory grows over seconds in long runs; short ones are
/// sampled densely.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(200);
const MAX_SAMPLE_INTERVAL: Duration = Duration::from_secs(2);

/// Samples the resident memory of the run's process group (every process whose group is
/// `pgid`, the wrapper itself excluded) every `SAMPLE_INTERVAL` until told to stop; the thread
/// returns the largest sum seen, in kB. getrusage alone knows only the largest single process,
/// which undercounts a script that runs several workers at once.
fn start_group_sampler(pgid: i32) -> (mpsc::Sender<()>, std::thread::JoinHandle<u64>) {
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        let page_kb = page_size_kb();
        let mut peak = 0;
        // The first sample comes after one interval: a run shorter than that costs no scan of
        // /proc, and getrusage's figure covers it.
        let mut interval = SAMPLE_INTERVAL;
        while stop_rx.recv_timeout(interval) == Err(mpsc::RecvTimeoutError::Timeout) {
            peak = peak.max(group_rss_pages(pgid) * page_kb);
            interval = (interval + interval / 4).min(MAX_SAMPLE_INTERVAL);
        }
        peak
    });
    (stop_tx, handle)
}

fn page_size_kb() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(bytes).map_or(4, |b| (b / 1024).max(1))
}

/// The summed resident pages of every process in group `pgid` except the process `pgid` itself.
fn group_rss_pages(pgid: i32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != pgid)
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

/// Peak resident memory of the largest waited-for child process, in kB (Linux reports
/// `ru_maxrss` in kilobytes).
fn children_peak_memory_kb() -> Option<u64> {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).ok()?;
    u64::try_from(usage.max_rss()).ok().filter(|kb| *kb > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<std::ffi::OsString> {
        text.split(' ').map(Into::into).collect()
    }

    #[test]
    fn parses_the_arguments_a_run_spec_writes() {
        let spec = super::super::RunSpec {
            combination_id: 1,
            folder: "/runs/hp_1".into(),
            program: "python3".into(),
            script: "s.py".into(),
            input: "input.json".into(),
            time_limit: Duration::from_secs(60),
            kill_grace: Duration::from_millis(2500),
            checkpoint_signal: Duration::from_secs(10),
        };
        let mut written: Vec<std::ffi::OsString> = spec
            .wrap_args(Duration::from_secs(60))
            .into_iter()
            .skip(1)
            .map(Into::into)
            .collect();
        written.extend(words("-- python3 s.py --flag input.json"));
        let parsed = WrapArgs::parse(&written).expect("parses");
        assert_eq!(parsed.folder, PathBuf::from("/runs/hp_1"));
        assert_eq!(parsed.time_limit, Duration::from_secs(60));
        assert_eq!(parsed.grace, Duration::from_millis(2500));
        assert_eq!(parsed.signal_after, Some(Duration::from_secs(50)));
        assert_eq!(parsed.program, PathBuf::from("python3"));
        assert_eq!(parsed.arguments, ["s.py", "--flag", "input.json"]);
    }

    #[test]
    fn wrong_wrapper_arguments_are_one_line_errors() {
        let error = |text: &str| WrapArgs::parse(&words(text)).expect_err(text);
        assert!(error("--folder x --time-limit 1 --grace 1").contains("no command"));
        assert!(error("--folder x --time-limit 1 --grace 1 --").contains("no command"));
        assert!(error("--folder x --grace 1 -- true").contains("--time-limit is required"));
        assert!(error("--folder x --time-limit abc --grace 1 -- true").contains("`abc`"));
        assert!(error("--folder x --time-limit 1 --grace 1 --bogus -- true").contains("--bogus"));
        assert!(error("--folder").contains("--folder needs a value"));
    }

    #[test]
    fn reads_group_and_rss_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (my (odd) prog) S 1 4200 4200 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    12345 123456789 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0";
        assert_eq!(group_and_rss(stat), Some((4200, 2560)));
        assert_eq!(group_and_rss("garbage"), None);
        assert_eq!(group_and_rss("1 (x) S 1"), None);
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
            pages = group_rss_pages(pgid);
            std::thread::yield_now();
        }
        signal_group(pgid, Signal::SIGKILL);
        let _ = leader.wait();
        assert!(pages > 0, "the sleeping children's memory is counted");
    }
}
