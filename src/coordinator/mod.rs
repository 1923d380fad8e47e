//! The coordinator and what it needs: the search definition, run outcomes, failure imputation,
//! events for observers.

pub mod definition;
pub mod events;
pub mod imputation;
pub mod outcome;
mod search;

pub use definition::Definition;
pub use search::{create, Coordinator, CoordinatorError, SearchEnd};
