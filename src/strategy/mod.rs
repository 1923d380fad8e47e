//! Search strategies: given the finished and pending combinations, suggest the next one.
//!
//! A strategy is pure: it never touches the store, the files or the clock. Everything it knows
//! arrives in a `SuggestContext`, so that a resumed search (a new coordinator process) suggests
//! exactly what the old one would have.

pub mod bopt;
mod constrained;
mod contract;
mod grid;
mod line;
mod random;
mod sobol;

pub use bopt::BoptStrategy;
pub use contract::{build, Observation, Strategy, StrategyError, SuggestContext, Suggestion};
pub use grid::GridStrategy;
pub use line::LineStrategy;
pub use random::RandomStrategy;
pub use sobol::SobolStrategy;
