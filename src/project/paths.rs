//! Where a search's files live: the seed's layout, in one place.
//!
//! ```text
//! PROJECT/launched_hp_searches.txt
//! PROJECT/hp_search_{search_id}/log.txt               coordinator's log
//! PROJECT/hp_search_{search_id}/hp_search_data.txt    export of the store (tab-separated)
//! PROJECT/hp_search_{search_id}/hp_search.sqlite      the store
//! PROJECT/hp_search_{search_id}/hp_search_state.json  snapshot for readers
//! PROJECT/hp_search_{search_id}/hp_combination_{id}/{input.json, log.txt, output.json}
//! ```

use std::path::{Path, PathBuf};

pub const SEARCH_PREFIX: &str = "hp_search_";
pub const LAUNCHED_FILE: &str = "launched_hp_searches.txt";

#[derive(Debug, Clone, PartialEq)]
pub struct SearchPaths {
    pub project: PathBuf,
    pub search_id: u64,
    pub dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error("{0}: not a search folder; expected PROJECT/hp_search_N (see `hpsearch status PROJECT` for the searches of a project)")]
    NotASearch(PathBuf),
    #[error("{0}: no search id is left after this folder's; rename it (or move it out of the project) to start another search")]
    IdsUsedUp(PathBuf),
    #[error("{path}: cannot create the search folder: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SearchPaths {
    pub fn new(project: &Path, search_id: u64) -> Self {
        SearchPaths {
            project: project.to_path_buf(),
            search_id,
            dir: project.join(format!("{SEARCH_PREFIX}{search_id}")),
        }
    }

    /// The search a folder `PROJECT/hp_search_N` holds.
    pub fn from_dir(dir: &Path) -> Result<Self, PathsError> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let id = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(SEARCH_PREFIX))
            .and_then(|n| n.parse::<u64>().ok());
        match (id, dir.parent()) {
            (Some(search_id), Some(project)) if dir.join("hp_search.sqlite").is_file() => {
                Ok(SearchPaths {
                    project: project.to_path_buf(),
                    search_id,
                    dir: dir.clone(),
                })
            }
            _ => Err(PathsError::NotASearch(dir)),
        }
    }

    pub fn database(&self) -> PathBuf {
        self.dir.join("hp_search.sqlite")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("log.txt")
    }
    pub fn data_file(&self) -> PathBuf {
        self.dir.join("hp_search_data.txt")
    }
    pub fn snapshot(&self) -> PathBuf {
        self.dir.join("hp_search_state.json")
    }
    pub fn lock(&self) -> PathBuf {
        self.dir.join("coordinator.lock")
    }
    pub fn config_copy(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// The folder of the search's `number`-th test run.
    pub fn test_run_dir(&self, number: u64) -> PathBuf {
        self.dir.join(format!("test_run_{number}"))
    }

    pub fn combination_dir(&self, id: u64) -> PathBuf {
        self.dir.join(format!("hp_combination_{id}"))
    }
}

/// Creates the next search folder of a project. `mkdir` is atomic (on NFS too), so two
/// searches started at the same moment get distinct ids: the loser of a race takes the next id.
pub fn allocate(project: &Path) -> Result<SearchPaths, PathsError> {
    let project = std::path::absolute(project).unwrap_or_else(|_| project.to_path_buf());
    // A folder's name is the user's to choose: `hp_search_18446744073709551615` leaves no id.
    let used_up = |id: u64| PathsError::IdsUsedUp(SearchPaths::new(&project, id).dir);
    let mut next = match existing_ids(&project).into_iter().max() {
        Some(last) => last.checked_add(1).ok_or_else(|| used_up(last))?,
        None => 0,
    };
    loop {
        let paths = SearchPaths::new(&project, next);
        match std::fs::create_dir(&paths.dir) {
            Ok(()) => return Ok(paths),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                next = next.checked_add(1).ok_or_else(|| used_up(next))?
            }
            Err(source) => {
                return Err(PathsError::Create {
                    path: paths.dir,
                    source,
                })
            }
        }
    }
}

