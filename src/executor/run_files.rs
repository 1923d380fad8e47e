//! Opening the files of a run folder that the user's script controls (output.json,
//! progress.jsonl, log.txt) so that none of them can hold the coordinator: only regular files
//! are read, and opening never waits. A script may leave a named pipe, a device or a folder
//! where a file is expected (or a link to one): opening a pipe for reading waits for a writer and
//! reading it waits for its end, and while the coordinator waits no other run is watched.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::path::Path;

/// Why a run's file could not be read.
#[derive(Debug)]
pub enum RunFileError {
    NotFound,
    /// A named pipe, a device, a socket or a folder: not read.
    NotRegular,
    /// Larger than the reader's limit: not read (a runaway script must not fill the memory).
    TooLarge {
        bytes: u64,
    },
    Io(io::Error),
}

impl std::fmt::Display for RunFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunFileError::NotFound => write!(f, "no such file"),
            RunFileError::NotRegular => write!(
                f,
                "not a regular file (a named pipe, a device or a folder); write a plain file"
            ),
            RunFileError::TooLarge { bytes } => write!(f, "{} MB, over the limit", bytes >> 20),
            RunFileError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Opens a regular file for reading without waiting (O_NONBLOCK, which changes nothing for a
/// regular file's reads), with its metadata; anything else is refused.
pub fn open_regular(path: &Path) -> Result<(File, Metadata), RunFileError> {
    open_with(std::fs::OpenOptions::new().read(true), path)
}

/// Opens an existing regular file to append to, the same way: opening a named pipe for writing
/// would wait for a reader.
pub fn open_regular_to_append(path: &Path) -> Result<File, RunFileError> {
    open_with(std::fs::OpenOptions::new().append(true), path).map(|(file, _)| file)
}

fn open_with(
    options: &mut std::fs::OpenOptions,
    path: &Path,
) -> Result<(File, Metadata), RunFileError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = options
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => RunFileError::NotFound,
            _ => RunFileError::Io(e),
        })?;
    let metadata = file.metadata().map_err(RunFileError::Io)?;
    if !metadata.is_file() {
        return Err(RunFileError::NotRegular);
    }
    Ok((file, metadata))
}

/// A regular file's whole text (invalid UTF-8 replaced), if it holds at most `limit` bytes.
pub fn read_regular(path: &Path, limit: u64) -> Result<String, RunFileError> {
    let (file, metadata) = open_regular(path)?;
    if metadata.len() > limit {
        return Err(RunFileError::TooLarge {
            bytes: metadata.len(),
        });
    }
    let mut bytes = Vec::new();
    // The file may grow after the size was read: never more than the limit.
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(RunFileError::Io)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Runs `read` on another thread and gives its answer, or fails the test if it waits.
    fn answered<T: Send + 'static>(read: impl FnOnce() -> T + Send + 'static) -> T {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(read());
        });
        receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("the read waited on the file instead of refusing it")
    }

    #[test]
    fn a_named_pipe_or_a_folder_is_refused_without_waiting() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pipe = dir.path().join("output.json");
        nix::unistd::mkfifo(&pipe, nix::sys::stat::Mode::from_bits_truncate(0o644))
            .expect("mkfifo");
        let read = answered(move || read_regular(&pipe, 1 << 20));
        assert!(matches!(read, Err(RunFileError::NotRegular)), "{read:?}");
        let folder = dir.path().join("progress.jsonl");
        std::fs::create_dir(&folder).expect("mkdir");
        assert!(matches!(
            read_regular(&folder, 1 << 20),
            Err(RunFileError::NotRegular)
        ));
        assert!(matches!(
            read_regular(&dir.path().join("missing"), 1 << 20),
            Err(RunFileError::NotFound)
        ));
    }

    #[test]
    fn a_file_over_the_limit_is_not_read_and_one_within_it_is() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("output.json");
        std::fs::write(&path, "{\"objective\": 1.5}").expect("write");
        assert_eq!(
            read_regular(&path, 18).expect("read"),
            "{\"objective\": 1.5}"
        );
        match read_regular(&path, 17) {
            Err(RunFileError::TooLarge { bytes: 18 }) => {}
            other => panic!("{other:?}"),
        }
    }
}
