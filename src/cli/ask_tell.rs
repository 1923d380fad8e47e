//! `hpsearch ask-tell`: the Bayesian optimiser (or any strategy) behind the line protocol of the
//! benchmark harness in `shared/bench/anchors` (NOTES.md, "External solver protocol").
//!
//! stdin, first line: `{"space": [...], "seed": k, "budget": B, "direction": "minimize"}`; then
//! for each suggestion this prints `{"params": {...}}` and reads `{"value": y}`, until EOF.
//! `HPSEARCH_SOLVER_CONFIG` may hold a search_config JSON object (e.g. `{"bopt_config":
//! {"kernel": "Matern52"}}`) to compare settings; the default is `{"search_type": "bopt"}` with
//! `"y_transformation": "none"` (the seed's default `log` applies only when the object names it).

use super::errors::CliError;
use crate::config::search::SearchConfig;
use crate::coordinator::outcome::transform;
use crate::space::{Domain, Hyperparameter, Space, Transformation};
use crate::strategy::{Observation, SuggestContext};
use serde_json::{json, Map, Value};
use std::io::{BufRead, Write};
use std::path::Path;

fn bad(message: impl Into<String>) -> CliError {
    CliError::Usage(format!("ask-tell: {}", message.into()))
}

fn parse_space(items: &[Value]) -> Result<Space, CliError> {
    let mut hyperparameters = Vec::new();
    for item in items {
        let name = item["name"]
            .as_str()
            .ok_or_else(|| bad("a parameter without a name"))?
            .to_string();
        let log = item["log"].as_bool().unwrap_or(false);
        let transformation = if log {
            Transformation::Log
        } else {
            Transformation::Linear
        };
        let domain = match item["type"].as_str() {
            Some("float") => Domain::Continuous {
                low: item["low"]
                    .as_f64()
                    .ok_or_else(|| bad(format!("{name}: no low")))?,
                high: item["high"]
                    .as_f64()
                    .ok_or_else(|| bad(format!("{name}: no high")))?,
            },
            Some("int") => {
                let low = item["low"]
                    .as_i64()
                    .ok_or_else(|| bad(format!("{name}: no low")))?;
                let high = item["high"]
                    .as_i64()
                    .ok_or_else(|| bad(format!("{name}: no high")))?;
                if high < low || high - low > 100_000 {
                    return Err(bad(format!(
                        "{name}: integer range {low}..{high} not supported"
                    )));
                }
                Domain::Discrete {
                    values: (low..=high).map(|v| v as f64).collect(),
                    integer: true,
                }
            }
            Some("categorical") => Domain::Categorical {
                values: item["choices"]
                    .as_array()
                    .cloned()
                    .ok_or_else(|| bad(format!("{name}: no choices")))?,
            },
            other => return Err(bad(format!("{name}: unknown type {other:?}"))),
        };
        hyperparameters.push(Hyperparameter {
            name,
            domain,
            transformation,
        });
    }
    Ok(Space::new(hyperparameters))
}

pub fn ask_tell() -> Result<i32, CliError> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let first = lines
        .next()
        .ok_or_else(|| bad("no problem on stdin"))?
        .map_err(|e| bad(e.to_string()))?;
    let problem: Value = serde_json::from_str(&first)
        .map_err(|e| bad(format!("the first line is not JSON: {e}")))?;
    if problem["direction"]
        .as_str()
        .is_some_and(|d| d != "minimize")
    {
        return Err(bad("only minimisation is supported"));
    }
    let space = parse_space(problem["space"].as_array().ok_or_else(|| bad("no space"))?)?;
    let seed = problem["seed"].as_u64().unwrap_or(0);
    let mut settings: Map<String, Value> = match std::env::var("HPSEARCH_SOLVER_CONFIG") {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| bad(format!("HPSEARCH_SOLVER_CONFIG is not a JSON object: {e}")))?,
        Err(_) => Map::new(),
    };
    settings.entry("search_type").or_insert(json!("bopt"));
    settings.entry("y_transformation").or_insert(json!("none"));
    settings.insert("random_seed".into(), json!(seed));
    let config = SearchConfig::from_map(Path::new("HPSEARCH_SOLVER_CONFIG"), &settings)?;
    let mut strategy = crate::strategy::build(&config);
    let mut finished: Vec<Observation> = Vec::new();
    let stdout = std::io::stdout();
    loop {
        let context = SuggestContext {
            space: &space,
            finished: &finished,
            pending: &[],
            sequence: finished.len() as u64,
            seed,
        };
        let suggestion = strategy
            .suggest(&context)
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        let Some(suggestion) = suggestion else {
            return Ok(0);
        };
        for note in &suggestion.notes {
            eprintln!("{note}");
        }
        let point = space.canonical(&suggestion.point);
        let params = space.decode(&point);
        {
            let mut out = stdout.lock();
            let _ = writeln!(
                out,
                "{}",
                json!({"params": params, "label": suggestion.label})
            );
            let _ = out.flush();
        }
        let Some(Ok(line)) = lines.next() else {
            return Ok(0);
        };
        let reply: Value =
            serde_json::from_str(&line).map_err(|e| bad(format!("not JSON: {e}")))?;
        // The loss the strategy sees, as the coordinator makes it: through `y_transformation`
        // (the harness's objective is minimised, so "none" unless a config asks otherwise); a
        // value the transform refuses (log of a non-positive value) counts as a failed run.
        let loss = reply["value"]
            .as_f64()
            .filter(|v| v.is_finite())
            .and_then(|v| transform(v, config.y_transformation).ok());
        finished.push(Observation { point, loss });
    }
}
