//! Searches on a real single-node Slurm (started by `scripts/slurm/start-local-slurm.sh`, which
//! `.ci/run` runs). Each test is marked ignored: a plain `cargo nextest run` counts them as
//! skipped, `--run-ignored all` runs them and fails where no Slurm answers.

mod support;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;
use support::*;

/// These tests are marked ignored, so that a plain `cargo nextest run` lists them as skipped
/// where no Slurm runs; `--run-ignored all` (what `.ci/run` runs) includes them, and then a
/// missing Slurm is a failure that says how to start one.
fn require_slurm() {
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
fn slurm_project(script: &str, model: Value, search: Value) -> Project {
    let project = Project::new();
    project.script("run.sh", script);
    project.configs("/bin/sh", "run.sh", model, search);
    set_job(&project, "cluster", json!("testslurm"));
    project.write_json("hpsearch_clusters.json", &json!({"testslurm": {"scheduler": "slurm", "poll_interval_seconds": 0.3, "gpu_partition": "gpu", "max_resubmits": 1}}));
    project
}

fn set_job(project: &Project, field: &str, value: Value) {
    let path = project.path.join("job_config.json");
    let mut job: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    job[field] = value;
    project.write_json("job_config.json", &job);
}

fn one_param() -> Value {
    json!({"x": {"type": "continuous", "domain": [0, 1]}})
}

/// Slurm jobs of a search, by name suffix, with their states (one squeue call).
fn queued_jobs(project: &Project, id: u64) -> Vec<(String, String)> {
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

const COUNTING: &str = "#!/bin/sh\nid=$(basename \"$PWD\" | sed 's/hp_combination_//')\necho \"$id\" >> ../../runs.log\nsleep ${SLEEP:-0}\necho \"$id\" > output.json\n";

fn starts(project: &Project) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(project.path.join("runs.log"))
        .unwrap_or_default()
        .lines()
    {
        *counts.entry(line.to_string()).or_insert(0) += 1;
    }
    counts
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn a_grid_search_on_slurm_records_the_job_ids() {
    require_slurm();
    let project = slurm_project(
        COUNTING,
        json!({"x": {"type": "continuous", "domain": [0, 1]}, "k": {"type": "categorical", "domain": ["a", "b"]}}),
        json!({"search_type": "grid", "num_grid_points_per_hyperparameter": 2, "max_active_points": 2, "y_transformation": "none"}),
    );
    let run = project.hpsearch(&["run", "."]).ok();
    assert!(run.stdout.contains("all 4 combinations"), "{}", run.stdout);
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 4);
    let mut job_ids = std::collections::BTreeSet::new();
    for row in &rows {
        assert_eq!(row["status"], "succeeded", "{row:?}");
        assert!(
            row["job_id"].parse::<u64>().is_ok(),
            "a Slurm job id: {}",
            row["job_id"]
        );
        job_ids.insert(row["job_id"].clone());
        let script = std::fs::read_to_string(
            project
                .search_dir(0)
                .join(format!("hp_combination_{}/job.sh", row["combination_id"])),
        )
        .unwrap();
        assert!(
            !script.contains(&format!("\"{}\"", row["k"])),
            "hyperparameter values never reach the job script"
        );
    }
    assert_eq!(job_ids.len(), 4, "one job per run");
    let log = std::fs::read_to_string(project.search_dir(0).join("log.txt")).unwrap();
    assert!(log.contains("Slurm client calls: 4 sbatch"), "{log}");
    // The export carries what Slurm and the wrapper measured of each run.
    let results = project
        .hpsearch(&["results", "hp_search_0", "--format", "json"])
        .ok();
    let runs: Vec<Value> = serde_json::from_str(&results.stdout).unwrap();
    for run in &runs {
        assert_eq!(run["scheduler_state"], "COMPLETED", "{run}");
        assert!(run["elapsed_seconds"].as_f64().is_some(), "{run}");
        assert!(
            run["peak_memory_mb"].as_f64().is_some_and(|m| m > 0.0),
            "{run}"
        );
        assert!(job_ids.contains(run["job_id"].as_str().unwrap()), "{run}");
    }
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn paths_with_spaces_quotes_and_dollars_survive_the_job_script() {
    require_slurm();
    let project = Project::in_folder_named("it's a $HOME \"dir\"");
    project.script("run.sh", "#!/bin/sh\necho 2 > output.json\n");
    project.configs("/bin/sh", "run.sh", one_param(), json!({"search_type": "random", "max_suggestions": 2, "max_active_points": 2, "y_transformation": "none"}));
    set_job(&project, "cluster", json!("testslurm"));
    project.write_json(
        "hpsearch_clusters.json",
        &json!({"testslurm": {"poll_interval_seconds": 0.3}}),
    );
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn a_run_past_its_time_on_slurm_is_timed_out_and_imputed() {
    require_slurm();
    let project = slurm_project(
        "#!/bin/sh\ncase \"$PWD\" in *_0) echo 4 > output.json; exit 0;; esac\nsleep 60\n",
        one_param(),
        json!({"search_type": "random", "max_suggestions": 2, "max_active_points": 1, "y_transformation": "none"}),
    );
    set_job(&project, "time", json!(0.0003));
    set_job(&project, "kill_grace_seconds", json!(0.5));
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    assert_eq!(rows[0]["status"], "succeeded");
    assert_eq!(rows[1]["status"], "failed");
    assert!(
        rows[1]["failure_reason"].contains("time limit"),
        "{}",
        rows[1]["failure_reason"]
    );
    assert_eq!(rows[1]["loss"], "4.2", "imputed with max: 4 + 0.05 × 4");
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn a_job_cancelled_from_outside_is_recorded_as_such() {
    require_slurm();
    let project = slurm_project(
        "#!/bin/sh\nsleep 60\n",
        one_param(),
        json!({"search_type": "random", "max_suggestions": 1, "y_transformation": "none"}),
    );
    let child = Command::new(hpsearch_bin())
        .args(["run", "."])
        .current_dir(&project.path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut job = String::new();
    wait_until(Duration::from_secs(30), "the job to run", || {
        if let Some((id, state)) = queued_jobs(&project, 0).first() {
            job = id.clone();
            return state == "RUNNING";
        }
        false
    });
    assert!(Command::new("scancel")
        .arg(&job)
        .status()
        .unwrap()
        .success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let rows = project.data_rows(0);
    assert_eq!(rows[0]["status"], "failed");
    assert!(
        rows[0]["failure_reason"].contains("cancelled from outside"),
        "{}",
        rows[0]["failure_reason"]
    );
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn a_resumed_coordinator_reattaches_to_running_jobs_instead_of_resubmitting() {
    require_slurm();
    let project = slurm_project(
        &COUNTING.replace("${SLEEP:-0}", "3"),
        one_param(),
        json!({"search_type": "random", "max_suggestions": 4, "max_active_points": 2, "y_transformation": "none"}),
    );
    set_job(&project, "kill_grace_seconds", json!(1));
    project.hpsearch(&["launch", ".", "--local"]).ok();
    wait_until(Duration::from_secs(30), "two runs started", || {
        starts(&project).len() == 2
    });
    let holder: Value = serde_json::from_str(
        &std::fs::read_to_string(project.search_dir(0).join("coordinator.lock")).unwrap(),
    )
    .unwrap();
    let pid = holder["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let running_before: Vec<String> = queued_jobs(&project, 0)
        .into_iter()
        .filter(|(_, s)| s == "RUNNING" || s == "PENDING")
        .map(|(id, _)| id)
        .collect();
    assert!(!running_before.is_empty(), "jobs outlive the coordinator");
    let resume = project.hpsearch(&["resume", "hp_search_0"]).ok();
    assert!(
        resume.stdout.contains("max_suggestions (4)"),
        "{}",
        resume.stdout
    );
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
    assert!(
        starts(&project).values().all(|n| *n == 1),
        "no run submitted twice: {:?}",
        starts(&project)
    );
    for id in running_before {
        assert!(
            rows.iter().any(|r| r["job_id"] == id),
            "job {id} was adopted, not replaced"
        );
    }
    let log = std::fs::read_to_string(project.search_dir(0).join("log.txt")).unwrap();
    assert!(
        log.contains("still running") || log.contains("watching it again"),
        "{log}"
    );
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn max_active_points_bounds_the_jobs_queued_or_running() {
    require_slurm();
    let project = slurm_project(
        &COUNTING.replace("${SLEEP:-0}", "0.5"),
        one_param(),
        json!({"search_type": "random", "max_suggestions": 9, "max_active_points": 3, "y_transformation": "none"}),
    );
    let mut child = Command::new(hpsearch_bin())
        .args(["run", "."])
        .current_dir(&project.path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut most = 0;
    while child.try_wait().unwrap().is_none() {
        let active = queued_jobs(&project, 0)
            .iter()
            .filter(|(_, s)| {
                matches!(
                    s.as_str(),
                    "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING"
                )
            })
            .count();
        most = most.max(active);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(most <= 3, "at most 3 jobs at once, saw {most}");
    assert!(
        most >= 2,
        "the search did run jobs in parallel (saw {most})"
    );
    assert_eq!(project.data_rows(0).len(), 9);
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn a_gpu_run_gets_the_gpus_it_asks_for() {
    require_slurm();
    let project = slurm_project(
        "#!/bin/sh\nn=$(echo \"${CUDA_VISIBLE_DEVICES:-}\" | tr ',' '\\n' | grep -c .)\necho \"{\\\"objective\\\": 1, \\\"gpus\\\": $n}\" > output.json\n",
        one_param(),
        json!({"search_type": "random", "max_suggestions": 1, "y_transformation": "none"}),
    );
    set_job(&project, "processor_type", json!("GPU"));
    set_job(&project, "gpus", json!(2));
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    assert_eq!(rows[0]["status"], "succeeded", "{rows:?}");
    assert_eq!(rows[0]["metric_gpus"], "2", "the job saw two GPUs");
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn launch_submits_the_coordinator_itself_as_a_slurm_job() {
    require_slurm();
    let project = slurm_project(
        COUNTING,
        one_param(),
        json!({"search_type": "random", "max_suggestions": 3, "max_active_points": 3, "y_transformation": "none", "search_memory": 1, "search_time": 0.5}),
    );
    let launch = project.hpsearch(&["launch", "."]).ok();
    assert!(launch.stdout.contains("as Slurm job"), "{}", launch.stdout);
    wait_until(Duration::from_secs(60), "the search to finish", || {
        project
            .hpsearch(&["status", "hp_search_0"])
            .stdout
            .contains("finished")
    });
    assert_eq!(project.data_rows(0).len(), 3);
    let launched = std::fs::read_to_string(project.path.join("launched_hp_searches.txt")).unwrap();
    let row: Vec<&str> = launched.lines().nth(1).unwrap().split('\t').collect();
    assert!(
        row[0].parse::<u64>().is_ok(),
        "the coordinator's Slurm job id: {}",
        row[0]
    );
    assert!(
        row[8].starts_with("sbatch ") && row[8].contains("--mem=1G"),
        "the exact sbatch command: {}",
        row[8]
    );
}

#[test]
fn an_unknown_cluster_profile_lists_the_known_ones() {
    let project = slurm_project("#!/bin/sh\n", one_param(), json!({"search_type": "random"}));
    set_job(&project, "cluster", json!("CMS"));
    let run = project.hpsearch(&["run", "."]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("`cluster`") && run.stderr.contains("local, testslurm"),
        "{}",
        run.stderr
    );
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn the_test_phase_runs_as_a_slurm_job_of_the_search() {
    require_slurm();
    let project = slurm_project(
        "#!/bin/sh\nif grep -q '\"phase\": \"test\"' input.json; then echo \"$SLURM_JOB_ID\" > ../test_job_id; echo 7 > output.json; else echo 3 > output.json; fi\n",
        one_param(),
        json!({"search_type": "random", "max_suggestions": 2, "max_active_points": 2, "y_transformation": "none"}),
    );
    project.hpsearch(&["run", "."]).ok();
    let test = project.hpsearch(&["test", "hp_search_0"]).ok();
    assert!(test.stdout.contains("objective 7"), "{}", test.stdout);
    let job_id = std::fs::read_to_string(project.search_dir(0).join("test_job_id")).unwrap();
    assert!(
        job_id.trim().parse::<u64>().is_ok(),
        "the test run was a Slurm job: {job_id:?}"
    );
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(project.search_dir(0).join("hp_search_state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["test_runs"][0]["job_id"], json!(job_id.trim()));
    assert_eq!(state["test_runs"][0]["objective"], json!(7.0));
}
