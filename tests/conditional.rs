//! Conditional spaces end to end: a real Python script that refuses inactive values, grid
//! enumerating exactly the valid settings, the data file and results showing inactive values
//! empty and null, and a bopt search over a tree resumed after SIGKILL suggesting what an
//! uninterrupted one does.

mod support;
use serde_json::{json, Value};
use std::time::Duration;
use support::*;

/// Fails (exit 3) when input.json holds a value of the other branch; the objective depends on
/// the branch's own hyperparameters only.
const SCRIPT: &str = r#"
import json, os, sys, time
cfg = json.load(open(sys.argv[1]))
time.sleep(float(cfg.get("pause", 0)))
if cfg["model"] == "svm":
    if "depth" in cfg or "C" not in cfg:
        sys.exit(3)
    loss = abs(cfg["C"] - 10) / 10 + 0.3
else:
    if "C" in cfg or "depth" not in cfg:
        sys.exit(3)
    loss = abs(cfg["depth"] - 4) / 4 + (0.5 - cfg.get("min_leaf_share", 0.5))
json.dump({"objective": loss}, open(os.path.join(cfg["save_folder"], "output.json"), "w"))
"#;

fn tree(extra: Value) -> Value {
    let mut model = json!({
        "model": {"type": "categorical", "domain": ["svm", "forest"]},
        "C": {"type": "discrete", "domain": [1, 10, 100], "condition": {"model": ["svm"]}},
        "depth": {"type": "discrete", "domain": [2, 4, 8], "condition": {"model": ["forest"]}},
        "forbidden": [{"model": "forest", "depth": 8}]
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        model[k] = v;
    }
    model
}

#[test]
fn grid_runs_exactly_the_valid_settings_and_inactive_values_are_absent() {
    let project = Project::new();
    project.script("fit.py", SCRIPT);
    project.configs(
        "python3",
        "fit.py",
        tree(json!({})),
        json!({"search_type": "grid", "num_grid_points_per_hyperparameter": 3,
               "y_transformation": "none", "max_active_points": 2}),
    );
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    // svm with 3 values of C, forest with depths 2 and 4 (8 is forbidden): 5, each once.
    let mut settings: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r["model"].clone(), r["C"].clone(), r["depth"].clone()))
        .collect();
    settings.sort();
    let expected: Vec<(String, String, String)> = [
        ("forest", "", "2"),
        ("forest", "", "4"),
        ("svm", "1", ""),
        ("svm", "10", ""),
        ("svm", "100", ""),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(settings, expected, "inactive cells are empty");
    assert!(
        rows.iter().all(|r| r["status"] == "succeeded"),
        "the script saw no inactive value: {rows:?}"
    );
    // The seed's data file: the same empty cells.
    let plain = project.data_file(0);
    let header = &plain[0];
    let c = header.iter().position(|h| h == "C").unwrap();
    assert_eq!(plain[1..].iter().filter(|r| r[c].is_empty()).count(), 2);

    let results = project
        .hpsearch(&["results", "hp_search_0", "--format", "json"])
        .ok();
    let results: Value = serde_json::from_str(&results.stdout).expect("json");
    for row in results.as_array().unwrap() {
        let (active, inactive) = if row["model"] == "svm" {
            ("C", "depth")
        } else {
            ("depth", "C")
        };
        assert!(row[active].is_number(), "{row}");
        assert!(row[inactive].is_null(), "inactive is null: {row}");
    }
    let folder = project.search_dir(0).join("hp_combination_0");
    let input: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("input.json")).unwrap()).unwrap();
    assert!(input.get("forbidden").is_none(), "not a variable: {input}");
}

#[test]
fn every_strategy_suggests_only_valid_combinations_and_the_report_handles_inactive_values() {
    for search_type in ["random", "sobol", "bopt"] {
        let project = Project::new();
        project.script("fit.py", SCRIPT);
        project.configs(
            "python3",
            "fit.py",
            tree(
                json!({"min_leaf_share": {"type": "continuous", "domain": [0, 0.5],
                                            "condition": {"model": ["forest"]}}}),
            ),
            json!({"search_type": search_type, "max_suggestions": 14, "y_transformation": "none",
                   "random_seed": 5, "min_initial_points": 5}),
        );
        project.hpsearch(&["run", "."]).ok();
        let rows = project.data_rows(0);
        assert_eq!(rows.len(), 14, "{search_type}");
        for row in &rows {
            assert_eq!(row["status"], "succeeded", "{search_type}: {row:?}");
            assert!(
                !(row["model"] == "forest" && row["depth"] == "8"),
                "{search_type} suggested a forbidden combination: {row:?}"
            );
        }
        let branches: std::collections::BTreeSet<&str> =
            rows.iter().map(|r| r["model"].as_str()).collect();
        assert_eq!(branches.len(), 2, "{search_type} tried both branches");
        let report = project.hpsearch(&["report", "hp_search_0"]).ok();
        assert!(report.stdout.contains("report: "), "{}", report.stdout);
    }
}

#[test]
fn a_bopt_search_over_a_tree_resumed_after_sigkill_suggests_what_an_uninterrupted_one_does() {
    let config = json!({"search_type": "bopt", "max_suggestions": 12, "max_active_points": 1,
                        "y_transformation": "none", "random_seed": 11, "min_initial_points": 4});
    let params = |project: &Project| -> Vec<(String, String, String)> {
        project
            .data_rows(0)
            .iter()
            .map(|r| (r["model"].clone(), r["C"].clone(), r["depth"].clone()))
            .collect()
    };
    let straight = Project::new();
    straight.script("fit.py", SCRIPT);
    straight.configs(
        "python3",
        "fit.py",
        tree(json!({"pause": 0})),
        config.clone(),
    );
    straight.hpsearch(&["run", "."]).ok();

    let killed = Project::new();
    killed.script("fit.py", SCRIPT);
    killed.configs("python3", "fit.py", tree(json!({"pause": 0.3})), config);
    killed.hpsearch(&["launch", "."]).ok();
    wait_until(Duration::from_secs(60), "five finished runs", || {
        std::fs::read_to_string(killed.search_dir(0).join("hp_search_data.txt"))
            .map(|t| t.lines().count() > 5)
            .unwrap_or(false)
    });
    kill_coordinator_and_wait(&killed);
    killed.hpsearch(&["resume", "hp_search_0"]).ok();
    let (a, b) = (params(&straight), params(&killed));
    assert_eq!(a.len(), 12);
    assert_eq!(a, b, "the same suggestions, the kill notwithstanding");
}
