//! The Slurm executor: one sbatch job per run, tracked with one squeue call per poll.
//!
//! Each job runs a generated script in the combination's folder that executes `hpsearch _wrap`
//! (see `wrapper`), so the run's exit status lands in the folder even when Slurm's accounting
//! is off. When a job leaves the queue, that record decides; `sacct` (one call for all jobs that
//! left) refines it with Slurm's own verdict (TIMEOUT, OUT_OF_MEMORY, CANCELLED, NODE_FAIL,
//! PREEMPTED). Preempted and node-failed runs are submitted again, up to the profile's
//! `max_resubmits`.

use super::contract::{
    Adoption, Ended, Executor, ExecutorError, Known, RunEnd, RunSpec, SchedulerRecord, Submitted,
};
use super::local::end_from_status;
use super::wrapper::{read_status, STARTED_FILE, STATUS_FILE};
use crate::config::cluster::SlurmProfile;
use crate::config::job::{JobConfig, ProcessorType};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Counts of Slurm client calls, for the log and for measuring load on slurmctld.
#[derive(Debug, Default, Clone, Copy)]
pub struct CallCounts {
    pub sbatch: u64,
    pub squeue: u64,
    pub sacct: u64,
    pub scancel: u64,
}

struct SlurmJob {
    spec: RunSpec,
    job_id: String,
    resubmits: u64,
    /// hpsearch asked for this job to stop (a cancel is then ours, not someone else's).
    stopping: bool,
    /// Polls that found the job gone from the queue but not yet final in accounting.
    accounting_retries: u32,
}

const MAX_ACCOUNTING_RETRIES: u32 = 5;

pub struct SlurmExecutor {
    profile: SlurmProfile,
    wrapper: PathBuf,
    search_id: u64,
    tag: String,
    memory_gb: u64,
    cpus: u64,
    gpus: Option<u64>,
    jobs: BTreeMap<u64, SlurmJob>,
    last_poll: Option<Instant>,
    /// Run time of jobs as squeue or sacct last reported it, by job id.
    elapsed: BTreeMap<String, f64>,
    pub calls: CallCounts,
}

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
fn placement_args(profile: &SlurmProfile, partition: &Option<String>) -> Vec<String> {
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
fn job_script(profile: &SlurmProfile, what: &str, folder: &Path, command: &[String]) -> String {
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
        ],
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

fn run(command: &mut Command) -> Result<String, String> {
    match command.output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!(
            "{} ({})",
            String::from_utf8_lossy(&out.stderr).trim(),
            out.status
        )),
        Err(e) => Err(e.to_string()),
    }
}

impl SlurmExecutor {
    pub fn new(
        profile: SlurmProfile,
        job: &JobConfig,
        wrapper: PathBuf,
        search_id: u64,
        search_dir: &Path,
    ) -> Self {
        SlurmExecutor {
            profile,
            wrapper,
            search_id,
            tag: folder_tag(search_dir),
            memory_gb: job.memory_gb,
            cpus: job.num_processors,
            gpus: (job.processor_type == ProcessorType::Gpu).then_some(job.gpus),
            jobs: BTreeMap::new(),
            last_poll: None,
            elapsed: BTreeMap::new(),
            calls: CallCounts::default(),
        }
    }

    /// `hps{search}c{combination}_{tag}`: the tag (from the search folder's path) keeps the
    /// names of searches in different projects apart.
    pub fn job_name(&self, combination_id: u64) -> String {
        format!("hps{}c{combination_id}_{}", self.search_id, self.tag)
    }

    /// The job script: the profile's setup lines, then the wrapper. Every path is quoted;
    /// hyperparameter values are not in it at all (they travel in input.json).
    pub fn job_script(&self, spec: &RunSpec) -> String {
        let command = [
            self.wrapper.display().to_string(),
            "_wrap".into(),
            "--folder".into(),
            spec.folder.display().to_string(),
            "--time-limit".into(),
            spec.time_limit.as_secs_f64().to_string(),
            "--grace".into(),
            spec.kill_grace.as_secs_f64().to_string(),
            "--".into(),
            spec.program.display().to_string(),
            spec.script.display().to_string(),
            spec.input.display().to_string(),
        ];
        job_script(
            &self.profile,
            "one run of the analysis script",
            &spec.folder,
            &command,
        )
    }

