//! Every error a command can end with, and its exit code.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1    | the search or the command failed at run time (I/O, database, a busy search) |
//! | 2    | bad input: a config file, a command-line argument, a folder that is not a search |
//! | 130  | the search was stopped by a signal (Ctrl-C, SIGTERM, `cancel`); `resume` continues it |

use crate::config::ConfigError;
use crate::coordinator::definition::DefinitionError;
use crate::coordinator::CoordinatorError;
use crate::project::paths::PathsError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Paths(#[from] PathsError),
    #[error(transparent)]
    Coordinator(#[from] CoordinatorError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Runtime(String),
}

pub const EXIT_RUNTIME: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_STOPPED: i32 = 130;

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Config(_) | CliError::Paths(_) | CliError::Usage(_) => EXIT_USAGE,
            CliError::Coordinator(CoordinatorError::Definition(DefinitionError::Config(_))) => {
                EXIT_USAGE
            }
            CliError::Coordinator(CoordinatorError::Strategy(_)) => EXIT_USAGE,
            CliError::Coordinator(CoordinatorError::TestPhase(_)) => EXIT_USAGE,
            CliError::Coordinator(_) | CliError::Runtime(_) => EXIT_RUNTIME,
        }
    }
}
