//! hpsearch: distributed hyperparameter search for analysis scripts in any language.
//!
//! See ARCHITECTURE.md for the map of modules and the rules between them.

#[macro_use]
mod console;

pub mod cli;
pub mod clock;
pub mod config;
pub mod coordinator;
pub mod dashboard;
pub mod executor;
pub mod export;
pub mod gp;
pub mod optimizer;
pub mod project;
pub mod report;
pub mod space;
pub mod store;
pub mod strategy;