    /// The sbatch arguments for a run (an argument list: no shell sees them).
    pub fn sbatch_args(&self, spec: &RunSpec, script: &Path) -> Vec<String> {
        let log = spec.folder.join("log.txt").display().to_string();
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name={}", self.job_name(spec.combination_id)),
            format!("--chdir={}", spec.folder.display()),
            format!("--output={log}"),
            format!("--error={log}"),
            "--open-mode=append".to_string(),
            format!("--time={}", slurm_minutes(spec.time_limit, spec.kill_grace)),
            format!("--mem={}G", self.memory_gb),
            format!("--cpus-per-task={}", self.cpus),
            "--ntasks=1".to_string(),
        ];
        let partition = if self.gpus.is_some() {
            &self.profile.gpu_partition
        } else {
            &self.profile.cpu_partition
        };
        args.extend(placement_args(&self.profile, partition));
        if let Some(gpus) = self.gpus {
            args.push(format!("--gres=gpu:{gpus}"));
        }
        args.extend(self.profile.extra_sbatch_args.iter().cloned());
        args.push(script.display().to_string());
        args
    }

    fn sbatch(&mut self, spec: &RunSpec) -> Result<String, ExecutorError> {
        let script_path = spec.folder.join("job.sh");
        std::fs::write(&script_path, self.job_script(spec)).map_err(|e| ExecutorError::Start {
            id: spec.combination_id,
            message: format!("cannot write {}: {e}", script_path.display()),
        })?;
        for stale in [STATUS_FILE, STARTED_FILE] {
            let _ = std::fs::remove_file(spec.folder.join(stale));
        }
        let args = self.sbatch_args(spec, &script_path);
        let mut last_error = String::new();
        // A busy slurmctld answers again after a moment; a few quick tries, then the
        // coordinator's own backoff takes over.
        for delay in [0u64, 1, 2] {
            std::thread::sleep(Duration::from_secs(delay));
            self.calls.sbatch += 1;
            match run(Command::new("sbatch").args(&args)) {
                Ok(out) => {
                    let id = out.trim().split(';').next().unwrap_or_default().to_string();
                    if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
                        return Ok(id);
                    }
                    last_error = format!("sbatch answered {out:?}, not a job id");
                }
                Err(e) => last_error = format!("sbatch failed: {e}"),
            }
        }
        Err(ExecutorError::Unavailable {
            message: last_error,
        })
    }

    /// States of the given jobs in one squeue call; jobs it does not list have left the queue.
    fn queue_states(&mut self, ids: &[String]) -> Option<BTreeMap<String, String>> {
        if ids.is_empty() {
            return Some(BTreeMap::new());
        }
        self.calls.squeue += 1;
        let out = Command::new("squeue")
            .args([
                "--noheader",
                "--format=%i|%T|%M",
                "--states=all",
                &format!("--jobs={}", ids.join(",")),
            ])
            .output()
            .ok()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && !stderr.contains("Invalid job id") {
            return None; // slurmctld unreachable: try at the next poll
        }
        Some(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| {
                    let mut cells = l.trim().split('|');
                    let (id, state) = (cells.next()?, cells.next()?);
                    if let Some(seconds) = cells.next().and_then(parse_slurm_duration) {
                        self.elapsed.insert(id.to_string(), seconds);
                    }
                    Some((id.to_string(), state.to_string()))
                })
                .collect(),
        )
    }

    /// Slurm's final states of jobs, from accounting (empty when accounting is off).
    fn accounting_states(&mut self, ids: &[String]) -> BTreeMap<String, (String, String)> {
        if ids.is_empty() {
            return BTreeMap::new();
        }
        self.calls.sacct += 1;
        let Ok(out) = run(Command::new("sacct").args([
            "--noheader",
            "--parsable2",
            "--allocations",
            "--format=JobID,State,ExitCode,Elapsed",
            &format!("--jobs={}", ids.join(",")),
        ])) else {
            return BTreeMap::new();
        };
        out.lines()
            .filter_map(|l| {
                let mut parts = l.split('|');
                let id = parts.next()?.to_string();
                let state = parts.next()?.split_whitespace().next()?.to_string();
                let exit = parts.next().unwrap_or("").to_string();
                if let Some(seconds) = parts.next().and_then(parse_slurm_duration) {
                    self.elapsed.insert(id.clone(), seconds);
                }
                Some((id, (state, exit)))
            })
            .collect()
    }

    /// Decides how a job that left the queue (or reached a final state) ended.
    fn verdict(&self, job: &SlurmJob, slurm_state: Option<&str>, exit_code: &str) -> Verdict {
        let record = read_status(&job.spec.folder);
        let state = slurm_state.unwrap_or("");
        match state {
            "PREEMPTED" | "NODE_FAIL" | "BOOT_FAIL" if !job.stopping => {
                if job.resubmits < self.profile.max_resubmits {
                    return Verdict::Resubmit(state.to_string());
                }
                return Verdict::End(RunEnd::NodeFailure(format!(
                    "the job ended {state} and was already submitted again {} time(s) (max_resubmits in cluster profile \"{}\")",
                    job.resubmits, self.profile.name
                )));
            }
            "OUT_OF_MEMORY" => return Verdict::End(RunEnd::OutOfMemory),
            "TIMEOUT" => return Verdict::End(RunEnd::TimedOut),
            // The wrapper records a signal when scancel stops the script; Slurm knows why.
            s if s.starts_with("CANCELLED")
                && !job.stopping
                && record.as_ref().is_none_or(|r| r.exit_code != Some(0)) =>
            {
                return Verdict::End(RunEnd::CancelledOutside);
            }
            _ => {}
        }
        if let Some(record) = record {
            return Verdict::End(end_from_status(&record));
        }
        match state {
            "COMPLETED" => Verdict::End(RunEnd::Exited(0)),
            "FAILED" => {
                let code = exit_code.split(':').next().and_then(|c| c.parse().ok()).unwrap_or(1);
                Verdict::End(RunEnd::Exited(code))
            }
            "" => Verdict::End(RunEnd::Lost(format!(
                "Slurm job {} left the queue without a record of how the script ended (is the job's folder on a file system the nodes share? is accounting off?)",
                job.job_id
            ))),
            other => Verdict::End(RunEnd::Lost(format!("Slurm job {} ended {other} without a record of how the script ended", job.job_id))),
        }
    }
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

