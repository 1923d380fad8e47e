//! Facts about processes and process groups that the local executor and the wrapper share.

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// The kernel's start time of a process (clock ticks since boot), read from /proc; with the pid
/// it identifies the process even after the pid is reused.
pub fn start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process `pid` that started at `ticks` is still alive (a zombie counts as gone).
pub fn is_alive(pid: i32, ticks: Option<u64>) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let mut fields = stat[close + 1..].split_whitespace();
    let state = fields.next().unwrap_or("Z");
    let start = fields.nth(18).and_then(|s| s.parse::<u64>().ok());
    state != "Z" && state != "X" && (ticks.is_none() || start == ticks)
}

/// Sends a signal to a whole process group; a group already gone is not an error.
pub fn signal_group(pgid: i32, signal: Signal) {
    if pgid > 1 {
        let _ = killpg(Pid::from_raw(pgid), signal);
    }
}
