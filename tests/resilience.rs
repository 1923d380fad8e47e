//! The search survives its coordinator: kill -9 and resume, Ctrl-C and resume, cancel, and two
//! searches launched at once in one project.

mod support;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use support::*;

/// Appends its combination id to PROJECT/runs.log when it starts, sleeps, then writes its objective.
fn counting_script(project: &Project, sleep: &str) {
    let script = format!(
        "#!/bin/sh\nid=$(basename \"$PWD\" | sed 's/hp_combination_//')\necho \"$id\" >> ../../runs.log\nsleep {sleep}\necho \"$id\" > output.json\n"
    );
    project.script("count.sh", &script);
}

fn starts(project: &Project) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(project.path.join("runs.log")).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        *counts.entry(line.to_string()).or_insert(0) += 1;
    }
    counts
}

fn finished_count(project: &Project) -> usize {
    std::fs::read_dir(project.search_dir(0))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("output.json").exists())
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_coordinator_killed_with_sigkill_is_resumed_without_losing_or_repeating_a_run() {
    let project = Project::new();
    counting_script(&project, "0.6");
    project.configs(
        "/bin/sh",
        "count.sh",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "random", "max_suggestions": 8, "max_active_points": 2, "y_transformation": "none", "random_seed": 3}),
    );
    let launch = project.hpsearch(&["launch", "."]).ok();
    assert!(
        launch.stdout.contains("launched search 0"),
        "{}",
        launch.stdout
    );
    wait_until(Duration::from_secs(30), "two finished runs", || {
        finished_count(&project) >= 2
    });
    // Kill it while runs are in flight: they outlive it.
    wait_until(Duration::from_secs(30), "runs in flight", || {
        let s = starts(&project).len();
        s > finished_count(&project)
    });
    kill_coordinator_and_wait(&project);

    let resume = project.hpsearch(&["resume", "hp_search_0"]).ok();
    assert!(
        resume
            .stdout
            .contains("max_suggestions (8) combinations are done"),
        "{}",
        resume.stdout
    );
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 8, "nothing lost");
    for row in &rows {
        assert_eq!(row["status"], "succeeded", "{row:?}");
        assert_eq!(
            row["loss"], row["combination_id"],
            "the result of each run is its own"
        );
    }
    let counts = starts(&project);
    assert_eq!(counts.len(), 8);
    assert!(
        counts.values().all(|n| *n == 1),
        "no run started twice: {counts:?}"
    );
    let log = std::fs::read_to_string(project.search_dir(0).join("log.txt")).unwrap();
    assert!(log.contains("search 0 resumed"), "{log}");
    assert!(
        log.contains("still running") || log.contains("succeeded"),
        "{log}"
    );
}

#[test]
fn a_run_that_finished_while_no_coordinator_watched_is_collected_on_resume() {
    let project = Project::new();
    counting_script(&project, "0.3");
    project.configs(
        "/bin/sh",
        "count.sh",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "random", "max_suggestions": 3, "max_active_points": 3, "y_transformation": "none"}),
    );
    project.hpsearch(&["launch", "."]).ok();
    wait_until(Duration::from_secs(30), "three runs started", || {
        starts(&project).len() == 3
    });
    let pid = coordinator_pid(&project, 0);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until(Duration::from_secs(30), "orphaned runs to finish", || {
        finished_count(&project) == 3
    });
    project.hpsearch(&["resume", "hp_search_0"]).ok();
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
    assert!(starts(&project).values().all(|n| *n == 1));
}

#[test]
fn sigint_stops_the_runs_and_resume_finishes_the_search() {
    let project = Project::new();
    counting_script(&project, "30");
    project.configs(
        "/bin/sh",
        "count.sh",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "random", "max_suggestions": 6, "max_active_points": 2, "y_transformation": "none"}),
    );
    let child = std::process::Command::new(hpsearch_bin())
        .args(["run", "."])
        .current_dir(&project.path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(30), "two runs started", || {
        starts(&project).len() == 2
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let status = project.hpsearch(&["status", "hp_search_0"]).ok().stdout;
    assert!(status.contains("stopped"), "{status}");
    // Only the two runs that started are rows: the rows a random search creates ahead of
    // their start are gone with the stop.
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter().all(|r| r["status"] == "interrupted"),
        "{rows:?}"
    );
    // No run is left behind after the coordinator stopped.
    let script = project.path.join("count.sh").display().to_string();
    let leftover = std::process::Command::new("pgrep")
        .args(["-f", &script])
        .output()
        .unwrap();
    assert!(
        leftover.stdout.is_empty(),
        "runs still alive: {}",
        String::from_utf8_lossy(&leftover.stdout)
    );

    // The resumed search runs the interrupted combinations again, quickly this time.
    counting_script(&project, "0");
    let resume = project.hpsearch(&["resume", "hp_search_0"]).ok();
    assert!(resume.stdout.contains("done"), "{}", resume.stdout);
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
    let expected: BTreeMap<String, usize> = (0..6)
        .map(|id| (id.to_string(), if id < 2 { 2 } else { 1 }))
        .collect();
    assert_eq!(
        starts(&project),
        expected,
        "each run started once per start"
    );
}

