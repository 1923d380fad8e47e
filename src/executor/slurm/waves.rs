//! Job arrays: many runs as one `sbatch --array=0-{n-1}%{throttle}`, one combination per task.
//!
//! A wave's files live in `{search}/slurm_waves/w{first combination}/`: `job.sh`, whose `case` on
//! `$SLURM_ARRAY_TASK_ID` runs each task's wrapper in its combination's folder, and one link per
//! task, `{index}` → the combination's folder, so that Slurm's `--output=.../%a/log.txt` lands in
//! each run's own log.txt (where slurmstepd's messages, a memory kill say, are read as for single
//! jobs). Each combination folder gets `.hpsearch_wave` (the wave's job name and the task's
//! index) before the sbatch: a coordinator that died before recording the job ids finds the tasks
//! by name on resume instead of running them twice.
//!
//! Slurm's throttle (`%N`) holds per array, not per user: a wave submitted while other runs are in
//! flight gets only the slots they leave, and each poll sets it (`scontrol update
//! ArrayTaskThrottle`) to the slots the other runs leave now, so that at most
//! `max_active_points` run at once in all, and no slot stays idle for long.

use super::client::{run_bounded, COMMAND_LIMIT};
use super::job_script::shell_quote;
use super::{SlurmExecutor, SlurmJob};
use crate::executor::contract::{is_common_io_problem, ExecutorError, RunSpec, Submitted};
use crate::executor::supervise::{STARTED_FILE, STATUS_FILE};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The most tasks in one array: Slurm's default `MaxArraySize` (1001) allows indices 0 to 1000.
pub const MAX_WAVE: usize = 1000;

/// The file in a combination's folder naming the wave that runs it: `{job name}\n{task index}\n`.
const WAVE_MARKER: &str = ".hpsearch_wave";

/// A job array in flight.
pub(super) struct Wave {
    /// Slurm's id of the array (its tasks are `{base_id}_{index}`).
    pub base_id: String,
    /// The array's throttle as last set; 0 when not known (an array taken over by `resume`).
    pub throttle: usize,
}

/// The arrays (by position in `waves`: base id and throttle) whose throttle must change, and
/// to what: each gets the slots that the runs in flight outside it leave of `max_running` (at
/// least one), given each array's unfinished tasks (`per_wave`) and all runs in flight (`total`).
fn throttle_changes(
    waves: &[(String, usize)],
    per_wave: &BTreeMap<String, usize>,
    total: usize,
    max_running: usize,
) -> Vec<(usize, usize)> {
    waves
        .iter()
        .enumerate()
        .filter_map(|(i, (base, throttle))| {
            let own = per_wave.get(base)?;
            let share = max_running.saturating_sub(total - own).max(1);
            (share != *throttle).then_some((i, share))
        })
        .collect()
}

/// A path in an sbatch file-name pattern, where `%` starts a replacement.
pub(super) fn pattern_path(path: &Path) -> String {
    path.display().to_string().replace('%', "%%")
}

impl SlurmExecutor {
    /// `hps{search}w{first combination}_{tag}`.
    fn wave_name(&self, first: u64) -> String {
        format!("hps{}w{first}_{}", self.search_id, self.tag)
    }

    /// The job script of a wave: the profile's setup lines, then one `case` arm per task that
    /// changes to the combination's folder and runs its wrapper. Every path is quoted.
    pub(super) fn wave_script(&self, specs: &[RunSpec]) -> String {
        let mut script = format!(
            "#!/bin/sh\n# Written by hpsearch: {} runs of the analysis script, one per array task.\n",
            specs.len()
        );
        for line in &self.profile.setup_lines {
            script.push_str(line);
            script.push('\n');
        }
        script.push_str("case \"$SLURM_ARRAY_TASK_ID\" in\n");
        for (index, spec) in specs.iter().enumerate() {
            let words: Vec<String> = self
                .wrapper_command(spec)
                .iter()
                .map(|w| shell_quote(w))
                .collect();
            script.push_str(&format!(
                "  {index}) cd {} || exit 1; exec {} ;;\n",
                shell_quote(&spec.folder.display().to_string()),
                words.join(" ")
            ));
        }
        script.push_str(
            "  *) echo \"hpsearch: array task $SLURM_ARRAY_TASK_ID has no combination\" >&2; exit 1 ;;\nesac\n",
        );
        script
    }

