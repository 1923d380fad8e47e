//! Searches of real scripts, end to end: what lands in the data file, input.json and the logs.

mod support;
use serde_json::{json, Value};
use std::time::Duration;
use support::*;

#[test]
fn grid_search_runs_every_combination_once_with_the_seeds_columns() {
    let project = Project::new();
    project.script("score.py", python_ok());
    project.configs(
        "python3",
        "score.py",
        model_two_params(),
        json!({"search_type": "grid", "max_active_points": 2, "y_transformation": "none"}),
    );
    let run = project.hpsearch(&["run", "."]).ok();
    assert!(
        run.stdout
            .contains("all 9 combinations of the grid search are done"),
        "{}",
        run.stdout
    );

    let table = project.data_file(0);
    let header = &table[0];
    assert_eq!(
        header[..],
        [
            "combination_id",
            "job_id",
            "job_time",
            "previous_results_count",
            "search_type",
            "is_queued",
            "model_config_path",
            "loss",
            "x",
            "n"
        ],
        "the seed's file: the seed's columns, then the hyperparameters, nothing else"
    );
    let full = project.data_file_full(0);
    assert_eq!(full[0][..10], header[..]);
    assert_eq!(
        full[0][10..],
        [
            "status",
            "failure_reason",
            "objective",
            "steps",
            "metric_aux"
        ]
    );
    assert!(table.iter().all(|r| r.len() == 10), "{table:?}");
    for (seed_row, full_row) in table.iter().zip(&full) {
        assert_eq!(
            full_row[..10],
            seed_row[..],
            "the full file starts with the seed's row"
        );
    }
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 9);
    let mut seen: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["x"].clone(), r["n"].clone()))
        .collect();
    seen.sort();
    let mut expected = Vec::new();
    for x in ["0.0", "0.5", "1.0"] {
        for n in ["1", "2", "3"] {
            expected.push((x.to_string(), n.to_string()));
        }
    }
    expected.sort();
    assert_eq!(seen, expected, "every grid point exactly once");
    for row in &rows {
        assert_eq!(row["status"], "succeeded");
        assert_eq!(row["search_type"], "grid");
        assert_eq!(row["is_queued"], "True");
        assert!(row["job_id"].starts_with("local:"));
        let x: f64 = row["x"].parse().unwrap();
        let n: f64 = row["n"].parse().unwrap();
        let loss: f64 = row["loss"].parse().unwrap();
        assert!(
            (loss - ((x - 0.3).powi(2) + n)).abs() < 1e-12,
            "loss is the objective with y_transformation none"
        );
        assert_eq!(row["metric_aux"], "1.5");
        let input: Value =
            serde_json::from_str(&std::fs::read_to_string(&row["model_config_path"]).unwrap())
                .unwrap();
        assert_eq!(input["fixed"], "kept", "fixed values pass through");
        assert!(
            input["n"].is_i64(),
            "integer domains stay integers: {input}"
        );
        let id = &row["combination_id"];
        assert!(input["save_folder"]
            .as_str()
            .unwrap()
            .ends_with(&format!("hp_search_0/hp_combination_{id}")));
        let keys: Vec<&String> = input.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["x", "n", "fixed", "save_folder"],
            "the model config's order, then save_folder"
        );
    }
    let log = std::fs::read_to_string(project.search_dir(0).join("log.txt")).unwrap();
    assert!(log.contains("combination 8 succeeded"), "{log}");
    let launched = std::fs::read_to_string(project.path.join("launched_hp_searches.txt")).unwrap();
    assert_eq!(launched.lines().count(), 2, "{launched}");
    assert!(launched.starts_with("job_id\tproject_folder\tsearch_folder\tsearch_id\tlog_path"));
}

/// One script, many ways to fail, chosen by a categorical hyperparameter.
const FAILING: &str = r#"#!/bin/sh
mode=$(sed -n 's/.*"mode": *"\([a-z_0-9]*\)".*/\1/p' "$1")
case "$mode" in
  ok) echo 100 > output.json ;;
  ok_small) echo '[10, 3]' > output.json ;;
  exit1) echo "Traceback: ValueError: bad lr" >&2; exit 1 ;;
  signal) kill -9 $$ ;;
  no_output) echo "forgot to write" ;;
  garbage) echo '{"objective": 0.5,' > output.json ;;
  nan) echo '{"objective": NaN}' > output.json ;;
  no_objective) echo '{"loss": 2}' > output.json ;;
  text) echo '"fast"' > output.json ;;
  negative) echo '-5' > output.json ;;
