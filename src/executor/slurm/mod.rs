//! The Slurm executor: one sbatch job per run, tracked with one squeue call per poll.
//!
//! Each job runs a generated script in the combination's folder that executes `hpsearch _wrap`
//! (see `wrapper`), so the run's exit status lands in the folder even when Slurm's accounting
//! is off. When a job leaves the queue, that record decides; `sacct` (one call for all jobs that
//! left) refines it with Slurm's own verdict (TIMEOUT, OUT_OF_MEMORY, CANCELLED, NODE_FAIL,
//! PREEMPTED). Preempted and node-failed runs are submitted again, up to the profile's
//! `max_resubmits`. `client` runs Slurm's commands; `job_script` writes what they submit;
//! `verdict` reads how a job ended; `node_limits` checks a request against the nodes; `waves`
//! submits many runs as one array; `accounting` reads sacct.

mod accounting;
mod client;
mod job_script;
mod node_limits;
mod verdict;
mod waves;

pub use client::parse_slurm_duration;
use client::{is_permanent_rejection, run_bounded, Failure, COMMAND_LIMIT};
pub use job_script::{folder_tag, shell_quote, slurm_minutes, submit_coordinator, CoordinatorJob};
use job_script::{job_script, placement_args};
use verdict::{is_final, is_running, Verdict};
pub use waves::MAX_WAVE;

use crate::config::cluster::SlurmProfile;
use crate::config::job::{JobConfig, ProcessorType};
use crate::executor::contract::{
    Adoption, Ended, Executor, ExecutorError, ExecutorEvent, Known, RunEnd, RunSpec,
    SchedulerRecord, Submitted,
};
use crate::executor::supervise::{read_status, STARTED_FILE, STATUS_FILE};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts of Slurm client calls, for the log and for measuring load on slurmctld.
#[derive(Debug, Default, Clone, Copy)]
pub struct CallCounts {
    pub sbatch: u64,
    pub squeue: u64,
    pub sacct: u64,
    pub scancel: u64,
    /// Of the sbatch calls, those that submitted a job array.
    pub arrays: u64,
    pub scontrol: u64,
}

struct SlurmJob {
    spec: RunSpec,
    job_id: String,
    resubmits: u64,
    /// hpsearch asked for this job to stop (a cancel is then ours, not someone else's).
    stopping: bool,
    /// Polls that found the job gone from the queue but not yet final in accounting (or, for a
    /// GPU job, without its GPUs there).
    accounting_retries: u32,
    /// Seen running (not only queued) by a poll.
    started: bool,
    /// The job array this run is a task of (its base job id), if any.
    wave: Option<String>,
}

impl SlurmJob {
    /// A job just submitted or taken over: not stopping, not yet seen running.
    fn new(spec: RunSpec, job_id: String, wave: Option<String>) -> SlurmJob {
        SlurmJob {
            spec,
            job_id,
            resubmits: 0,
            stopping: false,
            accounting_retries: 0,
            started: false,
            wave,
        }
    }
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
    /// GPUs Slurm allocated jobs that ended, as sacct reported them, by job id.
    allocated_gpus: BTreeMap<String, u64>,
    /// The search log was told that a GPU job ended without accounting's record of its GPUs.
    gpu_accounting_missed: bool,
    pub calls: CallCounts,
    /// Set by the coordinator when a stop is asked for: a blocked Slurm command gives up.
    interrupt: Option<Arc<AtomicBool>>,
    /// Since when slurmctld has not answered, while it does not.
    down_since: Option<(Instant, f64)>,
    events: Vec<ExecutorEvent>,
    /// Whether the request was checked against `sinfo` (once, before the first sbatch).
    request_checked: bool,
    search_dir: PathBuf,
    /// Job arrays in flight (see `waves`).
    waves: Vec<waves::Wave>,
    /// The most runs that may run at once (`max_active_points`), as the coordinator said.
    max_running: usize,
    /// Live tasks of waves by job name, as found while a resume takes runs over.
    wave_tasks: BTreeMap<String, Vec<String>>,
}

