//! `job_config.json`: what one run of the user's analysis needs (program, script, resources).

use super::cluster::Cluster;
use super::error::ConfigError;
use super::fields::{describe, Fields};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// One second, in hours: the shortest `time` or `search_time` that can mean anything.
pub const MIN_HOURS: f64 = 1.0 / 3600.0;
/// A year, in hours: the longest `time` one run may ask for.
pub const MAX_RUN_HOURS: f64 = 8760.0;
/// A petabyte, in GB: more memory than any node has, yet far from overflowing a request.
pub const MAX_MEMORY_GB: u64 = 1_048_576;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessorType {
    Cpu,
    Gpu,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobConfig {
    /// The program that runs the script (`python3`, `Rscript`, a path), resolved to a file.
    pub environment_path: PathBuf,
    /// The user's analysis script, resolved against the config's folder.
    pub script_path: PathBuf,
    /// `local`, or the name of a cluster profile.
    pub cluster_name: String,
    pub cluster: Cluster,
    /// Hours one run may take before it is stopped.
    pub time_hours: f64,
    pub memory_gb: u64,
    pub processor_type: ProcessorType,
    pub num_processors: u64,
    /// GPUs per run when `processor_type` is GPU.
    pub gpus: u64,
    /// Seconds between SIGTERM and SIGKILL when a run is stopped.
    pub kill_grace_seconds: f64,
    /// Seconds before `time` at which the script gets SIGUSR1, to save a checkpoint; 0: never.
    pub checkpoint_signal_seconds: f64,
    /// For scripts that print their progress and cannot be changed: a pattern matched against
    /// each line of a run's output (log.txt), whose named groups `step` and `objective` give an
    /// intermediate result, as a line of progress.jsonl would.
    pub progress_pattern: Option<ProgressPattern>,
}

/// `progress_pattern`, compiled once; compared by its text.
#[derive(Debug, Clone)]
pub struct ProgressPattern(pub regex::Regex);

impl PartialEq for ProgressPattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl JobConfig {
    pub const DEFAULT_KILL_GRACE_SECONDS: f64 = 10.0;

    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let map = super::fields::read_object(file)?;
        Self::from_map(file, &map)
    }

    /// The run's time limit. The config's range keeps it far inside what a `Duration` holds;
    /// a value from elsewhere (an old store) saturates instead of panicking.
    pub fn time_limit(&self) -> std::time::Duration {
        crate::clock::duration_from_secs(self.time_hours * 3600.0)
    }

    /// Seconds between SIGTERM and SIGKILL, as a `Duration`.
    pub fn kill_grace(&self) -> std::time::Duration {
        crate::clock::duration_from_secs(self.kill_grace_seconds)
    }

    pub fn from_map(file: &Path, map: &Map<String, Value>) -> Result<Self, ConfigError> {
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut f = Fields::new(file, "", map);
        let environment = non_empty_string(
            &mut f,
            "environment_path",
            "a program such as \"python3\", \"Rscript\" or a path to one",
        )?;
        let environment_path = resolve_program(&f, &base, environment)?;
        let script = non_empty_string(
            &mut f,
            "script_path",
            "the path of your analysis script (relative to this file's folder or absolute)",
        )?;
        let script_path = absolutize(&base, Path::new(script));
        if !script_path.is_file() {
            return Err(f.error(
                "script_path",
                format!("\"{script}\", but {} is not a file", script_path.display()),
                "allowed: an existing script, relative to this file's folder or absolute",
            ));
        }
        let cluster_name = f.string("cluster")?.unwrap_or("local").trim().to_string();
        let cluster = super::cluster::resolve(file, &cluster_name, &base)?;
        let time_hours = f.number(
            "time",
            2.0,
            "allowed: hours for one run, from 0.0003 (one second) to 8760 (a year)",
            |x| (MIN_HOURS..=MAX_RUN_HOURS).contains(&x),
        )?;
        let memory_gb = f.integer(
            "memory",
            4,
            1..=MAX_MEMORY_GB,
            "allowed: a whole number of GB from 1 to 1048576",
        )?;
        let processor_type = match f.choice("processor_type", &["CPU", "GPU"])? {
            Some(1) => ProcessorType::Gpu,
            _ => ProcessorType::Cpu,
        };
        let num_processors = f.integer(
            "num_processors",
            1,
            1..=100_000,
            "allowed: a whole number from 1 to 100000",
        )?;
        let gpus = f.integer(
            "gpus",
            1,
            1..=1024,
            "allowed: GPUs per run when processor_type is GPU, a whole number from 1 to 1024",
        )?;
        let kill_grace_seconds = f.number(
            "kill_grace_seconds",
            Self::DEFAULT_KILL_GRACE_SECONDS,
            "allowed: seconds between SIGTERM and SIGKILL, a number from 0 to 3600",
            |x| (0.0..=3600.0).contains(&x),
        )?;
        let checkpoint_signal_seconds = f.number(
            "checkpoint_signal_seconds",
            0.0,
            "allowed: seconds before `time` at which the script gets SIGUSR1 to save a checkpoint, from 0 (never) to 86400",
            |x| (0.0..=86_400.0).contains(&x),
        )?;
        if checkpoint_signal_seconds >= time_hours * 3600.0 {
            return Err(f.error(
                "checkpoint_signal_seconds",
                format!(
                    "{checkpoint_signal_seconds}, not less than `time` ({})",
                    crate::clock::hours_text(time_hours)
                ),
                "the signal must come before the time limit: lower it, or raise `time`",
            ));
        }
        let progress_pattern = match f.string("progress_pattern")? {
            None => None,
            Some(text) => Some(progress_pattern(&f, text)?),
        };
        f.finish()?;
        Ok(JobConfig {
            environment_path,
            script_path,
            cluster_name,
            cluster,
            time_hours,
            memory_gb,
            processor_type,
            num_processors,
            gpus,
            kill_grace_seconds,
            checkpoint_signal_seconds,
            progress_pattern,
        })
    }
}