esac
"#;

#[test]
fn every_failure_kind_is_recorded_with_its_reason_and_imputed() {
    let project = Project::new();
    project.script("fail.sh", FAILING);
    let modes = [
        "ok",
        "ok_small",
        "exit1",
        "signal",
        "no_output",
        "garbage",
        "nan",
        "no_objective",
        "text",
        "negative",
    ];
    project.configs(
        "/bin/sh",
        "fail.sh",
        json!({"mode": {"type": "categorical", "domain": modes}}),
        json!({"search_type": "grid", "max_active_points": 3, "y_transformation": "log", "y_failure_value": "max"}),
    );
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), modes.len());
    let by_mode = |m: &str| rows.iter().find(|r| r["mode"] == m).unwrap().clone();
    let expect = [
        (
            "exit1",
            "non_zero_exit",
            "exited with code 1; last line of log.txt: Traceback: ValueError: bad lr",
        ),
        ("signal", "killed_by_signal", "SIGKILL"),
        ("no_output", "missing_output", "wrote no output.json"),
        ("garbage", "unparseable_output", "not valid JSON"),
        ("nan", "non_finite_objective", "NaN"),
        (
            "no_objective",
            "no_objective",
            "without the key \"objective\"",
        ),
        ("text", "no_objective", "not a number"),
        ("negative", "transformation_failed", "log10"),
    ];
    let status = project.hpsearch(&["status", "hp_search_0"]).ok().stdout;
    for (mode, kind, reason) in expect {
        let row = by_mode(mode);
        assert_eq!(row["status"], "failed", "{mode}");
        assert!(
            row["failure_reason"].contains(reason),
            "{mode}: {}",
            row["failure_reason"]
        );
        // max: worst real loss is log10(100) = 2, best log10(10) = 1 → 2 + 0.05 × 2 = 2.1
        assert_eq!(row["loss"], "2.1", "{mode} imputed with max");
        assert!(
            status.contains(&format!("({kind})")),
            "status shows {kind}: {status}"
        );
    }
    assert_eq!(by_mode("ok")["loss"], "2");
    assert_eq!(by_mode("ok_small")["loss"], "1");
    assert_eq!(
        by_mode("negative")["objective"],
        "-5",
        "the raw objective is kept even when the transformation fails"
    );
    let results = project
        .hpsearch(&["results", "hp_search_0", "--format", "json"])
        .ok()
        .stdout;
    let results: Vec<Value> = serde_json::from_str(&results).unwrap();
    assert_eq!(results[0]["mode"], "ok_small", "best first");
    assert_eq!(results[1]["mode"], "ok");
    assert!(results[2..]
        .iter()
        .all(|r| r["status"] == "failed" && r["failure_reason"].is_string()));
}

#[test]
fn failures_under_neg_are_imputed_worse_than_every_loss() {
    let project = Project::new();
    project.script("fail.sh", FAILING);
    project.configs(
        "/bin/sh",
        "fail.sh",
        json!({"mode": {"type": "categorical", "domain": ["ok", "ok_small", "exit1"]}}),
        json!({"search_type": "grid", "max_active_points": 1, "y_transformation": "neg", "y_failure_value": "max"}),
    );
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    let loss = |m: &str| -> f64 {
        rows.iter().find(|r| r["mode"] == m).unwrap()["loss"]
            .parse()
            .unwrap()
    };
    assert_eq!(loss("ok"), -100.0);
    assert_eq!(loss("ok_small"), -10.0);
    assert!(
        loss("exit1") > -10.0,
        "imputed {} must be worse than the worst loss -10",
        loss("exit1")
    );
}

