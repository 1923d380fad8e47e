//! Searches on a real single-node Slurm (started by `scripts/slurm/start-local-slurm.sh`, which
//! `.ci/run` runs). Each test is marked ignored: a plain `cargo nextest run` counts them as
//! skipped, `--run-ignored all` runs them and fails where no Slurm answers.

mod support;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;
use support::slurm::*;
use support::*;

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
    assert_eq!(output.status.code(), Some(1), "no run succeeded");
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
    kill_coordinator(&project);
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
        "#!/bin/sh\nsleep 1.5\nn=$(echo \"${CUDA_VISIBLE_DEVICES:-}\" | tr ',' '\\n' | grep -c .)\necho \"{\\\"objective\\\": 1, \\\"gpus\\\": $n}\" > output.json\n",
        one_param(),
        json!({"search_type": "random", "max_suggestions": 1, "y_transformation": "none"}),
    );
    set_job(&project, "processor_type", json!("GPU"));
    set_job(&project, "gpus", json!(2));
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    assert_eq!(rows[0]["status"], "succeeded", "{rows:?}");
    assert_eq!(rows[0]["metric_gpus"], "2", "the job saw two GPUs");
    // Slurm's accounting says what it allocated, and the GPU-hours follow from it (the run
    // sleeps past Slurm's one-second resolution of its run time).
    let results = project
        .hpsearch(&["results", "hp_search_0", "--format", "json"])
        .ok();
    let results: Value = serde_json::from_str(&results.stdout).expect("json");
    assert_eq!(results[0]["gpus"], 2, "sacct's AllocTRES: {results}");
    let snapshot: Value = serde_json::from_str(
        &std::fs::read_to_string(project.search_dir(0).join("hp_search_state.json")).unwrap(),
    )
    .unwrap();
    let compute = &snapshot["compute"];
    let (gpu, run) = (compute["gpu_hours"].as_f64(), compute["run_hours"].as_f64());
    assert!(
        gpu.zip(run)
            .is_some_and(|(g, r)| r > 0.0 && (g - 2.0 * r).abs() < 1e-9),
        "{compute}"
    );
}