enum Verdict {
    End(RunEnd),
    Resubmit(String),
}

/// Job states after which a job will not run again.
fn is_final(state: &str) -> bool {
    matches!(
        state,
        "COMPLETED"
            | "FAILED"
            | "TIMEOUT"
            | "CANCELLED"
            | "NODE_FAIL"
            | "PREEMPTED"
            | "BOOT_FAIL"
            | "DEADLINE"
            | "OUT_OF_MEMORY"
    ) || state.starts_with("CANCELLED")
}

impl Executor for SlurmExecutor {
    fn submit(&mut self, spec: &RunSpec) -> Result<Submitted, ExecutorError> {
        let job_id = self.sbatch(spec)?;
        self.jobs.insert(
            spec.combination_id,
            SlurmJob {
                spec: spec.clone(),
                job_id: job_id.clone(),
                resubmits: 0,
                stopping: false,
                accounting_retries: 0,
            },
        );
        Ok(Submitted {
            job_id,
            pid: None,
            pid_start: None,
            started_at: crate::clock::now(),
        })
    }

    fn adopt(&mut self, known: &Known) -> Adoption {
        let job_id = match &known.job_id {
            Some(id) => id.clone(),
            None => {
                // The coordinator may have died between sbatch and recording the id: look for the
                // job by its name.
                self.calls.squeue += 1;
                let name = self.job_name(known.spec.combination_id);
                let found = run(Command::new("squeue").args([
                    "--noheader",
                    "--format=%i",
                    &format!("--name={name}"),
                ]))
                .ok()
                .and_then(|o| o.lines().next().map(|l| l.trim().to_string()))
                .filter(|s| !s.is_empty());
                match found {
                    Some(id) => id,
                    None => return Adoption::NeverStarted,
                }
            }
        };
        let job = SlurmJob {
            spec: known.spec.clone(),
            job_id: job_id.clone(),
            resubmits: 0,
            stopping: false,
            accounting_retries: 0,
        };
        let states = self
            .queue_states(std::slice::from_ref(&job_id))
            .unwrap_or_default();
        match states.get(&job_id) {
            Some(state) if !is_final(state) => {
                self.jobs.insert(known.spec.combination_id, job);
                Adoption::Running(Submitted {
                    job_id,
                    pid: None,
                    pid_start: None,
                    started_at: known.started_at.unwrap_or_else(crate::clock::now),
                })
            }
            queued => {
                let mut state = queued.cloned();
                let mut exit = String::new();
                if state.is_none() {
                    if let Some((s, e)) = self
                        .accounting_states(std::slice::from_ref(&job_id))
                        .remove(&job_id)
                    {
                        state = Some(s);
                        exit = e;
                    }
                }
                match self.verdict(&job, state.as_deref(), &exit) {
                    Verdict::End(end) => Adoption::Ended(Ended {
                        combination_id: known.spec.combination_id,
                        end,
                        finished_at: crate::clock::now(),
                        scheduler: SchedulerRecord {
                            state,
                            elapsed_seconds: self.elapsed.remove(&job_id),
                        },
                    }),
                    Verdict::Resubmit(_) => Adoption::NeverStarted,
                }
            }
        }
    }

