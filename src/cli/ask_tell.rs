//! `hpsearch ask-tell`: the Bayesian optimiser (or any strategy) behind the line protocol of the
//! benchmark harness in `shared/bench/anchors` (NOTES.md, "External solver protocol").
//!
//! stdin, first line: `{"space": [...], "seed": k, "budget": B, "direction": "minimize"}`; then
//! for each suggestion this prints `{"params": {...}}` and reads `{"value": y}`, until EOF.
//! `HPSEARCH_SOLVER_CONFIG` may hold a search_config JSON object (e.g. `{"bopt_config":
//! {"kernel": "Matern52"}}`) to compare settings; the default is `{"search_type": "bopt"}` with
//! `"y_transformation": "none"` (the seed's default `log` applies only when the object names it).
//! Unset or empty, it is that default.
//!
//! `HPSEARCH_IN_FLIGHT=q` (default 1) measures searches with q runs in flight through the same
//! sequential protocol: the solver suggests q ahead, so each suggestion is made while the q − 1
//! suggested before it have no value yet (as with q workers whose runs take equally long and end
//! in the order they started), and serves them oldest first. Never more than the problem's
//! `budget` suggestions are made, and the strategy is told it (bopt spends its last 30% on its
//! model's best guess, as a search does with `max_suggestions`).

use super::errors::CliError;
use crate::config::search::{SearchConfig, YTransformation};
use crate::coordinator::outcome::transform;
use crate::space::{Domain, Hyperparameter, Space, Transformation};
use crate::strategy::{Observation, SuggestContext};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::path::Path;

fn bad(message: impl Into<String>) -> CliError {
    CliError::Usage(format!("ask-tell: {}", message.into()))
}

/// Integers beyond this lose their exactness as the f64 values of a discrete domain.
const MAX_EXACT_INTEGER: i64 = 1 << 53;

/// The largest integer range an `int` parameter may span (its values are listed one by one).
const MAX_INT_VALUES: i128 = 100_000;

fn parse_space(items: &[Value]) -> Result<Space, CliError> {
    if items.is_empty() {
        return Err(bad("the space has no parameters"));
    }
    let mut hyperparameters: Vec<Hyperparameter> = Vec::new();
    for item in items {
        let name = match item["name"].as_str() {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => return Err(bad("a parameter without a name")),
        };
        // Quoted (and escaped) in messages, so that a name with a line break stays on one line.
        let quoted = format!("{name:?}");
        if hyperparameters.iter().any(|h| h.name == name) {
            return Err(bad(format!(
                "{quoted}: the name appears twice in the space"
            )));
        }
        let log = item["log"].as_bool().unwrap_or(false);
        let transformation = if log {
            Transformation::Log
        } else {
            Transformation::Linear
        };
        let domain = match item["type"].as_str() {
            Some("float") => {
                let low = item["low"]
                    .as_f64()
                    .ok_or_else(|| bad(format!("{quoted}: no low")))?;
                let high = item["high"]
                    .as_f64()
                    .ok_or_else(|| bad(format!("{quoted}: no high")))?;
                if !(low < high && (high - low).is_finite()) {
                    return Err(bad(format!(
                        "{quoted}: float range {low}..{high} not supported (low < high, both within about ±1e307)"
                    )));
                }
                if log && low <= 0.0 {
                    return Err(bad(format!(
                        "{quoted}: a log scale needs low > 0, got {low}"
                    )));
                }
                Domain::Continuous { low, high }
            }
            Some("int") => {
                let low = item["low"]
                    .as_i64()
                    .ok_or_else(|| bad(format!("{quoted}: no low")))?;
                let high = item["high"]
                    .as_i64()
                    .ok_or_else(|| bad(format!("{quoted}: no high")))?;
                let span = i128::from(high) - i128::from(low);
                if !(0..=MAX_INT_VALUES).contains(&span)
                    || low.unsigned_abs() > MAX_EXACT_INTEGER.unsigned_abs()
                    || high.unsigned_abs() > MAX_EXACT_INTEGER.unsigned_abs()
                {
                    return Err(bad(format!(
                        "{quoted}: integer range {low}..{high} not supported"
                    )));
                }
                if log && low <= 0 {
                    return Err(bad(format!(
                        "{quoted}: a log scale needs low > 0, got {low}"
                    )));
                }
                Domain::Discrete {
                    values: (low..=high).map(|v| v as f64).collect(),
                    integer: true,
                }
            }
            Some("categorical") => {
                let values = match item["choices"].as_array() {
                    Some(values) if !values.is_empty() => values.clone(),
                    _ => return Err(bad(format!("{quoted}: no choices"))),
                };
                if values
                    .iter()
                    .enumerate()
                    .any(|(i, v)| values[..i].contains(v))
                {
                    return Err(bad(format!("{quoted}: each choice may appear once")));
                }
                Domain::Categorical { values }
            }
            other => return Err(bad(format!("{quoted}: unknown type {other:?}"))),
        };
        hyperparameters.push(Hyperparameter::new(name, domain, transformation));
    }
    Ok(Space::new(hyperparameters))
}