#[test]
fn a_numeric_failure_value_and_nan_are_honoured() {
    for (rule, expected) in [(json!(99.5), "99.5"), (json!("nan"), "")] {
        let project = Project::new();
        project.script("fail.sh", FAILING);
        project.configs(
            "/bin/sh",
            "fail.sh",
            json!({"mode": {"type": "categorical", "domain": ["ok", "exit1"]}}),
            json!({"search_type": "grid", "y_transformation": "none", "y_failure_value": rule}),
        );
        project.hpsearch(&["run", "."]).ok();
        let rows = project.data_rows(0);
        assert_eq!(
            rows.iter().find(|r| r["mode"] == "exit1").unwrap()["loss"],
            expected
        );
    }
}

#[test]
fn a_run_past_its_time_is_stopped_and_recorded_as_timed_out() {
    let project = Project::new();
    // Ignores SIGTERM, so the run needs the SIGKILL that follows the grace period.
    project.script(
        "slow.sh",
        "#!/bin/sh\ntrap '' TERM\nsleep 30\necho 1 > output.json\n",
    );
    project.configs(
        "/bin/sh",
        "slow.sh",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "random", "max_suggestions": 1}),
    );
    let mut job: Value = serde_json::from_str(
        &std::fs::read_to_string(project.path.join("job_config.json")).unwrap(),
    )
    .unwrap();
    job["time"] = json!(0.0003); // about a second
    job["kill_grace_seconds"] = json!(0.5);
    project.write_json("job_config.json", &job);
    let started = std::time::Instant::now();
    let run = project.hpsearch(&["run", "."]);
    assert_eq!(
        run.code, 1,
        "a search without a success exits 1: {}",
        run.stdout
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "stopped long before the script's 30 s"
    );
    let rows = project.data_rows(0);
    assert_eq!(rows[0]["status"], "failed");
    assert!(
        rows[0]["failure_reason"].contains("time limit"),
        "{}",
        rows[0]["failure_reason"]
    );
    let log =
        std::fs::read_to_string(project.search_dir(0).join("hp_combination_0/log.txt")).unwrap();
    assert!(
        log.contains("SIGKILL"),
        "the run's log says it was killed: {log}"
    );
}

#[test]
fn search_time_ends_the_search_and_cancels_what_is_running() {
    let project = Project::new();
    project.script("slow.sh", "#!/bin/sh\nsleep 20\necho 1 > output.json\n");
    project.configs(
        "/bin/sh",
        "slow.sh",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "random", "max_suggestions": 10, "max_active_points": 2, "search_time": 0.0003, "y_transformation": "none"}),
    );
    let run = project.hpsearch(&["run", "."]);
    assert_eq!(
        run.code, 1,
        "a search without a success exits 1: {}",
        run.stdout
    );
    assert!(run.stdout.contains("search_time"), "{}", run.stdout);
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 2, "no run starts after search_time");
    for row in rows {
        assert_eq!(row["status"], "cancelled");
        assert!(
            row["failure_reason"].contains("search_time"),
            "{}",
            row["failure_reason"]
        );
        assert_eq!(row["loss"], "", "a cancelled run is not imputed");
    }
}

#[test]
fn the_same_random_seed_gives_the_same_combinations() {
    let values = |search_type: &str| -> Vec<Vec<String>> {
        let project = Project::new();
        project.script("score.py", python_ok());
        project.configs("python3", "score.py", model_two_params(), json!({"search_type": search_type, "max_suggestions": 5, "random_seed": 42, "max_active_points": 3, "y_transformation": "none"}));
        project.hpsearch(&["run", "."]).ok();
        let mut rows: Vec<Vec<String>> = project
            .data_rows(0)
            .iter()
            .map(|r| vec![r["combination_id"].clone(), r["x"].clone(), r["n"].clone()])
            .collect();
        rows.sort();
        rows
    };
    for kind in ["random", "sobol"] {
        let first = values(kind);
        assert_eq!(first, values(kind), "{kind} with a seed is reproducible");
        let xs: std::collections::BTreeSet<&String> = first.iter().map(|r| &r[1]).collect();
        assert_eq!(xs.len(), 5, "{kind} suggests distinct points");
    }
}