/// A GPU project whose `sacct` answers the first `lagging_answers` questions about GPUs
/// (AllocTRES) as slurmdbd does while it is behind: a record of the job without its TRES;
/// every other question goes to the real sacct. Returns the project and the PATH to run
/// hpsearch with.
fn gpu_project_with_lagging_accounting(lagging_answers: u32, runs: u32) -> (Project, String) {
    let project = slurm_project(
        "#!/bin/sh\nsleep 1.5\necho '{\"objective\": 1}' > output.json\n",
        one_param(),
        json!({"search_type": "random", "max_suggestions": runs, "max_active_points": runs, "y_transformation": "none"}),
    );
    set_job(&project, "processor_type", json!("GPU"));
    set_job(&project, "gpus", json!(2));
    let real = Command::new("sh")
        .args(["-c", "command -v sacct"])
        .output()
        .expect("sh");
    let real = String::from_utf8_lossy(&real.stdout).trim().to_string();
    assert!(!real.is_empty(), "sacct is on PATH where Slurm runs");
    let count = project.path.join("tres_questions");
    project.write(
        "shim/sacct",
        &format!(
            "#!/bin/sh\ncase \"$*\" in *AllocTRES*)\n  n=$(cat '{count}' 2>/dev/null || echo 0); echo $((n + 1)) > '{count}'\n  if [ \"$n\" -lt {lagging_answers} ]; then\n    for a in \"$@\"; do case \"$a\" in --jobs=*) ids=${{a#--jobs=}};; esac; done\n    echo \"$ids\" | tr ',' '\\n' | sed 's/$/|/'\n    exit 0\n  fi;;\nesac\nexec '{real}' \"$@\"\n",
            count = count.display()
        ),
    );
    let shim = project.path.join("shim");
    std::fs::set_permissions(
        shim.join("sacct"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        shim.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (project, path)
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn a_gpu_run_whose_accounting_lags_behind_the_queue_still_gets_its_gpus() {
    require_slurm();
    let (project, path) = gpu_project_with_lagging_accounting(3, 1);
    project
        .hpsearch_with_env(&["run", "."], &[("PATH", &path)])
        .ok();
    let questions: u32 = std::fs::read_to_string(project.path.join("tres_questions"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        questions > 3,
        "asked again after the lagging answers: {questions}"
    );
    let results = project
        .hpsearch(&["results", "hp_search_0", "--format", "json"])
        .ok();
    let results: Value = serde_json::from_str(&results.stdout).expect("json");
    assert_eq!(results[0]["status"], "succeeded", "{results}");
    assert_eq!(
        results[0]["gpus"], 2,
        "sacct's AllocTRES, once recorded: {results}"
    );
    assert!(
        !search_log(&project).contains("no record of the GPUs"),
        "{}",
        search_log(&project)
    );
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn gpu_runs_that_accounting_never_records_end_counted_at_the_gpus_asked_for_and_the_log_says_so() {
    require_slurm();
    let (project, path) = gpu_project_with_lagging_accounting(u32::MAX / 2, 2);
    let started = std::time::Instant::now();
    project
        .hpsearch_with_env(&["run", "."], &[("PATH", &path)])
        .ok();
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "the wait for accounting is bounded: {:?}",
        started.elapsed()
    );
    let results = project
        .hpsearch(&["results", "hp_search_0", "--format", "json"])
        .ok();
    let results: Value = serde_json::from_str(&results.stdout).expect("json");
    for run in results.as_array().unwrap() {
        assert_eq!(run["status"], "succeeded", "{results}");
        assert_eq!(
            run["gpus"],
            Value::Null,
            "accounting said nothing: {results}"
        );
    }
    let log = search_log(&project);
    assert_eq!(
        log.matches("no record of the GPUs").count(),
        1,
        "said once: {log}"
    );
    assert!(
        log.contains("count the 2 GPU(s) job_config.json asks for"),
        "{log}"
    );
    let compute = &snapshot_of(&project)["compute"];
    let (gpu, run) = (compute["gpu_hours"].as_f64(), compute["run_hours"].as_f64());
    assert!(
        gpu.zip(run)
            .is_some_and(|(g, r)| r > 0.0 && (g - 2.0 * r).abs() < 1e-9),
        "{compute}"
    );
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
    let test = project
        .hpsearch(&["test", "hp_search_0", "--combination", "0"])
        .ok();
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

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn a_request_no_node_can_satisfy_stops_the_search_at_once() {
    require_slurm();
    // 3 GPUs on a node with 2: sinfo tells before any sbatch.
    let project = slurm_project(
        COUNTING,
        one_param(),
        json!({"search_type": "random", "max_suggestions": 4, "max_active_points": 2}),
    );
    set_job(&project, "processor_type", json!("GPU"));
    set_job(&project, "gpus", json!(3));
    let started = std::time::Instant::now();
    let run = project.hpsearch(&["run", "."]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "not retried forever"
    );
    assert!(run.stdout.contains("refuses every run"), "{}", run.stdout);
    assert!(run.stdout.contains("`gpus` 3"), "{}", run.stdout);

    // An unknown partition: sbatch's own refusal, which no retry changes.
    let project = slurm_project(
        COUNTING,
        one_param(),
        json!({"search_type": "random", "max_suggestions": 4, "max_active_points": 2}),
    );
    project.write_json("hpsearch_clusters.json", &json!({"testslurm": {"scheduler": "slurm", "poll_interval_seconds": 0.3, "cpu_partition": "nosuch"}}));
    let started = std::time::Instant::now();
    let run = project.hpsearch(&["run", "."]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "not retried forever"
    );
    assert!(run.stdout.contains("Invalid partition"), "{}", run.stdout);
    let combinations = snapshot_of(&project)["combinations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let tried: Vec<&Value> = combinations
        .iter()
        .filter(|c| c["state"] != "created")
        .collect();
    assert_eq!(
        tried.len(),
        1,
        "one run failed, no other was submitted: {combinations:?}"
    );
    assert_eq!(tried[0]["failure_kind"], "start_failed");
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn a_coordinator_job_slurm_refuses_leaves_no_search_behind() {
    require_slurm();
    let project = slurm_project(
        COUNTING,
        one_param(),
        json!({"search_type": "random", "max_suggestions": 2, "search_memory": 100000}),
    );
    let launch = project.hpsearch(&["launch", "."]);
    assert_eq!(launch.code, 1, "{}\n{}", launch.stdout, launch.stderr);
    assert!(
        launch.stderr.contains("nothing was started"),
        "{}",
        launch.stderr
    );
    assert!(!project.search_dir(0).exists(), "no dead search folder");
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn a_job_killed_for_its_memory_without_cgroups_is_out_of_memory() {
    require_slurm();
    // 1 GB allowed, about 1.5 GB touched and held past Slurm's 5 s accounting interval.
    let script = "#!/bin/sh\nexec python3 -c \"import time; b = b'x' * (1536 * 1024 * 1024); time.sleep(30)\"\n";
    let project = slurm_project(
        script,
        one_param(),
        json!({"search_type": "random", "max_suggestions": 1, "y_failure_value": "nan"}),
    );
    set_job(&project, "memory", json!(1));
    let run = project.hpsearch(&["run", "."]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let combinations = snapshot_of(&project)["combinations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        combinations[0]["failure_kind"], "out_of_memory",
        "{:?}",
        combinations[0]
    );
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn ctrl_c_takes_effect_at_once_while_slurmctld_is_down_and_resume_takes_the_job_over() {
    require_slurm();
    let project = slurm_project(
        COUNTING,
        one_param(),
        json!({"search_type": "random", "max_suggestions": 2, "max_active_points": 1, "y_transformation": "none"}),
    );
    let mut child = Command::new(hpsearch_bin())
        .args(["run", "."])
        .env("SLEEP", "25")
        .current_dir(&project.path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(30), "the first job to run", || {
        starts(&project).len() == 1
    });
    let restart = || {
        let ok = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/slurm/start-local-slurm.sh"
            ))
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "slurmctld restarted");
    };
    Command::new("pkill")
        .args(["-x", "slurmctld"])
        .status()
        .unwrap();
    wait_until(Duration::from_secs(40), "the outage in the log", || {
        search_log(&project).contains("Slurm does not answer")
    });
    let asked = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let took = asked.elapsed();
    restart();
    assert_eq!(status.code(), Some(130));
    assert!(took < Duration::from_secs(4), "stopping took {took:?}");
    let resume = project.hpsearch(&["resume", "hp_search_0"]);
    assert_eq!(resume.code, 0, "{}\n{}", resume.stdout, resume.stderr);
    let counts = starts(&project);
    assert_eq!(
        counts.get("0"),
        Some(&1),
        "the job that outlived the outage ran once: {counts:?}"
    );
    let log = search_log(&project);
    assert!(
        log.contains("Slurm answers again")
            || log.contains("taken over")
            || log.contains("still running"),
        "{log}"
    );
}

/// Sets the test node's state with scontrol (`down` fails its jobs with NODE_FAIL).
fn set_node(state: &str) {
    let mut command = Command::new("scontrol");
    command.args(["update", "nodename=localhost", &format!("state={state}")]);
    if state == "down" {
        command.arg("reason=hpsearch test");
    }
    let ok = command.status().is_ok_and(|s| s.success());
    // A node that came back by itself (ReturnToService) cannot be resumed again.
    assert!(ok || state == "resume", "scontrol {state}");
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn a_resubmitted_job_is_recorded_so_a_resume_takes_it_over_instead_of_running_it_twice() {
    require_slurm();
    let project = slurm_project(
        &COUNTING.replace("${SLEEP:-0}", "8"),
        one_param(),
        json!({"search_type": "random", "max_suggestions": 1, "y_transformation": "none"}),
    );
    // Without Slurm's own requeue, a node failure ends the job for good (NODE_FAIL): hpsearch
    // submits it again under a new id.
    project.write_json("hpsearch_clusters.json", &json!({"testslurm": {"scheduler": "slurm", "poll_interval_seconds": 0.3, "max_resubmits": 1, "extra_sbatch_args": ["--no-requeue"]}}));
    project.hpsearch(&["launch", "--local", "."]).ok();
    let mut first = String::new();
    wait_until(Duration::from_secs(30), "the job to run", || {
        if let Some((id, state)) = queued_jobs(&project, 0).first() {
            first = id.clone();
            return state == "RUNNING";
        }
        false
    });
    // The node fails: Slurm ends the job NODE_FAIL and hpsearch submits it again.
    set_node("down");
    let mut second = String::new();
    wait_until(
        Duration::from_secs(60),
        "the resubmission in the log",
        || {
            let log = search_log(&project);
            if let Some(line) = log.lines().find(|l| l.contains("submitted again as job")) {
                second = line.rsplit(' ').next().unwrap_or_default().to_string();
                return true;
            }
            false
        },
    );
    assert_ne!(first, second);
    wait_until(
        Duration::from_secs(10),
        "the new job id in the snapshot",
        || snapshot_of(&project)["combinations"][0]["job_id"] == json!(second),
    );
    // The coordinator dies while the new job runs; resume must take that job over.
    kill_coordinator(&project);
    set_node("resume");
    let resume = project.hpsearch(&["resume", "hp_search_0"]);
    assert_eq!(resume.code, 0, "{}\n{}", resume.stdout, resume.stderr);
    let combination = &snapshot_of(&project)["combinations"][0];
    assert_eq!(combination["state"], "succeeded", "{combination}");
    assert_eq!(combination["job_id"], json!(second), "{combination}");
    let jobs: Vec<String> = starts(&project).keys().cloned().collect();
    assert_eq!(jobs, ["0"], "one combination");
    assert!(
        starts(&project)["0"] <= 2,
        "started by the first job and the resubmitted one, never a third time"
    );
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn resume_slurm_puts_the_coordinator_back_on_slurm_and_records_its_job() {
    require_slurm();
    let project = slurm_project(
        &COUNTING.replace("${SLEEP:-0}", "1"),
        one_param(),
        json!({"search_type": "random", "max_suggestions": 4, "max_active_points": 1, "y_transformation": "none", "search_memory": 1, "search_time": 0.5}),
    );
    project.hpsearch(&["launch", "."]).ok();
    wait_until(Duration::from_secs(60), "a first run", || {
        !starts(&project).is_empty()
    });
    // The coordinator's job is cancelled (its allocation ended, say); the search stops.
    let cancel = project.hpsearch(&["cancel", "hp_search_0"]);
    assert_eq!(cancel.code, 0, "{}\n{}", cancel.stdout, cancel.stderr);
    wait_until(
        Duration::from_secs(60),
        "the coordinator to be gone",
        || {
            !project
                .hpsearch(&["status", "hp_search_0"])
                .stdout
                .contains("running (")
        },
    );
    let resume = project.hpsearch(&["resume", "hp_search_0", "--slurm"]);
    assert_eq!(resume.code, 0, "{}\n{}", resume.stdout, resume.stderr);
    assert!(resume.stdout.contains("as Slurm job"), "{}", resume.stdout);
    wait_until(Duration::from_secs(90), "the search to finish", || {
        snapshot_of(&project)["state"] == "finished"
    });
    let launched = std::fs::read_to_string(project.path.join("launched_hp_searches.txt")).unwrap();
    let rows: Vec<Vec<&str>> = launched
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 2, "launch and resume: {launched}");
    assert_ne!(rows[0][0], rows[1][0]);
    assert!(rows[1][0].parse::<u64>().is_ok(), "{}", rows[1][0]);
    assert!(rows[1][7].contains("--resumed"), "{}", rows[1][7]);
    let combinations = snapshot_of(&project)["combinations"]
        .as_array()
        .cloned()
        .unwrap();
    assert_eq!(combinations.len(), 4);
    assert!(
        combinations.iter().all(|c| c["state"] == "succeeded"),
        "{combinations:?}"
    );
}

#[test]
fn a_cluster_name_is_matched_regardless_of_case_and_a_typo_gets_a_suggestion() {
    let project = slurm_project(
        "#!/bin/sh\necho 1 > output.json\n",
        one_param(),
        json!({"search_type": "random", "max_suggestions": 1}),
    );
    set_job(&project, "cluster", json!("testslurn"));
    let run = project.hpsearch(&["run", "."]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("did you mean \"testslurm\""),
        "{}",
        run.stderr
    );
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn a_time_limit_in_whole_minutes_is_slurms_timeout_and_a_checkpointed_run_is_requeued() {
    require_slurm();
    // Combination 0 never checkpoints; combination 1 saves a checkpoint, and continues from it
    // when it runs again.
    let script = "#!/bin/sh\ncase \"$PWD\" in *_0) exec sleep 300;; esac\nif [ -e checkpoint ]; then echo 1 > output.json; exit 0; fi\ntouch checkpoint\nexec sleep 300\n";
    let project = slurm_project(
        script,
        one_param(),
        json!({"search_type": "random", "max_suggestions": 2, "max_active_points": 2, "y_transformation": "none", "y_failure_value": "nan"}),
    );
    project.write_json(
        "hpsearch_clusters.json",
        &json!({"testslurm": {"scheduler": "slurm", "poll_interval_seconds": 0.3, "requeue_on_timeout": true}}),
    );
    set_job(&project, "time", json!(1.0 / 60.0));
    let run = project.hpsearch(&["run", "."]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let combinations = snapshot_of(&project)["combinations"]
        .as_array()
        .cloned()
        .unwrap();
    assert_eq!(combinations[0]["state"], "failed", "{:?}", combinations[0]);
    assert_eq!(combinations[0]["failure_kind"], "timed_out");
    assert_eq!(
        combinations[0]["scheduler_state"], "TIMEOUT",
        "Slurm enforced the limit: {:?}",
        combinations[0]
    );
    assert_eq!(
        combinations[1]["state"], "succeeded",
        "{:?}",
        combinations[1]
    );
    assert_eq!(combinations[1]["attempts"], 2);
    assert!(search_log(&project).contains("requeue_on_timeout"));
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn a_job_waiting_in_the_queue_is_shown_queued_and_its_wait_is_not_run_time() {
    require_slurm();
    // Each job takes every CPU of the node: the second waits in the queue while the first runs.
    let project = slurm_project(
        &COUNTING.replace("${SLEEP:-0}", "4"),
        one_param(),
        json!({"search_type": "random", "max_suggestions": 2, "max_active_points": 2, "y_transformation": "none"}),
    );
    set_job(&project, "num_processors", json!(8));
    project.hpsearch(&["launch", "--local", "."]).ok();
    wait_until(
        Duration::from_secs(30),
        "one job queued and one running",
        || {
            project
                .hpsearch(&["status", "hp_search_0"])
                .stdout
                .contains("1 queued · 1 running")
        },
    );
    let states: Vec<Value> = snapshot_of(&project)["combinations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        states.iter().any(|c| c["state"] == "queued"),
        "the snapshot says queued: {states:?}"
    );
    wait_until(Duration::from_secs(60), "the search to finish", || {
        snapshot_of(&project)["state"] == "finished"
    });
    let results = project
        .hpsearch(&["results", "hp_search_0", "--format", "json"])
        .ok();
    let rows: Vec<Value> = serde_json::from_str(&results.stdout).unwrap();
    for row in &rows {
        let minutes = row["job_time"].as_f64().unwrap();
        assert!(
            minutes < 0.09,
            "run time without the queue's wait (4 s script): {minutes} min in {row}"
        );
    }
}

#[test]
#[ignore = "needs a running Slurm: bash scripts/slurm/start-local-slurm.sh"]
fn early_stopping_on_slurm_reads_progress_over_the_shared_folder_and_scancels() {
    require_slurm();
    let project = slurm_project(
        "",
        json!({"q": {"type": "discrete", "domain": [0, 1, 2, 3]}}),
        json!({"search_type": "grid", "num_grid_points_per_hyperparameter": 4,
               "max_active_points": 1, "y_transformation": "none",
               "early_stopping": {"rule": "median", "startup_runs": 2, "warmup_steps": 2}}),
    );
    // Objective q + 1/step for 10 steps of 0.3 s, each step a line of progress.jsonl.
    shell_trainer(&project, 10, "0.3", false);
    set_job(&project, "script_path", json!("train.sh"));
    let run = project.hpsearch(&["run", "."]).ok();
    assert!(run.stdout.contains("2 pruned"), "{}", run.stdout);
    for row in project.data_rows(0) {
        let q: u32 = row["q"].parse().unwrap();
        if q < 2 {
            assert_eq!(row["status"], "succeeded", "{row:?}");
            assert_eq!(row["steps"], "10", "{row:?}");
        } else {
            assert_eq!(row["status"], "pruned", "{row:?}");
            let steps: u32 = row["steps"].parse().unwrap();
            assert!((3..10).contains(&steps), "{row:?}");
            let folder = project
                .search_dir(0)
                .join(format!("hp_combination_{}", row["combination_id"]));
            assert!(
                !folder.join("output.json").exists(),
                "scancelled before its end"
            );
        }
    }
    let started = std::fs::read_to_string(project.path.join("starts.log")).unwrap();
    assert_eq!(
        started.lines().count(),
        4,
        "each combination ran once: {started}"
    );
}
