//! Bad configs: each gives one clear line naming the file and the field, exit code 2, no panic.

mod support;
use serde_json::json;
use support::*;

/// Runs `hpsearch run` on a project whose configs are valid except for `change`, and returns stderr.
fn error_for(change: impl FnOnce(&Project)) -> String {
    let project = Project::new();
    project.script("score.py", python_ok());
    project.configs(
        "python3",
        "score.py",
        model_two_params(),
        json!({"search_type": "grid", "max_suggestions": 3}),
    );
    change(&project);
    let run = project.hpsearch(&["run", "."]);
    assert_eq!(
        run.code, 2,
        "expected exit code 2, got {}\nstderr: {}",
        run.code, run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "panic: {}", run.stderr);
    assert!(
        !run.stderr.contains("RUST_BACKTRACE"),
        "backtrace: {}",
        run.stderr
    );
    assert_eq!(
        run.stderr.trim().lines().count(),
        1,
        "one line expected: {}",
        run.stderr
    );
    assert!(
        !project.search_dir(0).exists(),
        "no search folder for an invalid config"
    );
    run.stderr
}

fn assert_names(stderr: &str, file: &str, field: &str) {
    assert!(
        stderr.contains(file),
        "message should name {file}: {stderr}"
    );
    assert!(
        stderr.contains(&format!("`{field}`")),
        "message should name the field `{field}`: {stderr}"
    );
}

fn search_error(search: serde_json::Value, field: &str) -> String {
    let e = error_for(|p| {
        p.write_json("search_config.json", &search);
    });
    assert_names(&e, "search_config.json", field);
    e
}

fn model_error(model: serde_json::Value, field: &str) -> String {
    let e = error_for(|p| {
        p.write_json("model_config.json", &model);
    });
    assert_names(&e, "model_config.json", field);
    e
}

fn job_error(job: serde_json::Value, field: &str) -> String {
    let e = error_for(|p| {
        p.write_json("job_config.json", &job);
    });
    assert_names(&e, "job_config.json", field);
    e
}

#[test]
fn unknown_search_field_is_named_with_a_suggestion() {
    let e = search_error(
        json!({"search_type": "grid", "max_sugestions": 3}),
        "max_sugestions",
    );
    assert!(e.contains("did you mean `max_suggestions`"), "{e}");
}

#[test]
fn unknown_search_type_lists_the_allowed_ones() {
    let e = search_error(json!({"search_type": "genetic"}), "search_type");
    assert!(e.contains("\"grid\"") && e.contains("genetic"), "{e}");
}

#[test]
fn max_active_points_below_one() {
    let e = search_error(
        json!({"search_type": "grid", "max_active_points": 0}),
        "max_active_points",
    );
    assert!(e.contains("from 1 to"), "{e}");
}

#[test]
fn max_suggestions_of_the_wrong_type() {
    let e = search_error(
        json!({"search_type": "grid", "max_suggestions": "ten"}),
        "max_suggestions",
    );
    assert!(e.contains("\"ten\" (a string)"), "{e}");
}

#[test]
fn fractional_max_suggestions() {
    search_error(
        json!({"search_type": "random", "max_suggestions": 2.5}),
        "max_suggestions",
    );
}

#[test]
fn negative_search_time() {
    search_error(
        json!({"search_type": "grid", "search_time": -1}),
        "search_time",
    );
}

#[test]
fn unknown_y_transformation() {
    let e = search_error(
        json!({"search_type": "grid", "y_transformation": "sqrt"}),
        "y_transformation",
    );
    assert!(e.contains("\"neglog\""), "{e}");
}

#[test]
fn y_failure_value_that_is_neither_number_nor_rule() {
    search_error(
        json!({"search_type": "grid", "y_failure_value": "worst"}),
        "y_failure_value",
    );
}

#[test]
fn probability_above_one() {
    search_error(
        json!({"search_type": "grid", "random_suggestion_probability": 1.5}),
        "random_suggestion_probability",
    );
}

#[test]
fn zero_grid_points_for_a_grid_search() {
    search_error(
        json!({"search_type": "grid", "num_grid_points_per_hyperparameter": 0}),
        "num_grid_points_per_hyperparameter",
    );
}

#[test]
fn unknown_kernel_in_a_list() {
    let e = search_error(
        json!({"search_type": "grid", "bopt_config": {"kernel": ["ExpQuad", "Linear"]}}),
        "bopt_config.kernel",
    );
    assert!(e.contains("Linear"), "{e}");
}

#[test]
fn unknown_bopt_field() {
    search_error(
        json!({"search_type": "grid", "bopt_config": {"n_burn": 5}}),
        "bopt_config.n_burn",
    );
}

