//! The search space and its unit-cube encoding; pure, no I/O.

mod hyperparameter;
#[allow(clippy::module_inception)]
mod space;

pub use hyperparameter::{Domain, Hyperparameter, Transformation};
pub use space::Space;
