//! The three config files of a search, validated into checked types before anything runs.

pub mod cluster;
pub mod conditions;
pub mod duplicates;
pub mod early_stopping;
pub mod error;
pub mod fields;
pub mod job;
pub mod model;
pub mod search;

pub use error::ConfigError;
pub use job::JobConfig;
pub use model::ModelConfig;
pub use search::SearchConfig;