#[test]
fn scripts_in_shell_perl_and_python_run_through_the_templates() {
    let project = Project::new();
    project.hpsearch(&["init", "proj"]).ok();
    let dir = project.path.join("proj");
    let mut languages = vec![
        ("python3", "analysis.py"),
        ("/bin/sh", "analysis.sh"),
        ("perl", "analysis.pl"),
    ];
    if std::process::Command::new("Rscript")
        .arg("--version")
        .output()
        .is_ok()
    {
        languages.push(("Rscript", "analysis.R"));
    } else {
        eprintln!("NOTE: Rscript is not installed; the R template is not exercised (.ci/run installs r-base-core)");
    }
    for (i, (environment, script)) in languages.iter().enumerate() {
        let job = json!({"environment_path": environment, "script_path": script, "time": 0.1});
        std::fs::write(dir.join("job_config.json"), job.to_string()).unwrap();
        // Seeded so that both branches of the conditional dropout come up.
        std::fs::write(dir.join("search_config.json"), json!({"search_type": "random", "max_suggestions": 8, "max_active_points": 4, "y_transformation": "none", "random_seed": 1}).to_string()).unwrap();
        project.hpsearch(&["run", "proj"]).ok();
        let rows = project.data_rows_in("proj", i as u64);
        assert_eq!(rows.len(), 8, "{script}");
        assert!(
            rows.iter().any(|r| r["dropout"].is_empty())
                && rows.iter().any(|r| !r["dropout"].is_empty()),
            "{script}: both branches: {rows:?}"
        );
        for row in rows {
            assert_eq!(
                row["status"], "succeeded",
                "{script}: {}",
                row["failure_reason"]
            );
            let objective: f64 = row["objective"].parse().unwrap();
            let lr: f64 = row["learning_rate"].parse().unwrap();
            let layers: f64 = row["num_layers"].parse().unwrap();
            // dropout is conditional: there (and read) with 2 or more layers only.
            assert_eq!(row["dropout"].is_empty(), layers < 2.0, "{script}: {row:?}");
            let dropout = row["dropout"]
                .parse::<f64>()
                .map_or(0.0, |d| 0.2 * (d - 0.1).powi(2));
            let expected = (lr.log10() + 3.0).powi(2)
                + 0.1 * (layers - 3.0).powi(2)
                + dropout
                + if row["activation"] == "tanh" {
                    0.05
                } else {
                    0.0
                };
            assert!(
                (objective - expected).abs() < 1e-6 * expected.max(1.0),
                "{script}: {objective} vs {expected}"
            );
        }
    }
}

