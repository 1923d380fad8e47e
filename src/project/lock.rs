//! The coordinator's lock: whoever holds it is the only writer of the search's database.
//!
//! An advisory lock on `coordinator.lock`, held for the coordinator's lifetime and released by the
//! kernel when the process dies (kill -9 included), so a crashed coordinator never blocks a resume.
//! The file also says who holds it (pid, host, start time) for `status` and `cancel`.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub started_at: f64,
    /// Kernel start time of `pid`, so that a reused pid is not mistaken for the holder.
    #[serde(default)]
    pub pid_start: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the search is already being run by a coordinator (pid {} on {}); stop it first with `hpsearch cancel`, or wait for it to finish", .0.pid, .0.host)]
    Held(Holder),
    #[error("the search is already being run by another coordinator (its lock file {0} is held)")]
    HeldUnknown(String),
    #[error("{path}: cannot use the lock file: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; dropping it (or dying) releases it.
pub struct CoordinatorLock {
    _file: File,
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_string())
}

pub fn acquire(path: &Path) -> Result<CoordinatorLock, LockError> {
    let io = |source| LockError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    let mut tries = 0;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            // A reader testing the lock (`status`, a dashboard) holds a shared lock for an
            // instant: try again for a moment before concluding that a coordinator holds it.
            Err(std::fs::TryLockError::WouldBlock) if tries < 25 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(match read_holder(path) {
                    Some(holder) => LockError::Held(holder),
                    None => LockError::HeldUnknown(path.display().to_string()),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
    let holder = Holder {
        pid: std::process::id(),
        host: hostname(),
        started_at: crate::clock::now(),
        pid_start: crate::executor::process::start_ticks(std::process::id() as i32),
    };
    file.set_len(0).map_err(io)?;
    file.write_all(
        serde_json::to_string(&holder)
            .unwrap_or_default()
            .as_bytes(),
    )
    .map_err(io)?;
    file.sync_data().map_err(io)?;
    Ok(CoordinatorLock { _file: file })
}

/// Whether a coordinator holds the lock now, as far as a reader can tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Liveness {
    /// A coordinator holds the lock.
    Live(Holder),
    /// Nobody holds it, or there is no lock file (no coordinator has run yet).
    Gone,
    /// The lock file exists but could not be opened or tested; the text says why.
    Unknown(String),
}

/// Tests the lock without needing to write its file: a reader may be another user of a shared
/// project, for whom `coordinator.lock` (0644) is read-only. A shared lock needs only read access
/// (also on NFS, where flock is emulated by fcntl locks and an exclusive one needs a writable
/// file) and is refused while a coordinator holds its exclusive lock; two readers testing at once
/// do not see each other.
pub fn liveness(path: &Path) -> Liveness {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Liveness::Gone,
        Err(e) => return Liveness::Unknown(format!("cannot open {}: {e}", path.display())),
    };
    let unknown = |e: std::io::Error| {
        Liveness::Unknown(format!("cannot test the lock on {}: {e}", path.display()))
    };
    // A coordinator that has just taken the lock writes who it is a moment later; until then the
    // file is empty or still names the previous (dead) holder. And a coordinator that is dying
    // (killed: its threads still exiting) holds it a moment longer while the file names it dead.
    // So wait for the file to name a live holder or for the lock to be released.
    for _ in 0..100 {
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                return Liveness::Gone;
            }
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return unknown(e),
        }
        if let Some(holder) = read_holder(path) {
            let stale = holder.host == hostname()
                && !crate::executor::process::is_alive(holder.pid as i32, holder.pid_start);
            if !stale {
                return Liveness::Live(holder);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Liveness::Live(Holder {
        pid: 0,
        host: "unknown".into(),
        started_at: 0.0,
        pid_start: None,
    })
}

/// The live holder of the lock, if a coordinator holds it now (`None` also when that cannot be
/// told: see [`liveness`]).
pub fn live_holder(path: &Path) -> Option<Holder> {
    match liveness(path) {
        Liveness::Live(holder) => Some(holder),
        Liveness::Gone | Liveness::Unknown(_) => None,
    }
}

/// A search's state as every reader (`status`, the dashboard) reports it: the state its snapshot
/// published, corrected by whether its coordinator is alive, so that all readers agree.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchState {
    /// A coordinator holds the lock (whatever the snapshot says: it may be resuming).
    Running(Holder),
    /// The snapshot says running (or created) but no coordinator holds the lock.
    Died,
    /// The snapshot says running (or created) and the lock cannot be tested; the text says why.
    Unknown(String),
    /// The state the snapshot published when the search ended (`finished`, `stopped`, `failed`).
    Ended(String),
}