/// The first line of the protocol: the space, the seed and the budget (the most suggestions the
/// harness will ask for; none when it does not say).
fn parse_problem(line: &str) -> Result<(Space, u64, Option<u64>), CliError> {
    let problem: Value =
        serde_json::from_str(line).map_err(|e| bad(format!("the first line is not JSON: {e}")))?;
    if problem["direction"]
        .as_str()
        .is_some_and(|d| d != "minimize")
    {
        return Err(bad("only minimisation is supported"));
    }
    let space = parse_space(problem["space"].as_array().ok_or_else(|| bad("no space"))?)?;
    let seed = problem["seed"].as_u64().unwrap_or(0);
    let budget = match &problem["budget"] {
        Value::Null => None,
        value => Some(value.as_u64().ok_or_else(|| {
            bad(format!(
                "budget {value}: use a whole number of suggestions (0 or more), or leave it out"
            ))
        })?),
    };
    Ok((space, seed, budget))
}

/// The most runs in flight `HPSEARCH_IN_FLIGHT` may ask for.
const MAX_IN_FLIGHT: u64 = 1024;

/// `HPSEARCH_IN_FLIGHT`: how many suggestions are made ahead of the values (1 when unset).
fn in_flight(text: Option<&str>) -> Result<usize, CliError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(1);
    };
    match text.parse::<u64>() {
        Ok(q) if (1..=MAX_IN_FLIGHT).contains(&q) => Ok(q as usize),
        _ => Err(bad(format!(
            "HPSEARCH_IN_FLIGHT={text:?}: use a whole number of runs in flight from 1 to {MAX_IN_FLIGHT}"
        ))),
    }
}

/// An environment variable's text; `None` when unset, an error when it is not UTF-8.
fn variable(name: &str) -> Result<Option<String>, CliError> {
    match std::env::var(name) {
        Ok(text) => Ok(Some(text)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(bad(format!(
            "{name} is not UTF-8 text: set it in plain text, or unset it"
        ))),
    }
}

/// The settings of `HPSEARCH_SOLVER_CONFIG`: a JSON object, or none when unset or blank.
fn solver_settings(text: Option<&str>) -> Result<Map<String, Value>, CliError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| {
                bad(format!(
                    "HPSEARCH_SOLVER_CONFIG is not a JSON object ({e}): write search_config settings, e.g. '{{\"bopt_config\": {{\"kernel\": \"Matern52\"}}}}', or unset it"
                ))
            }),
        None => Ok(Map::new()),
    }
}

/// A reply line `{"value": y}`: the loss the strategy sees, as the coordinator makes it, through
/// `y_transformation` (the harness's objective is minimised, so "none" unless a config asks
/// otherwise). A value that is missing, not a finite number, or refused by the transform (log of
/// a non-positive value) counts as a failed run.
fn parse_reply(line: &str, y: YTransformation) -> Result<Option<f64>, CliError> {
    let reply: Value = serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
    Ok(reply["value"]
        .as_f64()
        .filter(|v| v.is_finite())
        .and_then(|v| transform(v, y).ok()))
}

