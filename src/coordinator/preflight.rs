//! Start problems that every run would meet alike: the program or script gone, permission
//! denied, the disk full.
//!
//! Such a problem says nothing about a combination, so the coordinator must not record each run
//! it stops as a failure: it pauses submissions with a growing backoff and says why, and goes on
//! when the problem is gone. This module only tells those problems apart; `search` pauses.

use crate::config::job::JobConfig;
use std::os::unix::fs::PermissionsExt;

/// Why no run can start now, when the reason is the same for every run: the environment program
/// or the script is missing, unreadable or not executable. Checked before each start (two
/// `stat`s) and again when a run fails to start, to tell a systemic start failure from one run's.
pub fn common_start_problem(job: &JobConfig) -> Option<String> {
    let program = &job.environment_path;
    match std::fs::metadata(program) {
        Err(e) => {
            return Some(format!(
                "the environment program {} cannot be used: {e} (job_config.json `environment_path`)",
                program.display()
            ))
        }
        Ok(m) if !m.is_file() || m.permissions().mode() & 0o111 == 0 => {
            return Some(format!(
                "the environment program {} is not an executable file (job_config.json `environment_path`)",
                program.display()
            ))
        }
        Ok(_) => {}
    }
    let script = &job.script_path;
    if let Err(e) = std::fs::File::open(script) {
        return Some(format!(
            "the script {} cannot be read: {e} (job_config.json `script_path`)",
            script.display()
        ));
    }
    None
}

pub use crate::executor::is_common_io_problem;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disks_and_refused_folders_are_common_problems() {
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(is_common_io_problem(&full));
        let refused = std::io::Error::from_raw_os_error(libc::EACCES);
        assert!(is_common_io_problem(&refused));
        let missing = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert!(!is_common_io_problem(&missing));
    }
}
