//! What the coordinator publishes for readers: the seed's data file and the JSON snapshot.

pub mod data_file;
pub mod snapshot;

pub use snapshot::Snapshot;
