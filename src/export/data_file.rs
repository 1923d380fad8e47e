//! The data files, exported from the store.
//!
//! `hp_search_data.txt` is the seed's table, exactly: tab-separated with a header, the seed's
//! columns in the seed's order (combination_id, job_id, job_time, previous_results_count,
//! search_type, is_queued, model_config_path, loss), then one column per hyperparameter and
//! nothing else, so a script that reads "the remaining columns" as hyperparameters keeps working.
//!
//! `hp_search_data_full.txt` beside it has the same columns followed by hpsearch's own: status,
//! failure_reason, objective (as the script wrote it), steps (the last step a run reported in its
//! progress, for early stopping) and one `metric_NAME` column per extra
//! number the scripts reported. The coordinator publishes both at the same moments.

use crate::project::launched::tsv_cell;
use crate::project::SearchPaths;
use crate::store::Combination;
use serde_json::Value;
use std::path::PathBuf;

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

/// hpsearch's columns of the full file, after the hyperparameters (then one per metric).
pub const EXTRA_COLUMNS: [&str; 4] = ["status", "failure_reason", "objective", "steps"];

/// The file name of the full table, in the search folder beside `hp_search_data.txt`.
pub const FULL_FILE: &str = "hp_search_data_full.txt";

/// Where the full table of a search is.
pub fn full_path(paths: &SearchPaths) -> PathBuf {
    paths.dir.join(FULL_FILE)
}

