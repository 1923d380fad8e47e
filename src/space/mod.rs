//! The search space and its unit-cube encoding; pure, no I/O.

mod hyperparameter;
#[allow(clippy::module_inception)]
mod space;
mod tree;

pub use hyperparameter::{Domain, Hyperparameter, Transformation};
pub use space::{Space, INACTIVE};
pub use tree::{same_value, Condition, Tree};
