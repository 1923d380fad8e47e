//! What hpsearch hands Slurm: job scripts (every path quoted, the profile's setup lines, then
//! `exec` of the command), the placement options of a profile, Slurm's `--time`, job-name tags,
//! and the coordinator's own job for `launch`.

use super::client::run;
use crate::config::cluster::SlurmProfile;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Quotes a value for a POSIX shell: single quotes, with each `'` written as `'\''`.
/// Quotes a value for a POSIX shell: as is when it holds only characters no shell treats
/// specially, else in single quotes with each `'` written as `'\''`.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Where a job goes: partition, account, qos from the profile.
pub(super) fn placement_args(profile: &SlurmProfile, partition: &Option<String>) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(p) = partition {
        args.push(format!("--partition={p}"));
    }
    if let Some(a) = &profile.account {
        args.push(format!("--account={a}"));
    }
    if let Some(q) = &profile.qos {
        args.push(format!("--qos={q}"));
    }
    args
}

/// A job script: the profile's setup lines, then `exec` of the command (every word quoted).
pub(super) fn job_script(
    profile: &SlurmProfile,
    what: &str,
    folder: &Path,
    command: &[String],
) -> String {
    let mut script = format!("#!/bin/sh\n# Written by hpsearch: {what}.\n");
    for line in &profile.setup_lines {
        script.push_str(line);
        script.push('\n');
    }
    script.push_str(&format!(
        "cd {} || exit 1\n",
        shell_quote(&folder.display().to_string())
    ));
    let words: Vec<String> = command.iter().map(|w| shell_quote(w)).collect();
    script.push_str(&format!("exec {}\n", words.join(" ")));
    script
}

/// A submitted coordinator job: its id and the sbatch command as a user could type it.
pub struct CoordinatorJob {
    pub job_id: String,
    pub sbatch_command: String,
}

/// Submits `hpsearch _coordinate SEARCH_DIR` as a Slurm job (the seed's launcher did the same):
/// `minutes` of time, `memory_gb`, one CPU, on the profile's CPU partition, its log appended to
/// the search's log.txt.
pub fn submit_coordinator(
    profile: &SlurmProfile,
    hpsearch: &Path,
    search_dir: &Path,
    search_id: u64,
    minutes: u64,
    memory_gb: u64,
    resumed: bool,
) -> Result<CoordinatorJob, String> {
    let script = search_dir.join("coordinator_job.sh");
    let text = job_script(
        profile,
        &format!("the coordinator of search {search_id}"),
        search_dir,
        &[
            hpsearch.display().to_string(),
            "_coordinate".into(),
            search_dir.display().to_string(),
        ]
        .into_iter()
        .chain(resumed.then(|| "--resumed".to_string()))
        .collect::<Vec<_>>(),
    );
    std::fs::write(&script, text).map_err(|e| format!("cannot write {}: {e}", script.display()))?;
    let log = search_dir.join("log.txt").display().to_string();
    let mut args = vec![
        "--parsable".to_string(),
        format!("--job-name=hps{search_id}coord_{}", folder_tag(search_dir)),
        format!("--chdir={}", search_dir.display()),
        format!("--output={log}"),
        format!("--error={log}"),
        "--open-mode=append".to_string(),
        format!("--time={minutes}"),
        format!("--mem={memory_gb}G"),
        "--cpus-per-task=1".to_string(),
        "--ntasks=1".to_string(),
    ];
    args.extend(placement_args(profile, &profile.cpu_partition));
    args.push(script.display().to_string());
    let sbatch_command = std::iter::once("sbatch".to_string())
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    let out = run(Command::new("sbatch").args(&args))
        .map_err(|e| format!("sbatch refused the coordinator job: {e}"))?;
    let job_id = out.trim().split(';').next().unwrap_or_default().to_string();
    Ok(CoordinatorJob {
        job_id,
        sbatch_command,
    })
}

/// Slurm's `--time` in minutes: whole minutes, rounded up, plus one so that the wrapper (which
/// enforces the exact limit and the grace period) acts before Slurm does.
pub fn slurm_minutes(limit: Duration, grace: Duration) -> u64 {
    (limit.saturating_add(grace).as_secs_f64() / 60.0).ceil() as u64 + 1
}

/// Eight hex digits that differ between search folders (FNV-1a of the path).
pub fn folder_tag(dir: &Path) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in dir.display().to_string().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{hash:08x}")
}
