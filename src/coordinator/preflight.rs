//! Start problems that every run would meet alike: the program or script gone, permission
//! denied, the disk full.
//!
//! Such a problem says nothing about a combination, so the coordinator must not record each run
//! it stops as a failure: it pauses submissions with a growing backoff and says why, and goes on
//! when the problem is gone. This module only tells those problems apart; `search` pauses.

use crate::config::job::JobConfig;
use std::os::unix::fs::PermissionsExt;

/// Why no run can start now, when the reason is the same for every run: the environment program
/// or the script is missing, unreadable, not a plain file or not executable. Checked before each
/// start (a `stat`, and an open of the script that never waits) and again when a run fails to
/// start, to tell a systemic start failure from one run's.
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
    // Opened without waiting: this runs before every start, and a named pipe in the script's
    // place would otherwise hold the coordinator until something wrote to it.
    if let Err(e) = crate::executor::run_files::open_regular(script) {
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

    fn job_with_script(dir: &std::path::Path, script: &std::path::Path) -> JobConfig {
        let mut settings = serde_json::Map::new();
        settings.insert("environment_path".into(), "/bin/sh".into());
        settings.insert("script_path".into(), script.display().to_string().into());
        JobConfig::from_map(&dir.join("job_config.json"), &settings).expect("a valid job config")
    }

    #[test]
    fn a_named_pipe_in_the_scripts_place_is_a_start_problem_found_at_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = dir.path().join("train.sh");
        std::fs::write(&script, "echo 1 > output.json\n").expect("write");
        let job = job_with_script(dir.path(), &script);
        assert_eq!(common_start_problem(&job), None);
        std::fs::remove_file(&script).expect("remove");
        nix::unistd::mkfifo(&script, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        // Before, opening the pipe waited for a writer, before every start, for ever: the check
        // runs in a thread, so that a return of that wait fails the test instead of hanging it.
        let (answer, answered) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = answer.send(common_start_problem(&job));
        });
        let problem = answered
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the check answered without waiting on the pipe")
            .expect("a start problem");
        assert!(
            problem.contains("train.sh cannot be read: not a regular file"),
            "{problem}"
        );
    }

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
