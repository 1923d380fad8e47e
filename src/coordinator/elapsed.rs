//! `search_time` accounting across coordinator sessions, crashes included.
//!
//! The coordinator's time is summed over its sessions. A clean end records it in the store; a
//! crash (kill -9, a reboot) cannot, and the store's last value may be old when the coordinator
//! was busy (a long suggestion) or died early in a session. So a small thread writes a heartbeat
//! file every second naming its session's start, and the next session adds the dead session's
//! time from its start to its last heartbeat: a crash loses at most about a second.

use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The heartbeat file in the search folder.
pub const HEARTBEAT_FILE: &str = ".hpsearch_heartbeat.json";
/// Frequent enough that a coordinator killed again and again soon after each resume keeps
/// nearly all of its time; a file this small costs nothing to rewrite.
const BEAT: Duration = Duration::from_millis(100);

const SESSION_STARTED_AT: &str = "session_started_at";
const SESSION_ELAPSED_BEFORE: &str = "session_elapsed_before";
const ELAPSED_SECONDS: &str = "elapsed_seconds";

#[derive(Debug, Serialize, Deserialize)]
struct Heartbeat {
    /// The wall-clock start of the session that wrote it.
    session_started_at: f64,
    alive_at: f64,
}

/// A session's heartbeat; dropping it stops the thread.
pub struct SessionClock {
    stop: Arc<AtomicBool>,
}

impl Drop for SessionClock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The coordinator time spent before this session: the recorded sum, or more when the last
/// session died after its last record and its heartbeat says how long it lived. Starts this
/// session's record and heartbeat.
pub fn start_session(store: &Store, folder: &Path) -> Result<(f64, SessionClock), StoreError> {
    let number = |key: &str| -> Result<Option<f64>, StoreError> {
        Ok(store
            .meta(key)?
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|x| x.is_finite() && *x >= 0.0))
    };
    let recorded = number(ELAPSED_SECONDS)?.unwrap_or(0.0);
    let recovered = match (number(SESSION_STARTED_AT)?, number(SESSION_ELAPSED_BEFORE)?) {
        (Some(started), Some(before)) => read_heartbeat(&folder.join(HEARTBEAT_FILE))
            .filter(|beat| beat.session_started_at == started)
            .map(|beat| before + (beat.alive_at - started).max(0.0)),
        _ => None,
    };
    let elapsed_before = recorded.max(recovered.unwrap_or(0.0));
    let now = crate::clock::now();
    store.set_meta(SESSION_STARTED_AT, &now.to_string())?;
    store.set_meta(SESSION_ELAPSED_BEFORE, &elapsed_before.to_string())?;
    store.set_meta(ELAPSED_SECONDS, &elapsed_before.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    spawn_heartbeat(folder.join(HEARTBEAT_FILE), now, Arc::clone(&stop));
    Ok((elapsed_before, SessionClock { stop }))
}

/// The heartbeat: the session's start from the file, its last beat from the file's modification
/// time (or the file's own `alive_at`, when later: a file an older version wrote).
fn read_heartbeat(path: &Path) -> Option<Heartbeat> {
    let mut beat: Heartbeat = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    if let Ok(since_epoch) = modified.duration_since(std::time::UNIX_EPOCH) {
        beat.alive_at = beat.alive_at.max(since_epoch.as_secs_f64());
    }
    Some(beat)
}

/// Writes the heartbeat file once, then beats by setting its modification time: a beat creates
/// no file (rewriting a file ten times a second allocated an inode each time, which on a file
/// system with many recent deletions costs more than anything else the coordinator does).
fn spawn_heartbeat(path: PathBuf, session_started_at: f64, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let beat = Heartbeat {
            session_started_at,
            alive_at: session_started_at,
        };
        let Ok(text) = serde_json::to_string(&beat) else {
            return;
        };
        // A missed beat costs at most one more second of accounting; nothing to report.
        if crate::project::paths::write_atomically(&path, text.as_bytes()).is_err() {
            return;
        }
        let Ok(file) = std::fs::File::options().append(true).open(&path) else {
            return;
        };
        while !stop.load(Ordering::Relaxed) {
            let _ = file.set_modified(std::time::SystemTime::now());
            std::thread::sleep(BEAT);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_session_is_counted_up_to_its_last_heartbeat() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_writer(&dir.path().join("db.sqlite")).expect("store");
        store.set_meta(ELAPSED_SECONDS, "10").expect("meta");
        // A session that started at t=1000 with 10 s behind it, whose last beat was at t=1042,
        // and that died before recording more than the 10 s.
        store.set_meta(SESSION_STARTED_AT, "1000").expect("meta");
        store.set_meta(SESSION_ELAPSED_BEFORE, "10").expect("meta");
        // The file holds the session's start; each beat sets its modification time.
        let beat = Heartbeat {
            session_started_at: 1000.0,
            alive_at: 1000.0,
        };
        let path = dir.path().join(HEARTBEAT_FILE);
        std::fs::write(&path, serde_json::to_string(&beat).expect("json")).expect("write");
        std::fs::File::options()
            .append(true)
            .open(&path)
            .expect("open")
            .set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1042))
            .expect("set the time of the last beat");
        let (before, _clock) = start_session(&store, dir.path()).expect("session");
        assert_eq!(before, 52.0);
        // A heartbeat of another session is not this one's.
        let (again, _clock) = start_session(&store, dir.path()).expect("session");
        assert!((52.0..53.5).contains(&again), "{again}");
    }
}
