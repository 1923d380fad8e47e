//! The project folder on disk: search folders and ids, the launch record, the writer lock.

pub mod launched;
pub mod lock;
pub mod paths;

pub use paths::{allocate, SearchPaths};