const PATTERN_ALLOWED: &str = "allowed: a regular expression with the named groups `step` and `objective`, e.g. \"epoch (?P<step>\\\\d+) .* val_loss=(?P<objective>[-+.eE0-9]+)\"";

fn progress_pattern(f: &Fields, text: &str) -> Result<ProgressPattern, ConfigError> {
    let pattern = regex::RegexBuilder::new(text)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let first_line = e
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string();
            f.error(
                "progress_pattern",
                format!(
                    "{} (not a regular expression: {first_line})",
                    describe(&Value::String(text.into()))
                ),
                PATTERN_ALLOWED,
            )
        })?;
    for group in ["step", "objective"] {
        if !pattern.capture_names().flatten().any(|name| name == group) {
            return Err(f.error(
                "progress_pattern",
                format!(
                    "{} (no group named `{group}`)",
                    describe(&Value::String(text.into()))
                ),
                PATTERN_ALLOWED,
            ));
        }
    }
    Ok(ProgressPattern(pattern))
}

fn non_empty_string<'a>(
    f: &mut Fields<'a>,
    name: &str,
    what: &str,
) -> Result<&'a str, ConfigError> {
    let value = f.require(name, &format!("required: {what}"))?;
    match value {
        Value::String(s) if !s.trim().is_empty() => Ok(s.as_str()),
        other => Err(f.error(name, describe(other), format!("allowed: {what}"))),
    }
}

pub fn absolutize(base: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    std::path::absolute(&joined).unwrap_or(joined)
}

/// A bare name is looked up on PATH, as a shell would; anything with a slash is a path.
fn resolve_program(f: &Fields, base: &Path, program: &str) -> Result<PathBuf, ConfigError> {
    if program.contains('/') {
        let path = absolutize(base, Path::new(program));
        if is_executable(&path) {
            return Ok(path);
        }
        let found = if path.is_file() {
            format!(
                "\"{program}\", but {} is not executable (chmod +x it)",
                path.display()
            )
        } else if path.exists() {
            format!("\"{program}\", but {} is not a file", path.display())
        } else {
            format!("\"{program}\", but {} does not exist", path.display())
        };
        return Err(f.error(
            "environment_path",
            found,
            "allowed: a program on PATH (e.g. \"python3\") or a path to an executable",
        ));
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    let mut not_executable = None;
    for dir in std::env::split_paths(&search) {
        let candidate = dir.join(program);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
        if not_executable.is_none() && candidate.is_file() {
            not_executable = Some(candidate);
        }
    }
    if let Some(found) = not_executable {
        return Err(f.error(
            "environment_path",
            format!(
                "\"{program}\", found on PATH as {} but not executable",
                found.display()
            ),
            format!(
                "allowed: an executable program; make it executable (chmod +x {}) or give the path of another",
                found.display()
            ),
        ));
    }
    Err(f.error(
        "environment_path",
        format!("\"{program}\", which is not on PATH"),
        "allowed: a program on PATH (e.g. \"python3\") or a path to an executable; install it or give its full path",
    ))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
