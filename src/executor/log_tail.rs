//! The last lines of a run's log, as a terminal shows them and fit for a one-line message: for
//! the reasons of failures, the search's early stop, and Slurm's memory kills.

use std::path::Path;

/// Only the end of a log matters, and a run's log may be large.
const TAIL_BYTES: usize = 16 * 1024;

/// The last `lines` lines of a file that say something: not empty, and not the wrapper's own
/// `hpsearch:` notes; each as a terminal would show it (`shown_line`).
pub fn last_lines(path: &Path, lines: usize) -> Vec<String> {
    let Some(bytes) = tail_bytes(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
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

/// The last `TAIL_BYTES` of a regular file, read from there (a training run's log may hold
/// gigabytes); `None` for anything else (`run_files::open_regular`: a named pipe in the log's
/// place would hold the coordinator).
fn tail_bytes(path: &Path) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let (mut file, metadata) = super::run_files::open_regular(path).ok()?;
    let limit = TAIL_BYTES as u64;
    file.seek(SeekFrom::Start(metadata.len().saturating_sub(limit)))
        .ok()?;
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes).ok()?;
    Some(bytes)
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

    #[test]
    fn the_tail_of_a_large_log_is_its_last_line_and_a_named_pipe_is_not_waited_for() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("log.txt");
        let mut text = "epoch line of a long training run\n".repeat(20_000);
        text.push_str("RuntimeError: CUDA out of memory\n");
        std::fs::write(&log, &text).expect("write");
        assert!(text.len() > 4 * TAIL_BYTES);
        assert_eq!(last_lines(&log, 1), ["RuntimeError: CUDA out of memory"]);
        // A pipe with no writer: reading it would wait for one forever.
        let pipe = dir.path().join("pipe.txt");
        nix::unistd::mkfifo(&pipe, nix::sys::stat::Mode::from_bits_truncate(0o644))
            .expect("mkfifo");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(last_lines(&pipe, 2));
        });
        let tail = receiver
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the tail of a named pipe comes back at once");
        assert!(tail.is_empty(), "{tail:?}");
    }
}
