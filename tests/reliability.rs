//! What a cluster user's week does to a search: runs killed with their coordinator (a reboot),
//! the interpreter deleted mid-search, an unwritable project file, races between resumes, runs
//! that finish while the search stops, and the coordinator's time across crashes.

mod support;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::*;

/// Appends its combination id to PROJECT/runs.log when it starts, sleeps, then writes its id as
/// its objective.
fn counting_script(project: &Project, sleep: &str) {
    let script = format!(
        "#!/bin/sh\nid=$(basename \"$PWD\" | sed 's/hp_combination_//')\necho \"$id\" >> ../../runs.log\nsleep {sleep}\necho \"$id\" > output.json\n"
    );
    project.script("count.sh", &script);
}

fn starts(project: &Project) -> BTreeMap<u64, usize> {
    let text = std::fs::read_to_string(project.path.join("runs.log")).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        if let Ok(id) = line.trim().parse() {
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

fn snapshot(project: &Project) -> Value {
    let text = std::fs::read_to_string(project.search_dir(0).join("hp_search_state.json"))
        .unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn combinations(project: &Project) -> Vec<Value> {
    snapshot(project)["combinations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn log(project: &Project) -> String {
    std::fs::read_to_string(project.search_dir(0).join("log.txt")).unwrap_or_default()
}

fn coordinator_pid(project: &Project) -> Option<i32> {
    let text = std::fs::read_to_string(project.search_dir(0).join("coordinator.lock")).ok()?;
    let holder: Value = serde_json::from_str(&text).ok()?;
    holder["pid"].as_i64().map(|p| p as i32)
}

fn kill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// The process groups of the runs in flight (each run's script leads its own group).
fn run_groups(project: &Project) -> Vec<i32> {
    run_processes(project)
        .into_iter()
        .map(|(group, _)| group)
        .collect()
}

/// The runs in flight: each run's process group, and the process that supervises it (the
/// coordinator's runner).
fn run_processes(project: &Project) -> Vec<(i32, Option<i32>)> {
    let mut groups = Vec::new();
    for entry in std::fs::read_dir(project.search_dir(0))
        .into_iter()
        .flatten()
        .flatten()
    {
        let folder = entry.path();
        if folder.join("output.json").exists() {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(folder.join(".hpsearch_started.json")) else {
            continue;
        };
        let started: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(pid) = started["pid"].as_i64() {
            let supervisor = started["supervisor"]["pid"].as_i64().map(|p| p as i32);
            groups.push((pid as i32, supervisor));
        }
    }
    groups
}

/// kill -9 of the coordinator, of the runner that supervises the runs, and of every run's
/// process group, as a reboot would.
fn kill_coordinator_and_runs(project: &Project) -> usize {
    let runs = run_processes(project);
    if let Some(pid) = coordinator_pid(project) {
        kill(pid);
    }
    for supervisor in runs.iter().filter_map(|(_, s)| *s) {
        kill(supervisor);
    }
    for (group, _) in &runs {
        kill(-group);
    }
    let groups = runs;
    wait_until(
        Duration::from_secs(10),
        "the coordinator to be gone",
        || {
            project
                .hpsearch(&["status", "hp_search_0"])
                .stdout
                .contains("died")
        },
    );
    groups.len()
}

fn random_search(project: &Project, runs: u64, slots: u64) {
    project.configs(
        "/bin/sh",
        "count.sh",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "random", "max_suggestions": runs, "max_active_points": slots,
               "y_transformation": "none", "random_seed": 5}),
    );
}

#[test]
fn runs_killed_with_their_coordinator_run_again_on_resume_and_are_never_lost() {
    let project = Project::new();
    counting_script(&project, "3");
    random_search(&project, 4, 2);
    project.hpsearch(&["launch", "--local", "."]).ok();
    // Both scripts have begun (each notes its start first), so a killed run is one whose start
    // was counted.
    wait_until(Duration::from_secs(30), "two runs in flight", || {
        run_groups(&project).len() >= 2 && starts(&project).len() >= 2
    });
    let killed = kill_coordinator_and_runs(&project);
    assert!(killed >= 2, "runs were in flight when killed");

    let resume = project.hpsearch(&["resume", "hp_search_0"]).ok();
    assert!(
        resume
            .stdout
            .contains("max_suggestions (4) combinations are done"),
        "{}",
        resume.stdout
    );
    let combinations = combinations(&project);
    assert_eq!(combinations.len(), 4);
    for c in &combinations {
        assert_eq!(c["state"], "succeeded", "nothing lost: {c}");
        assert_eq!(
            c["loss"].as_f64(),
            c["id"].as_f64(),
            "each run's own result: {c}"
        );
    }
    let counts = starts(&project);
    assert_eq!(
        counts.values().filter(|n| **n == 2).count(),
        killed,
        "each killed run ran again once, the others once: {counts:?}"
    );
    let log = log(&project);
    assert!(log.contains("it will run again"), "{log}");
    assert!(!log.contains("lost"), "{log}");
}

#[test]
fn a_run_killed_from_outside_too_often_is_lost_but_never_imputed_as_a_bad_loss() {
    let project = Project::new();
    // Every run kills the process that supervises it (its parent: the coordinator's runner; a
    // stand-in for an OOM killer taking the session): no end record is left, so the run is
    // interrupted, every time, and a new runner takes the next.
    project.script(
        "count.sh",
        "#!/bin/sh\necho x >> ../../runs.log\nkill -9 $PPID\nsleep 1\n",
    );
    random_search(&project, 1, 1);
    let run = project.hpsearch(&["run", "."]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let combinations = combinations(&project);
    assert_eq!(combinations.len(), 1);
    let c = &combinations[0];
    assert_eq!(c["state"], "failed", "{c}");
    assert_eq!(c["failure_kind"], "lost", "{c}");
    assert!(
        c["loss"].is_null(),
        "an infrastructure failure is left out of the model: {c}"
    );
    let text = std::fs::read_to_string(project.path.join("runs.log")).unwrap_or_default();
    assert_eq!(text.lines().count(), 3, "the first run and its 2 restarts");
}

/// A script whose first attempt leaves `input.json` replaced by `leftover` (shell commands run in
/// the run's folder) and then takes its supervisor down, as an OOM killer would; its second
/// attempt writes the objective it read from input.json.
fn script_that_leaves_input_json_behind(project: &Project, leftover: &str) {
    project.script(
        "count.sh",
        &format!(
            "#!/bin/sh\nif [ ! -e ../../first_attempt ]; then\n  touch ../../first_attempt\n  rm -f input.json\n  {leftover}\n  kill -9 $PPID\n  sleep 1\n  exit 0\nfi\nsed -n 's/.*\"x\": *\\([0-9.e-]*\\).*/\\1/p' input.json > output.json\n"
        ),
    );
}

#[test]
fn a_run_started_again_replaces_a_named_pipe_its_first_attempt_left_as_input_json() {
    let project = Project::new();
    script_that_leaves_input_json_behind(&project, "mkfifo input.json");
    random_search(&project, 1, 1);
    // Before the fix, writing input.json for the second attempt waited for a reader of the pipe
    // for ever (the test support fails a command that does not end).
    let run = project.hpsearch(&["run", "."]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let c = &combinations(&project)[0];
    assert_eq!(c["state"], "succeeded", "the second attempt ran: {c}");
    assert_eq!(
        c["loss"].as_f64(),
        c["params"]["x"].as_f64(),
        "its objective is the x it read from a fresh input.json: {c}"
    );
}

#[test]
fn a_run_started_again_never_writes_through_a_link_its_first_attempt_left_as_input_json() {
    let project = Project::new();
    std::fs::write(project.path.join("settings.json"), "the user's own file\n").unwrap();
    script_that_leaves_input_json_behind(&project, "ln -s ../../settings.json input.json");
    random_search(&project, 1, 1);
    let run = project.hpsearch(&["run", "."]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(project.path.join("settings.json")).unwrap(),
        "the user's own file\n",
        "the file the link pointed to is untouched"
    );
    let c = &combinations(&project)[0];
    assert_eq!(c["state"], "succeeded", "{c}");
    assert_eq!(c["loss"].as_f64(), c["params"]["x"].as_f64(), "{c}");
}

#[test]
fn a_folder_its_first_attempt_left_as_input_json_fails_that_run_alone() {
    let project = Project::new();
    script_that_leaves_input_json_behind(&project, "mkdir input.json");
    random_search(&project, 2, 1);
    let run = project.hpsearch(&["run", "."]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let combinations = combinations(&project);
    assert_eq!(combinations.len(), 2, "the search went on: {}", run.stderr);
    let first = &combinations[0];
    assert_eq!(first["state"], "failed", "{first}");
    let reason = first["failure_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("cannot write its input.json") && reason.contains("clear the run's folder"),
        "{first}"
    );
    let second = &combinations[1];
    assert_eq!(second["state"], "succeeded", "{second}");
    assert_eq!(second["loss"].as_f64(), second["params"]["x"].as_f64());
}

#[test]
fn a_missing_interpreter_pauses_the_search_instead_of_failing_every_run() {
    let project = Project::new();
    let bin = project.path.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let interpreter = bin.join("mysh");
    std::fs::copy("/bin/sh", &interpreter).unwrap();
    counting_script(&project, "0.2");
    project.configs(
        interpreter.to_str().unwrap(),
        "count.sh",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "random", "max_suggestions": 12, "max_active_points": 1,
               "y_transformation": "none", "random_seed": 2}),
    );
    project.hpsearch(&["launch", "--local", "."]).ok();
    wait_until(Duration::from_secs(30), "two runs done", || {
        combinations(&project)
            .iter()
            .filter(|c| c["state"] == "succeeded")
            .count()
            >= 2
    });
    std::fs::remove_file(&interpreter).unwrap();
    wait_until(Duration::from_secs(20), "the pause in the log", || {
        log(&project).contains("submissions paused")
    });
    std::thread::sleep(Duration::from_secs(3));
    let failed = combinations(&project)
        .iter()
        .filter(|c| c["state"] == "failed")
        .count();
    assert_eq!(failed, 0, "no combination is spent on a missing program");
    std::fs::copy("/bin/sh", &interpreter).unwrap();
    wait_until(Duration::from_secs(60), "the search to finish", || {
        snapshot(&project)["state"] == "finished"
    });
    let combinations = combinations(&project);
    assert_eq!(combinations.len(), 12);
    assert!(
        combinations.iter().all(|c| c["state"] == "succeeded"),
        "{combinations:?}"
    );
    let log = log(&project);
    assert!(
        log.contains("environment program"),
        "the log says why: {log}"
    );
    assert!(log.contains("runs start again"), "{log}");
}

#[test]
fn an_unwritable_launch_record_stops_run_and_launch_before_any_search_exists() {
    let project = Project::new();
    counting_script(&project, "0");
    random_search(&project, 2, 1);
    let record = project.path.join("launched_hp_searches.txt");
    std::fs::create_dir_all(&record).unwrap(); // a folder cannot be appended to, even by root
    for command in [vec!["run", "."], vec!["launch", "--local", "."]] {
        let out = project.hpsearch(&command);
        assert_ne!(out.code, 0, "{command:?}: {}", out.stdout);
        assert!(
            out.stderr.contains("launched_hp_searches.txt"),
            "{}",
            out.stderr
        );
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert!(!out.stdout.contains("launched search"), "{}", out.stdout);
        assert!(
            !project.search_dir(0).exists(),
            "{command:?} left a search behind"
        );
    }
}

#[test]
fn of_concurrent_resumes_only_the_one_that_took_the_search_says_so() {
    let project = Project::new();
    counting_script(&project, "5");
    random_search(&project, 3, 1);
    project.hpsearch(&["launch", "--local", "."]).ok();
    wait_until(Duration::from_secs(30), "a run in flight", || {
        run_groups(&project).len() == 1
    });
    let pid = coordinator_pid(&project).unwrap();
    kill(pid);
    // The coordinator may die before its first publish, so `status` may have nothing to say
    // yet: wait for the process itself.
    wait_until(
        Duration::from_secs(10),
        "the coordinator to be gone",
        || {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .map_or(true, |s| s.contains("State:\tZ"))
        },
    );
    let resumes: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(hpsearch_bin())
                .args(["resume", "hp_search_0", "--detach"])
                .current_dir(&project.path)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Run> = resumes
        .into_iter()
        .map(|c| Run::from(c.wait_with_output().unwrap()))
        .collect();
    let winners: Vec<&Run> = outputs.iter().filter(|o| o.code == 0).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one resume succeeds: {:?}",
        outputs
            .iter()
            .map(|o| (o.code, o.stdout.clone(), o.stderr.clone()))
            .collect::<Vec<_>>()
    );
    for loser in outputs.iter().filter(|o| o.code != 0) {
        assert!(
            loser.stderr.contains("another coordinator") || loser.stderr.contains("is running"),
            "{}",
            loser.stderr
        );
    }
    let cancel = project.hpsearch(&["cancel", "hp_search_0"]);
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
}

/// Starts `hpsearch run` on a search of `max_suggestions` runs, one at a time, each of which
/// ignores SIGTERM, appends to PROJECT/runs.log and finishes 1.5 s later with objective 7 (the
/// grace before SIGKILL is 8 s); returns once the first run has started.
fn start_search_of_stubborn_runs(project: &Project, max_suggestions: u64) -> std::process::Child {
    project.script(
        "count.sh",
        "#!/bin/sh\ntrap '' TERM\necho x >> ../../runs.log\nsleep 1.5\necho 7 > output.json\n",
    );
    project.configs(
        "/bin/sh",
        "count.sh",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "random", "max_suggestions": max_suggestions,
               "max_active_points": 1, "y_transformation": "none"}),
    );
    project.write_json(
        "job_config.json",
        &json!({"environment_path": "/bin/sh", "script_path": "count.sh", "cluster": "local",
                "time": 1, "memory": 1, "kill_grace_seconds": 8}),
    );
    let child = std::process::Command::new(hpsearch_bin())
        .args(["run", "."])
        .current_dir(&project.path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(30), "the first run to start", || {
        project.path.join("runs.log").exists()
    });
    child
}

#[test]
fn a_run_that_finishes_while_the_search_stops_is_kept() {
    let project = Project::new();
    // Ignores SIGTERM and finishes a moment later: its result is real.
    let mut child = start_search_of_stubborn_runs(&project, 3);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let combinations = combinations(&project);
    assert_eq!(
        combinations[0]["state"], "succeeded",
        "{:?}",
        combinations[0]
    );
    assert_eq!(combinations[0]["objective"], 7.0);
}

#[test]
fn a_run_whose_start_is_still_being_answered_when_the_search_stops_is_stopped_and_kept() {
    // A start the runner has not answered yet when a stop comes (a loaded machine, a slow
    // file system) was neither stopped nor kept: the stop waited its whole grace period, killed
    // the run, and left it `running` in the store. Here the runner is held at the second run's
    // start by its log file, a named pipe that nobody reads until the stop is under way (the
    // coordinator does not read a log that is not a regular file, so the pipe holds nothing
    // else up).
    let project = Project::new();
    let mut child = start_search_of_stubborn_runs(&project, 2);
    let second = project.search_dir(0).join("hp_combination_1");
    std::fs::create_dir_all(&second).unwrap();
    let pipe = second.join("log.txt");
    nix::unistd::mkfifo(&pipe, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    // The coordinator writes a run's input.json and sends its start in the same step, and
    // looks at signals only between steps: once the input is there, the start has gone out.
    wait_until(Duration::from_secs(30), "the second run's input", || {
        second.join("input.json").exists()
    });
    let stop_sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    // Opening the pipe's reading end lets the runner open its writing end and start the run.
    let mut reader = std::fs::File::open(&pipe).unwrap();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut reader, &mut sink);
    });
    let status = child.wait().unwrap();
    let took = stop_sent.elapsed();
    assert_eq!(status.code(), Some(130));
    let combinations = combinations(&project);
    assert_eq!(combinations.len(), 2, "{combinations:?}");
    let second = &combinations[1];
    // The stop's SIGTERM may reach the script before its `trap` on a loaded machine: then the
    // run is stopped (interrupted, to run again on resume); else it finishes and is kept.
    match second["state"].as_str() {
        Some("succeeded") => assert_eq!(second["objective"], 7.0),
        Some("interrupted") => {}
        _ => panic!("the run is either kept or marked to run again: {second:?}"),
    }
    assert!(
        took < Duration::from_secs(7),
        "the stop ended with the run, not at the end of its 8 s grace: {took:?}"
    );
}

