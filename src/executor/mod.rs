//! Executors start and watch runs of the user's script; the coordinator talks to them only
//! through the `Executor` trait.

mod contract;
pub mod local;
mod log_tail;
pub mod process;
pub mod run_files;
pub mod runner;
pub mod slurm;
pub mod supervise;
mod watchers;
pub mod wrapper;
pub use log_tail::{last_lines, log_tail};

pub use contract::{
    is_common_io_problem, is_out_of_space, Adoption, Ended, Executor, ExecutorError, ExecutorEvent,
    Known, RunEnd, RunSpec, SchedulerRecord, Submitted,
};
pub use local::LocalExecutor;
pub use slurm::{SlurmExecutor, MAX_WAVE};

/// The executor a job config asks for.
pub fn build(
    job: &crate::config::JobConfig,
    wrapper: std::path::PathBuf,
    search: &crate::project::SearchPaths,
) -> Box<dyn Executor> {
    match &job.cluster {
        crate::config::cluster::Cluster::Local => Box::new(LocalExecutor::new(wrapper)),
        crate::config::cluster::Cluster::Slurm(profile) => Box::new(SlurmExecutor::new(
            (**profile).clone(),
            job,
            wrapper,
            search.search_id,
            &search.dir,
        )),
    }
}
