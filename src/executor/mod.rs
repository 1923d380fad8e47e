//! Executors start and watch runs of the user's script; the coordinator talks to them only
//! through the `Executor` trait.

mod contract;
mod local;
pub mod process;
pub mod wrapper;

pub use contract::{Adoption, Ended, Executor, ExecutorError, Known, RunEnd, RunSpec, Submitted};
pub use local::LocalExecutor;