/// Waits for a coordinator other than `previous` to hold search 0, and returns its pid.
fn next_coordinator(project: &Project, previous: Option<i32>) -> i32 {
    let mut found = None;
    wait_until(Duration::from_secs(10), "a new live coordinator", || {
        found = coordinator_pid(project)
            .filter(|pid| Some(*pid) != previous)
            .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        found.is_some()
    });
    found.unwrap()
}

#[test]
fn the_coordinator_time_survives_repeated_crashes() {
    let project = Project::new();
    counting_script(&project, "60");
    random_search(&project, 2, 1);
    project.hpsearch(&["launch", "--local", "."]).ok();
    let mut lived = Duration::ZERO;
    let kills = 5;
    let mut previous = None;
    for round in 0..kills {
        let pid = next_coordinator(&project, previous);
        let seen = Instant::now();
        std::thread::sleep(Duration::from_millis(900));
        kill(pid);
        lived += seen.elapsed();
        previous = Some(pid);
        wait_until(
            Duration::from_secs(10),
            "the coordinator to be gone",
            || {
                !std::path::Path::new(&format!("/proc/{pid}/status")).exists()
                    || std::fs::read_to_string(format!("/proc/{pid}/status"))
                        .is_ok_and(|s| s.contains("State:\tZ"))
            },
        );
        if round + 1 < kills {
            project
                .hpsearch(&["resume", "hp_search_0", "--detach"])
                .ok();
        }
    }
    // The next session starts from what was recorded: open it and stop it at once.
    let cancel = project.hpsearch(&["cancel", "hp_search_0"]);
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
    let recorded = snapshot(&project)["summary"]["elapsed_seconds"]
        .as_f64()
        .unwrap();
    let lived = lived.as_secs_f64();
    assert!(
        recorded >= lived - 0.25 * f64::from(kills),
        "recorded {recorded:.2} s of at least {lived:.2} s lived over {kills} crashes"
    );
}