pub fn ask_tell() -> Result<i32, CliError> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let first = lines
        .next()
        .ok_or_else(|| bad("no problem on stdin"))?
        .map_err(|e| bad(e.to_string()))?;
    let (space, seed, budget) = parse_problem(&first)?;
    let mut settings = solver_settings(variable("HPSEARCH_SOLVER_CONFIG")?.as_deref())?;
    let ahead = in_flight(variable("HPSEARCH_IN_FLIGHT")?.as_deref())?;
    settings.entry("search_type").or_insert(json!("bopt"));
    settings.entry("y_transformation").or_insert(json!("none"));
    settings.insert("random_seed".into(), json!(seed));
    let config = SearchConfig::from_map(Path::new("HPSEARCH_SOLVER_CONFIG"), &settings)?;
    let mut strategy = crate::strategy::build(&config);
    let mut finished: Vec<Observation> = Vec::new();
    // Suggestions made and not yet answered, oldest first (more than one with HPSEARCH_IN_FLIGHT).
    let mut ahead_of_values: VecDeque<(Vec<f64>, String)> = VecDeque::new();
    let mut made: u64 = 0;
    let mut exhausted = false;
    let stdout = std::io::stdout();
    loop {
        while !exhausted && ahead_of_values.len() < ahead && budget.is_none_or(|b| made < b) {
            let pending: Vec<Vec<f64>> = ahead_of_values.iter().map(|(p, _)| p.clone()).collect();
            let context = SuggestContext {
                space: &space,
                finished: &finished,
                pending: &pending,
                sequence: made,
                seed,
                full_length: None,
                budget,
            };
            let suggestion = strategy
                .suggest(&context)
                .map_err(|e| CliError::Runtime(e.to_string()))?;
            let Some(suggestion) = suggestion else {
                exhausted = true;
                break;
            };
            for note in &suggestion.notes {
                errln!("{note}");
            }
            ahead_of_values.push_back((space.canonical(&suggestion.point), suggestion.label));
            made += 1;
        }
        let Some((point, label)) = ahead_of_values.pop_front() else {
            return Ok(0);
        };
        let params = space.decode(&point);
        {
            let mut out = stdout.lock();
            let _ = writeln!(out, "{}", json!({"params": params, "label": label}));
            let _ = out.flush();
        }
        let Some(Ok(line)) = lines.next() else {
            return Ok(0);
        };
        let loss = parse_reply(&line, config.y_transformation)?;
        finished.push(Observation::whole(point, loss));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem_error(line: &str) -> String {
        match parse_problem(line) {
            Ok(_) => panic!("accepted: {line}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn an_empty_categorical_is_refused_not_a_panic_when_decoded() {
        // Before: accepted, and decoding any point panicked (k - 1 with k = 0).
        let message =
            problem_error(r#"{"space": [{"name": "c", "type": "categorical", "choices": []}]}"#);
        assert!(message.contains("no choices"), "{message}");
    }

    #[test]
    fn an_integer_range_across_all_of_i64_is_refused_not_an_overflow() {
        // Before: `high - low` overflowed (a panic in debug builds, a huge range in release).
        let message = problem_error(&format!(
            r#"{{"space": [{{"name": "n", "type": "int", "low": {}, "high": {}}}]}}"#,
            i64::MIN,
            i64::MAX
        ));
        assert!(message.contains("not supported"), "{message}");
    }

    #[test]
    fn ranges_that_cannot_be_encoded_are_refused() {
        for line in [
            r#"{"space": []}"#,
            r#"{"space": [{"name": "x", "type": "float", "low": 1, "high": 0}]}"#,
            r#"{"space": [{"name": "x", "type": "float", "low": -1e308, "high": 1e308}]}"#,
            r#"{"space": [{"name": "x", "type": "float", "low": 0, "high": 1, "log": true}]}"#,
            r#"{"space": [{"name": "n", "type": "int", "low": 0, "high": 9, "log": true}]}"#,
            r#"{"space": [{"name": "x", "type": "float", "low": 0, "high": 1},
                          {"name": "x", "type": "float", "low": 0, "high": 1}]}"#,
            r#"{"space": [{"name": "c", "type": "categorical", "choices": [1, 1]}]}"#,
        ] {
            let message = problem_error(&line.replace('\n', " "));
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn a_name_with_a_line_break_stays_on_one_line_in_a_message() {
        let message = problem_error(r#"{"space": [{"name": "a\nb", "type": "float"}]}"#);
        assert_eq!(message, r#"ask-tell: "a\nb": no low"#);
    }

    #[test]
    fn a_valid_problem_decodes_every_corner_of_its_space() {
        let (space, seed, _) = parse_problem(
            r#"{"space": [{"name": "x", "type": "float", "low": 1e-300, "high": 1e300, "log": true},
                          {"name": "n", "type": "int", "low": -3, "high": 3},
                          {"name": "c", "type": "categorical", "choices": ["a", null, {}]}],
                "seed": 7}"#
                .replace('\n', " ")
                .as_str(),
        )
        .unwrap();
        assert_eq!(seed, 7);
        for u in [0.0, 0.5, 1.0] {
            let point = space.canonical(&[u; 3]);
            assert_eq!(space.decode(&point).len(), 3);
        }
    }

    #[test]
    fn replies_read_as_a_loss_or_a_failed_run() {
        let y = YTransformation::None;
        assert_eq!(parse_reply(r#"{"value": 2.5}"#, y).unwrap(), Some(2.5));
        assert_eq!(parse_reply(r#"{"value": "NaN"}"#, y).unwrap(), None);
        assert_eq!(parse_reply("[1]", y).unwrap(), None);
        assert_eq!(
            parse_reply(r#"{"value": 0}"#, YTransformation::Log).unwrap(),
            None
        );
        assert!(parse_reply("{", y).is_err());
    }

    #[test]
    fn a_budget_is_a_whole_number_or_absent() {
        let line = |budget: &str| {
            format!(
                r#"{{"space": [{{"name": "x", "type": "float", "low": 0, "high": 1}}]{budget}}}"#
            )
        };
        assert_eq!(parse_problem(&line("")).unwrap().2, None);
        assert_eq!(parse_problem(&line(r#", "budget": null"#)).unwrap().2, None);
        assert_eq!(
            parse_problem(&line(r#", "budget": 50"#)).unwrap().2,
            Some(50)
        );
        for wrong in [
            r#", "budget": 50.5"#,
            r#", "budget": "50""#,
            r#", "budget": -1"#,
        ] {
            let message = problem_error(&line(wrong));
            assert!(message.contains("whole number of suggestions"), "{message}");
        }
    }

    #[test]
    fn runs_in_flight_and_solver_settings_read_their_variables_or_say_how_to_fix_them() {
        assert_eq!(in_flight(None).unwrap(), 1);
        assert_eq!(in_flight(Some("")).unwrap(), 1);
        assert_eq!(in_flight(Some(" 16 ")).unwrap(), 16);
        for wrong in ["0", "-2", "4.5", "many", "1025"] {
            let message = in_flight(Some(wrong)).unwrap_err().to_string();
            assert!(
                message.contains("HPSEARCH_IN_FLIGHT") && message.contains("from 1 to 1024"),
                "{message}"
            );
        }
        // Blank means unset (`HPSEARCH_SOLVER_CONFIG= hpsearch ask-tell`); before, an error.
        assert!(solver_settings(Some("  ")).unwrap().is_empty());
        assert!(solver_settings(None).unwrap().is_empty());
        assert_eq!(
            solver_settings(Some(r#"{"min_initial_points": 3}"#)).unwrap()["min_initial_points"],
            3
        );
        assert!(solver_settings(Some("[1]"))
            .unwrap_err()
            .to_string()
            .contains("not a JSON object"));
    }
}