    fn poll(&mut self) -> Vec<Ended> {
        let interval = crate::clock::duration_from_secs(self.profile.poll_interval_seconds);
        if self.jobs.is_empty() || self.last_poll.is_some_and(|t| t.elapsed() < interval) {
            return Vec::new();
        }
        self.last_poll = Some(Instant::now());
        let ids: Vec<String> = self.jobs.values().map(|j| j.job_id.clone()).collect();
        let Some(states) = self.queue_states(&ids) else {
            return Vec::new();
        };
        let gone: Vec<u64> = self
            .jobs
            .iter()
            .filter(|(_, j)| states.get(&j.job_id).is_none_or(|s| is_final(s)))
            .map(|(id, _)| *id)
            .collect();
        if gone.is_empty() {
            return Vec::new();
        }
        // Ask accounting only about jobs whose state squeue no longer knows, or that were signalled.
        let unknown: Vec<String> = gone
            .iter()
            .filter_map(|id| self.jobs.get(id))
            .filter(|j| !states.contains_key(&j.job_id))
            .map(|j| j.job_id.clone())
            .collect();
        let accounting = self.accounting_states(&unknown);
        let mut ended = Vec::new();
        for id in gone {
            let Some(mut job) = self.jobs.remove(&id) else {
                continue;
            };
            let (state, exit) = match states.get(&job.job_id) {
                Some(s) => (Some(s.clone()), String::new()),
                None => accounting
                    .get(&job.job_id)
                    .map(|(s, e)| (Some(s.clone()), e.clone()))
                    .unwrap_or((None, String::new())),
            };
            // Accounting lags the queue by a moment: a job that left squeue may still read
            // PENDING or RUNNING there. Without the wrapper's record, ask again at the next poll.
            let lagging = state.as_deref().is_some_and(|s| !is_final(s))
                && read_status(&job.spec.folder).is_none();
            if lagging && job.accounting_retries < MAX_ACCOUNTING_RETRIES {
                job.accounting_retries += 1;
                self.jobs.insert(id, job);
                continue;
            }
            match self.verdict(&job, state.as_deref(), &exit) {
                Verdict::End(end) => ended.push(Ended {
                    combination_id: id,
                    end,
                    finished_at: crate::clock::now(),
                    scheduler: SchedulerRecord {
                        elapsed_seconds: self.elapsed.remove(&job.job_id),
                        state,
                    },
                }),
                Verdict::Resubmit(why) => match self.sbatch(&job.spec) {
                    Ok(new_id) => {
                        eprintln!("hpsearch: Slurm job {} of combination {id} ended {why}; submitted again as job {new_id}", job.job_id);
                        job.job_id = new_id;
                        job.resubmits += 1;
                        self.jobs.insert(id, job);
                    }
                    Err(e) => ended.push(Ended {
                        combination_id: id,
                        end: RunEnd::NodeFailure(format!(
                            "the job ended {why} and could not be submitted again: {e}"
                        )),
                        finished_at: crate::clock::now(),
                        scheduler: SchedulerRecord {
                            state: Some(why),
                            elapsed_seconds: self.elapsed.remove(&job.job_id),
                        },
                    }),
                },
            }
        }
        ended
    }

    fn cancel(&mut self, combination_id: u64) {
        if let Some(job) = self.jobs.get_mut(&combination_id) {
            job.stopping = true;
            let id = job.job_id.clone();
            self.calls.scancel += 1;
            let _ = run(Command::new("scancel").arg(id));
        }
    }

    fn stop_all(&mut self, _grace: Duration) -> Vec<u64> {
        let ids: Vec<u64> = self.jobs.keys().copied().collect();
        let job_ids: Vec<String> = self.jobs.values().map(|j| j.job_id.clone()).collect();
        if !job_ids.is_empty() {
            self.calls.scancel += 1;
            let _ = run(Command::new("scancel").args(&job_ids));
        }
        self.jobs.clear();
        ids
    }

    fn active(&self) -> usize {
        self.jobs.len()
    }