/// The names of the extra metrics, in order of first appearance.
pub fn metric_names(combinations: &[Combination]) -> Vec<String> {
    // A set beside the list: a script may write a metric per class (thousands), and every
    // publish of the data file asks this of every row.
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut names: Vec<String> = Vec::new();
    for c in combinations {
        for key in c.metrics.keys() {
            if seen.insert(key.as_str()) {
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

/// Both tables, rendered in one pass.
pub struct Tables {
    /// `hp_search_data.txt`: the seed's columns and the hyperparameters.
    pub seed: String,
    /// `hp_search_data_full.txt`: the same, then status, failure_reason, objective, metrics.
    pub full: String,
}

/// The seed's table alone (`hp_search_data.txt`).
pub fn render(
    paths: &SearchPaths,
    hyperparameters: &[String],
    combinations: &[Combination],
    now: f64,
) -> String {
    render_both(paths, hyperparameters, combinations, now).seed
}

/// Renders `hp_search_data.txt` and `hp_search_data_full.txt`. The full file's rows start with
/// exactly the seed file's row, so the two never disagree.
pub fn render_both(
    paths: &SearchPaths,
    hyperparameters: &[String],
    combinations: &[Combination],
    now: f64,
) -> Tables {
    let metrics = metric_names(combinations);
    let mut tables = Tables::headers(hyperparameters, &metrics, combinations.len());
    let mut row = RowText::default();
    for c in combinations {
        row.render(paths, hyperparameters, &metrics, c, now);
        tables.push(&row);
    }
    tables
}

impl Tables {
    /// The two header lines, with room for `rows` rows.
    pub(crate) fn headers(hyperparameters: &[String], metrics: &[String], rows: usize) -> Tables {
        let mut seed = String::with_capacity(64 + rows * 128);
        let mut full = String::with_capacity(64 + rows * 160);
        push_row(
            &mut seed,
            SEED_COLUMNS.iter().copied().chain(names(hyperparameters)),
        );
        full.push_str(seed.trim_end_matches('\n'));
        for extra in EXTRA_COLUMNS {
            full.push('\t');
            full.push_str(extra);
        }
        for m in metrics {
            full.push_str("\tmetric_");
            full.push_str(m);
        }
        full.push('\n');
        Tables { seed, full }
    }

    /// Appends one combination's rows.
    pub(crate) fn push(&mut self, row: &RowText) {
        self.seed.push_str(&row.seed);
        self.full.push_str(row.seed.trim_end_matches('\n'));
        self.full.push_str(&row.extras);
    }
}

/// One combination's lines of the two tables: its seed row, and what the full row adds to it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RowText {
    /// The seed file's row, with its line break.
    pub seed: String,
    /// The full file's cells after the seed's (each after a tab), with the line break.
    pub extras: String,
}

impl RowText {
    /// Renders `c` with the metric columns `metrics`, in place (the buffers are reused).
    pub(crate) fn render(
        &mut self,
        paths: &SearchPaths,
        hyperparameters: &[String],
        metrics: &[String],
        c: &Combination,
        now: f64,
    ) {
        self.seed.clear();
        self.extras.clear();
        let input = paths.combination_dir(c.id).join("input.json");
        let cells = [
            c.id.to_string(),
            c.job_id.clone().unwrap_or_default(),
            c.job_minutes(now)
                .map(|m| format!("{m:.3}"))
                .unwrap_or_default(),
            c.previous_results_count.to_string(),
            tsv_cell(&c.search_type),
            if c.is_queued { "True" } else { "False" }.to_string(),
            input.display().to_string(),
            number(c.loss),
        ];
        let values = hyperparameters
            .iter()
            .map(|h| c.params.get(h).map(cell).unwrap_or_default());
        push_row(&mut self.seed, cells.into_iter().chain(values));
        let extras = [
            c.state.name().to_string(),
            tsv_cell(c.failure_reason.as_deref().unwrap_or("")),
            number(c.objective),
            c.steps.map(|s| s.to_string()).unwrap_or_default(),
        ];
        let metric_cells = metrics
            .iter()
            .map(|m| c.metrics.get(m).map(cell).unwrap_or_default());
        for value in extras.into_iter().chain(metric_cells) {
            self.extras.push('\t');
            self.extras.push_str(&value);
        }
        self.extras.push('\n');
    }
}

fn names(list: &[String]) -> impl Iterator<Item = &str> {
    list.iter().map(String::as_str)
}

/// Appends cells joined by tabs and a line break.
fn push_row<S: AsRef<str>>(out: &mut String, cells: impl Iterator<Item = S>) {
    for (i, value) in cells.enumerate() {
        if i > 0 {
            out.push('\t');
        }
        out.push_str(value.as_ref());
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunState;
    use serde_json::json;

    /// A combination as the snapshot would carry it (serde, so that new fields with defaults
    /// need no change here).
    fn combination(id: u64, state: RunState, metrics: Value) -> Combination {
        let failed = state == RunState::Failed;
        serde_json::from_value(json!({
            "id": id, "state": state, "search_type": "random", "point": [0.5, 0.5],
            "params": {"b": "tab\there", "a": 2}, "previous_results_count": id,
            "is_queued": true, "job_id": format!("local:{}", 100 + id), "pid": null,
            "pid_start": null, "created_at": 0.0, "started_at": 0.0, "finished_at": 60.0,
            "attempts": 1, "objective": 1.5, "loss": 1.5,
            "failure_kind": if failed { json!("non_zero_exit") } else { Value::Null },
            "failure_reason": if failed { json!("exit code 3") } else { Value::Null },
            "metrics": metrics
        }))
        .expect("a combination")
    }

    #[test]
    fn the_seed_file_has_the_seed_columns_and_the_hyperparameters_only() {
        let paths = SearchPaths::new(std::path::Path::new("/p"), 0);
        let hyperparameters = vec!["b".to_string(), "a".to_string()];
        let rows = [
            combination(0, RunState::Succeeded, json!({"r2": 0.9})),
            combination(1, RunState::Failed, json!({})),
        ];
        let tables = render_both(&paths, &hyperparameters, &rows, 0.0);
        let seed: Vec<Vec<&str>> = tables
            .seed
            .lines()
            .map(|l| l.split('\t').collect())
            .collect();
        let mut header: Vec<&str> = SEED_COLUMNS.to_vec();
        header.extend(["b", "a"]);
        assert_eq!(seed[0], header);
        assert_eq!(seed.len(), 3);
        assert!(seed.iter().all(|r| r.len() == 10), "{seed:?}");
        assert_eq!(seed[1][8], "tab\\there");
        assert_eq!(seed[1][2], "1.000");

        let full: Vec<Vec<&str>> = tables
            .full
            .lines()
            .map(|l| l.split('\t').collect())
            .collect();
        header.extend([
            "status",
            "failure_reason",
            "objective",
            "steps",
            "metric_r2",
        ]);
        assert_eq!(full[0], header);
        assert_eq!(full[1][..10], seed[1][..]);
        assert_eq!(full[1][10..], ["succeeded", "", "1.5", "", "0.9"]);
        assert_eq!(full[2][10..], ["failed", "exit code 3", "1.5", "", ""]);
        assert_eq!(render(&paths, &hyperparameters, &rows, 0.0), tables.seed);
    }
}
