//! `hp_search_data.txt`: the seed's table, exported from the store.
//!
//! Tab-separated with a header. The seed's columns in the seed's order (combination_id, job_id,
//! job_time, previous_results_count, search_type, is_queued, model_config_path, loss), one column
//! per hyperparameter, then hpsearch's own: status, failure_reason, objective (as the script wrote
//! it) and one `metric_NAME` column per extra number the scripts reported.

use crate::project::launched::tsv_cell;
use crate::project::SearchPaths;
use crate::store::Combination;
use serde_json::Value;

pub const SEED_COLUMNS: [&str; 8] = [
    "combination_id",
    "job_id",
    "job_time",
    "previous_results_count",
    "search_type",
    "is_queued",
    "model_config_path",
    "loss",
];

/// The names of the extra metrics, in order of first appearance.
pub fn metric_names(combinations: &[Combination]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for c in combinations {
        for key in c.metrics.keys() {
            if !names.contains(key) {
                names.push(key.clone());
            }
        }
    }
    names
}

pub fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => tsv_cell(s),
        Value::Null => String::new(),
        other => tsv_cell(&other.to_string()),
    }
}

pub fn number(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

pub fn render(
    paths: &SearchPaths,
    hyperparameters: &[String],
    combinations: &[Combination],
    now: f64,
) -> String {
    let metrics = metric_names(combinations);
    let mut header: Vec<String> = SEED_COLUMNS.iter().map(|s| s.to_string()).collect();
    header.extend(hyperparameters.iter().cloned());
    header.extend(["status", "failure_reason", "objective"].map(String::from));
    header.extend(metrics.iter().map(|m| format!("metric_{m}")));
    let mut out = header.join("\t");
    out.push('\n');
    for c in combinations {
        let mut row = vec![
            c.id.to_string(),
            c.job_id.clone().unwrap_or_default(),
            c.job_minutes(now)
                .map(|m| format!("{m:.3}"))
                .unwrap_or_default(),
            c.previous_results_count.to_string(),
            tsv_cell(&c.search_type),
            if c.is_queued {
                "True".into()
            } else {
                "False".into()
            },
            paths
                .combination_dir(c.id)
                .join("input.json")
                .display()
                .to_string(),
            number(c.loss),
        ];
        row.extend(
            hyperparameters
                .iter()
                .map(|h| c.params.get(h).map(cell).unwrap_or_default()),
        );
        row.push(c.state.name().to_string());
        row.push(tsv_cell(c.failure_reason.as_deref().unwrap_or("")));
        row.push(number(c.objective));
        row.extend(
            metrics
                .iter()
                .map(|m| c.metrics.get(m).map(cell).unwrap_or_default()),
        );
        out.push_str(&row.join("\t"));
        out.push('\n');
    }
    out
}
