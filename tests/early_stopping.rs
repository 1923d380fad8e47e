//! Early stopping with real scripts: runs that report their progress (progress.jsonl, or lines
//! of their output matched by `progress_pattern`) are stopped when the rule says they are
//! hopeless, recorded `pruned` with the step they reached and their last result, and a stop
//! decided before a coordinator crash holds after the resume.

mod support;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use support::*;

fn rows_by_q(project: &Project) -> BTreeMap<String, BTreeMap<String, String>> {
    project
        .data_rows(0)
        .into_iter()
        .map(|row| (row["q"].clone(), row))
        .collect()
}

fn starts(project: &Project) -> Vec<String> {
    std::fs::read_to_string(project.path.join("starts.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn median_rule_stops_runs_worse_than_the_finished_ones_and_records_them_pruned() {
    let project = Project::new();
    shell_trainer(&project, 10, "0.2", false);
    project.configs(
        "/bin/sh",
        "train.sh",
        json!({"q": {"type": "discrete", "domain": [0, 1, 2, 3]}}),
        json!({"search_type": "grid", "num_grid_points_per_hyperparameter": 4,
               "max_active_points": 1, "y_transformation": "none",
               "early_stopping": {"rule": "median", "startup_runs": 2, "warmup_steps": 2}}),
    );
    let run = project.hpsearch(&["run", "."]).ok();
    assert!(run.stdout.contains("2 pruned"), "{}", run.stdout);
    let rows = rows_by_q(&project);
    for q in ["0", "1"] {
        assert_eq!(rows[q]["status"], "succeeded", "{:?}", rows[q]);
        assert_eq!(
            rows[q]["steps"], "10",
            "a finished run's steps: {:?}",
            rows[q]
        );
    }
    for q in ["2", "3"] {
        let row = &rows[q];
        assert_eq!(row["status"], "pruned", "{row:?}");
        // Judged from step 3 (after the warm-up of 2): the decision lands at step 3, or a step
        // later when the coordinator's loop reads the file just before the line comes; the run
        // may report a step more before SIGTERM reaches it, and `steps` is its last report.
        let steps: u32 = row["steps"].parse().expect("steps");
        assert!((3..=6).contains(&steps), "stopped at step {steps}: {row:?}");
        // Its objective is the last one it reported, and its loss follows from it.
        let objective: f64 = row["objective"].parse().expect("objective");
        let expected = q.parse::<f64>().unwrap() + 1.0 / steps as f64;
        assert!(
            (objective - expected).abs() < 1e-4,
            "{objective} vs {expected}: {row:?}"
        );
        assert_eq!(row["loss"], row["objective"], "y_transformation none");
        assert_eq!(
            row.get("metric_lr").map(String::as_str),
            Some("0.1"),
            "the other keys of its last progress line are its metrics: {row:?}"
        );
        assert!(
            row["failure_reason"].contains("median of 2 finished runs"),
            "{row:?}"
        );
        let folder = project
            .search_dir(0)
            .join(format!("hp_combination_{}", row["combination_id"]));
        assert!(
            !folder.join("output.json").exists(),
            "the run was stopped before its end"
        );
    }
    assert_eq!(starts(&project).len(), 4, "every combination ran once");

    let status = project.hpsearch(&["status", "hp_search_0"]).ok();
    assert!(status.stdout.contains("2 pruned"), "{}", status.stdout);
    let results = project
        .hpsearch(&["results", "hp_search_0", "--format", "json"])
        .ok();
    let results: Value = serde_json::from_str(&results.stdout).expect("json");
    let statuses: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["succeeded", "succeeded", "pruned", "pruned"]);
    assert_eq!(results[0]["steps"], 10);
    for row in results.as_array().unwrap() {
        assert!(
            row["cpu_seconds"].as_f64().is_some_and(|s| s >= 0.0),
            "measured: {row}"
        );
    }
    // The compute the search used, and what the two pruned runs would have used to the end
    // (stopped at step 3-5 of the finished runs' 10: about twice to three times what they used).
    assert!(
        status.stdout.contains("the 2 pruned runs used") && status.stdout.contains("to their end"),
        "{}",
        status.stdout
    );
    let snapshot: Value = serde_json::from_str(
        &std::fs::read_to_string(project.search_dir(0).join("hp_search_state.json")).unwrap(),
    )
    .unwrap();
    let compute = &snapshot["compute"];
    assert_eq!(compute["pruned_runs"], 2, "{compute}");
    let used = compute["pruned_run_hours"].as_f64().unwrap();
    let to_end = compute["pruned_run_hours_to_end"].as_f64().unwrap();
    assert!(to_end > 1.8 * used && to_end < 3.6 * used, "{compute}");
    assert!(compute["run_hours"].as_f64().unwrap() > used, "{compute}");
    let log = std::fs::read_to_string(project.search_dir(0).join("log.txt")).unwrap();
    assert!(log.contains("stopped early at step"), "{log}");

    // The report counts them, says what they cost, and draws them apart.
    project.hpsearch(&["report", "hp_search_0"]).ok();
    let report = project.search_dir(0).join("report");
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(
        html.contains("2 pruned (stopped early)"),
        "the report's counts"
    );
    assert!(
        html.contains("the 2 pruned runs used"),
        "the report's compute line"
    );
    for figure in ["history", "best_vs_compute"] {
        let svg = std::fs::read_to_string(report.join(format!("figures/{figure}.svg"))).unwrap();
        assert!(
            svg.contains("pruned (at its last result)"),
            "{figure} draws the pruned runs"
        );
    }
    // The learning curves: every run's progress, the pruned ones apart with a mark where each
    // stopped, the best run (q = 0, the first of the grid) on top.
    let svg = std::fs::read_to_string(report.join("figures/learning_curves.svg")).unwrap();
    assert!(svg.contains("Learning curves") && svg.contains("step"));
    assert!(svg.contains("pruned (○: where it stopped)"), "{svg}");
    assert!(svg.contains("best run (0)") && svg.contains("finished"));
    assert_eq!(svg.matches("<circle").count(), 2, "one mark per pruned run");
    assert!(report.join("figures/learning_curves.png").exists());
    assert!(html.contains("learning_curves"), "the page shows it");
}

#[test]
fn asha_reads_progress_printed_by_a_python_script_through_progress_pattern() {
    let project = Project::new();
    // The script cannot be changed: it prints its progress, and one malformed line. It trains
    // for the `max_step` that asha puts in input.json.
    project.write(
        "train.py",
        "import json, sys, time\ncfg = json.load(open(sys.argv[1]))\nq = {'a': 0.0, 'b': 2.0, 'c': 1.0, 'd': 4.0, 'e': 5.0}[cfg['model']]\nopen('../../starts.log', 'a').write(cfg['model'] + '\\n')\nfor epoch in range(1, cfg['max_step'] + 1):\n    time.sleep(0.15)\n    print(f'epoch {epoch} train_loss=9 val_loss={q + 1 / epoch:.6f}', flush=True)\n    if epoch == 2:\n        print('epoch 2 val_loss=oops', flush=True)\njson.dump({'objective': q + 1 / 9}, open('output.json', 'w'))\n",
    );
    project.configs(
        "python3",
        "train.py",
        json!({"model": {"type": "categorical", "domain": ["b", "a", "e", "c", "d"]}}),
        json!({"search_type": "grid", "max_active_points": 1, "y_transformation": "none",
               "early_stopping": {"rule": "asha", "min_step": 1, "max_step": 9, "reduction_factor": 3,
                                  "order_check": false}}),
    );
    set_job(
        &project,
        "progress_pattern",
        json!(r"epoch (?P<step>\d+) .*val_loss=(?P<objective>\S+)"),
    );
    project.hpsearch(&["run", "."]).ok();

    let rows: BTreeMap<String, BTreeMap<String, String>> = project
        .data_rows(0)
        .into_iter()
        .map(|row| (row["model"].clone(), row))
        .collect();
    // In grid order b, a, e, c, d: b and a each lead the first rung when they reach it; e, c and
    // d are not in its best third.
    let started: Vec<String> = std::fs::read_to_string(project.path.join("starts.log"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(started, ["b", "a", "e", "c", "d"], "grid order, each once");
    for model in ["b", "a"] {
        assert_eq!(rows[model]["status"], "succeeded", "{:?}", rows[model]);
        assert_eq!(rows[model]["steps"], "9");
    }
    for model in ["e", "c", "d"] {
        let row = &rows[model];
        assert_eq!(row["status"], "pruned", "{row:?}");
        assert!(
            row["failure_reason"].contains("at the rung of step 1"),
            "{row:?}"
        );
    }
    // The malformed line is noted in the run's own log, and the run went on.
    let log = std::fs::read_to_string(
        project
            .search_dir(0)
            .join(format!("hp_combination_{}", rows["b"]["combination_id"]))
            .join("log.txt"),
    )
    .unwrap();
    assert!(
        log.contains("hpsearch: log.txt line") && log.contains("\"oops\", not a finite number"),
        "{log}"
    );
}

#[test]
fn asha_judges_by_default_only_at_the_rung_whose_order_held_to_the_end() {
    let project = Project::new();
    // Crossing curves: before step 3 a run's loss is x, from step 3 on 10 - x, so the order at
    // rung 1 is the reverse of the end's and the order at rung 3 is the end's. Plain asha
    // (`"order_check": false`) would stop every run after x = 1 at rung 1, and keep the worst;
    // the default checks the order first.
    project.write(
        "train.py",
        "import json, sys, time\ncfg = json.load(open(sys.argv[1]))\nx = cfg['x']\nfor step in range(1, cfg['max_step'] + 1):\n    time.sleep(0.2)\n    loss = x if step < 3 else 10 - x\n    with open('progress.jsonl', 'a') as f:\n        f.write(json.dumps({'step': step, 'objective': loss}) + '\\n')\njson.dump({'objective': 10 - x}, open('output.json', 'w'))\n",
    );
    project.configs(
        "python3",
        "train.py",
        json!({"x": {"type": "categorical", "domain": [1, 2, 3, 4, 5, 6, 0]}}),
        json!({"search_type": "grid", "max_active_points": 1, "y_transformation": "none",
               "early_stopping": {"rule": "asha", "min_step": 1, "max_step": 9,
                                  "reduction_factor": 3}}),
    );
    project.hpsearch(&["run", "."]).ok();

    let rows: BTreeMap<String, BTreeMap<String, String>> = project
        .data_rows(0)
        .into_iter()
        .map(|row| (row["x"].clone(), row))
        .collect();
    // The first four pass every rung unjudged (nothing has reached the end to check against);
    // then rung 1, whose order reversed, never judges, and 5 and 6 (the best at the end) run.
    for x in ["1", "2", "3", "4", "5", "6"] {
        assert_eq!(rows[x]["status"], "succeeded", "{:?}", rows[x]);
        assert_eq!(rows[x]["steps"], "9", "{:?}", rows[x]);
    }
    // x = 0 leads rung 1 and is the worst at rung 3, whose order held: stopped there.
    let row = &rows["0"];
    assert_eq!(row["status"], "pruned", "{row:?}");
    assert!(
        row["failure_reason"].contains("at the rung of step 3"),
        "{row:?}"
    );
}

#[test]
fn a_stop_decided_before_a_coordinator_crash_holds_after_resume() {
    let project = Project::new();
    // The scripts ignore SIGTERM, so a stopped run lives on until SIGKILL after the grace.
    shell_trainer(&project, 40, "0.2", true);
    project.configs(
        "/bin/sh",
        "train.sh",
        json!({"q": {"type": "discrete", "domain": [0, 5]}}),
        json!({"search_type": "grid", "max_active_points": 1, "y_transformation": "none",
               "early_stopping": {"rule": "median", "startup_runs": 1}}),
    );
    set_job(&project, "kill_grace_seconds", json!(4));
    // q = 0 runs to its end (8 s); q = 5 is condemned at its first step.
    project.hpsearch(&["launch", "."]).ok();
    let log_path = project.search_dir(0).join("log.txt");
    wait_until(Duration::from_secs(60), "the stop decision", || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("stopped early at step")
    });
    // The coordinator dies before the grace ends: the run, which ignored SIGTERM, lives on.
    kill_coordinator_and_wait(&project);
    let resume = project.hpsearch(&["resume", "hp_search_0"]).ok();
    assert!(resume.stdout.contains("1 pruned"), "{}", resume.stdout);
    let rows = rows_by_q(&project);
    assert_eq!(rows["0"]["status"], "succeeded", "{:?}", rows["0"]);
    assert_eq!(rows["5"]["status"], "pruned", "{:?}", rows["5"]);
    // Stopped by the resumed coordinator, not run again, and long before its 40 steps.
    assert_eq!(starts(&project), ["0", "5"]);
    let steps: u32 = rows["5"]["steps"].parse().unwrap();
    assert!(steps < 40, "{:?}", rows["5"]);
    let folder = project
        .search_dir(0)
        .join(format!("hp_combination_{}", rows["5"]["combination_id"]));
    assert!(
        !folder.join("output.json").exists(),
        "it never reached its end"
    );
    let reported = std::fs::read_to_string(folder.join("progress.jsonl")).unwrap();
    assert_eq!(
        reported.lines().count() as u32,
        steps,
        "steps is the last step it reported"
    );
}

#[test]
fn a_control_run_the_order_check_let_go_on_is_not_stopped_after_a_coordinator_crash() {
    let project = Project::new();
    // Every curve keeps its order (loss x + 1/step), so rungs 1 and 3 judge once four runs have
    // ended. Runs x = 9 down to 1 each lead when they come: none is stopped, 81 steps in all.
    // x = 4.5 then ranks 5th of 10 at rung 1, near the cut: with a tenth of the steps seen
    // free for it, it goes on to the end as a control of the check, slowly, and is the worst
    // from step 3 on, where rung 3 would stop any other run. x = 4.6 comes after it (slowly
    // enough to be judged before it ends): no steps are free for a second control, and rung 1
    // stops it.
    project.write(
        "train.py",
        "import json, sys, time\ncfg = json.load(open(sys.argv[1]))\nx = cfg['x']\nfor step in range(1, 10):\n    time.sleep(0.6 if x == 4.5 else 0.3 if x == 4.6 else 0.02)\n    loss = x + 1 / step if x != 4.5 or step < 3 else 100\n    with open('progress.jsonl', 'a') as f:\n        f.write(json.dumps({'step': step, 'objective': loss}) + '\\n')\njson.dump({'objective': loss}, open('output.json', 'w'))\n",
    );
    project.configs(
        "python3",
        "train.py",
        json!({"x": {"type": "categorical", "domain": [9, 8, 7, 6, 5, 4, 3, 2, 1, 4.5, 4.6]}}),
        json!({"search_type": "grid", "max_active_points": 1, "y_transformation": "none",
               "early_stopping": {"rule": "asha", "min_step": 1, "max_step": 9,
                                  "reduction_factor": 3}}),
    );
    project.hpsearch(&["launch", "."]).ok();
    let log_path = project.search_dir(0).join("log.txt");
    wait_until(Duration::from_secs(90), "the control decision", || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("as a control")
    });
    // The coordinator dies at the control's rung 1; the run lives on, and reaches rung 3 while
    // the resumed coordinator watches it.
    kill_coordinator_and_wait(&project);
    project.hpsearch(&["resume", "hp_search_0"]).ok();
    let rows: BTreeMap<String, BTreeMap<String, String>> = project
        .data_rows(0)
        .into_iter()
        .map(|row| (row["x"].clone(), row))
        .collect();
    let control = &rows["4.5"];
    assert_eq!(control["status"], "succeeded", "{control:?}");
    assert_eq!(control["steps"], "9", "{control:?}");
    let stopped = &rows["4.6"];
    assert_eq!(stopped["status"], "pruned", "{stopped:?}");
    assert!(
        stopped["failure_reason"].contains("at the rung of step 1"),
        "{stopped:?}"
    );
    for x in ["9", "8", "7", "6", "5", "4", "3", "2", "1"] {
        assert_eq!(rows[x]["status"], "succeeded", "{:?}", rows[x]);
    }
    let folder = project
        .search_dir(0)
        .join(format!("hp_combination_{}", control["combination_id"]));
    let run_log = std::fs::read_to_string(folder.join("log.txt")).unwrap_or_default();
    assert!(
        run_log.contains("ranks 5 of the 10 runs") && run_log.contains("as a control"),
        "{run_log}"
    );
}

#[test]
fn a_run_that_ended_while_no_coordinator_watched_keeps_the_steps_it_reported() {
    // A succeeded run's steps are a whole run's length for the model under `median`: a resumed
    // search must read them as an uninterrupted one does.
    let project = Project::new();
    shell_trainer(&project, 5, "0.3", false);
    project.configs(
        "/bin/sh",
        "train.sh",
        json!({"q": {"type": "discrete", "domain": [0, 1]}}),
        json!({"search_type": "grid", "max_active_points": 2, "y_transformation": "none",
               "early_stopping": {"rule": "median", "startup_runs": 5}}),
    );
    project.hpsearch(&["launch", "."]).ok();
    wait_until(Duration::from_secs(60), "both runs started", || {
        starts(&project).len() == 2
    });
    kill_coordinator_and_wait(&project);
    let folders: Vec<_> = (0..2)
        .map(|id| project.search_dir(0).join(format!("hp_combination_{id}")))
        .collect();
    wait_until(
        Duration::from_secs(60),
        "both runs to end unwatched",
        || folders.iter().all(|f| f.join("output.json").exists()),
    );
    project.hpsearch(&["resume", "hp_search_0"]).ok();
    let rows = rows_by_q(&project);
    for q in ["0", "1"] {
        assert_eq!(rows[q]["status"], "succeeded", "{:?}", rows[q]);
        assert_eq!(rows[q]["steps"], "5", "{:?}", rows[q]);
    }
}

#[test]
fn a_search_without_early_stopping_runs_every_script_to_its_end() {
    let project = Project::new();
    shell_trainer(&project, 3, "0.05", false);
    project.configs(
        "/bin/sh",
        "train.sh",
        json!({"q": {"type": "discrete", "domain": [0, 5, 9]}}),
        json!({"search_type": "grid", "max_active_points": 1, "y_transformation": "none"}),
    );
    project.hpsearch(&["run", "."]).ok();
    for row in project.data_rows(0) {
        assert_eq!(row["status"], "succeeded", "{row:?}");
    }
}

#[test]
fn runs_that_end_short_of_max_step_are_never_judged_and_the_search_log_says_why() {
    let project = Project::new();
    // The script reports steps 1-3 and ends; the config says a whole run is 9 steps. asha as
    // published would stop every run after the first at rung 1 (each is worse there); with the
    // order check (the default) no run ever reaches max_step to check the order against.
    shell_trainer(&project, 3, "0", false);
    project.configs(
        "/bin/sh",
        "train.sh",
        json!({"q": {"type": "discrete", "domain": [0, 1, 2, 3, 4, 5]}}),
        json!({"search_type": "grid", "num_grid_points_per_hyperparameter": 6,
               "max_active_points": 1, "y_transformation": "none",
               "early_stopping": {"rule": "asha", "min_step": 1, "max_step": 9}}),
    );
    project.hpsearch(&["run", "."]).ok();

    let rows = rows_by_q(&project);
    assert_eq!(rows.len(), 6);
    for row in rows.values() {
        assert_eq!(row["status"], "succeeded", "{row:?}");
        assert_eq!(row["steps"], "3", "{row:?}");
    }
    let log = std::fs::read_to_string(project.search_dir(0).join("log.txt")).unwrap();
    let said = log.matches("short of max_step (9)").count();
    assert_eq!(said, 1, "said once:\n{log}");
    assert!(
        log.contains("set early_stopping.max_step in search_config.json"),
        "{log}"
    );
}

#[test]
fn a_step_too_large_to_store_is_a_noted_line_and_the_search_goes_on() {
    let project = Project::new();
    // 2^63: a whole number, but beyond what the store (SQLite's signed 64-bit integers) holds.
    // Before, writing it stopped the search with a store error, and every resume failed again.
    project.script(
        "train.sh",
        "#!/bin/sh\nq=$(sed -n 's/.*\"q\": *\\([0-9.]*\\).*/\\1/p' \"$1\")\nprintf '{\"step\": 1, \"objective\": %s}\\n' \"$q\" >> progress.jsonl\nprintf '{\"step\": 9223372036854775808, \"objective\": %s}\\n' \"$q\" >> progress.jsonl\nprintf '{\"step\": 2, \"objective\": %s}\\n' \"$q\" >> progress.jsonl\necho \"$q\" > output.json\n",
    );
    project.configs(
        "/bin/sh",
        "train.sh",
        json!({"q": {"type": "discrete", "domain": [1, 2, 3]}}),
        json!({"search_type": "grid", "num_grid_points_per_hyperparameter": 3,
               "max_active_points": 1, "y_transformation": "none",
               "early_stopping": {"rule": "median", "startup_runs": 1}}),
    );
    let run = project.hpsearch(&["run", "."]).ok();
    assert!(run.stdout.contains("3 succeeded"), "{}", run.stdout);
    let rows = rows_by_q(&project);
    for q in ["1", "2", "3"] {
        assert_eq!(rows[q]["status"], "succeeded", "{:?}", rows[q]);
        assert_eq!(
            rows[q]["steps"], "2",
            "the huge step is not counted: {:?}",
            rows[q]
        );
        let log = std::fs::read_to_string(
            project
                .search_dir(0)
                .join(format!("hp_combination_{}", rows[q]["combination_id"]))
                .join("log.txt"),
        )
        .unwrap();
        assert!(
            log.contains("progress.jsonl line 2") && log.contains("9223372036854775808"),
            "{log}"
        );
    }
}
