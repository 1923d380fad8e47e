//! Cluster profiles: what `cluster` in job_config.json names.
//!
//! `"local"` is this machine. Any other name is looked up in `hpsearch_clusters.json` in the project
//! folder, then in `$XDG_CONFIG_HOME/hpsearch/clusters.json` (or `~/.config/hpsearch/clusters.json`).
//! A file holds an object of named profiles:
//!
//! ```json
//! { "cms": { "scheduler": "slurm", "cpu_partition": "up-cpu", "gpu_partition": "up-gpu",
//!            "account": "bio", "qos": null, "extra_sbatch_args": ["--exclusive"],
//!            "setup_lines": ["module load python/3.11"], "poll_interval_seconds": 10,
//!            "max_resubmits": 2, "requeue_on_timeout": false, "job_arrays": false } }
//! ```

use super::error::ConfigError;
use super::fields::{describe, read_object, Fields};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

pub const PROJECT_FILE: &str = "hpsearch_clusters.json";

#[derive(Debug, Clone, PartialEq)]
pub struct SlurmProfile {
    pub name: String,
    pub cpu_partition: Option<String>,
    pub gpu_partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    pub extra_sbatch_args: Vec<String>,
    /// Shell lines put in every job script before the run (module loads, exports).
    pub setup_lines: Vec<String>,
    pub poll_interval_seconds: f64,
    /// How often a preempted or node-failed run is submitted again.
    pub max_resubmits: u64,
    /// A run that reached its time limit after saving a checkpoint (a file or folder named
    /// `checkpoint...` in its folder, written during the run) is submitted again to continue,
    /// up to `max_resubmits` times.
    pub requeue_on_timeout: bool,
    /// Runs that do not depend on each other's results (grid, line, random and Sobol searches,
    /// replicates) go out as Slurm job arrays, one combination per task, at most
    /// `max_active_points` running at once (`sbatch --array=...%N`): one sbatch for up to
    /// 1000 runs, for many short runs and clusters that limit submissions.
    pub job_arrays: bool,
    /// Where the profile was defined, for messages.
    pub file: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cluster {
    Local,
    Slurm(Box<SlurmProfile>),
}

/// The profile files that apply to a project, nearest first.
pub fn profile_files(project: &Path) -> Vec<PathBuf> {
    let mut files = vec![project.join(PROJECT_FILE)];
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(home) = config_home {
        files.push(home.join("hpsearch").join("clusters.json"));
    }
    files
}

/// Resolves `cluster` from job_config.json (`job_file`, field `cluster`).
pub fn resolve(job_file: &Path, name: &str, project: &Path) -> Result<Cluster, ConfigError> {
    if name.eq_ignore_ascii_case("local") {
        return Ok(Cluster::Local);
    }
    let mut known: Vec<String> = vec!["local".into()];
    for file in profile_files(project) {
        if !file.is_file() {
            continue;
        }
        let profiles = read_object(&file)?;
        // Names are matched as `local` is: `CMS` finds the profile `cms`, unless two differ
        // only by case.
        let matching: Vec<&String> = profiles
            .keys()
            .filter(|k| k.eq_ignore_ascii_case(name))
            .collect();
        let found = profiles.get(name).or(match matching.as_slice() {
            [only] => profiles.get(only.as_str()),
            _ => None,
        });
        if let Some(value) = found {
            return match value {
                Value::Object(map) => {
                    parse_profile(&file, name, map).map(|p| Cluster::Slurm(Box::new(p)))
                }
                other => Err(ConfigError::field(
                    &file,
                    name,
                    describe(other),
                    "a cluster profile is an object of settings",
                )),
            };
        }
        known.extend(profiles.keys().cloned());
    }
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    let hint = super::fields::closest(name, &names)
        .map(|near| format!("did you mean \"{near}\"? "))
        .unwrap_or_default();
    Err(ConfigError::field(
        job_file,
        "cluster",
        format!("\"{name}\", which no cluster profile defines"),
        format!(
            "{hint}known clusters: {}; define \"{name}\" in {} or {}",
            known.join(", "),
            project.join(PROJECT_FILE).display(),
            profile_files(project)
                .get(1)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "~/.config/hpsearch/clusters.json".into())
        ),
    ))
}

fn optional_string(f: &mut Fields, name: &str) -> Result<Option<String>, ConfigError> {
    match f.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
        Some(other) => Err(f.error(name, describe(other), "allowed: a non-empty string or null")),
    }
}

fn string_list(f: &mut Fields, name: &str) -> Result<Vec<String>, ConfigError> {
    match f.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(f.error(
                    name,
                    format!("{} in the list", describe(other)),
                    "allowed: a list of strings",
                )),
            })
            .collect(),
        Some(other) => Err(f.error(name, describe(other), "allowed: a list of strings")),
    }
}

fn parse_profile(
    file: &Path,
    name: &str,
    map: &Map<String, Value>,
) -> Result<SlurmProfile, ConfigError> {
    let mut f = Fields::new(file, name, map);
    f.choice("scheduler", &["slurm"])?;
    let profile = SlurmProfile {
        name: name.to_string(),
        cpu_partition: optional_string(&mut f, "cpu_partition")?,
        gpu_partition: optional_string(&mut f, "gpu_partition")?,
        account: optional_string(&mut f, "account")?,
        qos: optional_string(&mut f, "qos")?,
        extra_sbatch_args: string_list(&mut f, "extra_sbatch_args")?,
        setup_lines: string_list(&mut f, "setup_lines")?,
        poll_interval_seconds: f.number(
            "poll_interval_seconds",
            10.0,
            "allowed: seconds between polls, a number from 0.1 to 3600",
            |x| (0.1..=3600.0).contains(&x),
        )?,
        max_resubmits: f.integer(
            "max_resubmits",
            2,
            0..=100,
            "allowed: a whole number from 0 to 100",
        )?,
        requeue_on_timeout: f.boolean("requeue_on_timeout", false)?,
        job_arrays: f.boolean("job_arrays", false)?,
        file: file.to_path_buf(),
    };
    if let Some(bad) = profile
        .extra_sbatch_args
        .iter()
        .find(|a| !a.starts_with('-'))
    {
        return Err(f.error("extra_sbatch_args", format!("\"{bad}\""), "each entry is one sbatch option starting with '-', e.g. \"--exclusive\" or \"--constraint=v100\""));
    }
    f.finish()?;
    Ok(profile)
}
