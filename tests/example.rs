//! The README's example: a real model (kernel ridge on scikit-learn's diabetes data) searched end
//! to end. Needs scikit-learn, which `.ci/run` installs: marked ignored, so a plain
//! `cargo nextest run` lists it as skipped and `--run-ignored all` runs it.

mod support;
use serde_json::Value;
use support::*;

#[test]
#[ignore = "needs scikit-learn: pip install -r examples/requirements.txt"]
fn the_example_search_finds_a_model_that_beats_predicting_the_mean() {
    let has_sklearn = std::process::Command::new("python3")
        .args(["-c", "import sklearn"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_sklearn,
        "scikit-learn is not installed for python3; `pip install -r examples/requirements.txt`"
    );
    let project = Project::new();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/diabetes_ridge");
    for name in [
        "train.py",
        "model_config.json",
        "job_config.json",
        "search_config.json",
    ] {
        std::fs::copy(example.join(name), project.path.join(name)).unwrap();
    }
    let mut search: Value = serde_json::from_str(
        &std::fs::read_to_string(project.path.join("search_config.json")).unwrap(),
    )
    .unwrap();
    search["max_suggestions"] = Value::from(6);
    // The example's replicate phase (its replicate_top_k best settings run again), one more run
    // each to keep the test short.
    search["replicates"] = Value::from(1);
    let top_k = search["replicate_top_k"].as_u64().unwrap_or(5) as usize;
    project.write_json("search_config.json", &search);
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    let replicates = rows
        .iter()
        .filter(|r| r["search_type"] == "replicate")
        .count();
    assert_eq!(rows.len() - replicates, 6);
    assert_eq!(
        replicates,
        top_k.min(6),
        "one more run of each best setting"
    );
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
    let best = rows
        .iter()
        .map(|r| r["objective"].parse::<f64>().unwrap())
        .fold(f64::INFINITY, f64::min);
    // Predicting the mean scores a validation MSE near the target's variance, about 6000.
    assert!(best < 4000.0, "best validation MSE {best}");
    assert!(
        rows.iter().all(|r| r["metric_r2"].parse::<f64>().is_ok()),
        "the extra metrics are kept"
    );
    // The report on the example's real store: the replicates measure the noise, the marked
    // hyperparameters choose the simplest near-best setting, and that setting is tested once.
    let report = project.hpsearch(&["report", "hp_search_0"]).ok();
    let html = std::fs::read_to_string(project.search_dir(0).join("report/report.html")).unwrap();
    assert!(
        html.contains("the noise of the loss is sd"),
        "replicates were analysed"
    );
    assert!(
        html.contains("Hyperparameter importance") && html.contains("Main effect of alpha"),
        "the GP's importance and main effects are drawn"
    );
    let recommended: u64 = report
        .stdout
        .split("recommended: combination ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a recommendation in {}", report.stdout));
    let test = project.hpsearch(&["test", "hp_search_0"]).ok();
    assert!(
        test.stdout.contains(&format!(
            "test run 0 of combination {recommended}: objective"
        )),
        "{}",
        test.stdout
    );
    // The test score is the MSE on the held-out fifth of the data: a real model's, not the mean's.
    let objective: f64 = test
        .stdout
        .split("objective ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(objective < 4500.0, "test MSE {objective}");
}

#[test]
#[ignore = "needs PyPI for the example's packages and about a minute: runs examples/run-example.sh"]
fn the_example_script_runs_where_python_refuses_system_wide_installs() {
    // A python3 that refuses `pip install` outside a virtual environment, as a stock Debian or
    // Ubuntu Python does (externally-managed-environment); everything else goes to the real one.
    let fake = tempfile::tempdir().unwrap();
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v python3"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = \"-m\" ] && [ \"$2\" = \"pip\" ]; then\n  echo 'error: externally-managed-environment' >&2\n  exit 1\nfi\nexec {} \"$@\"\n",
        real.trim()
    );
    let python = fake.path().join("python3");
    std::fs::write(&python, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let venv = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        fake.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("bash")
        .arg("examples/run-example.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", path)
        .env("HPSEARCH_EXAMPLE_VENV", venv.path().join("venv"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("== the test phase"), "{stdout}");
    assert!(stdout.contains("test run 0 of combination"), "{stdout}");
}
