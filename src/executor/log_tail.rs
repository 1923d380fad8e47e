//! The last lines of a run's log, as a terminal shows them and fit for a one-line message: for
//! the reasons of failures, the search's early stop, and Slurm's memory kills.

use std::path::Path;

/// Only the end of a log matters, and a run's log may be large.
const TAIL_BYTES: usize = 16 * 1024;

/// The last `lines` lines of a file that say something: not empty, and not the wrapper's own
/// `hpsearch:` notes; each as a terminal would show it (`shown_line`).
pub fn last_lines(path: &Path, lines: usize) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(TAIL_BYTES)..]);
    let mut tail: Vec<String> = text
        .lines()
        .rev()
        .map(shown_line)
        .filter(|l| !l.is_empty() && !l.starts_with("hpsearch:"))
        .take(lines)
        .collect();
    tail.reverse();
    tail
}

/// The last `lines` lines of a file (`last_lines`), joined with ` | ` so they fit one line.
pub fn log_tail(path: &Path, lines: usize) -> String {
    last_lines(path, lines).join(" | ")
}

/// A log line as a terminal would show it, safe inside a one-line message: what follows the
/// last carriage return (progress bars redraw a line with them), other control characters as
/// spaces, at most 200 characters.
pub fn shown_line(line: &str) -> String {
    let shown = line
        .rsplit('\r')
        .map(str::trim)
        .find(|part| !part.is_empty())
        .unwrap_or_default();
    shown
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_shown_as_a_terminal_would_show_it() {
        assert_eq!(shown_line(" 10%|#   \r 50%|#####\r\r"), "50%|#####");
        assert_eq!(shown_line("tab\there\u{1b}[0m"), "tab here [0m");
        assert_eq!(shown_line(&"é".repeat(300)).chars().count(), 200);
    }

    #[test]
    fn the_tail_skips_empty_lines_and_the_wrappers_notes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("log.txt");
        std::fs::write(
            &log,
            "a\n\nTraceback\n  File x\nKeyError: 'lr'\nhpsearch: stopping it\n\n",
        )
        .expect("write");
        assert_eq!(log_tail(&log, 3), "Traceback | File x | KeyError: 'lr'");
        assert_eq!(last_lines(&log, 1), ["KeyError: 'lr'"]);
        assert!(last_lines(&dir.path().join("missing"), 2).is_empty());
    }
}
