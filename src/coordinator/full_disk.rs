//! A search that meets a full disk or an exceeded quota pauses and goes on by itself.
//!
//! Every write of a running search can meet it: the store's commit, the exports, the lock, a
//! run's folder. A run's folder that cannot be made pauses the submissions inside the loop
//! (`starting.rs`); any other write ends the coordinator's loop with an error, and the state in
//! memory may then be ahead of the store (a commit that failed is rolled back). So the pause
//! happens out here: the coordinator is closed (its runs in flight go on under the runner, and
//! this process keeps the search's lock), and after a wait it is opened again and resumed from
//! its files, as `hpsearch resume` would, which re-reads every run's record. A run that ended
//! meanwhile without a readable output (its script could not write it) is not taken as failed:
//! it runs again. Waits double from 2 s to 5 minutes, and a stop request (Ctrl-C, SIGTERM,
//! `hpsearch cancel`'s signal) ends the wait; the next coordinator then stops the search
//! properly where there is space for it, and otherwise the command ends with its runs going on.
//! Only a search whose coordinator opened in this process pauses: a disk too full to open it is
//! an error at once for the user who asked.

use super::events::{LogObserver, Observer};
use super::search::{Coordinator, CoordinatorError, SearchEnd};
use crate::project::lock;
use crate::project::paths::SearchPaths;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The first wait after a write failed for want of space; each failure in a row doubles it.
const FIRST_WAIT: Duration = Duration::from_secs(2);
/// How long before the coordinator noticed the full disk a run may have ended for it: the
/// run that filled the disk ends before the coordinator's next write fails. A run that ended
/// from then until the coordinator opened again, its output missing or unreadable, runs again.
const ENDED_BEFORE_NOTICED: f64 = 60.0;
/// The longest wait between two tries.
const MAX_WAIT: Duration = Duration::from_secs(300);
/// A coordinator that ran this long before the next failure starts the waits again from the
/// first.
const RAN_WELL: Duration = Duration::from_secs(60);

impl CoordinatorError {
    /// Whether the error is a write that failed for want of space (a full disk, an exceeded
    /// quota), which freeing space cures.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            CoordinatorError::Store(e)
            | CoordinatorError::Definition(super::definition::DefinitionError::Store(e)) => {
                e.is_out_of_space()
            }
            CoordinatorError::Io { source, .. } => crate::executor::is_out_of_space(source),
            _ => false,
        }
    }
}

/// How a search's coordinator is run: `observers` makes the observers of each coordinator
/// opened (a pause opens a new one), `paused` is told each pause's note.
pub struct Pausing<'a> {
    pub observers: &'a mut dyn FnMut() -> Vec<Box<dyn Observer>>,
    pub paused: &'a mut dyn FnMut(&str),
}

/// Runs the search at `paths` until it ends, pausing while the disk is full (see the module's
/// comment). `resumed`: whether this process continues a search that ran before.
pub fn run_pausing_when_full(
    paths: &SearchPaths,
    wrapper: &std::path::Path,
    mut resumed: bool,
    pausing: Pausing,
) -> Result<SearchEnd, CoordinatorError> {
    // Held by this process throughout: while it waits, `status` shows the search running (this
    // process), `cancel` signals this process, and no other coordinator takes the search over.
    let _lock = lock::acquire(&paths.lock())?;
    let mut wait = FIRST_WAIT;
    let mut has_run = false;
    // When this episode of a full disk was first noticed (wall clock).
    let mut full_since: Option<f64> = None;
    // Listening for a stop from the start: one that comes while no coordinator is open (between
    // a failure and the wait) must not be lost.
    let stop = StopRequests::listen();
    loop {
        let started = Instant::now();
        // A stop that came while no coordinator listened (opening one, or the wait) goes to
        // the next: it stops the search properly, its runs too, if there is space for it.
        let stopping = stop.take();
        let result =
            Coordinator::open_locked(paths.clone(), wrapper.to_path_buf(), (pausing.observers)())
                .and_then(|mut coordinator| {
                    has_run = true;
                    // The runs it takes over that ended since shortly before the full disk was
                    // noticed, without a readable output, run again.
                    coordinator.disk_full_since =
                        full_since.map(|since| since - ENDED_BEFORE_NOTICED);
                    if stopping {
                        coordinator.stop_requests = coordinator.stop_requests.saturating_add(1);
                    }
                    coordinator.run(resumed)
                });
        let error = match result {
            Err(error) if has_run && error.is_out_of_space() => error,
            other => return other,
        };
        if stopping {
            return Ok(stopped_while_full(paths, &error));
        }
        if started.elapsed() >= RAN_WELL {
            wait = FIRST_WAIT;
            full_since = None;
        }
        full_since.get_or_insert_with(crate::clock::now);
        let note = format!(
            "the search pauses: {error}. Its runs in flight go on; it tries again in {} s, and goes on by itself once there is space (free some, or raise the quota; Ctrl-C stops the search, and `hpsearch resume {}` continues it later)",
            wait.as_secs(),
            paths.dir.display()
        );
        // The search log is on the same disk: the line may be lost, but costs nothing to try.
        LogObserver::open(&paths.log()).line(&note);
        (pausing.paused)(&note);
        // A stop ends the wait; the next coordinator then tries to stop the search properly.
        stop.wait(wait);
        wait = (wait * 2).min(MAX_WAIT);
        resumed = true;
    }
}

/// The end of a search asked to stop while its disk was too full to stop it properly: its runs
/// in flight go on.
fn stopped_while_full(paths: &SearchPaths, error: &CoordinatorError) -> SearchEnd {
    let reason = format!(
        "stopped while paused for want of space ({error}); its runs in flight go on: `hpsearch resume {dir}` continues the search once there is space, `hpsearch cancel {dir}` then stops them",
        dir = paths.dir.display()
    );
    LogObserver::open(&paths.log()).line(&reason);
    SearchEnd::Stopped(reason)
}

/// Stop requests (SIGINT, SIGTERM, SIGHUP) seen by this process while the pausing loop runs,
/// beside the handlers of each coordinator it opens.
struct StopRequests {
    stop: Arc<AtomicBool>,
    handlers: Vec<signal_hook::SigId>,
}

impl StopRequests {
    fn listen() -> StopRequests {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let stop = Arc::new(AtomicBool::new(false));
        let handlers = [SIGINT, SIGTERM, SIGHUP]
            .into_iter()
            .filter_map(|signal| signal_hook::flag::register(signal, Arc::clone(&stop)).ok())
            .collect();
        StopRequests { stop, handlers }
    }

    /// Whether a stop request came since the last look, which it takes.
    fn take(&self) -> bool {
        self.stop.swap(false, Ordering::Relaxed)
    }

    /// Waits `wait`, or until a stop request comes (or had come already).
    fn wait(&self, wait: Duration) {
        let until = Instant::now() + wait;
        while !self.stop.load(Ordering::Relaxed) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for StopRequests {
    fn drop(&mut self) {
        for handler in self.handlers.drain(..) {
            signal_hook::low_level::unregister(handler);
        }
    }
}
