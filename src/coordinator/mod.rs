//! The coordinator and what it needs: the search definition, run outcomes, failure imputation,
//! events for observers, and the test phase.

pub(crate) mod curves;
pub mod definition;
mod early_stop;
mod elapsed;
mod ends;
pub mod events;
mod fail_fast;
mod full_disk;
pub mod imputation;
pub mod outcome;
mod preflight;
pub(crate) mod pruning;
mod publish;
mod search;
mod starting;
mod stopping;
mod tally;
mod test_phase;
mod wakeups;

pub use definition::Definition;
pub use full_disk::{run_pausing_when_full, Pausing};
pub use search::{create, Coordinator, CoordinatorError, SearchEnd};
pub use test_phase::TestPhaseError;
