//! `hp_search_state.json`: everything `status` and `results` show, published atomically by the
//! coordinator after every change, so readers never open the database a coordinator is writing
//! (which is what breaks SQLite on network file systems).

use crate::config::{ConfigError, ModelConfig, SearchConfig};
use crate::coordinator::definition::ConfigFile;
use crate::coordinator::events::Summary;
use crate::store::{Combination, TestRun};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub search_id: u64,
    pub project: String,
    pub search_folder: String,
    /// `running`, `finished`, `stopped` (by a signal or `cancel`; resumable) or `failed`.
    pub state: String,
    pub end_reason: Option<String>,
    pub search_type: String,
    pub y_transformation: String,
    pub max_suggestions: u64,
    pub max_active_points: u64,
    pub search_time_hours: f64,
    pub random_seed: u64,
    pub coordinator_pid: u32,
    pub coordinator_host: String,
    pub updated_at: f64,
    pub hyperparameters: Vec<String>,
    pub summary: Summary,
    /// Left out of serde's output when empty, so that `to_json_with_rows` can add rows rendered
    /// apart; the coordinator's snapshot file always has it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub combinations: Vec<Combination>,
    /// The configs the search runs with, for readers that need its space (the report).
    #[serde(default)]
    pub search_config: ConfigCopy,
    #[serde(default)]
    pub model_config: ConfigCopy,
    /// Runs of the test phase, kept apart from the search's combinations.
    #[serde(default)]
    pub test_runs: Vec<TestRun>,
    /// Problems found reading the store (a corrupted row), for every reader to show.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Run, CPU and GPU hours, and what early stopping saved.
    #[serde(default)]
    pub compute: super::compute::Compute,
}

/// A config file as the search recorded it when it started.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConfigCopy {
    pub path: String,
    pub text: String,
}

impl ConfigCopy {
    pub fn of(file: &ConfigFile) -> Self {
        ConfigCopy {
            path: file.path.display().to_string(),
            text: file.text.clone(),
        }
    }
}

impl Snapshot {
    /// The snapshot's JSON with `rows_json` (a JSON array, rendered apart: see
    /// `export::published`) as its `combinations`, which must be empty here. The rows go last:
    /// readers find fields by name.
    pub fn to_json_with_rows(&self, rows_json: &str) -> serde_json::Result<String> {
        debug_assert!(self.combinations.is_empty());
        let mut text = serde_json::to_string(self)?;
        // A struct serializes as one object: its text ends with the closing brace.
        if text.ends_with('}') {
            text.pop();
            if !text.ends_with('{') {
                text.push(',');
            }
            text.push_str("\"combinations\":");
            text.push_str(rows_json);
            text.push('}');
        }
        Ok(text)
    }

    pub fn search_config(&self) -> Result<SearchConfig, ConfigError> {
        let (path, text) = self.config_text(&self.search_config, "search_config.json")?;
        let map = crate::config::fields::parse_object(&path, &text)?;
        SearchConfig::from_map(&path, &map)
    }

    pub fn model_config(&self) -> Result<ModelConfig, ConfigError> {
        let (path, text) = self.config_text(&self.model_config, "model_config.json")?;
        ModelConfig::from_map(&path, crate::config::fields::parse_object(&path, &text)?)
    }

    /// A config's text: from the snapshot, or (for snapshots of older versions, which did not
    /// carry it) from the copy every search keeps in its folder.
    fn config_text(
        &self,
        copy: &ConfigCopy,
        name: &str,
    ) -> Result<(std::path::PathBuf, String), ConfigError> {
        if !copy.text.is_empty() {
            return Ok((Path::new(&copy.path).to_path_buf(), copy.text.clone()));
        }
        let file = Path::new(&self.search_folder).join(name);
        let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        Ok((file, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_rendered_apart_read_back_as_the_snapshot_s_combinations() {
        let row = json!({
            "id": 0, "state": "succeeded", "search_type": "random", "point": [0.5],
            "params": {"x": 1}, "previous_results_count": 0, "is_queued": false,
            "job_id": "local:1", "pid": null, "pid_start": null, "created_at": 0.0,
            "started_at": 0.0, "finished_at": 1.0, "attempts": 1, "objective": 2.0,
            "loss": 2.0, "failure_kind": null, "failure_reason": null, "metrics": {}
        });
        let snapshot: Snapshot = serde_json::from_value(json!({
            "search_id": 3, "project": "/p", "search_folder": "/p/hp_search_3",
            "state": "running", "end_reason": null, "search_type": "random",
            "y_transformation": "none", "max_suggestions": 10, "max_active_points": 2,
            "search_time_hours": 1.0, "random_seed": 7, "coordinator_pid": 1,
            "coordinator_host": "h", "updated_at": 5.0, "hyperparameters": ["x"],
            "summary": Summary::default(),
        }))
        .expect("a snapshot");
        let rows: Vec<Combination> =
            serde_json::from_value(json!([row.clone(), row])).expect("rows");

        let text = snapshot
            .to_json_with_rows(&serde_json::to_string(&rows).expect("rows serialize"))
            .expect("serializes");
        let back: Snapshot = serde_json::from_str(&text).expect("reads back");
        assert_eq!(back.combinations, rows);
        assert_eq!(
            Snapshot {
                combinations: Vec::new(),
                ..back
            },
            snapshot
        );

        // No rows yet: the file still has the key, as readers of the file expect.
        let empty = snapshot.to_json_with_rows("[]").expect("serializes");
        let value: serde_json::Value = serde_json::from_str(&empty).expect("valid JSON");
        assert_eq!(value["combinations"], json!([]));
    }
}
