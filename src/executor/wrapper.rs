//! `hpsearch _wrap`: the parent of one run in a Slurm job.
//!
//! It runs the user's script in its own process group (which it leads) and watches it
//! (`supervise`): the time limit, the checkpoint signal, the memory, the record of the end in the
//! run's folder. Local runs are watched by the coordinator's runner instead (`runner`): one
//! process for all, rather than one more process per run.

use super::supervise::{
    record_start_error, reserve_record, supervise, write_record, ProcessIdentity, RunStarted,
    Watch, STARTED_FILE, STATUS_FILE,
};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

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
    let own = ProcessIdentity::of(std::process::id() as i32);
    write_record(
        &args.folder.join(STARTED_FILE),
        &RunStarted {
            pid: own.pid,
            pid_start: own.start_ticks,
            started_at,
            supervisor: None,
        },
    );
    reserve_record(&args.folder.join(STATUS_FILE));
    let child = match Command::new(&args.program).args(&args.arguments).spawn() {
        Ok(child) => child,
        Err(e) => {
            let message = format!("cannot start {}: {e}", args.program.display());
            errln!("hpsearch: {message}");
            record_start_error(&args.folder, &message, started_at);
            return 127;
        }
    };
    let status = supervise(
        child.id() as i32,
        Watch {
            folder: args.folder,
            time_limit: args.time_limit,
            grace: args.grace,
            signal_after: args.signal_after,
            group: own.pid,
            not_counted: Some(own.pid),
            notes: None,
        },
        started_at,
    );
    status.exit_code.unwrap_or(128 + status.signal.unwrap_or(0))
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
}