    /// Writes a wave's files and submits it as one array of at most `throttle` running tasks.
    pub(super) fn submit_array(
        &mut self,
        specs: &[RunSpec],
        throttle: usize,
    ) -> Result<Vec<Submitted>, ExecutorError> {
        let first = specs.first().map_or(0, |s| s.combination_id);
        let name = self.wave_name(first);
        let dir = self
            .search_dir
            .join("slurm_waves")
            .join(format!("w{first}"));
        let cannot = |path: &Path, e: std::io::Error| {
            let message = format!("cannot write {}: {e}", path.display());
            if is_common_io_problem(&e) {
                ExecutorError::Unavailable { message }
            } else {
                ExecutorError::Start { id: first, message }
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| cannot(&dir, e))?;
        for (index, spec) in specs.iter().enumerate() {
            for stale in [STATUS_FILE, STARTED_FILE] {
                let _ = std::fs::remove_file(spec.folder.join(stale));
            }
            let marker = spec.folder.join(WAVE_MARKER);
            crate::project::paths::write_atomically(
                &marker,
                format!("{name}\n{index}\n").as_bytes(),
            )
            .map_err(|e| cannot(&marker, e))?;
            let link = dir.join(index.to_string());
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&spec.folder, &link).map_err(|e| cannot(&link, e))?;
        }
        let script = dir.join("job.sh");
        crate::project::paths::write_atomically(&script, self.wave_script(specs).as_bytes())
            .map_err(|e| cannot(&script, e))?;
        let log = pattern_path(&dir) + "/%a/log.txt";
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name={name}"),
            format!("--chdir={}", dir.display()),
            format!("--output={log}"),
            format!("--error={log}"),
            "--open-mode=append".to_string(),
            format!("--array=0-{}%{throttle}", specs.len().saturating_sub(1)),
        ];
        args.extend(self.request_args(&specs[0]));
        args.push(script.display().to_string());
        let base_id = self.submit_script(&args, first)?;
        self.calls.arrays += 1;
        self.waves.push(Wave {
            base_id: base_id.clone(),
            throttle,
        });
        let now = crate::clock::now();
        Ok(specs
            .iter()
            .enumerate()
            .map(|(index, spec)| {
                let job_id = format!("{base_id}_{index}");
                self.jobs.insert(
                    spec.combination_id,
                    SlurmJob::new(spec.clone(), job_id.clone(), Some(base_id.clone())),
                );
                Submitted {
                    job_id,
                    queued: true,
                    pid: None,
                    pid_start: None,
                    started_at: now,
                }
            })
            .collect())
    }

    /// Registers the array of a task taken over from an earlier coordinator (its throttle is
    /// set at the next poll).
    pub(super) fn adopt_wave_of(&mut self, job_id: &str) -> Option<String> {
        let (base, index) = job_id.split_once('_')?;
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !self.waves.iter().any(|w| w.base_id == base) {
            self.waves.push(Wave {
                base_id: base.to_string(),
                throttle: 0,
            });
        }
        Some(base.to_string())
    }

    /// Sets each array's throttle to the slots the other runs in flight leave it, and forgets
    /// arrays with no task left. One `scontrol` per array whose share changed.
    pub(super) fn adjust_throttles(&mut self) {
        if self.max_running == usize::MAX {
            return;
        }
        let mut per_wave: BTreeMap<String, usize> = BTreeMap::new();
        for job in self.jobs.values() {
            if let Some(base) = &job.wave {
                *per_wave.entry(base.clone()).or_default() += 1;
            }
        }
        let current: Vec<(String, usize)> = self
            .waves
            .iter()
            .map(|w| (w.base_id.clone(), w.throttle))
            .collect();
        let changes = throttle_changes(&current, &per_wave, self.jobs.len(), self.max_running);
        let live: Vec<String> = per_wave.keys().map(|k| k.to_string()).collect();
        for (i, share) in changes {
            let base = self.waves[i].base_id.clone();
            self.calls.scontrol += 1;
            let answer = self.call(
                Command::new("scontrol").args([
                    "update".to_string(),
                    format!("JobId={base}"),
                    format!("ArrayTaskThrottle={share}"),
                ]),
                COMMAND_LIMIT,
            );
            if answer.is_ok() {
                self.waves[i].throttle = share;
            }
        }
        self.waves.retain(|w| live.contains(&w.base_id));
    }

    /// The live task running a combination as part of a wave, from the marker in its folder:
    /// one `squeue --name` per wave (remembered while a resume takes runs over).
    pub(super) fn live_wave_task(&mut self, folder: &Path) -> Option<String> {
        // Read without waiting, and only as a small plain file: the folder is the script's.
        let marker =
            crate::executor::run_files::read_regular(&folder.join(WAVE_MARKER), 4096).ok()?;
        let mut lines = marker.lines();
        let (name, index) = (lines.next()?.trim().to_string(), lines.next()?.trim());
        if !self.wave_tasks.contains_key(&name) {
            self.calls.squeue += 1;
            let out = run_bounded(
                Command::new("squeue").args([
                    "--noheader",
                    "--array",
                    "--format=%i|%T",
                    &format!("--name={name}"),
                ]),
                COMMAND_LIMIT,
                None,
            )
            .ok()?;
            let tasks = out
                .lines()
                .filter_map(|l| {
                    let (id, state) = l.trim().split_once('|')?;
                    (!super::is_final(state)).then(|| id.to_string())
                })
                .collect();
            self.wave_tasks.insert(name.clone(), tasks);
        }
        let suffix = format!("_{index}");
        self.wave_tasks
            .get(&name)?
            .iter()
            .find(|id| id.ends_with(&suffix))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_gets_the_slots_the_other_runs_leave_it() {
        let waves = vec![("10".to_string(), 3), ("20".to_string(), 1)];
        let per_wave: BTreeMap<String, usize> =
            [("10".to_string(), 3), ("20".to_string(), 500)].into();
        // 8 slots; array 10 has 3 tasks left, array 20 has 500, one single job is in flight.
        // Array 10 may have 8 - 501 → 1 (it has 3 now: lowered); array 20 gets 8 - 4 = 4.
        assert_eq!(
            throttle_changes(&waves, &per_wave, 504, 8),
            vec![(0, 1), (1, 4)]
        );
        // When array 10 is done, array 20 gets every slot but the single job's.
        let per_wave: BTreeMap<String, usize> = [("20".to_string(), 400)].into();
        let waves = vec![("10".to_string(), 1), ("20".to_string(), 4)];
        assert_eq!(throttle_changes(&waves, &per_wave, 401, 8), vec![(1, 7)]);
        // Nothing changes: no call.
        let waves = vec![("20".to_string(), 7)];
        assert!(throttle_changes(&waves, &per_wave, 401, 8).is_empty());
    }

    #[test]
    fn percent_signs_in_a_folder_are_not_slurm_replacements() {
        assert_eq!(pattern_path(Path::new("/a/100%/b")), "/a/100%%/b");
    }
}
