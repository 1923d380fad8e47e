//! Fuzzing every input a user or a script writes: the three config files, a run's output.json and
//! log.txt, and the lines of the `ask-tell` protocol. Whatever the input, the reader answers with
//! a value or with a one-line error message, never with a panic (nor a hang).
//!
//! Inputs are arbitrary JSON values (nested objects and lists, huge and tiny numbers, integers
//! beyond 2^53, long and unicode strings), raw JSON text with tokens no serializer writes
//! (`1e400`, `NaN`, duplicated keys, deep nesting, cut-off text), and mutations of valid files (a
//! field dropped, a value replaced by an arbitrary one, an unknown key added, a key written
//! twice). Case counts keep the whole file to a few seconds on two cores.

use hpsearch::config::{JobConfig, ModelConfig, SearchConfig};
use hpsearch::coordinator::outcome::{judge, Outcome};
use hpsearch::executor::RunEnd;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// An error message as the user sees it: one line, not empty.
fn assert_one_line(message: &str) -> Result<(), TestCaseError> {
    prop_assert!(!message.trim().is_empty(), "empty message");
    prop_assert!(
        !message.contains('\n') && !message.contains('\r'),
        "message on several lines: {message:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Generators

/// Numbers at the edges of what JSON and f64 hold.
fn edge_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(f64::MAX)),
        Just(json!(-0.0)),
        Just(json!(1e-300)),
        Just(json!(5e-324)),
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(-1)),
        Just(json!(0.5)),
        Just(json!(9_007_199_254_740_993_u64)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)),
    ]
}

fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,12}",
        "[a-z_]{1,12}",
        Just(String::new()),
        Just("line\nbreak".to_string()),
        Just("é\u{0}\u{1b}[0m\r😀".to_string()),
        (1usize..20_000).prop_map(|n| "x".repeat(n)),
        // Words the config readers know, so mutations reach their checks.
        prop::sample::select(vec![
            "bopt",
            "grid",
            "line",
            "random",
            "sobol",
            "log",
            "none",
            "neg",
            "neglog",
            "max",
            "nan",
            "EI",
            "MPI",
            "LCB",
            "MLE",
            "MCMC",
            "Matern52",
            "ExpQuad",
            "continuous",
            "discrete",
            "categorical",
            "linear",
            "CPU",
            "GPU",
            "local",
            "lower",
            "higher",
            "first",
            "last",
            "default",
            "timed_out",
            "NaN",
            "Infinity",
            "-inf",
            "sh",
            "script.sh",
            "type",
            "domain",
            "objective",
            "float",
            "int",
        ])
        .prop_map(String::from),
    ]
}

/// Arbitrary JSON values: leaves at the edges, nested up to four levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        edge_number(),
        any_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any_string(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Number tokens no JSON writer produces, written into raw text.
fn raw_number() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "1e400",
            "-1e400",
            "1e-400",
            "-0",
            "-0.0",
            "1E+2",
            "123456789012345678901234567890",
            "18446744073709551616",
            "-9223372036854775809",
            "NaN",
            "Infinity",
            "-Infinity",
            "01",
            "1.",
            ".5",
            "+1",
            "0x10",
        ])
        .prop_map(String::from),
        any::<f64>().prop_map(|x| x.to_string()),
        any::<f64>().prop_map(|x| format!("{x:e}")),
    ]
}

/// Raw JSON-like text: arbitrary values with raw number tokens, keys drawn from a few names (so
/// that an object often holds one twice), and now and then a nesting deeper than any reader
/// allows.
fn raw_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![any_json().prop_map(|v| v.to_string()), raw_number(),];
    let nested = leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["a", "type", "domain", "objective", "kernel", "a"]),
                    inner
                ),
                0..5
            )
            .prop_map(|pairs| {
                let fields: Vec<String> =
                    pairs.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                format!("{{{}}}", fields.join(", "))
            }),
        ]
    });
    prop_oneof![
        4 => nested,
        1 => (prop::sample::select(vec![10usize, 127, 128, 129, 200, 5000]), any::<bool>()).prop_map(
            |(depth, objects)| {
                if objects {
                    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
                } else {
                    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
                }
            }
        ),
    ]
}