    fn load_report(&self) -> Option<String> {
        let c = self.calls;
        Some(format!(
            "Slurm client calls: {} sbatch, {} squeue, {} sacct, {} scancel",
            c.sbatch, c.squeue, c.sacct, c.scancel
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn slurm_durations_read_as_seconds() {
        assert_eq!(parse_slurm_duration("0:05"), Some(5.0));
        assert_eq!(parse_slurm_duration("12:34"), Some(754.0));
        assert_eq!(parse_slurm_duration("01:02:03"), Some(3723.0));
        assert_eq!(parse_slurm_duration("2-00:00:01"), Some(172_801.0));
        assert_eq!(parse_slurm_duration("INVALID"), None);
        assert_eq!(parse_slurm_duration(""), None);
    }

    use super::*;

    #[test]
    fn quoting_survives_spaces_quotes_and_dollars() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's $HOME"), "'it'\\''s $HOME'");
    }

    fn executor(max_resubmits: u64) -> SlurmExecutor {
        let profile = SlurmProfile {
            name: "t".into(),
            cpu_partition: None,
            gpu_partition: None,
            account: None,
            qos: None,
            extra_sbatch_args: vec![],
            setup_lines: vec![],
            poll_interval_seconds: 1.0,
            max_resubmits,
            file: PathBuf::new(),
        };
        SlurmExecutor {
            profile,
            wrapper: PathBuf::from("hpsearch"),
            search_id: 0,
            tag: "t".into(),
            memory_gb: 1,
            cpus: 1,
            gpus: None,
            jobs: BTreeMap::new(),
            last_poll: None,
            elapsed: BTreeMap::new(),
            calls: CallCounts::default(),
        }
    }

    fn job(folder: &Path, resubmits: u64, stopping: bool) -> SlurmJob {
        SlurmJob {
            spec: RunSpec {
                combination_id: 0,
                folder: folder.to_path_buf(),
                program: PathBuf::new(),
                script: PathBuf::new(),
                input: PathBuf::new(),
                time_limit: Duration::from_secs(60),
                kill_grace: Duration::from_secs(1),
            },
            job_id: "7".into(),
            resubmits,
            stopping,
            accounting_retries: 0,
        }
    }

    fn end(v: Verdict) -> Option<RunEnd> {
        match v {
            Verdict::End(e) => Some(e),
            Verdict::Resubmit(_) => None,
        }
    }

    #[test]
    fn slurm_states_map_to_run_ends() {
        let dir = tempfile::tempdir().unwrap();
        let e = executor(2);
        let fresh = job(dir.path(), 0, false);
        assert!(matches!(
            e.verdict(&fresh, Some("PREEMPTED"), ""),
            Verdict::Resubmit(_)
        ));
        assert!(matches!(
            e.verdict(&fresh, Some("NODE_FAIL"), ""),
            Verdict::Resubmit(_)
        ));
        let exhausted = job(dir.path(), 2, false);
        assert!(matches!(
            end(e.verdict(&exhausted, Some("NODE_FAIL"), "")),
            Some(RunEnd::NodeFailure(_))
        ));
        assert_eq!(
            end(e.verdict(&fresh, Some("OUT_OF_MEMORY"), "0:125")),
            Some(RunEnd::OutOfMemory)
        );
        assert_eq!(
            end(e.verdict(&fresh, Some("TIMEOUT"), "0:0")),
            Some(RunEnd::TimedOut)
        );
        assert_eq!(
            end(e.verdict(&fresh, Some("CANCELLED by 0"), "0:15")),
            Some(RunEnd::CancelledOutside)
        );
        assert_eq!(
            end(e.verdict(&fresh, Some("FAILED"), "3:0")),
            Some(RunEnd::Exited(3))
        );
        assert_eq!(
            end(e.verdict(&fresh, Some("COMPLETED"), "0:0")),
            Some(RunEnd::Exited(0))
        );
        assert!(matches!(
            end(e.verdict(&fresh, None, "")),
            Some(RunEnd::Lost(_))
        ));
        // A cancel hpsearch asked for is not someone else's: the wrapper's record decides.
        let ours = job(dir.path(), 0, true);
        std::fs::write(dir.path().join(STATUS_FILE), r#"{"exit_code":null,"signal":15,"timed_out":false,"start_error":null,"started_at":0,"finished_at":1}"#).unwrap();
        assert_eq!(
            end(e.verdict(&ours, Some("CANCELLED"), "0:15")),
            Some(RunEnd::Signaled(15))
        );
        // The wrapper's record wins over a plain FAILED.
        std::fs::write(dir.path().join(STATUS_FILE), r#"{"exit_code":4,"signal":null,"timed_out":false,"start_error":null,"started_at":0,"finished_at":1}"#).unwrap();
        assert_eq!(
            end(e.verdict(&fresh, Some("FAILED"), "1:0")),
            Some(RunEnd::Exited(4))
        );
    }

    #[test]
    fn slurm_time_is_whole_minutes_past_the_limit_and_grace() {
        assert_eq!(
            slurm_minutes(Duration::from_secs(3600), Duration::from_secs(10)),
            62
        );
        assert_eq!(
            slurm_minutes(Duration::from_secs(1), Duration::from_secs(1)),
            2
        );
    }
}
