//! The commands that read a search without changing it: status and results. They read the
//! snapshot the coordinator publishes, never the database it is writing.

use super::args::Format;
use super::errors::CliError;
use crate::export::data_file::metric_names;
use crate::export::Snapshot;
use crate::project::lock;
use crate::project::paths::{existing_ids, SearchPaths};
use crate::report::numbers::{sig, sig_or_empty, value_text};
use crate::store::{Combination, RunState};
use serde_json::{Map, Value};
use std::path::Path;

pub(super) fn load(paths: &SearchPaths) -> Result<Snapshot, CliError> {
    let path = paths.snapshot();
    let text = std::fs::read_to_string(&path).map_err(|_| {
        CliError::Runtime(format!(
            "search {} has not published its state yet ({} is missing); is it starting?",
            paths.search_id,
            path.display()
        ))
    })?;
    let snapshot: Snapshot = serde_json::from_str(&text)
        .map_err(|e| CliError::Runtime(format!("{}: unreadable snapshot: {e}", path.display())))?;
    // A corrupted row is shown as read, never silently.
    for warning in &snapshot.warnings {
        errln!("warning: {warning}");
    }
    Ok(snapshot)
}

/// The search's state as a user should read it: a `running` snapshot without a live
/// coordinator means the coordinator died (the rule the dashboard applies too).
fn live_state(paths: &SearchPaths, snapshot: &Snapshot) -> lock::SearchState {
    lock::search_state(&paths.lock(), &snapshot.state)
}

fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

fn params_text(params: &Map<String, Value>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", value_text(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn status(path: &Path) -> Result<i32, CliError> {
    if let Ok(paths) = SearchPaths::from_dir(path) {
        return search_status(&paths);
    }
    let ids = existing_ids(path);
    if ids.is_empty() {
        return Err(CliError::Usage(format!(
            "{}: neither a search folder (PROJECT/hp_search_N) nor a project folder with searches",
            path.display()
        )));
    }
    let project = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // search, type, done, failed, best loss, folder [state]; widths from the cells.
    let mut rows: Vec<[String; 6]> = vec![[
        "search".into(),
        "type".into(),
        "done".into(),
        "failed".into(),
        "best loss".into(),
        "folder".into(),
    ]];
    for id in ids {
        let paths = SearchPaths::new(&project, id);
        rows.push(match load(&paths) {
            Ok(s) => {
                let done =
                    s.summary.succeeded + s.summary.failed + s.summary.cancelled + s.summary.pruned;
                let planned = s
                    .summary
                    .planned
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "?".into());
                let state = live_state(&paths, &s);
                let state = state.word();
                [
                    id.to_string(),
                    s.search_type.clone(),
                    format!("{done}/{planned}"),
                    s.summary.failed.to_string(),
                    sig_or_empty(s.summary.best_loss),
                    format!("{} [{state}]", paths.dir.display()),
                ]
            }
            Err(_) => [
                id.to_string(),
                "?".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                format!("{} [starting]", paths.dir.display()),
            ],
        });
    }
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..5).map(width).collect();
    for r in &rows {
        outln!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {:>w4$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        );
    }
    Ok(0)
}

fn search_status(paths: &SearchPaths) -> Result<i32, CliError> {
    let s = load(paths)?;
    let sum = &s.summary;
    outln!(
        "search {} ({}): {}",
        s.search_id,
        s.search_folder,
        live_state(paths, &s).describe(&paths.dir)
    );
    if let Some(reason) = &s.end_reason {
        outln!("  ended: {reason}");
    }
    let planned = sum.planned.map(|p| format!(" of {p}")).unwrap_or_default();
    outln!(
        "  {} search · {} created{planned} · {} succeeded · {} failed · {} queued · {} running · {} cancelled{} · elapsed {}",
        s.search_type,
        sum.created,
        sum.succeeded,
        sum.failed,
        sum.queued,
        sum.running,
        sum.cancelled,
        pruned_count(sum.pruned),
        format_duration(sum.elapsed_seconds)
    );
    if let (Some(loss), Some(id)) = (sum.best_loss, sum.best_id) {
        let params = s
            .combinations
            .iter()
            .find(|c| c.id == id)
            .map(|c| params_text(&c.params))
            .unwrap_or_default();
        outln!("  best: loss {} (combination {id}): {params}", sig(loss));
    }
    if let Some(compute) = s.compute.describe() {
        outln!("  {compute}");
    }
    let failures: Vec<&Combination> = s
        .combinations
        .iter()
        .filter(|c| c.state == RunState::Failed)
        .collect();
    if !failures.is_empty() {
        outln!("  failures:");
        for c in failures {
            outln!(
                "    combination {} ({}): {}",
                c.id,
                c.failure_kind.map(|k| k.name()).unwrap_or("failed"),
                c.failure_reason.as_deref().unwrap_or("")
            );
        }
    }
    outln!("  data: {}", paths.data_file().display());
    Ok(0)
}

/// Succeeded runs by loss, then failed runs, then the rest; ties by id.
fn ranked(combinations: &[Combination]) -> Vec<&Combination> {
    // Pruned runs after the finished ones, by where they stood when stopped.
    let rank = |c: &Combination| match c.state {
        RunState::Succeeded => 0,
        RunState::Pruned => 1,
        RunState::Failed => 2,
        _ => 3,
    };
    let mut list: Vec<&Combination> = combinations.iter().collect();
    list.sort_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then_with(|| match (a.state, a.loss, b.loss) {
                (RunState::Succeeded | RunState::Pruned, Some(x), Some(y)) => x.total_cmp(&y),
                _ => std::cmp::Ordering::Equal,
            })
            .then(a.id.cmp(&b.id))
    });
    list
}

