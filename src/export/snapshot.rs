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
