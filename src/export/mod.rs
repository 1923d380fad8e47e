//! What the coordinator publishes for readers: the seed's data file and the JSON snapshot, with
//! the compute the search used.

pub mod compute;
pub mod data_file;
pub mod published;
pub mod snapshot;

pub use snapshot::Snapshot;
