//! The last lines of a run's log, on one line: for messages about why a run failed or was
//! killed.

use std::path::Path;

/// The last `lines` non-empty lines of a file, joined with ` | ` so they fit one line.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    // Only the end matters, and a run's log may be large.
    let start = bytes.len().saturating_sub(16 * 1024);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let mut tail: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .rev()
        .take(lines)
        .collect();
    tail.reverse();
    tail.iter()
        .map(|l| {
            if l.chars().count() > 200 {
                format!("{}...", l.chars().take(197).collect::<String>())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" | ")
}