#[test]
fn init_refuses_to_overwrite_a_project() {
    let project = Project::new();
    project.hpsearch(&["init", "p"]).ok();
    let again = project.hpsearch(&["init", "p"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}

#[test]
fn results_exports_csv_at_full_precision_and_respects_top() {
    let project = Project::new();
    project.script("score.py", python_ok());
    project.configs("python3", "score.py", model_two_params(), json!({"search_type": "sobol", "max_suggestions": 4, "y_transformation": "none", "random_seed": 1}));
    project.hpsearch(&["run", "."]).ok();
    let csv = project
        .hpsearch(&["results", "hp_search_0", "--format", "csv", "--top", "2"])
        .ok()
        .stdout;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "header and the 2 best: {csv}");
    assert!(
        lines[0].starts_with("rank,combination_id,status,loss,objective,x,n,metric_aux"),
        "{}",
        lines[0]
    );
    let data = project.data_rows(0);
    let best = data
        .iter()
        .min_by(|a, b| {
            a["loss"]
                .parse::<f64>()
                .unwrap()
                .total_cmp(&b["loss"].parse::<f64>().unwrap())
        })
        .unwrap();
    let cells: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(cells[1], best["combination_id"]);
    assert_eq!(cells[3], best["loss"], "the same digits as the data file");
    let table = project.hpsearch(&["results", "hp_search_0"]).ok().stdout;
    assert_eq!(table.lines().count(), 5, "{table}");
}

#[test]
fn the_seeds_flag_spellings_and_file_names_work() {
    let project = Project::new();
    project.script("score.py", python_ok());
    project.configs("python3", "score.py", model_two_params(), json!({"search_type": "grid", "num_grid_points_per_hyperparameter": 1, "y_transformation": "none"}));
    for name in ["search_config", "job_config", "model_config"] {
        std::fs::rename(
            project.path.join(format!("{name}.json")),
            project.path.join(format!("{name}_v0.json")),
        )
        .unwrap();
    }
    let run = project
        .hpsearch(&[
            "run",
            "--search_config_path",
            "search_config_v0.json",
            "--job_config_path",
            "job_config_v0.json",
            "--model_config_path",
            "model_config_v0.json",
        ])
        .ok();
    assert!(run.stdout.contains("search 0"), "{}", run.stdout);
    assert_eq!(project.data_rows(0).len(), 1);
}

#[test]
fn y_failure_value_can_differ_per_failure_kind() {
    let project = Project::new();
    project.script("fail.sh", FAILING);
    project.configs(
        "/bin/sh",
        "fail.sh",
        json!({"mode": {"type": "categorical", "domain": ["ok", "ok_small", "exit1", "no_output", "nan"]}}),
        json!({"search_type": "grid", "max_active_points": 1, "y_transformation": "none",
               "y_failure_value": {"default": "max", "missing_output": "nan", "non_finite_objective": 1000}}),
    );
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    let loss = |m: &str| rows.iter().find(|r| r["mode"] == m).unwrap()["loss"].clone();
    assert_eq!(
        loss("exit1"),
        "105",
        "default max: 100 + 0.05 × max(100, 90)"
    );
    assert_eq!(loss("no_output"), "", "missing_output is left out");
    assert_eq!(
        loss("nan"),
        "1000",
        "a fixed number for non-finite objectives"
    );
}

#[test]
fn status_of_a_project_lists_every_search() {
    let project = Project::new();
    project.script("score.py", python_ok());
    project.configs("python3", "score.py", model_two_params(), json!({"search_type": "grid", "num_grid_points_per_hyperparameter": 1, "y_transformation": "none"}));
    project.hpsearch(&["run", "."]).ok();
    project.write_json(
        "search_config.json",
        &json!({"search_type": "random", "max_suggestions": 2, "y_transformation": "none"}),
    );
    project.hpsearch(&["run", "."]).ok();
    let status = project.hpsearch(&["status", "."]).ok().stdout;
    let lines: Vec<&str> = status.lines().collect();
    assert_eq!(lines.len(), 3, "{status}");
    assert!(
        lines[1].starts_with("0 ")
            && lines[1].contains("grid")
            && lines[1].contains("1/1")
            && lines[1].contains("[finished]"),
        "{status}"
    );
    assert!(
        lines[2].starts_with("1 ") && lines[2].contains("random") && lines[2].contains("2/2"),
        "{status}"
    );
    let not_a_project = project.hpsearch(&["status", "hp_search_0/hp_combination_0"]);
    assert_eq!(not_a_project.code, 2, "{}", not_a_project.stderr);
}

#[test]
fn output_cut_short_by_its_reader_ends_quietly() {
    let project = Project::new();
    project.script("fast.sh", "#!/bin/sh\necho 1 > output.json\n");
    project.configs(
        "/bin/sh",
        "fast.sh",
        model_two_params(),
        json!({"search_type": "random", "max_suggestions": 150, "max_active_points": 2, "y_transformation": "none"}),
    );
    project.hpsearch(&["run", "."]).ok();
    // More JSON than a pipe holds, to a reader that closes the pipe at once (`| head -0`).
    let mut child = std::process::Command::new(hpsearch_bin())
        .args(["results", "hp_search_0", "--format", "json"])
        .current_dir(&project.path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
}

#[test]
fn the_seeds_data_file_has_exactly_the_seeds_layout_and_the_full_file_every_column() {
    let project = Project::new();
    // Exits 3 for the first grid point; writes an objective and two metrics for the others.
    project.script(
        "score.sh",
        "#!/bin/sh\nif grep -q '\"zeta\": 1,' \"$1\"; then echo boom >&2; exit 3; fi\n\
         echo '{\"objective\": 2.5, \"r2\": 0.75, \"epochs\": 3}' > output.json\n",
    );
    // Hyperparameters out of alphabetical order, with fixed values between them.
    project.configs(
        "/bin/sh",
        "score.sh",
        json!({
            "zeta": {"type": "discrete", "domain": [1, 2], "transformation": "linear"},
            "fixed": "kept",
            "alpha": {"type": "categorical", "domain": ["a", "b"]},
            "batch": 16,
            "mid": {"type": "continuous", "domain": [0.0, 1.0], "transformation": "linear"}
        }),
        json!({"search_type": "grid", "num_grid_points_per_hyperparameter": 2,
               "max_active_points": 2, "y_transformation": "none", "y_failure_value": 99}),
    );
    project.hpsearch(&["run", "."]).ok();

    let seed = project.data_file(0);
    let expected: Vec<&str> = vec![
        "combination_id",
        "job_id",
        "job_time",
        "previous_results_count",
        "search_type",
        "is_queued",
        "model_config_path",
        "loss",
        "zeta",
        "alpha",
        "mid",
    ];
    assert_eq!(
        seed[0], expected,
        "8 seed columns, then the hyperparameters in model_config order"
    );
    assert_eq!(seed.len(), 1 + 8, "one row per combination");
    assert!(
        seed.iter().all(|row| row.len() == expected.len()),
        "no row has more cells than the header: {seed:?}"
    );

    let full = project.data_file_full(0);
    assert_eq!(full[0][..expected.len()], expected[..]);
    assert_eq!(
        full[0][expected.len()..],
        [
            "status",
            "failure_reason",
            "objective",
            "steps",
            "metric_r2",
            "metric_epochs"
        ]
    );
    assert_eq!(full.len(), seed.len());
    for (seed_row, full_row) in seed.iter().zip(&full).skip(1) {
        assert_eq!(
            full_row[..expected.len()],
            seed_row[..],
            "same rows, same order"
        );
        assert_eq!(full_row.len(), full[0].len());
    }
    let rows = project.data_rows(0);
    let failed: Vec<_> = rows.iter().filter(|r| r["zeta"] == "1").collect();
    assert_eq!(failed.len(), 4);
    for row in failed {
        assert_eq!(row["status"], "failed", "{row:?}");
        assert!(row["failure_reason"].contains("code 3"), "{row:?}");
        assert_eq!(row["loss"], "99", "imputed: {row:?}");
        assert_eq!(row["objective"], "");
        assert_eq!(row["metric_r2"], "");
    }
    for row in rows.iter().filter(|r| r["zeta"] == "2") {
        assert_eq!(row["status"], "succeeded", "{row:?}");
        assert_eq!(row["failure_reason"], "");
        assert_eq!(row["objective"], "2.5");
        assert_eq!(row["loss"], "2.5");
        assert_eq!(row["metric_r2"], "0.75");
        assert_eq!(row["metric_epochs"], "3");
    }
}

#[test]
fn an_objective_keeps_every_digit_the_script_wrote() {
    // Shortest round-trip forms (what Python's json.dump writes) that a fast float parser reads
    // one unit in the last place off.
    let written = ["11727.770390002863", "1.4812629050431487e-07"];
    let project = Project::new();
    project.script(
        "exact.sh",
        &format!(
            "#!/bin/sh\nif grep -q '\"k\": \"a\"' input.json; then v={}; else v={}; fi\necho \"{{\\\"objective\\\": $v}}\" > output.json\n",
            written[0], written[1]
        ),
    );
    project.configs(
        "/bin/sh",
        "exact.sh",
        json!({"k": {"type": "categorical", "domain": ["a", "b"]}}),
        json!({"search_type": "grid", "max_active_points": 1, "y_transformation": "none"}),
    );
    project.hpsearch(&["run", "."]).ok();
    let results = project
        .hpsearch(&["results", "hp_search_0", "--format", "json"])
        .ok();
    let runs: Vec<serde_json::Value> = serde_json::from_str(&results.stdout).unwrap();
    for run in &runs {
        let expected: f64 = if run["k"] == "a" {
            written[0]
        } else {
            written[1]
        }
        .parse()
        .unwrap();
        assert_eq!(
            run["objective"].as_f64(),
            Some(expected),
            "the objective as written: {run}"
        );
    }
    let rows = project.data_rows(0);
    let objectives: Vec<f64> = rows
        .iter()
        .map(|r| r["objective"].parse().unwrap())
        .collect();
    assert!(
        objectives.contains(&written[0].parse().unwrap())
            && objectives.contains(&written[1].parse().unwrap()),
        "the data file holds the objectives as written: {objectives:?}"
    );
}

/// The data file and snapshot published while a search runs, not only at its end, follow every
/// change of a row that already ended: here a failure's imputed loss after a later success.
#[test]
fn what_is_published_mid_search_follows_each_imputed_loss() {
    let project = Project::new();
    project.script(
        "run.sh",
        r#"mode=$(grep -o '"mode": "[a-z0-9]*"' input.json | cut -d'"' -f4)
# Each run outlasts the half second between routine publishes, so the failure is published
# (with no loss yet) before the success that gives it one.
case "$mode" in
  exit1) sleep 0.8; exit 1 ;;
  ok) sleep 0.8; echo 10 > output.json ;;
  late)
    sleep 1.5
    cp ../hp_search_data_full.txt seen_data.txt
    cp ../hp_search_state.json seen_state.json
    echo -30 > output.json ;;
esac
"#,
    );
    project.configs(
        "/bin/sh",
        "run.sh",
        json!({"mode": {"type": "categorical", "domain": ["exit1", "ok", "late"]}}),
        json!({"search_type": "grid", "max_active_points": 1, "y_transformation": "none", "y_failure_value": "max"}),
    );
    project.hpsearch(&["run", "."]).ok();
    let search = project.path.join("hp_search_0");
    let late = project
        .data_rows(0)
        .into_iter()
        .find(|r| r["mode"] == "late")
        .expect("the late run");
    let folder = search.join(format!("hp_combination_{}", late["combination_id"]));

    // Mid-search: the failure's loss is max's after the one success (10 + 0.05 × 10).
    let seen = std::fs::read_to_string(folder.join("seen_data.txt")).expect("the copied data file");
    let mut lines = seen.lines().map(|l| l.split('\t').collect::<Vec<_>>());
    let header = lines.next().expect("a header");
    let column = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let failed: Vec<Vec<&str>> = lines.filter(|r| r[column("mode")] == "exit1").collect();
    assert_eq!(failed.len(), 1, "{seen}");
    assert_eq!(failed[0][column("loss")], "10.5", "{seen}");
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("seen_state.json")).expect("the copied snapshot"),
    )
    .expect("a whole snapshot");
    let rows = state["combinations"].as_array().expect("combinations");
    let exit1 = rows
        .iter()
        .find(|c| c["params"]["mode"] == "exit1")
        .expect("the failed row");
    assert_eq!(exit1["loss"], json!(10.5));

    // At the end: 10 + 0.05 × (10 − (−30)) = 12.
    let rows = project.data_rows(0);
    let exit1 = rows.iter().find(|r| r["mode"] == "exit1").expect("exit1");
    assert_eq!(exit1["loss"], "12");
}

