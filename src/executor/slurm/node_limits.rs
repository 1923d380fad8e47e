//! Whether a run's request (memory, CPUs, GPUs) fits any node of its partition, asked of
//! `sinfo` once before the first sbatch: a request no node can take would otherwise wait in the
//! queue for ever, and every run of the search with it.

use super::client::COMMAND_LIMIT;
use super::SlurmExecutor;
use crate::executor::contract::ExecutorError;
use std::process::Command;

impl SlurmExecutor {
    /// Why no node of the run's partition can ever take its request (memory, CPUs, GPUs), by
    /// `sinfo`, before the first sbatch; `None` when some node can, or sinfo does not answer
    /// (then sbatch itself decides). Checked once per coordinator.
    fn request_beyond_every_node(&mut self) -> Option<String> {
        let partition = if self.gpus.is_some() {
            self.profile.gpu_partition.clone()
        } else {
            self.profile.cpu_partition.clone()
        };
        let mut command = Command::new("sinfo");
        command.args(["--noheader", "--format=%P|%m|%c|%G"]);
        if let Some(p) = &partition {
            command.arg(format!("--partition={p}"));
        }
        let out = self.call(&mut command, COMMAND_LIMIT).ok()?;
        self.request_checked = true;
        let nodes: Vec<NodeSize> = out
            .lines()
            .filter(|l| {
                partition.is_some() || l.split('|').next().is_some_and(|p| p.ends_with('*'))
            })
            .filter_map(NodeSize::parse)
            .collect();
        if nodes.is_empty() {
            return None; // an unknown partition: sbatch says so in its own words
        }
        let where_ = partition.map_or("the default partition".to_string(), |p| {
            format!("partition {p}")
        });
        let most = |f: fn(&NodeSize) -> u64| nodes.iter().map(f).max().unwrap_or(0);
        let memory_mb = self.memory_gb.saturating_mul(1024);
        if memory_mb > most(|n| n.memory_mb) {
            return Some(format!(
                "job_config.json asks for `memory` {} GB per run, but the largest node of {where_} has {} MB; lower `memory`",
                self.memory_gb,
                most(|n| n.memory_mb)
            ));
        }
        if self.cpus > most(|n| n.cpus) {
            return Some(format!(
                "job_config.json asks for `num_processors` {} per run, but the largest node of {where_} has {} CPUs; lower `num_processors`",
                self.cpus,
                most(|n| n.cpus)
            ));
        }
        if let Some(gpus) = self.gpus {
            if gpus > most(|n| n.gpus) {
                return Some(format!(
                    "job_config.json asks for `gpus` {gpus} per run, but the node with the most GPUs in {where_} has {}; lower `gpus` or use another partition (gpu_partition in the cluster profile)",
                    most(|n| n.gpus)
                ));
            }
        }
        None
    }

    /// Before the first sbatch: a request no node can take refuses the search's every run.
    pub(super) fn check_request(&mut self, combination_id: u64) -> Result<(), ExecutorError> {
        if self.request_checked {
            return Ok(());
        }
        match self.request_beyond_every_node() {
            Some(message) => Err(ExecutorError::Refused {
                id: combination_id,
                message,
            }),
            None => Ok(()),
        }
    }
}

/// What one line of `sinfo --format=%P|%m|%c|%G` says a partition's nodes have.
struct NodeSize {
    memory_mb: u64,
    cpus: u64,
    gpus: u64,
}

impl NodeSize {
    fn parse(line: &str) -> Option<NodeSize> {
        let cells: Vec<&str> = line.trim().split('|').collect();
        // `%m` may read `24151+` when nodes differ; the number is the smallest.
        let number = |text: &str| text.trim_end_matches('+').trim().parse::<u64>().ok();
        let gpus = cells
            .get(3)?
            .split(',')
            .filter_map(|g| {
                let g = g.split('(').next()?;
                let mut parts = g.split(':');
                (parts.next()? == "gpu").then(|| parts.next_back().and_then(number))?
            })
            .sum();
        Some(NodeSize {
            memory_mb: number(cells.get(1)?)?,
            cpus: number(cells.get(2)?)?,
            gpus,
        })
    }
}
