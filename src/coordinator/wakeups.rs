//! What wakes the coordinator's loop between its steps: a run's end (SIGCHLD, which the runner
//! sends when it has written a run's record) and a stop request (SIGINT, SIGTERM, SIGHUP).
//!
//! Each signal's handler writes a byte to a socket that the loop waits on with poll(2), so a
//! run's end wakes the loop's own thread directly. A thread reading the signals and passing
//! them on through a channel took one more thread wake-up per run, and on a machine whose cores
//! are all busy with short runs each wake-up is a wait. A stop request also sets the interrupt
//! flag that an executor blocked on its scheduler watches.

use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook::SigId;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

pub(super) struct Wakeups {
    /// A byte for each SIGCHLD.
    ended: UnixStream,
    /// A byte for each stop request.
    stops: UnixStream,
    /// The handlers' actions, unregistered when the coordinator goes (the process keeps
    /// catching those signals, doing nothing: signal-hook cannot restore the default action;
    /// the CLI exits once its coordinator is done).
    handlers: Vec<SigId>,
}

/// What came while the loop waited.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct Woken {
    /// Whether anything came (a run's end or a stop request).
    pub any: bool,
    /// How many stop requests came.
    pub stops: u32,
}

impl Wakeups {
    pub(super) fn install(interrupt: &Arc<AtomicBool>) -> std::io::Result<Wakeups> {
        let (ended, ended_writer) = UnixStream::pair()?;
        let (stops, stops_writer) = UnixStream::pair()?;
        ended.set_nonblocking(true)?;
        stops.set_nonblocking(true)?;
        let mut wakeups = Wakeups {
            ended,
            stops,
            handlers: Vec::new(),
        };
        // On an error the handlers installed so far go with `wakeups`.
        wakeups
            .handlers
            .push(signal_hook::low_level::pipe::register(
                SIGCHLD,
                ended_writer,
            )?);
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            wakeups
                .handlers
                .push(signal_hook::flag::register(signal, Arc::clone(interrupt))?);
            wakeups
                .handlers
                .push(signal_hook::low_level::pipe::register(
                    signal,
                    stops_writer.try_clone()?,
                )?);
        }
        Ok(wakeups)
    }

    /// Waits up to `wait` (not at all when zero) for a run's end or a stop request, and takes
    /// everything that has come.
    pub(super) fn wait(&mut self, wait: Duration) -> Woken {
        let taken = self.take();
        if taken.any || wait.is_zero() {
            return taken;
        }
        // Rounded up to the millisecond, so that a wait of less than one does not spin.
        let timeout = nix::poll::PollTimeout::try_from(wait.as_micros().div_ceil(1000))
            .unwrap_or(nix::poll::PollTimeout::MAX);
        let mut fds = [
            nix::poll::PollFd::new(self.ended.as_fd(), nix::poll::PollFlags::POLLIN),
            nix::poll::PollFd::new(self.stops.as_fd(), nix::poll::PollFlags::POLLIN),
        ];
        // Interrupted by a signal: its handler has written its byte, which `take` finds. Any
        // other error: the loop goes on as after the wait (it looks at its runs each step).
        let _ = nix::poll::poll(&mut fds, timeout);
        self.take()
    }

    fn take(&mut self) -> Woken {
        let ended = drain(&mut self.ended);
        let stops = drain(&mut self.stops);
        Woken {
            any: ended + stops > 0,
            stops: u32::try_from(stops).unwrap_or(u32::MAX),
        }
    }
}

impl Drop for Wakeups {
    fn drop(&mut self) {
        for handler in self.handlers.drain(..) {
            signal_hook::low_level::unregister(handler);
        }
    }
}

/// Reads every byte waiting in a non-blocking socket; returns how many.
fn drain(socket: &mut UnixStream) -> usize {
    let mut buffer = [0u8; 64];
    let mut total = 0;
    loop {
        match socket.read(&mut buffer) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_child_that_ends_wakes_a_wait_at_once_and_a_quiet_wait_times_out() {
        let interrupt = Arc::new(AtomicBool::new(false));
        let mut wakeups = Wakeups::install(&interrupt).expect("install");
        // SIGCHLDs of children that ended before (other tests') are taken first.
        let _ = wakeups.wait(Duration::ZERO);
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 0.2"])
            .spawn()
            .expect("spawn");
        let start = Instant::now();
        let woken = wakeups.wait(Duration::from_secs(10));
        assert!(woken.any && woken.stops == 0, "{woken:?}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "woken by the child's end, not by the timeout: {:?}",
            start.elapsed()
        );
        let _ = child.wait();
        // A quiet wait times out (a child of another test in this process may end meanwhile,
        // which wakes it early, never with a stop).
        let start = Instant::now();
        let quiet = wakeups.wait(Duration::from_millis(30));
        assert_eq!(quiet.stops, 0);
        assert!(quiet.any || start.elapsed() >= Duration::from_millis(25));
        assert!(!interrupt.load(std::sync::atomic::Ordering::Relaxed));
        // A stop request (a terminal's hangup) is counted and sets the interrupt flag.
        signal_hook::low_level::raise(SIGHUP).expect("raise");
        let stop = wakeups.wait(Duration::from_secs(10));
        assert_eq!(
            stop,
            Woken {
                any: true,
                stops: 1
            }
        );
        assert!(interrupt.load(std::sync::atomic::Ordering::Relaxed));
    }
}
