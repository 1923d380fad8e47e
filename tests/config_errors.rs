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
    assert!(e.contains(">= 1"), "{e}");
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
    let e = model_error(
        json!({"x": {"type": "integer", "domain": [0, 1]}}),
        "x.type",
    );
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