/// The rule: `published` is the snapshot's `state`, `lock_path` the search's `coordinator.lock`.
pub fn search_state(lock_path: &Path, published: &str) -> SearchState {
    let unfinished = matches!(published, "running" | "created");
    match liveness(lock_path) {
        Liveness::Live(holder) => SearchState::Running(holder),
        Liveness::Gone if unfinished => SearchState::Died,
        Liveness::Unknown(why) if unfinished => SearchState::Unknown(why),
        Liveness::Gone | Liveness::Unknown(_) => SearchState::Ended(published.to_string()),
    }
}

impl SearchState {
    /// One word: `running`, `died`, `unknown`, or the published state.
    pub fn word(&self) -> &str {
        match self {
            SearchState::Running(_) => "running",
            SearchState::Died => "died",
            SearchState::Unknown(_) => "unknown",
            SearchState::Ended(state) => state,
        }
    }

    /// A sentence for the user; `search_dir` is the folder the resume hint names.
    pub fn describe(&self, search_dir: &Path) -> String {
        match self {
            SearchState::Running(holder) => format!(
                "running (coordinator pid {} on {})",
                holder.pid, holder.host
            ),
            SearchState::Died => format!(
                "died: its coordinator is gone; `hpsearch resume {}` continues it",
                search_dir.display()
            ),
            SearchState::Unknown(why) => format!(
                "unknown: it was running when last published, but whether its coordinator is still alive cannot be told ({why})"
            ),
            SearchState::Ended(state) => state.clone(),
        }
    }
}

fn read_holder(path: &Path) -> Option<Holder> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_live_through_a_read_only_test_and_gone_once_released() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("coordinator.lock");
        assert_eq!(liveness(&path), Liveness::Gone, "no lock file: nobody ran");
        let lock = acquire(&path).expect("lock");
        match liveness(&path) {
            Liveness::Live(holder) => assert_eq!(holder.pid, std::process::id()),
            other => panic!("the held lock reads as {other:?}"),
        }
        assert_eq!(
            search_state(&path, "running").word(),
            "running",
            "a live holder"
        );
        drop(lock);
        assert_eq!(liveness(&path), Liveness::Gone);
        assert_eq!(search_state(&path, "running"), SearchState::Died);
        assert_eq!(search_state(&path, "created"), SearchState::Died);
        assert_eq!(
            search_state(&path, "finished"),
            SearchState::Ended("finished".into())
        );
    }

    #[test]
    fn a_lock_file_that_cannot_be_opened_is_unknown_not_died() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, "").expect("write");
        let path = file.join("coordinator.lock");
        match liveness(&path) {
            Liveness::Unknown(why) => assert!(why.contains("cannot open"), "{why}"),
            other => panic!("an unopenable lock file reads as {other:?}"),
        }
        let state = search_state(&path, "running");
        assert_eq!(state.word(), "unknown");
        assert!(
            state.describe(dir.path()).contains("cannot be told"),
            "{}",
            state.describe(dir.path())
        );
        assert_eq!(
            search_state(&path, "stopped"),
            SearchState::Ended("stopped".into())
        );
    }

    #[test]
    fn a_reader_testing_the_lock_does_not_keep_a_coordinator_from_taking_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("coordinator.lock");
        std::fs::write(&path, "").expect("write");
        let reader = File::open(&path).expect("open");
        reader.lock_shared().expect("shared lock");
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            drop(reader);
        });
        let lock = acquire(&path);
        release.join().expect("thread");
        assert!(lock.is_ok(), "{:?}", lock.err());
    }
}