/// The ids of the search folders in a project, sorted.
pub fn existing_ids(project: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(project)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix(SEARCH_PREFIX)?
                .parse()
                .ok()
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// Writes a file so that a reader sees the old content or the new, never a part: write a
/// temporary file beside it, then rename over it. The rename replaces whatever `path` was (a
/// file, a link, a named pipe) without opening it.
pub fn write_atomically(path: &Path, content: &[u8]) -> std::io::Result<()> {
    write_replacing(path, content, false)
}

/// `write_atomically`, and on disk before it returns: the file is flushed before the rename and
/// the folder after it. For what must survive a power cut that comes right after: a search's
/// exports when it ends, which no coordinator writes again (a rename not yet on disk can leave
/// an empty file on XFS, and `status` then finds no readable snapshot).
pub fn write_durably(path: &Path, content: &[u8]) -> std::io::Result<()> {
    write_replacing(path, content, true)
}

fn write_replacing(path: &Path, content: &[u8], durable: bool) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    // A fresh name each time (the process and a count), made with `create_new`, which neither
    // follows a link nor opens what is there: a name already taken (another writer's
    // temporary, a link or a pipe a script put there, a crash's leftover) is passed over.
    let mut attempt = 0;
    let (temporary, mut file) = loop {
        let temporary = path.with_file_name(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            TEMPORARY_COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
        {
            Ok(file) => break (temporary, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    let written = std::io::Write::write_all(&mut file, content)
        .and_then(|()| if durable { file.sync_all() } else { Ok(()) })
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        // A full disk leaves no partial temporary behind.
        let _ = std::fs::remove_file(&temporary);
    } else if durable {
        // The rename itself is the folder's: flushed too, where the file system allows it.
        if let Some(folder) = path.parent().and_then(|p| std::fs::File::open(p).ok()) {
            let _ = folder.sync_all();
        }
    }
    written
}

static TEMPORARY_COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Removes what `write_atomically` left of `path` in another process that died between writing
/// its temporary and renaming it (`.NAME.PID.N.tmp`): a coordinator killed mid-publish left one
/// of up to tens of megabytes each time. Called by the one writer of `path` (the coordinator,
/// holding the search's lock), so no other writer's temporary is in flight; returns how many.
pub fn remove_leftover_temporaries(path: &Path) -> usize {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return 0;
    };
    let prefix = format!(".{name}.");
    let own = std::process::id().to_string();
    let leftover = |file: &str| {
        let Some(middle) = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
        else {
            return false;
        };
        let mut parts = middle.split('.');
        let (Some(pid), Some(count), None) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        digits(pid) && digits(count) && pid != own
    };
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_str().is_some_and(leftover))
        .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::write_atomically;

    #[test]
    fn a_durable_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("hp_search_state.json");
        std::fs::write(&path, "old").expect("write");
        super::write_durably(&path, b"new").expect("durable write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
        assert_eq!(std::fs::read_dir(dir.path()).expect("read").count(), 1);
    }

    #[test]
    fn only_another_processs_leftover_temporaries_of_the_file_are_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("hp_search_state.json");
        let make = |name: &str| std::fs::write(dir.path().join(name), "x").expect("write");
        make(".hp_search_state.json.4242.7.tmp");
        make(".hp_search_state.json.4243.0.tmp");
        let own = format!(".hp_search_state.json.{}.3.tmp", std::process::id());
        make(&own);
        for kept in [
            "hp_search_state.json",
            ".hp_search_data.txt.4242.7.tmp",
            ".hp_search_state.json.4242.tmp",
            ".hp_search_state.json.x.1.tmp",
            "notes.tmp",
        ] {
            make(kept);
        }
        assert_eq!(super::remove_leftover_temporaries(&path), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().into_string().expect("name"))
            .collect();
        left.sort();
        let mut expected = vec![
            ".hp_search_data.txt.4242.7.tmp",
            own.as_str(),
            ".hp_search_state.json.4242.tmp",
            ".hp_search_state.json.x.1.tmp",
            "hp_search_state.json",
            "notes.tmp",
        ];
        expected.sort();
        assert_eq!(left, expected);
    }

    #[test]
    fn a_folder_with_the_last_search_id_is_a_clear_error_not_an_overflow() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("hp_search_3")).expect("mkdir");
        assert_eq!(super::allocate(dir.path()).expect("allocate").search_id, 4);
        let last = dir.path().join(format!("hp_search_{}", u64::MAX));
        std::fs::create_dir(&last).expect("mkdir");
        let message = super::allocate(dir.path()).unwrap_err().to_string();
        assert!(message.contains(&last.display().to_string()), "{message}");
        assert!(message.contains("no search id is left"), "{message}");
    }

    #[test]
    fn an_atomic_write_replaces_a_link_or_a_pipe_and_leaves_nothing_behind_when_it_fails() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("target.json");
        std::fs::write(&target, "kept").expect("write");
        let link = dir.path().join("input.json");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        write_atomically(&link, b"new").expect("write over the link");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "kept");
        assert_eq!(std::fs::read_to_string(&link).expect("read"), "new");
        assert!(!std::fs::symlink_metadata(&link)
            .expect("stat")
            .file_type()
            .is_symlink());

        let pipe = dir.path().join("pipe.json");
        nix::unistd::mkfifo(&pipe, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        write_atomically(&pipe, b"plain").expect("write over the pipe");
        assert_eq!(std::fs::read_to_string(&pipe).expect("read"), "plain");

        // Every temporary name this process could take next, taken by a link to a file: none
        // is written through.
        let count = super::TEMPORARY_COUNT.load(std::sync::atomic::Ordering::Relaxed);
        let planted = dir.path().join("planted.json");
        std::fs::write(&planted, "planted").expect("write");
        for next in count..count + 4 {
            let taken = dir
                .path()
                .join(format!(".out.json.{}.{next}.tmp", std::process::id()));
            std::os::unix::fs::symlink(&planted, taken).expect("symlink");
        }
        let out = dir.path().join("out.json");
        write_atomically(&out, b"out").expect("write past the taken names");
        assert_eq!(std::fs::read_to_string(&out).expect("read"), "out");
        assert_eq!(std::fs::read_to_string(&planted).expect("read"), "planted");

        // A folder in the file's place: the rename fails, and no temporary is left.
        let folder = dir.path().join("taken");
        std::fs::create_dir_all(folder.join("inside")).expect("mkdir");
        assert!(write_atomically(&folder, b"x").is_err());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| !n.ends_with(".tmp") || n.starts_with(".out.json.")),
            "{names:?}"
        );
    }
}
