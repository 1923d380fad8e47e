//! A search's definition: its three validated configs, and where they came from.
//!
//! A new search copies the text of each config into its store, so that `resume` runs the search
//! that was started even if the files were edited since.

use crate::config::{ConfigError, JobConfig, ModelConfig, SearchConfig};
use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Definition {
    pub search: SearchConfig,
    pub job: JobConfig,
    pub model: ModelConfig,
    pub files: [ConfigFile; 3],
}

#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const META_KEYS: [&str; 3] = ["search_config", "job_config", "model_config"];

impl Definition {
    /// Reads and checks the three config files.
    pub fn load(search: &Path, job: &Path, model: &Path) -> Result<Definition, ConfigError> {
        let read = |path: &Path| -> Result<ConfigFile, ConfigError> {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                file: path.clone(),
                source,
            })?;
            Ok(ConfigFile { path, text })
        };
        Self::parse([read(search)?, read(job)?, read(model)?])
    }

    fn parse(files: [ConfigFile; 3]) -> Result<Definition, ConfigError> {
        use crate::config::fields::parse_object;
        let [s, j, m] = &files;
        let search = SearchConfig::from_map(&s.path, &parse_object(&s.path, &s.text)?)?;
        let job = JobConfig::from_map(&j.path, &parse_object(&j.path, &j.text)?)?;
        let model = ModelConfig::from_map(&m.path, parse_object(&m.path, &m.text)?)?;
        Ok(Definition {
            search,
            job,
            model,
            files,
        })
    }

    /// The project folder: the folder that holds job_config.json, as in the seed's launcher.
    pub fn project(&self) -> PathBuf {
        self.files[1]
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    pub fn save(&self, store: &Store) -> Result<(), StoreError> {
        for (key, file) in META_KEYS.iter().zip(&self.files) {
            store.set_meta(&format!("{key}_path"), &file.path.display().to_string())?;
            store.set_meta(&format!("{key}_text"), &file.text)?;
        }
        Ok(())
    }

    /// The definition a search was started with, checked again (a script may have moved since).
    pub fn from_store(store: &Store) -> Result<Definition, DefinitionError> {
        let read = |key: &str| -> Result<ConfigFile, StoreError> {
            Ok(ConfigFile {
                path: PathBuf::from(store.require_meta(&format!("{key}_path"))?),
                text: store.require_meta(&format!("{key}_text"))?,
            })
        };
        let [search, job, model] = META_KEYS;
        Ok(Self::parse([read(search)?, read(job)?, read(model)?])?)
    }
}
