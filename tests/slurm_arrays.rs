//! Job arrays on a real single-node Slurm (`"job_arrays": true` in the cluster profile): waves
//! of runs as one sbatch, held to max_active_points, taken over by resume. Ignored like every
//! Slurm test: `--run-ignored all` runs them.

mod support;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;
use support::slurm::*;
use support::*;

/// Appends `id start end` to spans.log, and prints a line to its log.
const SPANS: &str = "#!/bin/sh\nid=$(basename \"$PWD\" | sed 's/hp_combination_//')\necho \"$id\" >> ../../runs.log\nstart=$(date +%s.%N)\necho \"task of combination $id\"\nsleep ${SLEEP:-1}\necho \"$id $start $(date +%s.%N)\" >> ../../spans.log\necho \"$id\" > output.json\n";

fn array_project(script: &str, search: Value) -> Project {
    let project = slurm_project(script, one_param(), search);
    project.write_json(
        "hpsearch_clusters.json",
        &json!({"testslurm": {"scheduler": "slurm", "poll_interval_seconds": 0.3, "job_arrays": true}}),
    );
    project
}

/// The most runs whose [start, end] spans overlap at one moment.
fn most_at_once(project: &Project) -> usize {
    let spans: Vec<(f64, f64)> = std::fs::read_to_string(project.path.join("spans.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            Some((cells.get(1)?.parse().ok()?, cells.get(2)?.parse().ok()?))
        })
        .collect();
    spans
        .iter()
        .map(|(start, _)| {
            spans
                .iter()
                .filter(|(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// The array's base id of each row's job id `{base}_{index}`.
fn array_bases(rows: &[std::collections::BTreeMap<String, String>]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            let (base, index) = r["job_id"]
                .split_once('_')
                .unwrap_or_else(|| panic!("an array task id: {}", r["job_id"]));
            assert!(index.parse::<u32>().is_ok(), "{}", r["job_id"]);
            base.to_string()
        })
        .collect()
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn a_grid_goes_out_as_one_job_array_held_to_max_active_points() {
    require_slurm();
    let project = array_project(
        SPANS,
        json!({"search_type": "grid", "num_grid_points_per_hyperparameter": 8, "max_active_points": 3, "y_transformation": "none"}),
    );
    let run = project.hpsearch(&["run", "."]).ok();
    assert!(run.stdout.contains("all 8 combinations"), "{}", run.stdout);
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 8);
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
    let mut bases = array_bases(&rows);
    bases.dedup();
    assert_eq!(bases.len(), 1, "one array for the whole grid: {bases:?}");
    let log = search_log(&project);
    assert!(
        log.contains("Slurm client calls: 1 sbatch (1 of them job arrays)"),
        "{log}"
    );
    assert!(starts(&project).values().all(|n| *n == 1), "each ran once");
    let most = most_at_once(&project);
    assert!(most <= 3, "at most max_active_points at once, saw {most}");
    assert!(most >= 2, "the tasks ran side by side (saw {most})");
    // Slurm's output for each task lands in its own combination's log.txt, and the wave's job
    // script holds folders, never hyperparameter values.
    for row in &rows {
        let folder = project
            .search_dir(0)
            .join(format!("hp_combination_{}", row["combination_id"]));
        let task_log = std::fs::read_to_string(folder.join("log.txt")).unwrap_or_default();
        assert!(
            task_log.contains(&format!("task of combination {}", row["combination_id"])),
            "{task_log}"
        );
    }
    let script =
        std::fs::read_to_string(project.search_dir(0).join("slurm_waves/w0/job.sh")).unwrap();
    assert!(script.contains("SLURM_ARRAY_TASK_ID"), "{script}");
    assert!(!script.contains(&rows[1]["x"]), "{script}");
    // The export says what Slurm said of each task.
    let results = project
        .hpsearch(&["results", "hp_search_0", "--format", "json"])
        .ok();
    let runs: Vec<Value> = serde_json::from_str(&results.stdout).unwrap();
    assert!(
        runs.iter().all(|r| r["scheduler_state"] == "COMPLETED"),
        "{runs:?}"
    );
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn a_resume_takes_over_a_wave_even_when_its_job_ids_were_never_recorded() {
    require_slurm();
    let project = array_project(
        &SPANS.replace("${SLEEP:-1}", "3"),
        json!({"search_type": "random", "max_suggestions": 6, "max_active_points": 2, "y_transformation": "none"}),
    );
    set_job(&project, "kill_grace_seconds", json!(1));
    project.hpsearch(&["launch", ".", "--local"]).ok();
    wait_until(Duration::from_secs(30), "two tasks started", || {
        starts(&project).len() == 2
    });
    kill_coordinator(&project);
    // The coordinator dies between the sbatch and recording the task ids: the store knows
    // nothing of the array.
    let store = rusqlite::Connection::open(project.search_dir(0).join("hp_search.sqlite"))
        .expect("the search's store");
    let forgotten = store
        .execute(
            "UPDATE combinations SET state = 'created', job_id = NULL, is_queued = 0, started_at = NULL WHERE state IN ('queued', 'running')",
            [],
        )
        .unwrap();
    drop(store);
    assert!(forgotten >= 4, "the wave's unfinished runs ({forgotten})");
    let resume = project.hpsearch(&["resume", "hp_search_0"]).ok();
    assert!(
        resume.stdout.contains("max_suggestions (6)"),
        "{}",
        resume.stdout
    );
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
    assert!(
        starts(&project).values().all(|n| *n == 1),
        "no run submitted twice: {:?}",
        starts(&project)
    );
    let mut bases = array_bases(&rows);
    bases.dedup();
    assert_eq!(bases.len(), 1, "every task of the one array: {bases:?}");
    assert!(most_at_once(&project) <= 2, "still held to 2 at once");
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn cancel_stops_every_task_of_a_wave() {
    require_slurm();
    let project = array_project(
        &SPANS.replace("${SLEEP:-1}", "30"),
        json!({"search_type": "sobol", "max_suggestions": 5, "max_active_points": 2, "y_transformation": "none"}),
    );
    project.hpsearch(&["launch", ".", "--local"]).ok();
    wait_until(Duration::from_secs(30), "two tasks started", || {
        starts(&project).len() == 2
    });
    project.hpsearch(&["cancel", "hp_search_0"]).ok();
    wait_until(Duration::from_secs(30), "the array left the queue", || {
        queued_jobs(&project, 0).is_empty()
    });
    let out = Command::new("squeue")
        .args(["--noheader", "--array", "--format=%i"])
        .output()
        .unwrap();
    let bases = array_bases(&project.data_rows(0));
    for base in bases {
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains(&format!("{base}_")),
            "no task of array {base} left"
        );
    }
    assert_eq!(starts(&project).len(), 2, "the queued tasks never ran");
}
