//! The Slurm tests' shared setup: a project on the local single-node Slurm, and what a test
//! reads back of Slurm's queue and of the runs.

use super::Project;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;

/// These tests are marked ignored, so that a plain `cargo nextest run` lists them as skipped
/// where no Slurm runs; `--run-ignored all` (what `.ci/run` runs) includes them, and then a
/// missing Slurm is a failure that says how to start one.
pub fn require_slurm() {
    let up = Command::new("sinfo")
        .arg("--noheader")
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    assert!(
        up,
        "no Slurm answers here; start one with `bash scripts/slurm/start-local-slurm.sh`"
    );
}

/// A project whose job_config uses the cluster profile `testslurm` (polled every 0.3 s).
pub fn slurm_project(script: &str, model: Value, search: Value) -> Project {
    let project = Project::new();
    project.script("run.sh", script);
    project.configs("/bin/sh", "run.sh", model, search);
    set_job(&project, "cluster", json!("testslurm"));
    project.write_json("hpsearch_clusters.json", &json!({"testslurm": {"scheduler": "slurm", "poll_interval_seconds": 0.3, "gpu_partition": "gpu", "max_resubmits": 1}}));
    project
}

pub use super::set_job;

pub fn one_param() -> Value {
    json!({"x": {"type": "continuous", "domain": [0, 1]}})
}

/// Slurm jobs of a search, by name suffix, with their states (one squeue call).
pub fn queued_jobs(project: &Project, id: u64) -> Vec<(String, String)> {
    let tag = hpsearch::executor::slurm::folder_tag(&project.search_dir(id));
    let out = Command::new("squeue")
        .args(["--noheader", "--format=%i|%j|%T"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.trim().split('|').collect();
            (parts.len() == 3 && parts[1].ends_with(&tag))
                .then(|| (parts[0].to_string(), parts[2].to_string()))
        })
        .collect()
}

/// Logs its combination's id at its start. The id is read with the shell's own expansion, not a
/// pipeline: when a node fails as a job starts, Slurm's kill can end a `$(basename | sed)` child
/// before the shell, which then logged an empty id (CI, 2026-12-05: `["", "0"]`).
pub const COUNTING: &str = "#!/bin/sh\nid=${PWD##*hp_combination_}\necho \"$id\" >> ../../runs.log\nsleep ${SLEEP:-0}\necho \"$id\" > output.json\n";

pub fn starts(project: &Project) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(project.path.join("runs.log"))
        .unwrap_or_default()
        .lines()
    {
        *counts.entry(line.to_string()).or_insert(0) += 1;
    }
    counts
}

pub fn snapshot_of(project: &Project) -> Value {
    let text = std::fs::read_to_string(project.search_dir(0).join("hp_search_state.json"))
        .unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

pub fn search_log(project: &Project) -> String {
    std::fs::read_to_string(project.search_dir(0).join("log.txt")).unwrap_or_default()
}

/// kill -9 of search 0's coordinator (the lock holder); its Slurm jobs go on.
pub fn kill_coordinator(project: &Project) {
    let text = std::fs::read_to_string(project.search_dir(0).join("coordinator.lock"))
        .expect("the coordinator's lock");
    let holder: Value = serde_json::from_str(&text).expect("the lock holder");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(holder["pid"].as_i64().expect("a pid") as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("the coordinator is killed");
}
