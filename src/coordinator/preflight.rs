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

/// Free space below which a search's disk counts as full: a run started there could not write
/// its output, and a run that failed there may have failed for that alone.
const FULL_BELOW_BYTES: u64 = 64 * 1024;

/// Why runs cannot be started in `folder` now, when its disk is full (as an unprivileged user
/// sees it: the blocks reserved for root do not count). `None` when there is room, or when the
/// file system does not say. (An exceeded quota does not show here; it shows when a write
/// fails.)
pub fn disk_full(folder: &std::path::Path) -> Option<String> {
    let stats = nix::sys::statvfs::statvfs(folder).ok()?;
    let free = stats
        .blocks_available()
        .saturating_mul(stats.fragment_size());
    (stats.blocks() > 0 && free < FULL_BELOW_BYTES).then(|| {
        format!(
            "the disk holding {} is full ({free} bytes free): a run could not write its output",
            folder.display()
        )
    })
}

/// The failures that a full disk alone causes in a run that ended while it was full: its
/// output.json missing, cut short or empty, or its script ending with an error on a write.
pub fn may_be_the_disk(kind: crate::store::FailureKind) -> bool {
    use crate::store::FailureKind;
    matches!(
        kind,
        FailureKind::NonZeroExit
            | FailureKind::MissingOutput
            | FailureKind::UnparseableOutput
            | FailureKind::NoObjective
    )
}

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
    fn a_disk_with_room_is_not_full() {
        let dir = tempfile::tempdir().expect("temp dir");
        // The test's temporary folder has room (the tests write there); tmpfs tests of a
        // full disk are in tests/full_disk.rs.
        assert_eq!(disk_full(dir.path()), None);
        assert_eq!(disk_full(&dir.path().join("no such folder")), None);
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
