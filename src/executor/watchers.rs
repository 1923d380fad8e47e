//! The runner's threads that watch runs: one per run in flight, kept for the next run when
//! theirs ends instead of a new thread per run.
//!
//! A thread's start and end (its stack mapped and unmapped, its signal stack, the clone) cost
//! about as much as the rest of a short run's watching; a search of many short runs reuses a
//! handful of threads. A thread idle for `IDLE_LIFETIME` ends, so a node that ran a hundred runs
//! at once does not keep a hundred threads for the rest of the search.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

const IDLE_LIFETIME: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Watchers {
    pool: Pool,
    next_id: u64,
}

struct Idle {
    id: u64,
    jobs: Sender<Job>,
}

impl Watchers {
    /// Runs `job` on an idle thread, or on a new one when none is idle.
    pub fn run(&mut self, job: impl FnOnce() + Send + 'static) {
        if let Ok(mut count) = self.pool.in_flight.0.lock() {
            *count += 1;
        }
        let mut job: Job = Box::new(job);
        // An idle thread taken from the list is waiting for this job, or about to (see
        // `worker`): the send reaches it. It fails only if the thread is gone (a panic).
        loop {
            let taken = self.pool.idle.lock().ok().and_then(|mut idle| idle.pop());
            let Some(thread) = taken else { break };
            match thread.jobs.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(back)) => job = back,
            }
        }
        self.next_id += 1;
        let (jobs, queue) = mpsc::channel();
        let pool = self.pool.clone();
        let id = self.next_id;
        let spawned = std::thread::Builder::new().spawn(move || worker(id, job, jobs, queue, pool));
        if let Err(error) = spawned {
            // No thread to watch the run: it goes unwatched, and its end is found from /proc
            // by the coordinator as for a runner that died. Nothing waits for the job.
            errln!("hpsearch runner: cannot start a thread to watch a run: {error}");
            self.pool.forget_one();
        }
    }

    /// Waits until every job has finished.
    pub fn wait_all(&self) {
        let (count, finished) = &*self.pool.in_flight;
        let Ok(mut count) = count.lock() else { return };
        while *count > 0 {
            match finished.wait(count) {
                Ok(next) => count = next,
                Err(_) => return,
            }
        }
    }
}

/// What the watching threads share.
#[derive(Default, Clone)]
struct Pool {
    /// The idle threads, each by the sender of its own queue.
    idle: Arc<Mutex<Vec<Idle>>>,
    /// How many jobs have not finished, and a signal when one does.
    in_flight: Arc<(Mutex<usize>, Condvar)>,
}

impl Pool {
    /// Counts a job done without listing its thread as idle.
    fn forget_one(&self) {
        let (count, finished) = &*self.in_flight;
        if let Ok(mut count) = count.lock() {
            *count = count.saturating_sub(1);
        }
        finished.notify_all();
    }

    /// Lists the thread as idle, then counts its job done: by the time `wait_all` returns, the
    /// thread can take the next job.
    fn finished(&self, id: u64, jobs: &Sender<Job>) -> bool {
        let Ok(mut list) = self.idle.lock() else {
            return false;
        };
        list.push(Idle {
            id,
            jobs: jobs.clone(),
        });
        drop(list);
        self.forget_one();
        true
    }
}

/// A watching thread: its first job, then each job sent to it while it is idle, until it has
/// been idle for `IDLE_LIFETIME`.
fn worker(id: u64, first: Job, jobs: Sender<Job>, queue: Receiver<Job>, pool: Pool) {
    let mut job = first;
    loop {
        // A job that panics still counts as finished, or the runner would wait for it forever
        // when its coordinator goes; the thread then ends.
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err();
        if panicked {
            pool.forget_one();
            return;
        }
        if !pool.finished(id, &jobs) {
            return;
        }
        job = match queue.recv_timeout(IDLE_LIFETIME) {
            Ok(job) => job,
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                let Ok(mut list) = pool.idle.lock() else {
                    return;
                };
                match list.iter().position(|t| t.id == id) {
                    // Still listed: nobody will send to it, and it may end.
                    Some(at) => {
                        list.swap_remove(at);
                        return;
                    }
                    // Taken just now: the job is on its way.
                    None => {
                        drop(list);
                        match queue.recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        }
                    }
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn jobs_one_after_another_reuse_one_thread_and_jobs_at_once_get_their_own() {
        let mut watchers = Watchers::default();
        let threads = Arc::new(Mutex::new(HashSet::new()));
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..20 {
            let (threads, done) = (Arc::clone(&threads), Arc::clone(&done));
            watchers.run(move || {
                threads.lock().unwrap().insert(std::thread::current().id());
                done.fetch_add(1, Ordering::SeqCst);
            });
            watchers.wait_all();
        }
        assert_eq!(done.load(Ordering::SeqCst), 20);
        assert_eq!(threads.lock().unwrap().len(), 1, "one thread did them all");

        // Three jobs that each wait for the others run at once, on three threads.
        let barrier = Arc::new(std::sync::Barrier::new(3));
        let at_once = Arc::new(Mutex::new(HashSet::new()));
        for _ in 0..3 {
            let (barrier, at_once) = (Arc::clone(&barrier), Arc::clone(&at_once));
            watchers.run(move || {
                barrier.wait();
                at_once.lock().unwrap().insert(std::thread::current().id());
            });
        }
        watchers.wait_all();
        assert_eq!(at_once.lock().unwrap().len(), 3);

        // A job that panics is counted done: `wait_all` returns, and the next job runs.
        watchers.run(|| panic!("a watcher's bug"));
        watchers.wait_all();
        let after = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&after);
        watchers.run(move || {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        watchers.wait_all();
        assert_eq!(after.load(Ordering::SeqCst), 1);
    }
}
