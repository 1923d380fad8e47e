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
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(match read_holder(path) {
                Some(holder) => LockError::Held(holder),
                None => LockError::HeldUnknown(path.display().to_string()),
            })
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
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

/// The live holder of the lock, if a coordinator holds it now.
pub fn live_holder(path: &Path) -> Option<Holder> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .ok()?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(_) => {
            // A coordinator that has just taken the lock writes who it is a moment later; until
            // then the file is empty or still names the previous (dead) holder.
            for _ in 0..100 {
                if let Some(holder) = read_holder(path) {
                    let stale = holder.host == hostname()
                        && !crate::executor::process::is_alive(holder.pid as i32, holder.pid_start);
                    if !stale {
                        return Some(holder);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Some(Holder {
                pid: 0,
                host: "unknown".into(),
                started_at: 0.0,
                pid_start: None,
            })
        }
    }
}

fn read_holder(path: &Path) -> Option<Holder> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}
