//! The search's store: an embedded SQLite database with one writer, the coordinator.

mod record;
mod sqlite;

pub use record::{Combination, FailureKind, RunState, TestRun};
pub use sqlite::{Accounting, Finish, NewCombination, RowWarning, Store, StoreError};