/// Kills the coordinator at pseudo-random moments, every other time with its runs (a reboot),
/// resumes each time, and checks the end: every combination succeeded with its own result,
/// none was recorded lost, a run killed with the coordinator ran again, and no other run
/// started twice.
#[test]
fn torture_repeated_kills_of_the_coordinator_and_its_runs_lose_and_repeat_nothing() {
    let project = Project::new();
    counting_script(&project, "0.3");
    random_search(&project, 24, 3);
    project.hpsearch(&["launch", "--local", "."]).ok();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut killed_runs: BTreeMap<u64, usize> = BTreeMap::new();
    let mut previous = None;
    for round in 0..8 {
        if snapshot(&project)["state"] == "finished" {
            break;
        }
        let pid = next_coordinator(&project, previous);
        // Restarted runs (0.3 s) go first and end before the next kill with runs.
        std::thread::sleep(Duration::from_millis(500 + next() % 700));
        if round % 2 == 1 {
            let before: BTreeMap<u64, usize> = starts(&project);
            // As a reboot: the coordinator, the runner supervising the runs, and the runs.
            let runs = run_processes(&project);
            kill(pid);
            for supervisor in runs.iter().filter_map(|(_, s)| *s) {
                kill(supervisor);
            }
            for (group, _) in &runs {
                kill(-group);
            }
            // Which combinations were in flight: started, and not finished.
            for entry in std::fs::read_dir(project.search_dir(0)).unwrap().flatten() {
                let folder = entry.path();
                let Some(id) = folder
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix("hp_combination_"))
                    .and_then(|n| n.parse::<u64>().ok())
                else {
                    continue;
                };
                if before.contains_key(&id) && !folder.join("output.json").exists() {
                    *killed_runs.entry(id).or_insert(0) += 1;
                }
            }
        } else {
            kill(pid);
        }
        previous = Some(pid);
        wait_until(
            Duration::from_secs(10),
            "the coordinator to be gone",
            || !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        );
        project
            .hpsearch(&["resume", "hp_search_0", "--detach"])
            .ok();
    }
    wait_until(Duration::from_secs(120), "the search to finish", || {
        snapshot(&project)["state"] == "finished"
    });
    let combinations = combinations(&project);
    assert_eq!(combinations.len(), 24, "{combinations:?}");
    for c in &combinations {
        assert_eq!(c["state"], "succeeded", "nothing lost: {c}");
        assert_eq!(c["loss"].as_f64(), c["id"].as_f64(), "its own result: {c}");
    }
    let counts = starts(&project);
    for (id, n) in &counts {
        let allowed = 1 + killed_runs.get(id).copied().unwrap_or(0);
        assert!(
            *n <= allowed,
            "combination {id} started {n} times, killed {} times",
            allowed - 1
        );
    }
    let log = log(&project);
    assert!(!log.contains("recording it as lost"), "{log}");
}