/// One change to a valid JSON object, at some object nested in it (`at` picks which).
#[derive(Debug, Clone)]
enum Mutation {
    Drop {
        at: usize,
        key: usize,
    },
    Replace {
        at: usize,
        key: usize,
        value: Value,
    },
    AddUnknown {
        at: usize,
        name: String,
        value: Value,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<usize>(), any::<usize>()).prop_map(|(at, key)| Mutation::Drop { at, key }),
        3 => (any::<usize>(), any::<usize>(), any_json())
            .prop_map(|(at, key, value)| Mutation::Replace { at, key, value }),
        1 => (any::<usize>(), any_string(), any_json())
            .prop_map(|(at, name, value)| Mutation::AddUnknown { at, name, value }),
    ]
}

/// Every object inside `value` (itself included), as JSON pointers.
fn object_pointers(value: &Value, here: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            out.push(here.clone());
            for (k, v) in map {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                object_pointers(v, format!("{here}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                object_pointers(v, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn apply(base: &Value, mutations: &[Mutation]) -> Value {
    let mut value = base.clone();
    for m in mutations {
        let mut pointers = Vec::new();
        object_pointers(&value, String::new(), &mut pointers);
        let at = match m {
            Mutation::Drop { at, .. }
            | Mutation::Replace { at, .. }
            | Mutation::AddUnknown { at, .. } => *at,
        };
        let pointer = &pointers[at % pointers.len()];
        let Some(Value::Object(map)) = value.pointer_mut(pointer) else {
            continue;
        };
        let key_at = |key: usize| map.keys().nth(key % map.len().max(1)).cloned();
        match m {
            Mutation::Drop { key, .. } => {
                if let Some(k) = key_at(*key) {
                    map.shift_remove(&k);
                }
            }
            Mutation::Replace { key, value, .. } => {
                if let Some(k) = key_at(*key) {
                    map.insert(k, value.clone());
                }
            }
            Mutation::AddUnknown { name, value, .. } => {
                map.insert(name.clone(), value.clone());
            }
        }
    }
    value
}

/// A valid file's text with a key of one of its objects written a second time, with `value`.
fn duplicate_a_key(base: &Value, which_object: usize, which_key: usize, value: &Value) -> String {
    let text = base.to_string();
    let mut pointers = Vec::new();
    object_pointers(base, String::new(), &mut pointers);
    // The bases hold no braces inside strings: the n-th `{` opens the n-th object in text order,
    // which is the order `object_pointers` lists them.
    let index = which_object % pointers.len();
    let Some((offset, _)) = text.match_indices('{').nth(index) else {
        return text;
    };
    let Some(Value::Object(map)) = base.pointer(&pointers[index]) else {
        return text;
    };
    let Some(key) = map.keys().nth(which_key % map.len().max(1)) else {
        return text;
    };
    let pair = format!("{}: {},", Value::String(key.clone()), value);
    format!("{}{pair}{}", &text[..=offset], &text[offset + 1..])
}

/// Damages raw text: cut it, or overwrite one byte (possibly leaving invalid UTF-8).
fn damage(text: &str, cut: Option<usize>, byte: Option<(usize, u8)>) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    if let Some(at) = cut {
        bytes.truncate(at % (bytes.len() + 1));
    }
    if let Some((at, b)) = byte {
        if !bytes.is_empty() {
            let at = at % bytes.len();
            bytes[at] = b;
        }
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// Valid files

fn valid_search() -> Value {
    json!({
        "search_type": "bopt", "search_time": 1, "search_memory": 1, "max_suggestions": 10,
        "max_active_points": 2, "num_grid_points_per_hyperparameter": 3,
        "min_initial_points": 2, "y_transformation": "log",
        "y_failure_value": {"default": "max", "timed_out": "nan", "non_zero_exit": 3.5},
        "grid_suggestion_probability": 0.1, "random_suggestion_probability": 0.1,
        "random_seed": 1, "replicates": 1, "replicate_top_k": 2,
        "bopt_config": {
            "acquisition_type": ["EI", "LCB"], "model_estimation_method": "MLE",
            "kernel": ["Matern52", "ExpQuad"], "normalize_Y": true, "warp_Y": true,
            "eps": 0, "n_burnin": 10, "n_samples": 5, "step_size": 0.1,
            "subsample_interval": 2, "leapfrog_steps": 3
        }
    })
}

fn valid_job() -> Value {
    json!({
        "environment_path": "sh", "script_path": "script.sh", "cluster": "local", "time": 1,
        "memory": 1, "processor_type": "CPU", "num_processors": 1, "gpus": 1,
        "kill_grace_seconds": 1
    })
}

fn valid_model() -> Value {
    json!({
        "lr": {"type": "continuous", "domain": [1e-5, 0.1], "transformation": "log",
               "unit": "1/s", "simpler": "lower"},
        "n": {"type": "discrete", "domain": [1, 2, 4, 8], "transformation": "linear"},
        "act": {"type": "categorical", "domain": ["relu", "tanh", null], "simpler": "first"},
        "momentum": {"type": "continuous", "domain": [0, 1], "condition": {"act": ["relu"]}},
        "k": {"type": "integer", "domain": [1, 4], "condition": {"n": {"min": 2, "max": 8}, "act": ["relu", null]}},
        "forbidden": [{"act": "tanh", "n": 8}],
        "fixed": "kept",
        "nested": {"a": [1, 2], "b": {"c": true}}
    })
}

/// A folder holding the job config's script, for the job config's file checks.
fn job_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("script.sh"), "exit 0\n").expect("script");
    dir
}

/// Which of the three readers a case goes to.
#[derive(Debug, Clone, Copy)]
enum Which {
    Search,
    Job,
    Model,
}

const WHICH: [Which; 3] = [Which::Search, Which::Job, Which::Model];

fn base_of(which: Which) -> Value {
    match which {
        Which::Search => valid_search(),
        Which::Job => valid_job(),
        Which::Model => valid_model(),
    }
}

/// Reads a parsed object with the reader's `from_map`; a model that reads is also encoded and
/// decoded at the corners of its space.
fn read_map(which: Which, folder: &Path, map: Map<String, Value>) -> Result<(), String> {
    match which {
        Which::Search => SearchConfig::from_map(&folder.join("search_config.json"), &map)
            .map(drop)
            .map_err(|e| e.to_string()),
        Which::Job => JobConfig::from_map(&folder.join("job_config.json"), &map)
            .map(drop)
            .map_err(|e| e.to_string()),
        Which::Model => ModelConfig::from_map(&folder.join("model_config.json"), map)
            .map(|model| exercise_space(&model))
            .map_err(|e| e.to_string()),
    }
}

/// Reads a file's raw text with the reader's `load`.
fn read_text(which: Which, folder: &Path, bytes: &[u8]) -> Result<(), String> {
    let name = match which {
        Which::Search => "search_config.json",
        Which::Job => "job_config.json",
        Which::Model => "model_config.json",
    };
    let file = folder.join(name);
    std::fs::write(&file, bytes).expect("write config");
    match which {
        Which::Search => SearchConfig::load(&file)
            .map(drop)
            .map_err(|e| e.to_string()),
        Which::Job => JobConfig::load(&file).map(drop).map_err(|e| e.to_string()),
        Which::Model => ModelConfig::load(&file)
            .map(|model| exercise_space(&model))
            .map_err(|e| e.to_string()),
    }
}

/// What the coordinator does with a model's space: decode unit points, encode the values back,
/// the grid and the line search's base.
fn exercise_space(model: &ModelConfig) {
    let space = &model.space;
    for u in [0.0, 1e-12, 0.5, 0.999_999, 1.0, -1.0, 2.0, f64::NAN] {
        let point = vec![u; space.dims()];
        let _ = (space.active(&point), space.is_forbidden(&point));
        let canonical = space.canonical(&point);
        let values = space.decode(&canonical);
        let _ = space.encode(&values);
        let _ = space.combination_key(&canonical);
    }
    for h in space.hyperparameters() {
        let _ = h.grid(3);
        let _ = h.middle();
    }
}

// ---------------------------------------------------------------------------------------------
// The three config readers

#[test]
fn the_valid_files_read() {
    let folder = job_folder();
    for which in WHICH {
        let Value::Object(map) = base_of(which) else {
            unreachable!()
        };
        read_map(which, folder.path(), map).unwrap_or_else(|e| panic!("{which:?}: {e}"));
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn any_json_object_reads_or_gives_a_one_line_error(
        which in prop::sample::select(WHICH.to_vec()),
        map in prop::collection::vec((any_string(), any_json()), 0..8),
    ) {
        let folder = job_folder();
        let map: Map<String, Value> = map.into_iter().collect();
        if let Err(message) = read_map(which, folder.path(), map) {
            assert_one_line(&message)?;
        }
    }

    #[test]
    fn a_mutated_valid_file_reads_or_gives_a_one_line_error(
        which in prop::sample::select(WHICH.to_vec()),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let folder = job_folder();
        let Value::Object(map) = apply(&base_of(which), &mutations) else {
            unreachable!("the bases are objects")
        };
        if let Err(message) = read_map(which, folder.path(), map) {
            assert_one_line(&message)?;
        }
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn any_raw_text_reads_or_gives_a_one_line_error(
        which in prop::sample::select(WHICH.to_vec()),
        text in raw_text(),
        cut in proptest::option::weighted(0.2, any::<usize>()),
        byte in proptest::option::weighted(0.2, (any::<usize>(), any::<u8>())),
    ) {
        let folder = job_folder();
        if let Err(message) = read_text(which, folder.path(), &damage(&text, cut, byte)) {
            assert_one_line(&message)?;
        }
    }

    #[test]
    fn a_valid_file_with_a_key_written_twice_gives_a_one_line_error(
        which in prop::sample::select(WHICH.to_vec()),
        object in any::<usize>(),
        key in any::<usize>(),
        value in any_json(),
    ) {
        let folder = job_folder();
        let text = duplicate_a_key(&base_of(which), object, key, &value);
        if let Err(message) = read_text(which, folder.path(), text.as_bytes()) {
            assert_one_line(&message)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// output.json and log.txt

fn y_transformation() -> impl Strategy<Value = hpsearch::config::search::YTransformation> {
    use hpsearch::config::search::YTransformation;
    prop::sample::select(vec![
        YTransformation::None,
        YTransformation::Log,
        YTransformation::Neg,
        YTransformation::NegLog,
    ])
}

fn output_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        raw_text().prop_map(String::into_bytes),
        any_json().prop_map(|v| v.to_string().into_bytes()),
        (any_json(), any_json()).prop_map(|(objective, extra)| {
            json!({"objective": objective, "extra": extra})
                .to_string()
                .into_bytes()
        }),
        (raw_number(), any_string()).prop_map(|(number, key)| {
            format!("{{{}: 1, \"objective\": {number}}}", Value::String(key)).into_bytes()
        }),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn run_end() -> impl Strategy<Value = RunEnd> {
    prop_oneof![
        4 => Just(RunEnd::Exited(0)),
        1 => any::<i32>().prop_map(RunEnd::Exited),
        1 => any::<i32>().prop_map(RunEnd::Signaled),
        1 => Just(RunEnd::TimedOut),
        1 => Just(RunEnd::OutOfMemory),
    ]
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn any_output_json_and_log_give_a_result_or_a_one_line_reason(
        end in run_end(),
        output in proptest::option::weighted(0.9, output_text()),
        log in prop_oneof![
            Just(Vec::new()),
            any_string().prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..200),
            Just(b"step 1\r step 2\r\x1b[31mValueError: bad\x1b[0m\r\n".to_vec()),
        ],
        y in y_transformation(),
        hours in prop_oneof![Just(2.0), any::<f64>()],
    ) {
        let folder = tempfile::tempdir().expect("temp dir");
        if let Some(output) = &output {
            std::fs::write(folder.path().join("output.json"), output).expect("write output");
        }
        std::fs::write(folder.path().join("log.txt"), &log).expect("write log");
        match judge(&end, folder.path(), y, hours) {
            Outcome::Success { objective, loss, .. } => {
                prop_assert!(objective.is_finite() && loss.is_finite(), "{objective} {loss}");
            }
            Outcome::Failure { reason, .. } => assert_one_line(&reason)?,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ask-tell protocol, through the real binary

fn valid_problem() -> Value {
    json!({
        "space": [
            {"name": "x", "type": "float", "low": -5.0, "high": 10.0},
            {"name": "lr", "type": "float", "low": 1e-5, "high": 1.0, "log": true},
            {"name": "n", "type": "int", "low": 1, "high": 8},
            {"name": "c", "type": "categorical", "choices": ["a", "b", 3]}
        ],
        "seed": 3, "budget": 10, "direction": "minimize"
    })
}

fn reply_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => edge_number().prop_map(|v| json!({"value": v}).to_string()),
        2 => raw_number().prop_map(|n| format!("{{\"value\": {n}}}")),
        1 => any_json().prop_map(|v| v.to_string()),
        1 => raw_text(),
        1 => any_string().prop_map(|s| s.replace('\n', " ")),
    ]
}

/// Runs `hpsearch ask-tell` with these stdin lines; returns its exit code and stderr, or an
/// error when it hangs.
fn ask_tell(lines: &[String]) -> Result<(Option<i32>, String), String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hpsearch"))
        .arg("ask-tell")
        .env_remove("HPSEARCH_SOLVER_CONFIG")
        .env_remove("HPSEARCH_IN_FLIGHT")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hpsearch ask-tell");
    let mut stdin = child.stdin.take().expect("stdin");
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    // The process may end before reading everything: a refused write is part of the game.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("ask-tell hung on {lines:?}"));
            }
        }
    }
    let _ = writer.join();
    let output = child.wait_with_output().expect("ask-tell output");
    Ok((
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

fn check_ask_tell(lines: &[String]) -> Result<(), TestCaseError> {
    let (code, stderr) = ask_tell(lines).map_err(TestCaseError::fail)?;
    prop_assert!(!stderr.contains("panicked"), "panic on {lines:?}: {stderr}");
    prop_assert!(
        matches!(code, Some(0..=2)),
        "exit {code:?} on {lines:?}: {stderr}"
    );
    if code != Some(0) {
        // The error is the last thing printed, on one line of its own.
        let at = stderr.rfind("error: ");
        prop_assert!(at.is_some(), "no error line on {lines:?}: {stderr}");
        let message = stderr[at.unwrap_or_default() + "error: ".len()..].trim_end_matches('\n');
        assert_one_line(message)?;
    }
    Ok(())
}

proptest! {
    // Each case starts the binary (and fits a GP once enough replies came): few cases.
    #![proptest_config(config(300))]

    #[test]
    fn any_ask_tell_session_ends_or_gives_a_one_line_error(
        problem in prop_oneof![
            3 => prop::collection::vec(mutation(), 0..3)
                .prop_map(|m| apply(&valid_problem(), &m).to_string()),
            1 => any_json().prop_map(|v| json!({"space": [v]}).to_string()),
            1 => raw_text(),
        ],
        replies in prop::collection::vec(reply_line(), 0..8),
    ) {
        let mut lines = vec![problem];
        lines.extend(replies);
        check_ask_tell(&lines)?;
    }
}

#[test]
fn ask_tell_survives_extreme_values_once_the_gp_is_fitted() {
    // Past the initial points the GP sees every reply: losses at the edges of f64 must not break it.
    let mut lines = vec![valid_problem().to_string()];
    for value in [
        1e308, -1e308, 0.0, -0.0, 1e-300, 1e308, -1e308, 5e-324, 1.0, 1e308,
    ] {
        lines.push(json!({"value": value}).to_string());
    }
    check_ask_tell(&lines).unwrap();
}

#[test]
fn ask_tell_refuses_an_integer_range_at_the_edge_of_i64_in_one_line() {
    // A narrow range at i64::MIN passed the span check and then overflowed taking its absolute
    // value: a panic in a debug build, and a range let through in a release one.
    let problem = json!({"space": [{"name": "n", "type": "int",
                                    "low": i64::MIN, "high": i64::MIN + 1}]});
    let (code, stderr) = ask_tell(&[problem.to_string()]).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("integer range") && stderr.contains("not supported"),
        "{stderr}"
    );
}
