//! A new user's first hour: a script that fails on every run, a finished search cancelled by
//! mistake.

mod support;
use serde_json::{json, Value};
use support::*;

fn failing_python(project: &Project) {
    project.script(
        "score.py",
        "import json, sys\ncfg = json.load(open(sys.argv[1]))\nprint('reading the config')\nlr = cfg['learning_rate']\n",
    );
}

fn search(project: &Project, extra: Value) {
    let mut config = json!({"search_type": "random", "max_suggestions": 12, "max_active_points": 2,
                            "y_transformation": "none", "random_seed": 1});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        config[k] = v;
    }
    project.configs(
        "python3",
        "score.py",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        config,
    );
}

fn states(project: &Project) -> Vec<String> {
    let text = std::fs::read_to_string(project.search_dir(0).join("hp_search_state.json")).unwrap();
    let snapshot: Value = serde_json::from_str(&text).unwrap();
    snapshot["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_script_that_fails_every_run_stops_the_search_early_with_its_error() {
    let project = Project::new();
    failing_python(&project);
    search(&project, json!({}));
    let run = project.hpsearch(&["run", "."]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    // The rule counts 5 (`stop_after_failures`' default), but with 2 runs in flight a second
    // run may end in the same poll as the fifth: both are recorded, and the note counts them.
    assert!(
        run.stdout
            .contains("stopped early: the first 5 runs all failed (non_zero_exit")
            || run
                .stdout
                .contains("stopped early: the first 6 runs all failed (non_zero_exit"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("KeyError: 'learning_rate'"),
        "the log's last lines: {}",
        run.stdout
    );
    let states = states(&project);
    let failed = states.iter().filter(|s| *s == "failed").count();
    assert!((5..=6).contains(&failed), "{states:?}");
    assert!(states.len() < 12, "the budget was not spent: {states:?}");
    let log = std::fs::read_to_string(project.search_dir(0).join("log.txt")).unwrap();
    assert!(log.contains("stopped early"), "{log}");

    // Fixed, the search continues from where it stopped: the failed runs stay recorded and
    // every suggestion left of the budget succeeds (5 or 6 of 12 failed, as above).
    project.script("score.py", python_ok_x());
    let resume = project.hpsearch(&["resume", "hp_search_0"]);
    assert_eq!(resume.code, 0, "{}\n{}", resume.stdout, resume.stderr);
    let states = self::states(&project);
    assert_eq!(states.len(), 12);
    assert_eq!(
        states.iter().filter(|s| *s == "failed").count(),
        failed,
        "{states:?}"
    );
    assert_eq!(
        states.iter().filter(|s| *s == "succeeded").count(),
        12 - failed,
        "{states:?}"
    );
}

fn python_ok_x() -> &'static str {
    "import json, sys, os\ncfg = json.load(open(sys.argv[1]))\njson.dump(cfg['x'], open(os.path.join(cfg['save_folder'], 'output.json'), 'w'))\n"
}

#[test]
fn with_the_rule_off_a_search_without_a_success_still_exits_non_zero() {
    let project = Project::new();
    failing_python(&project);
    search(
        &project,
        json!({"max_suggestions": 4, "stop_after_failures": 0}),
    );
    let run = project.hpsearch(&["run", "."]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("0 succeeded, 4 failed"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("no run succeeded"), "{}", run.stdout);
}

#[test]
fn failures_of_different_kinds_do_not_stop_the_search() {
    let project = Project::new();
    // Even combinations exit non-zero, odd ones write no output.json.
    project.script(
        "score.py",
        "import os, sys\nid = int(os.path.basename(os.getcwd()).split('_')[-1])\nsys.exit(1 if id % 2 == 0 else 0)\n",
    );
    search(
        &project,
        json!({"max_suggestions": 8, "max_active_points": 1}),
    );
    let run = project.hpsearch(&["run", "."]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(!run.stdout.contains("stopped early"), "{}", run.stdout);
    assert_eq!(states(&project).len(), 8);
}

#[test]
fn cancel_leaves_a_finished_search_finished() {
    let project = Project::new();
    project.script("score.py", python_ok_x());
    search(&project, json!({"max_suggestions": 3}));
    project.hpsearch(&["run", "."]).ok();
    let cancel = project.hpsearch(&["cancel", "hp_search_0"]).ok();
    assert!(
        cancel.stdout.contains("already finished"),
        "{}",
        cancel.stdout
    );
    let text = std::fs::read_to_string(project.search_dir(0).join("hp_search_state.json")).unwrap();
    let snapshot: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(snapshot["state"], "finished");
    assert!(
        snapshot["end_reason"]
            .as_str()
            .unwrap()
            .contains("max_suggestions (3) combinations are done"),
        "{snapshot}"
    );
}

#[test]
fn run_on_a_folder_that_does_not_exist_says_so() {
    let project = Project::new();
    let run = project.hpsearch(&["run", "no_such_project"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no such project folder"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hpsearch init"), "{}", run.stderr);
}

#[test]
fn init_writes_one_language_when_asked_and_its_readme_names_bopt() {
    let project = Project::new();
    project.hpsearch(&["init", "p", "--language", "r"]).ok();
    let folder = project.path.join("p");
    assert!(folder.join("analysis.R").exists());
    assert!(!folder.join("analysis.py").exists());
    let job: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("job_config.json")).unwrap())
            .unwrap();
    assert_eq!(job["environment_path"], "Rscript");
    assert_eq!(job["script_path"], "analysis.R");
    let readme = std::fs::read_to_string(folder.join("README.txt")).unwrap();
    assert!(readme.contains("bopt"), "{readme}");

    project.hpsearch(&["init", "all"]).ok();
    for file in ["analysis.py", "analysis.R", "analysis.sh", "analysis.pl"] {
        assert!(project.path.join("all").join(file).exists(), "{file}");
    }
}

fn params_of(project: &Project) -> Vec<Value> {
    let text = std::fs::read_to_string(project.search_dir(0).join("hp_search_state.json")).unwrap();
    let snapshot: Value = serde_json::from_str(&text).unwrap();
    snapshot["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["params"].clone())
        .collect()
}

#[test]
fn an_integer_hyperparameter_takes_every_whole_number_of_its_range() {
    let project = Project::new();
    project.script(
        "score.py",
        "import json, sys, os\ncfg = json.load(open(sys.argv[1]))\nassert isinstance(cfg['layers'], int) and isinstance(cfg['units'], int)\njson.dump(cfg['layers'], open(os.path.join(cfg['save_folder'], 'output.json'), 'w'))\n",
    );
    project.configs(
        "python3",
        "score.py",
        json!({"layers": {"type": "integer", "domain": [1, 8]},
               "units": {"type": "integer", "domain": [16, 1024], "step": 16, "transformation": "log"}}),
        json!({"search_type": "sobol", "max_suggestions": 40, "max_active_points": 4,
               "y_transformation": "none", "random_seed": 4}),
    );
    let run = project.hpsearch(&["run", "."]).ok();
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let params = params_of(&project);
    let layers: std::collections::BTreeSet<i64> = params
        .iter()
        .map(|p| p["layers"].as_i64().unwrap())
        .collect();
    assert!(layers.iter().all(|l| (1..=8).contains(l)), "{layers:?}");
    assert!(
        layers.len() >= 6,
        "values between the bounds are used: {layers:?}"
    );
    for p in &params {
        let units = p["units"].as_i64().unwrap();
        assert!((16..=1024).contains(&units) && units % 16 == 0, "{units}");
    }
}

#[test]
fn a_two_value_discrete_domain_that_looks_like_a_range_is_warned_about() {
    let project = Project::new();
    project.script("score.py", python_ok_x());
    project.configs(
        "python3",
        "score.py",
        json!({"x": {"type": "continuous", "domain": [0, 1]},
               "n": {"type": "discrete", "domain": [1, 8]}}),
        json!({"search_type": "random", "max_suggestions": 2, "y_transformation": "none"}),
    );
    let run = project.hpsearch(&["run", "."]).ok();
    assert!(run.stderr.contains("warning:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("\"type\": \"integer\""),
        "{}",
        run.stderr
    );
    let log = std::fs::read_to_string(project.search_dir(0).join("log.txt")).unwrap();
    assert!(log.contains("means the two values 1 and 8 only"), "{log}");
}
