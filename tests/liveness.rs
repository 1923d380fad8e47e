//! `status` run by another user of a shared project (a cluster's group folder): a live search
//! reads as running, and a lock file that user cannot open reads as unknown, never as died.
//!
//! The tests run as root and run `status` as `nobody` through `setpriv`; elsewhere they say so and
//! pass without checking.

mod support;

use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{hpsearch_bin, wait_until, Project, Run};

const NOBODY: &str = "65534";

/// A search whose one run sleeps, launched in the background in a project other users can read;
/// cancelled when dropped.
struct SharedSearch {
    project: Project,
    /// A copy of the binary that `nobody` may run.
    bin: PathBuf,
}

impl SharedSearch {
    fn launch() -> SharedSearch {
        let project = Project::new();
        project.script("slow.sh", "#!/bin/sh\nsleep 30\necho 1 > output.json\n");
        project.configs(
            "/bin/sh",
            "slow.sh",
            json!({"x": {"type": "continuous", "domain": [0.0, 1.0]}}),
            json!({"search_type": "random", "max_suggestions": 1, "max_active_points": 1,
                   "y_transformation": "none", "random_seed": 1}),
        );
        readable_by_all(&project.path);
        let bin = project.path.join("hpsearch-copy");
        std::fs::copy(hpsearch_bin(), &bin).expect("copy the binary");
        readable_by_all(&bin);
        project.hpsearch(&["launch", "--local"]).ok();
        let search = SharedSearch { project, bin };
        wait_until(Duration::from_secs(30), "the search to run its run", || {
            search.published()["summary"]["running"].as_u64() == Some(1)
        });
        search
    }

    fn published(&self) -> Value {
        std::fs::read_to_string(self.dir().join("hp_search_state.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null)
    }

    fn dir(&self) -> PathBuf {
        self.project.search_dir(0)
    }

    /// `hpsearch ARGS` as the user `nobody`.
    fn hpsearch_as_nobody(&self, args: &[&str]) -> Run {
        let output = Command::new("setpriv")
            .args([
                &format!("--reuid={NOBODY}"),
                &format!("--regid={NOBODY}"),
                "--clear-groups",
            ])
            .arg(&self.bin)
            .args(args)
            .current_dir("/")
            .output()
            .expect("run setpriv");
        Run::from(output)
    }
}

impl Drop for SharedSearch {
    fn drop(&mut self) {
        let _ = self
            .project
            .hpsearch(&["cancel", &self.dir().display().to_string()]);
    }
}

fn readable_by_all(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// These tests are marked ignored (they need root, to act as another user); with
/// `--run-ignored all`, as `.ci/run` runs them, a machine that cannot switch users fails here.
fn require_switching_user() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let setpriv = Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        root && setpriv,
        "running `status` as another user needs root and setpriv (util-linux)"
    );
}

#[test]
#[ignore = "needs root and setpriv, to run status as another user"]
fn another_users_status_sees_a_live_search_as_running() {
    require_switching_user();
    let search = SharedSearch::launch();
    let lock = search.dir().join("coordinator.lock");
    let mode = std::fs::metadata(&lock)
        .expect("lock file")
        .permissions()
        .mode();
    assert!(
        mode & 0o004 != 0 && mode & 0o002 == 0,
        "the lock file is read-only to others: {mode:o}"
    );

    let dir = search.dir().display().to_string();
    let status = search.hpsearch_as_nobody(&["status", &dir]).ok();
    let first = status.stdout.lines().next().unwrap_or_default();
    assert!(
        first.contains("running (coordinator pid") && !status.stdout.contains("died"),
        "{}",
        status.stdout
    );
    // The project's list agrees.
    let project = search.project.path.display().to_string();
    let list = search.hpsearch_as_nobody(&["status", &project]).ok();
    assert!(
        list.stdout.contains("[running]") && !list.stdout.contains("died"),
        "{}",
        list.stdout
    );
}

#[test]
#[ignore = "needs root and setpriv, to run status as another user"]
fn a_lock_file_another_user_cannot_open_makes_the_state_unknown_not_died() {
    require_switching_user();
    let search = SharedSearch::launch();
    // As a coordinator run with umask 077 would leave it.
    let lock = search.dir().join("coordinator.lock");
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let dir = search.dir().display().to_string();
    let status = search.hpsearch_as_nobody(&["status", &dir]).ok();
    let first = status.stdout.lines().next().unwrap_or_default();
    assert!(
        first.contains("unknown")
            && first.contains("Permission denied")
            && !status.stdout.contains("died"),
        "{}",
        status.stdout
    );
    let project = search.project.path.display().to_string();
    let list = search.hpsearch_as_nobody(&["status", &project]).ok();
    assert!(
        list.stdout.contains("[unknown]") && !list.stdout.contains("died"),
        "{}",
        list.stdout
    );
}