#[test]
fn bopt_count_of_zero() {
    search_error(
        json!({"search_type": "grid", "bopt_config": {"n_samples": 0}}),
        "bopt_config.n_samples",
    );
}

#[test]
fn boolean_field_given_a_string() {
    search_error(
        json!({"search_type": "grid", "bopt_config": {"normalize_Y": "yes"}}),
        "bopt_config.normalize_Y",
    );
}

#[test]
fn negative_random_seed() {
    search_error(
        json!({"search_type": "random", "random_seed": -3}),
        "random_seed",
    );
}

#[test]
fn lower_bound_above_upper_bound() {
    let e = model_error(
        json!({"x": {"type": "continuous", "domain": [2.0, 1.0]}}),
        "x.domain",
    );
    assert!(
        e.contains("lower bound must be below the upper bound"),
        "{e}"
    );
}

#[test]
fn empty_domain() {
    let e = model_error(
        json!({"x": {"type": "categorical", "domain": []}}),
        "x.domain",
    );
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn log_transformation_on_a_non_positive_domain() {
    let e = model_error(
        json!({"lr": {"type": "continuous", "domain": [0, 1], "transformation": "log"}}),
        "lr.domain",
    );
    assert!(e.contains("above 0"), "{e}");
}

#[test]
fn log_transformation_on_a_discrete_domain_with_zero() {
    model_error(
        json!({"k": {"type": "discrete", "domain": [0, 1, 10], "transformation": "log"}}),
        "k.domain",
    );
}

#[test]
fn discrete_domain_that_is_not_numbers() {
    let e = model_error(
        json!({"act": {"type": "discrete", "domain": ["relu", "tanh"]}}),
        "act.domain",
    );
    assert!(e.contains("categorical"), "{e}");
}

#[test]
fn continuous_domain_with_three_values() {
    model_error(
        json!({"x": {"type": "continuous", "domain": [0, 1, 2]}}),
        "x.domain",
    );
}

#[test]
fn unknown_hyperparameter_type() {
    let e = model_error(json!({"x": {"type": "int", "domain": [0, 1]}}), "x.type");
    assert!(e.contains("\"discrete\""), "{e}");
}

#[test]
fn unknown_transformation() {
    model_error(
        json!({"x": {"type": "continuous", "domain": [1, 2], "transformation": "sqrt"}}),
        "x.transformation",
    );
}

#[test]
fn unknown_field_in_a_hyperparameter() {
    model_error(
        json!({"x": {"type": "continuous", "domain": [1, 2], "prior": "uniform"}}),
        "x.prior",
    );
}

#[test]
fn duplicate_category() {
    model_error(
        json!({"c": {"type": "categorical", "domain": ["a", "b", "a"]}}),
        "c.domain",
    );
}

#[test]
fn model_without_hyperparameters() {
    let e = error_for(|p| {
        p.write_json("model_config.json", &json!({"epochs": 3}));
    });
    assert!(
        e.contains("model_config.json") && e.contains("no hyperparameter"),
        "{e}"
    );
}

#[test]
fn missing_script() {
    let e = job_error(
        json!({"environment_path": "python3", "script_path": "nowhere.py"}),
        "script_path",
    );
    assert!(e.contains("nowhere.py"), "{e}");
}

#[test]
fn environment_not_on_path() {
    let e = job_error(
        json!({"environment_path": "pythonnn9", "script_path": "score.py"}),
        "environment_path",
    );
    assert!(e.contains("not on PATH"), "{e}");
}

#[test]
fn missing_environment_path() {
    let e = job_error(json!({"script_path": "score.py"}), "environment_path");
    assert!(e.contains("missing"), "{e}");
}

#[test]
fn zero_time() {
    job_error(
        json!({"environment_path": "python3", "script_path": "score.py", "time": 0}),
        "time",
    );
}

#[test]
fn unknown_processor_type() {
    job_error(
        json!({"environment_path": "python3", "script_path": "score.py", "processor_type": "TPU"}),
        "processor_type",
    );
}

#[test]
fn unknown_cluster() {
    job_error(
        json!({"environment_path": "python3", "script_path": "score.py", "cluster": "CMS"}),
        "cluster",
    );
}

#[test]
fn unknown_job_field() {
    job_error(
        json!({"environment_path": "python3", "script_path": "score.py", "gpus_per_node": 2}),
        "gpus_per_node",
    );
}

#[test]
fn invalid_json_names_the_file_and_the_position() {
    let e = error_for(|p| {
        p.write(
            "search_config.json",
            "{\"search_type\": \"grid\",\n  \"max_suggestions\": 3,\n}",
        );
    });
    assert!(
        e.contains("search_config.json") && e.contains("line 3"),
        "{e}"
    );
}

#[test]
fn top_level_that_is_not_an_object() {
    let e = error_for(|p| {
        p.write("job_config.json", "[1, 2]");
    });
    assert!(
        e.contains("job_config.json") && e.contains("one JSON object"),
        "{e}"
    );
}

#[test]
fn missing_config_file() {
    let e = error_for(|p| {
        std::fs::remove_file(p.path.join("model_config.json")).unwrap();
    });
    assert!(
        e.contains("model_config.json") && e.contains("cannot read"),
        "{e}"
    );
}

#[test]
fn bopt_with_an_unknown_acquisition_is_refused() {
    let e = search_error(
        json!({"search_type": "bopt", "bopt_config": {"acquisition_type": "UCB"}}),
        "bopt_config.acquisition_type",
    );
    assert!(e.contains("\"LCB\""), "{e}");
}

#[test]
fn a_continuous_range_too_wide_to_compute_with() {
    let e = model_error(
        json!({"x": {"type": "continuous", "domain": [-1e308, 1e308]}}),
        "x.domain",
    );
    assert!(e.contains("too wide"), "{e}");
}

#[test]
fn a_discrete_range_too_wide_to_compute_with() {
    model_error(
        json!({"k": {"type": "discrete", "domain": [-1e308, 0, 1e308]}}),
        "k.domain",
    );
}

#[test]
fn an_integer_too_large_to_be_exact() {
    let e = model_error(
        json!({"k": {"type": "discrete", "domain": [1, 10000000000000000000u64]}}),
        "k.domain",
    );
    assert!(e.contains("2^53"), "{e}");
}

#[test]
fn an_unknown_failure_kind_in_y_failure_value_lists_the_kinds() {
    let e = search_error(
        json!({"search_type": "grid", "y_failure_value": {"default": "max", "oom": "nan"}}),
        "y_failure_value.oom",
    );
    assert!(
        e.contains("out_of_memory") && e.contains("timed_out"),
        "{e}"
    );
}

#[test]
fn a_bad_rule_for_one_failure_kind() {
    search_error(
        json!({"search_type": "grid", "y_failure_value": {"timed_out": "worst"}}),
        "y_failure_value.timed_out",
    );
}

fn valid_job() -> serde_json::Value {
    json!({"environment_path": "python3", "script_path": "score.py", "cluster": "local",
           "time": 1, "memory": 1, "processor_type": "CPU", "num_processors": 1})
}

fn job_with(field: &str, value: serde_json::Value) -> serde_json::Value {
    let mut job = valid_job();
    job[field] = value;
    job
}

#[test]
fn numbers_no_run_could_use_are_refused_at_config_time_instead_of_panicking() {
    for (field, value) in [
        ("time", json!(1e16)),
        ("time", json!(1e300)),
        ("time", json!(1e-300)),
        ("kill_grace_seconds", json!(1e300)),
        ("memory", json!(1e15)),
        ("num_processors", json!(1e12)),
    ] {
        let e = job_error(job_with(field, value.clone()), field);
        assert!(e.contains("from"), "the message gives the range: {e}");
        assert!(e.len() < 400, "one short line for {field}={value}: {e}");
    }
    for (field, value) in [
        ("search_time", json!(1e300)),
        ("max_active_points", json!(1e12)),
        ("num_grid_points_per_hyperparameter", json!(1e9)),
        ("random_seed", json!(18446744073709551615u64)),
    ] {
        let mut search = json!({"search_type": "grid", "max_suggestions": 3});
        search[field] = value;
        search_error(search, field);
    }
}

#[test]
fn launch_refuses_a_huge_time_before_creating_a_search() {
    let project = Project::new();
    project.script("score.py", python_ok());
    project.configs(
        "python3",
        "score.py",
        model_two_params(),
        json!({"search_type": "grid", "max_suggestions": 3}),
    );
    project.write_json("job_config.json", &job_with("time", json!(1e16)));
    let launch = project.hpsearch(&["launch", "--local", "."]);
    assert_eq!(launch.code, 2, "{}{}", launch.stdout, launch.stderr);
    assert!(!launch.stdout.contains("launched"), "{}", launch.stdout);
    assert!(!launch.stderr.contains("panicked"), "{}", launch.stderr);
    assert!(!project.search_dir(0).exists());
}

#[test]
fn a_field_written_twice_is_an_error_naming_it() {
    let e = error_for(|p| {
        p.write(
            "model_config.json",
            "{\n  \"x\": {\"type\": \"continuous\", \"domain\": [0, 1]},\n  \"x\": {\"type\": \"categorical\", \"domain\": [\"a\", \"b\"]}\n}\n",
        );
    });
    assert_names(&e, "model_config.json", "x");
    assert!(e.contains("twice"), "{e}");
    assert!(e.contains("line 3"), "{e}");
    let e = error_for(|p| {
        p.write(
            "search_config.json",
            r#"{"search_type": "grid", "bopt_config": {"kernel": "Matern52", "kernel": "ExpQuad"}}"#,
        );
    });
    assert_names(&e, "search_config.json", "bopt_config.kernel");
}

#[test]
fn an_object_with_a_domain_but_no_type_is_an_error_not_a_constant() {
    let e = model_error(
        json!({"x": {"type": "continuous", "domain": [0, 1]},
               "lr": {"domain": [0.001, 0.1], "transformation": "log"}}),
        "lr.type",
    );
    assert!(e.contains("\"type\""), "{e}");
}

#[test]
fn a_discrete_integer_beyond_two_to_the_53_is_refused_not_rounded() {
    let e = error_for(|p| {
        p.write(
            "model_config.json",
            r#"{"seed": {"type": "discrete", "domain": [1, 9007199254740993]}}"#,
        );
    });
    assert_names(&e, "model_config.json", "seed.domain");
    assert!(e.contains("9007199254740993"), "{e}");
}

#[test]
fn a_program_on_path_that_is_not_executable_is_called_that() {
    let project = Project::new();
    project.script("score.py", python_ok());
    let bin = project.path.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("mypython"), "#!/bin/sh\n").unwrap();
    project.configs(
        "mypython",
        "score.py",
        model_two_params(),
        json!({"search_type": "grid", "max_suggestions": 3}),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = std::process::Command::new(hpsearch_bin())
        .args(["run", "."])
        .current_dir(&project.path)
        .env("PATH", path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not executable"), "{stderr}");
    assert!(!stderr.contains("not on PATH"), "{stderr}");
}

#[test]
fn a_misspelt_required_field_gets_a_did_you_mean() {
    let mut job = valid_job();
    let program = job["environment_path"].take();
    job.as_object_mut().unwrap().remove("environment_path");
    job["enviroment_path"] = program;
    let e = job_error(job, "environment_path");
    assert!(e.contains("did you mean `environment_path`"), "{e}");
    assert!(e.contains("enviroment_path"), "{e}");
}

#[test]
fn integer_domains_are_checked() {
    for (spec, field) in [
        (json!({"type": "integer", "domain": [1.5, 8]}), "k.domain"),
        (json!({"type": "integer", "domain": [8, 1]}), "k.domain"),
        (
            json!({"type": "integer", "domain": [0, 8], "transformation": "log"}),
            "k.domain",
        ),
        (
            json!({"type": "integer", "domain": [0, 100000000]}),
            "k.domain",
        ),
        (
            json!({"type": "integer", "domain": [0, 8], "step": 0}),
            "k.step",
        ),
        (
            json!({"type": "discrete", "domain": [0, 8], "step": 2}),
            "k.step",
        ),
    ] {
        model_error(json!({"k": spec}), field);
    }
}

#[test]
fn early_stopping_with_an_unknown_rule_or_a_missing_max_step() {
    let e = search_error(
        json!({"search_type": "random", "early_stopping": {"rule": "patience"}}),
        "early_stopping.rule",
    );
    assert!(e.contains("\"median\""), "{e}");
    let e = search_error(
        json!({"search_type": "random", "early_stopping": {"rule": "asha", "min_step": 4}}),
        "early_stopping.max_step",
    );
    assert!(e.contains("larger than min_step"), "{e}");
    let e = search_error(
        json!({"search_type": "random", "early_stopping": {"rule": "median", "reduction_factor": 3}}),
        "early_stopping.reduction_factor",
    );
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn a_progress_pattern_that_is_not_a_regex_or_lacks_a_group() {
    let job = |pattern: &str| {
        json!({"environment_path": "python3", "script_path": "score.py", "cluster": "local",
               "time": 1, "memory": 1, "processor_type": "CPU", "num_processors": 1,
               "progress_pattern": pattern})
    };
    let e = job_error(job("epoch (?P<step>\\d+"), "progress_pattern");
    assert!(e.contains("not a regular expression"), "{e}");
    let e = job_error(job("epoch (?P<step>\\d+) loss=(\\S+)"), "progress_pattern");
    assert!(e.contains("no group named `objective`"), "{e}");
}