/// How long `scancel` may take during a stop: a stop must take effect within seconds even
/// while slurmctld does not answer.
const SCANCEL_LIMIT: Duration = Duration::from_secs(3);

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
            allocated_gpus: BTreeMap::new(),
            gpu_accounting_missed: false,
            calls: CallCounts::default(),
            interrupt: None,
            down_since: None,
            events: Vec::new(),
            request_checked: false,
            search_dir: search_dir.to_path_buf(),
            waves: Vec::new(),
            max_running: usize::MAX,
            wave_tasks: BTreeMap::new(),
        }
    }

    fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// Runs a Slurm command, bounded in time and by a stop, and keeps track of whether slurmctld
    /// answers: the search log says when an outage starts and when it ends.
    fn call(&mut self, command: &mut Command, limit: Duration) -> Result<String, Failure> {
        let interrupt = self.interrupt.clone();
        let result = run_bounded(command, limit, interrupt.as_deref());
        match &result {
            Err(Failure::NoAnswer(why)) if !self.interrupted() => {
                if self.down_since.is_none() {
                    self.down_since = Some((Instant::now(), crate::clock::now()));
                    self.events.push(ExecutorEvent::Note(format!(
                        "Slurm does not answer ({why}); runs in flight are kept, and submissions wait until it answers again"
                    )));
                }
            }
            Err(Failure::NoAnswer(_)) => {}
            Ok(_) | Err(Failure::Refused(_)) => {
                if let Some((since, _)) = self.down_since.take() {
                    self.events.push(ExecutorEvent::Note(format!(
                        "Slurm answers again, after {} s without an answer",
                        since.elapsed().as_secs()
                    )));
                }
            }
        }
        result
    }

    /// `hps{search}c{combination}_{tag}`: the tag (from the search folder's path) keeps the
    /// names of searches in different projects apart.
    pub fn job_name(&self, combination_id: u64) -> String {
        format!("hps{}c{combination_id}_{}", self.search_id, self.tag)
    }

    /// The job script: the profile's setup lines, then the wrapper. Every path is quoted;
    /// hyperparameter values are not in it at all (they travel in input.json).
    pub fn job_script(&self, spec: &RunSpec) -> String {
        job_script(
            &self.profile,
            "one run of the analysis script",
            &spec.folder,
            &self.wrapper_command(spec),
        )
    }

    /// `hpsearch _wrap ... -- program script input` for a run.
    fn wrapper_command(&self, spec: &RunSpec) -> Vec<String> {
        // Where the limit is whole minutes, Slurm enforces it (the job ends TIMEOUT, as sacct
        // and every Slurm tool expect) and the wrapper's own limit is only a safety net past
        // Slurm's; a limit in seconds is enforced by the wrapper, to the second.
        let enforced = if slurm_enforces(spec.time_limit) {
            spec.time_limit
                .saturating_add(spec.kill_grace)
                .saturating_add(Duration::from_secs(120))
        } else {
            spec.time_limit
        };
        std::iter::once(self.wrapper.display().to_string())
            .chain(spec.wrap_args(enforced))
            .chain([
                "--".into(),
                spec.program.display().to_string(),
                spec.script.display().to_string(),
                spec.input.display().to_string(),
            ])
            .collect()
    }

    /// The sbatch arguments for a run (an argument list: no shell sees them).
    pub fn sbatch_args(&self, spec: &RunSpec, script: &Path) -> Vec<String> {
        let log = waves::pattern_path(&spec.folder.join("log.txt"));
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name={}", self.job_name(spec.combination_id)),
            format!("--chdir={}", spec.folder.display()),
            format!("--output={log}"),
            format!("--error={log}"),
            "--open-mode=append".to_string(),
        ];
        args.extend(self.request_args(spec));
        args.push(script.display().to_string());
        args
    }

    /// What a run asks of Slurm: time, memory, CPUs, GPUs, where, and the profile's extras.
    fn request_args(&self, spec: &RunSpec) -> Vec<String> {
        let mut args = vec![
            format!(
                "--time={}",
                if slurm_enforces(spec.time_limit) {
                    spec.time_limit.as_secs().div_ceil(60)
                } else {
                    slurm_minutes(spec.time_limit, spec.kill_grace)
                }
            ),
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
        args
    }

    fn sbatch(&mut self, spec: &RunSpec) -> Result<String, ExecutorError> {
        let script_path = spec.folder.join("job.sh");
        // Replaced, not written through: a run submitted again finds its earlier folder.
        crate::project::paths::write_atomically(&script_path, self.job_script(spec).as_bytes())
            .map_err(|e| ExecutorError::Start {
                id: spec.combination_id,
                message: format!("cannot write {}: {e}", script_path.display()),
            })?;
        for stale in [STATUS_FILE, STARTED_FILE] {
            let _ = std::fs::remove_file(spec.folder.join(stale));
        }
        let args = self.sbatch_args(spec, &script_path);
        self.submit_script(&args, spec.combination_id)
    }

    /// `sbatch ARGS`, a few quick tries; the job id. `combination_id` names the run (the first
    /// of a wave) in a refusal.
    fn submit_script(
        &mut self,
        args: &[String],
        combination_id: u64,
    ) -> Result<String, ExecutorError> {
        let mut last_error = String::new();
        // A busy slurmctld answers again after a moment; a few quick tries, then the
        // coordinator's own backoff takes over. A stop ends the tries at once.
        for delay in [0u64, 1, 2] {
            if self.interrupted() {
                break;
            }
            std::thread::sleep(Duration::from_secs(delay));
            self.calls.sbatch += 1;
            match self.call(Command::new("sbatch").args(args), COMMAND_LIMIT) {
                Ok(out) => {
                    let id = out.trim().split(';').next().unwrap_or_default().to_string();
                    if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
                        return Ok(id);
                    }
                    last_error = format!("sbatch answered {out:?}, not a job id");
                }
                Err(Failure::Refused(message)) if is_permanent_rejection(&message) => {
                    return Err(ExecutorError::Refused {
                        id: combination_id,
                        message: format!("sbatch: {message}"),
                    });
                }
                Err(Failure::NoAnswer(e)) => {
                    // More tries would only delay the coordinator's backoff, and a stop.
                    last_error = format!("sbatch failed: {e}");
                    break;
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
        let answer = self.call(
            Command::new("squeue").args([
                "--noheader",
                "--format=%i|%T|%M",
                "--states=all",
                // Every task of a job array on its own line (`123_4`), pending ones too.
                "--array",
                &format!("--jobs={}", ids.join(",")),
            ]),
            COMMAND_LIMIT,
        );
        let out = match answer {
            Ok(out) => out,
            // Every listed job has left Slurm's memory: none is in the queue.
            Err(Failure::Refused(e)) if e.contains("Invalid job id") => String::new(),
            Err(_) => return None, // slurmctld unreachable: try at the next poll
        };
        Some(
            out.lines()
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

    /// The newest job of a combination's name that Slurm has not finished, if any.
    fn live_job_by_name(&mut self, combination_id: u64) -> Option<String> {
        self.calls.squeue += 1;
        let name = self.job_name(combination_id);
        let out = self
            .call(
                Command::new("squeue").args([
                    "--noheader",
                    "--format=%i|%T",
                    &format!("--name={name}"),
                ]),
                COMMAND_LIMIT,
            )
            .ok()?;
        out.lines()
            .filter_map(|l| {
                let (id, state) = l.trim().split_once('|')?;
                let number: u64 = id.parse().ok()?;
                (!is_final(state)).then(|| (number, id.to_string()))
            })
            .max()
            .map(|(_, id)| id)
    }

    /// One scancel for these job ids; none while slurmctld does not answer, as each would wait
    /// out its limit and a stop must take effect within seconds.
    fn scancel(&mut self, job_ids: &[String]) {
        if job_ids.is_empty() || self.down_since.is_some() {
            return;
        }
        self.calls.scancel += 1;
        if let Err(e) = run_bounded(Command::new("scancel").args(job_ids), SCANCEL_LIMIT, None) {
            self.note_unanswered_scancel(&e);
        }
    }

    /// A scancel that got no answer: slurmctld is down, so the stop cannot wait for the jobs.
    fn note_unanswered_scancel(&mut self, failure: &Failure) {
        if let Failure::NoAnswer(why) = failure {
            if self.down_since.is_none() {
                self.down_since = Some((Instant::now(), crate::clock::now()));
                self.events.push(ExecutorEvent::Note(format!(
                    "Slurm does not answer scancel ({why}); the jobs may still run, and `hpsearch resume` takes them over"
                )));
            }
        }
    }

    /// The runs whose jobs left the queue since the last poll (at most one squeue per
    /// `poll_interval_seconds`), with Slurm's verdict on each.
    fn poll_jobs(&mut self) -> Vec<Ended> {
        let interval = crate::clock::duration_from_secs(self.profile.poll_interval_seconds);
        if self.jobs.is_empty() || self.last_poll.is_some_and(|t| t.elapsed() < interval) {
            return Vec::new();
        }
        self.last_poll = Some(Instant::now());
        let ids: Vec<String> = self.jobs.values().map(|j| j.job_id.clone()).collect();
        let Some(states) = self.queue_states(&ids) else {
            return Vec::new();
        };
        // Queued jobs that started since the last poll: their run time starts now, not at sbatch.
        let now = crate::clock::now();
        for (id, job) in &mut self.jobs {
            if !job.started && states.get(&job.job_id).is_some_and(|s| is_running(s)) {
                job.started = true;
                let ran = self.elapsed.get(&job.job_id).copied().unwrap_or(0.0);
                self.events.push(ExecutorEvent::Started {
                    combination_id: *id,
                    at: now - ran,
                });
            }
        }
        let gone: Vec<u64> = self
            .jobs
            .iter()
            .filter(|(_, j)| states.get(&j.job_id).is_none_or(|s| is_final(s)))
            .map(|(id, _)| *id)
            .collect();
        if gone.is_empty() {
            return Vec::new();
        }
        // Ask accounting about the jobs squeue no longer knows, and about those that left no
        // record of their end (squeue gives no exit code, and sacct says how they ended).
        let unknown: Vec<String> = gone
            .iter()
            .filter_map(|id| self.jobs.get(id))
            .filter(|j| !states.contains_key(&j.job_id) || read_status(&j.spec.folder).is_none())
            .map(|j| j.job_id.clone())
            .collect();
        let accounting = self.accounting_states(&unknown);
        let ended_ids: Vec<String> = gone
            .iter()
            .filter_map(|id| self.jobs.get(id))
            .map(|j| j.job_id.clone())
            .collect();
        let gpu_accounting_answered = self.ask_gpu_allocations(&ended_ids);
        let mut ended = Vec::new();
        for id in gone {
            let Some(mut job) = self.jobs.remove(&id) else {
                continue;
            };
            let (state, exit) = match (accounting.get(&job.job_id), states.get(&job.job_id)) {
                (Some((s, e)), _) => (Some(s.clone()), e.clone()),
                (None, Some(s)) => (Some(s.clone()), String::new()),
                (None, None) => (None, String::new()),
            };
            // Accounting lags the queue by a moment: a job that left squeue may still read
            // PENDING or RUNNING there, or FAILED without its exit code (and slurmstepd may not
            // have written why it killed the job yet), and a GPU job may read without the GPUs
            // it was allocated. Without the wrapper's record, or without the GPUs while
            // accounting answers, ask again at the next poll.
            let unsettled = match state.as_deref() {
                Some(s) if !is_final(s) => true,
                Some("FAILED") => exit.is_empty(),
                _ => false,
            };
            let lagging = (unsettled && read_status(&job.spec.folder).is_none())
                || (gpu_accounting_answered && self.gpus_unrecorded(&job.job_id));
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
                        gpus: self.take_allocated_gpus(&job.job_id, id),
                        state,
                    },
                }),
                Verdict::Resubmit(why) => match self.sbatch(&job.spec) {
                    Ok(new_id) => {
                        self.events.push(ExecutorEvent::Resubmitted {
                            combination_id: id,
                            job_id: new_id.clone(),
                            note: format!(
                                "combination {id}: Slurm job {} ended {why}; submitted again as job {new_id}",
                                job.job_id
                            ),
                        });
                        job.job_id = new_id;
                        job.wave = None;
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
                            gpus: self.take_allocated_gpus(&job.job_id, id),
                        },
                    }),
                },
            }
        }
        ended
    }
}

