//! What Slurm's accounting (`sacct`) says of jobs that left the queue: their final state, exit
//! code and run time, and the GPUs they were allocated (for a search's GPU-hours).

use super::client::{parse_slurm_duration, COMMAND_LIMIT};
use super::SlurmExecutor;
use crate::executor::ExecutorEvent;
use std::collections::BTreeMap;
use std::process::Command;

impl SlurmExecutor {
    /// One `sacct` call for the allocations of `ids` with the given fields: its lines, or
    /// None when accounting is off or does not answer.
    fn sacct(&mut self, ids: &[String], fields: &str) -> Option<Vec<String>> {
        if ids.is_empty() {
            return Some(Vec::new());
        }
        self.calls.sacct += 1;
        self.call(
            Command::new("sacct").args([
                "--noheader",
                "--parsable2",
                "--allocations",
                &format!("--format={fields}"),
                &format!("--jobs={}", ids.join(",")),
            ]),
            COMMAND_LIMIT,
        )
        .ok()
        .map(|out| out.lines().map(str::to_string).collect())
    }

    /// Slurm's final states of jobs, from accounting (empty when accounting is off).
    pub(super) fn accounting_states(
        &mut self,
        ids: &[String],
    ) -> BTreeMap<String, (String, String)> {
        self.sacct(ids, "JobID,State,ExitCode,Elapsed")
            .unwrap_or_default()
            .iter()
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

    /// Asks accounting for the GPUs of ended GPU jobs (`AllocTRES`), kept in `allocated_gpus`
    /// for their end's record; nothing for CPU jobs. False when accounting is off or did not
    /// answer (then waiting for it is pointless).
    pub(super) fn ask_gpu_allocations(&mut self, ids: &[String]) -> bool {
        if self.gpus.is_none() || ids.is_empty() {
            return true;
        }
        let Some(lines) = self.sacct(ids, "JobID,AllocTRES") else {
            return false;
        };
        for line in lines {
            let mut cells = line.split('|');
            let (Some(id), Some(tres)) = (cells.next(), cells.next()) else {
                continue;
            };
            if let Some(gpus) = gpus_in_tres(tres) {
                self.allocated_gpus.insert(id.trim().to_string(), gpus);
            }
        }
        true
    }

    /// Whether an ended job of a GPU search has no record of its GPUs yet: slurmdbd lags
    /// slurmctld, and a job that just left the queue can read without its AllocTRES.
    pub(super) fn gpus_unrecorded(&self, job_id: &str) -> bool {
        self.gpus.is_some() && !self.allocated_gpus.contains_key(job_id)
    }

    /// The GPUs accounting says an ended job was allocated, taken out of `allocated_gpus`.
    /// For a GPU job it has no record of, the search log says once that its GPU-hours count
    /// the GPUs the job config asks for.
    pub(super) fn take_allocated_gpus(&mut self, job_id: &str, combination_id: u64) -> Option<u64> {
        let gpus = self.allocated_gpus.remove(job_id);
        if let (None, Some(asked)) = (gpus, self.gpus) {
            if !self.gpu_accounting_missed {
                self.gpu_accounting_missed = true;
                self.events.push(ExecutorEvent::Note(format!(
                    "Slurm's accounting has no record of the GPUs job {job_id} (combination {combination_id}) was allocated (sacct's AllocTRES; is accounting off, or slurmdbd behind?); its GPU-hours, and those of later runs without a record, count the {asked} GPU(s) job_config.json asks for"
                )));
            }
        }
        gpus
    }
}

/// The GPUs in a TRES list such as `billing=2,cpu=2,gres/gpu=2,mem=1G,node=1` (typed GPUs,
/// `gres/gpu:a100=2`, are counted in the untyped total Slurm lists beside them; without it,
/// they are summed).
pub(super) fn gpus_in_tres(tres: &str) -> Option<u64> {
    let mut untyped = None;
    let mut typed: Option<u64> = None;
    for item in tres.split(',') {
        let Some((name, count)) = item.trim().split_once('=') else {
            continue;
        };
        let Ok(count) = count.trim().parse::<u64>() else {
            continue;
        };
        if name == "gres/gpu" {
            untyped = Some(count);
        } else if name.starts_with("gres/gpu:") {
            typed = Some(typed.unwrap_or(0).saturating_add(count));
        }
    }
    untyped.or(typed)
}

#[cfg(test)]
mod tests {
    use super::gpus_in_tres;

    #[test]
    fn the_gpus_of_a_tres_list() {
        assert_eq!(
            gpus_in_tres("billing=2,cpu=2,gres/gpu=2,mem=1G,node=1"),
            Some(2)
        );
        assert_eq!(
            gpus_in_tres("cpu=4,gres/gpu:a100=1,gres/gpu:v100=2,node=1"),
            Some(3)
        );
        assert_eq!(gpus_in_tres("cpu=4,gres/gpu=3,gres/gpu:a100=3"), Some(3));
        assert_eq!(gpus_in_tres("cpu=1,mem=500M,node=1"), None);
        assert_eq!(gpus_in_tres(""), None);
        assert_eq!(gpus_in_tres("gres/gpu=lots"), None);
    }
}