#[test]
fn a_script_gets_sigusr1_before_its_time_limit_to_save_its_work() {
    let project = Project::new();
    // Saves its result when told to, then ends; without the signal it would run past the limit.
    project.script(
        "count.sh",
        "#!/bin/sh\ntrap 'echo 5 > output.json; exit 0' USR1\nsleep 30 &\nwait\n",
    );
    random_search(&project, 1, 1);
    project.write_json(
        "job_config.json",
        &json!({"environment_path": "/bin/sh", "script_path": "count.sh", "cluster": "local",
                "time": 0.001, "checkpoint_signal_seconds": 2.5, "kill_grace_seconds": 1}),
    );
    let run = project.hpsearch(&["run", "."]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let c = &combinations(&project)[0];
    assert_eq!(c["state"], "succeeded", "{c}");
    assert_eq!(c["objective"].as_f64(), Some(5.0));
    let log = std::fs::read_to_string(project.search_dir(0).join("hp_combination_0/log.txt"))
        .unwrap_or_default();
    assert!(log.contains("SIGUSR1"), "{log}");
}

/// The snapshot's `updated_at`, once there is one.
fn published_at(project: &Project) -> Option<f64> {
    snapshot(project)["updated_at"].as_f64()
}

#[test]
fn while_no_run_changes_the_exports_are_not_rewritten_every_half_second() {
    // A run of hours, nothing else happening: each publish rewrote the data files and the
    // snapshot every half second (at 50,000 rows about 40 MB every few seconds, on the shared
    // file system of a cluster). Now only a row's change, or the clock after CLOCK_ONLY_INTERVAL,
    // publishes; the run's end still shows at once.
    let project = Project::new();
    project.script(
        "wait.sh",
        "#!/bin/sh\ni=0; while [ ! -e ../../release ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\necho 1 > output.json\n",
    );
    project.configs(
        "/bin/sh",
        "wait.sh",
        json!({"x": {"type": "discrete", "domain": [1]}}),
        json!({"search_type": "grid", "max_active_points": 1, "y_transformation": "none"}),
    );
    project.hpsearch(&["launch", "."]).ok();
    // `launch` returns before the first publish: read the snapshot once it shows the run.
    let run_state = |project: &Project| {
        snapshot(project)["combinations"][0]["state"]
            .as_str()
            .map(String::from)
    };
    wait_until(
        Duration::from_secs(20),
        "the run to show as running",
        || run_state(&project).as_deref() == Some("running"),
    );
    let first = published_at(&project).expect("a snapshot");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        published_at(&project),
        Some(first),
        "nothing changed, yet the exports were written again"
    );
    project.write("release", "");
    wait_until(
        Duration::from_secs(5),
        "the run's end to be published",
        || run_state(&project).as_deref() == Some("succeeded"),
    );
}