#[test]
fn readers_never_see_the_rows_a_random_search_creates_ahead_of_their_start() {
    let project = Project::new();
    project.script("slow.sh", "#!/bin/sh\nsleep 0.3\necho 1 > output.json\n");
    project.configs(
        "/bin/sh",
        "slow.sh",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "random", "max_suggestions": 8, "max_active_points": 2, "y_transformation": "none"}),
    );
    project.hpsearch(&["launch", "--local"]).ok();
    let snapshot = project.search_dir(0).join("hp_search_state.json");
    let mut looks = 0;
    wait_until(Duration::from_secs(60), "the search to end", || {
        let Some(state) = std::fs::read_to_string(&snapshot)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        else {
            return false;
        };
        let rows = state["combinations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let summary = &state["summary"];
        // A row sent to the runner may still read `created` until its answer is taken, but its
        // folder and input.json exist; a row created ahead has neither.
        for row in &rows {
            let id = row["id"].as_u64().expect("an id");
            let input = project
                .search_dir(0)
                .join(format!("hp_combination_{id}/input.json"));
            assert!(
                input.exists(),
                "combination {id} is published before its run was prepared: {}",
                row["state"]
            );
        }
        assert_eq!(
            summary["created"].as_u64(),
            Some(rows.len() as u64),
            "the count of combinations is the rows shown: {summary}"
        );
        looks += 1;
        state["state"] != "running"
    });
    assert!(looks > 2, "the search was looked at while it ran");
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 8);
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
}