/// Whether Slurm enforces a run's time limit itself: when it is a whole number of minutes (to
/// the millisecond), which Slurm's `--time` can say exactly.
fn slurm_enforces(limit: Duration) -> bool {
    let millis = limit.as_millis();
    millis >= 60_000 && (millis + 1) % 60_000 <= 2
}

impl Executor for SlurmExecutor {
    fn submit(&mut self, spec: &RunSpec) -> Result<Submitted, ExecutorError> {
        self.check_request(spec.combination_id)?;
        let job_id = self.sbatch(spec)?;
        self.jobs.insert(
            spec.combination_id,
            SlurmJob::new(spec.clone(), job_id.clone(), None),
        );
        Ok(Submitted {
            job_id,
            queued: true,
            pid: None,
            pid_start: None,
            started_at: crate::clock::now(),
        })
    }

    fn adopt(&mut self, known: &Known) -> Adoption {
        // A live job of this combination's name is the one to take over, whatever the store
        // says: the coordinator may have died between sbatch and recording the id, or between
        // a resubmission and recording the new id. Starting another would run it twice.
        let mut live = self.live_job_by_name(known.spec.combination_id);
        if live.is_none() {
            live = self.live_wave_task(&known.spec.folder);
        }
        if let Some(id) = &live {
            if known.job_id.as_ref() != Some(id) {
                if let Some(old) = &known.job_id {
                    self.events.push(ExecutorEvent::Resubmitted {
                        combination_id: known.spec.combination_id,
                        job_id: id.clone(),
                        note: format!(
                            "combination {}: found its live Slurm job {id} (the store had {old}); taking it over",
                            known.spec.combination_id
                        ),
                    });
                }
            }
        }
        let job_id = match (live, &known.job_id) {
            (Some(id), _) => id,
            (None, Some(id)) => id.clone(),
            (None, None) => return Adoption::NeverStarted,
        };
        let wave = self.adopt_wave_of(&job_id);
        let job = SlurmJob::new(known.spec.clone(), job_id.clone(), wave);
        let states = self
            .queue_states(std::slice::from_ref(&job_id))
            .unwrap_or_default();
        match states.get(&job_id) {
            Some(state) if !is_final(state) => {
                let running = is_running(state);
                let started_at = match (known.started_at, self.elapsed.get(&job_id)) {
                    (Some(at), _) => at,
                    (None, Some(seconds)) if running => crate::clock::now() - seconds,
                    _ => crate::clock::now(),
                };
                self.jobs.insert(
                    known.spec.combination_id,
                    SlurmJob {
                        started: running,
                        ..job
                    },
                );
                Adoption::Running(Submitted {
                    job_id,
                    queued: !running,
                    pid: None,
                    pid_start: None,
                    started_at,
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
                    Verdict::End(end) => {
                        self.ask_gpu_allocations(std::slice::from_ref(&job_id));
                        Adoption::Ended(Ended {
                            combination_id: known.spec.combination_id,
                            end,
                            finished_at: crate::clock::now(),
                            scheduler: SchedulerRecord {
                                state,
                                elapsed_seconds: self.elapsed.remove(&job_id),
                                gpus: self.take_allocated_gpus(&job_id, known.spec.combination_id),
                            },
                        })
                    }
                    Verdict::Resubmit(_) => Adoption::NeverStarted,
                }
            }
        }
    }

    fn poll(&mut self) -> Vec<Ended> {
        let ended = self.poll_jobs();
        if !self.waves.is_empty() && self.down_since.is_none() {
            self.adjust_throttles();
        }
        ended
    }

    fn cancel(&mut self, combination_id: u64) {
        let Some(job) = self.jobs.get_mut(&combination_id) else {
            return;
        };
        job.stopping = true;
        let id = job.job_id.clone();
        self.scancel(&[id]);
    }

    fn cancel_all(&mut self, combination_ids: &[u64]) {
        let mut stopping = Vec::new();
        for id in combination_ids {
            if let Some(job) = self.jobs.get_mut(id) {
                job.stopping = true;
                stopping.push(job.job_id.clone());
            }
        }
        let others = self
            .jobs
            .values()
            .filter(|j| !j.stopping)
            .map(|j| j.job_id.as_str());
        let job_ids = whole_arrays(stopping.iter().map(String::as_str), others);
        self.scancel(&job_ids);
    }

    fn stop_all(&mut self, _grace: Duration) -> Vec<u64> {
        let ids: Vec<u64> = self.jobs.keys().copied().collect();
        let job_ids = whole_arrays(
            self.jobs.values().map(|j| j.job_id.as_str()),
            std::iter::empty(),
        );
        self.scancel(&job_ids);
        self.jobs.clear();
        ids
    }

    fn active(&self) -> usize {
        self.jobs.len()
    }

    fn set_interrupt(&mut self, flag: Arc<AtomicBool>) {
        self.interrupt = Some(flag);
    }

    fn set_max_running(&mut self, max_running: usize) {
        self.max_running = max_running;
    }

    fn submits_waves(&self) -> bool {
        self.profile.job_arrays
    }

    fn submit_wave(
        &mut self,
        specs: &[RunSpec],
        max_running: usize,
    ) -> Result<Vec<Submitted>, ExecutorError> {
        let Some(first) = specs.first() else {
            return Ok(Vec::new());
        };
        self.check_request(first.combination_id)?;
        self.max_running = max_running;
        if specs.len() == 1 {
            return self.submit(first).map(|s| vec![s]);
        }
        let mut submitted = Vec::with_capacity(specs.len());
        for chunk in specs.chunks(waves::MAX_WAVE) {
            let throttle = max_running.saturating_sub(self.jobs.len()).max(1);
            match self.submit_array(chunk, throttle) {
                Ok(more) => submitted.extend(more),
                // The arrays already out are tracked; the rest waits for the next step.
                Err(_) if !submitted.is_empty() => break,
                Err(e) => return Err(e),
            }
        }
        Ok(submitted)
    }

    fn take_events(&mut self) -> Vec<ExecutorEvent> {
        std::mem::take(&mut self.events)
    }

    fn unreachable(&self) -> bool {
        self.down_since.is_some()
    }

    fn load_report(&self) -> Option<String> {
        let c = self.calls;
        Some(format!(
            "Slurm client calls: {} sbatch ({} of them job arrays), {} squeue, {} sacct, {} scancel, {} scontrol",
            c.sbatch, c.arrays, c.squeue, c.sacct, c.scancel, c.scontrol
        ))
    }
}

/// The ids to give `scancel` to stop these jobs: the tasks of an array (`{base}_{index}`) are
/// named by the array's base id, once, when no task of it is to go on (`keep`). Cancelling
/// tasks one by one lets Slurm start a queued task of the array in the moment a running one
/// frees its throttle slot; the base id cancels every task in one request.
fn whole_arrays<'a>(
    stop: impl Iterator<Item = &'a str>,
    keep: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let base = |id: &'a str| match id.split_once('_') {
        Some((base, index)) if index.parse::<u64>().is_ok() => Some(base),
        _ => None,
    };
    let kept: std::collections::BTreeSet<&str> = keep.filter_map(base).collect();
    let mut ids: Vec<String> = stop
        .map(|id| match base(id) {
            Some(base) if !kept.contains(base) => base.to_string(),
            _ => id.to_string(),
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
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
    fn a_stop_cancels_each_array_by_its_base_id_once() {
        let ids = whole_arrays(
            ["41_0", "41_3", "40", "41_1", "42_x"].into_iter(),
            [].into_iter(),
        );
        assert_eq!(ids, ["40", "41", "42_x"]);
        // A task of 41 goes on: its siblings are cancelled one by one, never the whole array.
        let ids = whole_arrays(["41_0", "41_3", "43_1"].into_iter(), ["41_2"].into_iter());
        assert_eq!(ids, ["41_0", "41_3", "43"]);
    }

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
            requeue_on_timeout: false,
            job_arrays: false,
            file: PathBuf::new(),
        };
        let job = JobConfig {
            environment_path: PathBuf::from("/bin/sh"),
            script_path: PathBuf::from("run.sh"),
            cluster_name: "t".into(),
            cluster: crate::config::cluster::Cluster::Slurm(Box::new(profile.clone())),
            time_hours: 1.0,
            memory_gb: 1,
            processor_type: ProcessorType::Cpu,
            num_processors: 1,
            gpus: 0,
            kill_grace_seconds: 1.0,
            checkpoint_signal_seconds: 0.0,
            progress_pattern: None,
        };
        SlurmExecutor::new(profile, &job, PathBuf::from("hpsearch"), 0, Path::new("/t"))
    }

    fn job(folder: &Path, resubmits: u64, stopping: bool) -> SlurmJob {
        let spec = RunSpec {
            combination_id: 0,
            folder: folder.to_path_buf(),
            program: PathBuf::new(),
            script: PathBuf::new(),
            input: PathBuf::new(),
            time_limit: Duration::from_secs(60),
            kill_grace: Duration::from_secs(1),
            checkpoint_signal: Duration::ZERO,
        };
        SlurmJob {
            resubmits,
            stopping,
            ..SlurmJob::new(spec, "7".into(), None)
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