#[test]
fn cancel_stops_a_launched_search() {
    let project = Project::new();
    counting_script(&project, "30");
    project.configs(
        "/bin/sh",
        "count.sh",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "random", "max_suggestions": 4, "max_active_points": 2, "y_transformation": "none"}),
    );
    project.hpsearch(&["launch", "."]).ok();
    wait_until(Duration::from_secs(30), "runs started", || {
        starts(&project).len() == 2
    });
    let cancel = project.hpsearch(&["cancel", "hp_search_0"]).ok();
    assert!(cancel.stdout.contains("stopped"), "{}", cancel.stdout);
    let status = project.hpsearch(&["status", "hp_search_0"]).ok().stdout;
    assert!(
        status.contains("stopped") && !status.contains("running ("),
        "{status}"
    );
    let again = project
        .hpsearch(&["resume", "hp_search_0", "--detach"])
        .ok();
    assert!(
        again.stdout.contains("resumed search 0"),
        "{}",
        again.stdout
    );
    project.hpsearch(&["cancel", "hp_search_0"]).ok();
}

#[test]
fn two_searches_launched_at_once_in_one_project_get_distinct_ids() {
    let project = Project::new();
    counting_script(&project, "0");
    project.configs(
        "/bin/sh",
        "count.sh",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "random", "max_suggestions": 2, "max_active_points": 1, "y_transformation": "none"}),
    );
    let launches: Vec<std::process::Child> = (0..2)
        .map(|_| {
            std::process::Command::new(hpsearch_bin())
                .args(["launch", "."])
                .current_dir(&project.path)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<String> = launches
        .into_iter()
        .map(|c| String::from_utf8_lossy(&c.wait_with_output().unwrap().stdout).into_owned())
        .collect();
    let mut ids: Vec<&str> = outputs
        .iter()
        .map(|o| {
            if o.contains("launched search 0") {
                "0"
            } else if o.contains("launched search 1") {
                "1"
            } else {
                "?"
            }
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["0", "1"], "{outputs:?}");
    let launched = std::fs::read_to_string(project.path.join("launched_hp_searches.txt")).unwrap();
    let lines: Vec<&str> = launched.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "a header and one row per search: {launched}"
    );
    assert!(lines[0].starts_with("job_id\t"));
    let mut search_ids: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split('\t').nth(3).unwrap())
        .collect();
    search_ids.sort();
    assert_eq!(search_ids, ["0", "1"]);
    for id in [0, 1] {
        wait_until(Duration::from_secs(30), "both searches to finish", || {
            project
                .hpsearch(&["status", &format!("hp_search_{id}")])
                .stdout
                .contains("finished")
        });
        assert_eq!(project.data_rows(id).len(), 2);
    }
}

#[test]
fn a_second_coordinator_for_the_same_search_is_refused() {
    let project = Project::new();
    counting_script(&project, "30");
    project.configs(
        "/bin/sh",
        "count.sh",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "random", "max_suggestions": 1, "y_transformation": "none"}),
    );
    project.hpsearch(&["launch", "."]).ok();
    wait_until(Duration::from_secs(30), "the run", || {
        starts(&project).len() == 1
    });
    let second = project.hpsearch(&["resume", "hp_search_0"]);
    assert_eq!(second.code, 1);
    assert!(second.stderr.contains("is running"), "{}", second.stderr);
    project.hpsearch(&["cancel", "hp_search_0"]).ok();
}

#[test]
fn a_coordinator_killed_in_the_replicate_phase_resumes_it_without_repeating_a_run() {
    let project = Project::new();
    counting_script(&project, "0.4");
    project.configs(
        "/bin/sh",
        "count.sh",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "random", "max_suggestions": 4, "max_active_points": 2,
               "y_transformation": "none", "random_seed": 5,
               "replicates": 2, "replicate_top_k": 2}),
    );
    project.hpsearch(&["launch", "--local", "."]).ok();
    // The replicate runs are ids 4..7: kill the coordinator while some of them run.
    wait_until(Duration::from_secs(30), "a replicate run in flight", || {
        starts(&project)
            .keys()
            .any(|id| id.parse::<u64>().is_ok_and(|i| i >= 4))
    });
    kill_coordinator_and_wait(&project);
    project.hpsearch(&["resume", "hp_search_0"]).ok();
    let rows = project.data_rows(0);
    assert_eq!(
        rows.len(),
        8,
        "4 suggestions and 2 × 2 replicates: {rows:?}"
    );
    let replicates: Vec<_> = rows
        .iter()
        .filter(|r| r["search_type"] == "replicate")
        .collect();
    assert_eq!(replicates.len(), 4);
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
    let counts = starts(&project);
    assert_eq!(counts.len(), 8, "every run started: {counts:?}");
    assert!(
        counts.values().all(|n| *n == 1),
        "no run started twice: {counts:?}"
    );
    // Each replicate repeats one of the two best settings of the search proper.
    let mut originals: Vec<(f64, String)> = rows[..4]
        .iter()
        .map(|r| (r["loss"].parse().unwrap(), r["x"].clone()))
        .collect();
    originals.sort_by(|a, b| a.0.total_cmp(&b.0));
    for r in &replicates {
        assert!(
            r["x"] == originals[0].1 || r["x"] == originals[1].1,
            "{r:?} repeats one of {originals:?}"
        );
    }
}