pub fn results(search: &Path, top: Option<usize>, format: Format) -> Result<i32, CliError> {
    let paths = SearchPaths::from_dir(search)?;
    let snapshot = load(&paths)?;
    let mut list = ranked(&snapshot.combinations);
    if let Some(n) = top {
        list.truncate(n);
    }
    let metrics = metric_names(&snapshot.combinations);
    let mut header: Vec<String> = ["rank", "combination_id", "status", "loss", "objective"]
        .map(String::from)
        .to_vec();
    header.extend(snapshot.hyperparameters.iter().cloned());
    header.extend(metrics.iter().map(|m| format!("metric_{m}")));
    header.extend(["job_time", "job_id", "failure_reason"].map(String::from));
    // The table stops here; csv and json carry the rest of the data file's columns and what
    // the scheduler and the wrapper measured.
    let table_columns = header.len();
    header.extend(
        [
            "search_type",
            "previous_results_count",
            "is_queued",
            "model_config_path",
            "replicate_of",
            "scheduler_state",
            "elapsed_seconds",
            "peak_memory_mb",
            "cpu_seconds",
            "gpus",
            "steps",
            "folder",
        ]
        .map(String::from),
    );
    let now = crate::clock::now();
    let rows: Vec<Vec<Value>> = list
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut row = vec![
                Value::from(i + 1),
                Value::from(c.id),
                Value::from(c.state.name()),
                c.loss.map(Value::from).unwrap_or(Value::Null),
                c.objective.map(Value::from).unwrap_or(Value::Null),
            ];
            row.extend(
                snapshot
                    .hyperparameters
                    .iter()
                    .map(|h| c.params.get(h).cloned().unwrap_or(Value::Null)),
            );
            row.extend(
                metrics
                    .iter()
                    .map(|m| c.metrics.get(m).cloned().unwrap_or(Value::Null)),
            );
            row.push(
                c.job_minutes(now)
                    .map(|m| Value::from((m * 1000.0).round() / 1000.0))
                    .unwrap_or(Value::Null),
            );
            row.push(c.job_id.clone().map(Value::from).unwrap_or(Value::Null));
            row.push(
                c.failure_reason
                    .clone()
                    .map(Value::from)
                    .unwrap_or(Value::Null),
            );
            let optional = |x: Option<Value>| x.unwrap_or(Value::Null);
            row.extend([
                Value::from(c.search_type.clone()),
                Value::from(c.previous_results_count),
                Value::from(c.is_queued),
                Value::from(
                    paths
                        .combination_dir(c.id)
                        .join("input.json")
                        .display()
                        .to_string(),
                ),
                optional(c.replicate_of.map(Value::from)),
                optional(c.scheduler_state.clone().map(Value::from)),
                optional(c.elapsed_seconds.map(Value::from)),
                optional(
                    c.peak_memory_mb
                        .map(|m| Value::from((m * 10.0).round() / 10.0)),
                ),
                optional(
                    c.cpu_seconds
                        .map(|s| Value::from((s * 1000.0).round() / 1000.0)),
                ),
                optional(c.gpus.map(Value::from)),
                optional(c.steps.map(Value::from)),
                Value::from(paths.combination_dir(c.id).display().to_string()),
            ]);
            row
        })
        .collect();
    match format {
        Format::Json => {
            let objects: Vec<Value> = rows
                .iter()
                .map(|row| Value::Object(header.iter().cloned().zip(row.iter().cloned()).collect()))
                .collect();
            outln!(
                "{}",
                serde_json::to_string_pretty(&Value::Array(objects)).unwrap_or_default()
            );
        }
        Format::Csv => {
            outln!(
                "{}",
                header
                    .iter()
                    .map(|h| csv_field(h))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            for row in &rows {
                outln!(
                    "{}",
                    row.iter()
                        .map(|v| csv_field(&exact(v)))
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
        }
        Format::Table => {
            // The table leaves out the paths and the accounting; numbers have 4 significant
            // digits and cells are shortened. Numbers align right, text left.
            let shown = table_columns;
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    row[..shown]
                        .iter()
                        .map(|v| shorten(&plain(v), 60))
                        .collect()
                })
                .collect();
            let widths: Vec<usize> = (0..shown)
                .map(|i| {
                    cells
                        .iter()
                        .map(|r| r[i].chars().count())
                        .chain([header[i].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let numeric: Vec<bool> = (0..shown)
                .map(|i| {
                    rows.iter().any(|r| r[i].is_number())
                        && rows.iter().all(|r| r[i].is_number() || r[i].is_null())
                })
                .collect();
            let line = |items: &[String]| {
                items
                    .iter()
                    .zip(&widths)
                    .zip(&numeric)
                    .map(|((t, w), right)| {
                        if *right {
                            format!("{t:>w$}")
                        } else {
                            format!("{t:<w$}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            outln!("{}", line(&header[..shown]));
            for row in &cells {
                outln!("{}", line(row));
            }
        }
    }
    Ok(0)
}

/// A cell for machines: numbers at full precision.
fn exact(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A cell for people: floats to 4 significant digits.
fn plain(value: &Value) -> String {
    value_text(value)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// ` · N pruned` when early stopping stopped any run: searches without it read as before.
fn pruned_count(pruned: u64) -> String {
    if pruned > 0 {
        format!(" · {pruned} pruned")
    } else {
        String::new()
    }
}
