//! Lines for the terminal that never end the program: `println!` and `eprintln!` panic when the
//! write fails, and a coordinator's stderr is often a file on the disk that just filled up
//! (`hpsearch run . > out 2>&1` in a batch job), or a run's log.txt in the wrapper. A line that
//! cannot be written is dropped; the search's own records (store, exports, logs) say what
//! happened. (A closed pipe still ends a command quietly: SIGPIPE keeps its default action.)

use std::io::Write;

/// `println!` that drops a line it cannot write.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::console::write_line(&mut std::io::stdout().lock(), format_args!($($arg)*))
    };
}

/// `eprintln!` that drops a line it cannot write.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::console::write_line(&mut std::io::stderr().lock(), format_args!($($arg)*))
    };
}

/// Writes one line, ignoring a failure (see the module's comment).
pub fn write_line(out: &mut impl Write, line: std::fmt::Arguments) {
    let _ = out.write_fmt(format_args!("{line}\n"));
}

#[cfg(test)]
mod tests {
    /// A writer whose every write fails as a full disk's does.
    struct Full;

    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_that_cannot_be_written_is_dropped_without_a_panic() {
        super::write_line(&mut Full, format_args!("a note for a full disk: {}", 1));
        let mut written = Vec::new();
        super::write_line(&mut written, format_args!("a {} line", "whole"));
        assert_eq!(written, b"a whole line\n");
    }
}
