//! The commands that start, continue and stop searches: run, launch, resume, cancel.

use super::args::ConfigArgs;
use super::errors::{CliError, EXIT_RUNTIME, EXIT_STOPPED};
use super::progress::ProgressObserver;
use crate::config::cluster::Cluster;
use crate::coordinator::events::Observer;
use crate::coordinator::{
    create, run_pausing_when_full, Coordinator, Definition, Pausing, SearchEnd,
};
use crate::executor::slurm::{self, shell_quote};
use crate::project::launched::{self, LaunchRecord};
use crate::project::lock;
use crate::project::SearchPaths;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The hpsearch binary that runs scripts (`_runner`), Slurm jobs and launched coordinators.
pub(super) fn self_exe() -> Result<PathBuf, CliError> {
    let reported = std::env::current_exe()
        .map_err(|e| CliError::Runtime(format!("cannot find the hpsearch binary: {e}")))?;
    installed_path(reported)
}

/// Linux names a running binary whose file was replaced since it started `…/hpsearch
/// (deleted)`: an upgrade (`cargo install`, `pip install -U`) or a rebuild renames a new file
/// over the old one. Written into a job script or spawned as is, that name fails with
/// "not found", so every run of the search would fail; the new binary at the same path is the
/// one to run.
fn installed_path(reported: PathBuf) -> Result<PathBuf, CliError> {
    const DELETED: &str = " (deleted)";
    let Some(name) = reported.to_str() else {
        return Ok(reported);
    };
    let Some(stripped) = name.strip_suffix(DELETED) else {
        return Ok(reported);
    };
    if reported.is_file() {
        // A binary really named so.
        return Ok(reported);
    }
    let installed = PathBuf::from(stripped);
    if installed.is_file() {
        Ok(installed)
    } else {
        Err(CliError::Runtime(format!(
            "{stripped}: the hpsearch binary was deleted while it ran; install it there again (or run the one you use now) and start the command again"
        )))
    }
}

/// Checks everything that can be checked, then creates the search: nothing is left half made
/// when a config or the project folder is wrong.
fn prepare(args: &ConfigArgs) -> Result<(Definition, SearchPaths), CliError> {
    if !args.project.is_dir() {
        return Err(CliError::Usage(format!(
            "{}: no such project folder; create one with `hpsearch init {}`, or name the folder that holds job_config.json",
            args.project.display(),
            args.project.display()
        )));
    }
    let [search, job, model] = args.paths();
    let definition = Definition::load(&search, &job, &model)?;
    let project = definition.project();
    launched::check_writable(&project).map_err(|e| {
        CliError::Runtime(format!(
            "{}: cannot record the search there: {e}; make the project folder and the file writable, then start again",
            project.join(crate::project::paths::LAUNCHED_FILE).display()
        ))
    })?;
    for warning in &definition.model.warnings {
        errln!("warning: {warning}");
    }
    let paths = create(&definition)?;
    Ok((definition, paths))
}

/// Records a search that is already under way. It was checked to be writable before the search
/// was created; should the write fail now all the same, the search goes on and the user is
/// told, since failing here would report a running search as not started.
fn record_started_launch(
    definition: &Definition,
    paths: &SearchPaths,
    job_id: String,
    command: String,
    slurm_command: String,
) {
    if let Err(e) = record_launch(definition, paths, job_id, command, slurm_command) {
        errln!("warning: {e}; the search runs all the same");
    }
}

fn record_launch(
    definition: &Definition,
    paths: &SearchPaths,
    job_id: String,
    command: String,
    slurm_command: String,
) -> Result<(), CliError> {
    let record = LaunchRecord {
        job_id,
        project_folder: paths.project.display().to_string(),
        search_folder: paths.dir.display().to_string(),
        search_id: paths.search_id,
        log_path: paths.log().display().to_string(),
        search_config_path: definition.files[0].path.display().to_string(),
        job_config_path: definition.files[1].path.display().to_string(),
        search_command: command,
        slurm_command,
        model_config_path: definition.files[2].path.display().to_string(),
        launched_at: crate::clock::format(crate::clock::now()),
        host: lock::hostname(),
    };
    launched::append(&paths.project, &record).map_err(|e| {
        CliError::Runtime(format!(
            "{}: cannot record the search: {e}",
            paths
                .project
                .join(crate::project::paths::LAUNCHED_FILE)
                .display()
        ))
    })
}

fn command_line() -> String {
    std::env::args()
        .map(|a| shell_quote(&a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `hpsearch run`: a new search in the foreground.
pub fn run(args: &ConfigArgs) -> Result<i32, CliError> {
    let (definition, paths) = prepare(args)?;
    record_started_launch(
        &definition,
        &paths,
        format!("local:{}", std::process::id()),
        command_line(),
        String::new(),
    );
    outln!("search {} in {}", paths.search_id, paths.dir.display());
    coordinate_foreground(paths, false)
}

fn coordinate_foreground(paths: SearchPaths, resumed: bool) -> Result<i32, CliError> {
    let progress = ProgressObserver::new();
    let bar = progress.handle();
    let end = run_pausing_when_full(
        &paths,
        &self_exe()?,
        resumed,
        Pausing {
            observers: &mut || vec![Box::new(progress.share()) as Box<dyn Observer>],
            paused: &mut |note| progress.note(note),
        },
    )?;
    bar.finish_and_clear();
    report_end(&paths, &end);
    Ok(exit_code(&paths, &end))
}

/// 0 for a search that ended with at least one success, 130 when stopped by a signal, 1 when it
/// stopped early because its runs all failed, or ended without a single success.
pub(super) fn exit_code(paths: &SearchPaths, end: &SearchEnd) -> i32 {
    match end {
        SearchEnd::Stopped(_) => EXIT_STOPPED,
        SearchEnd::Failed(_) => EXIT_RUNTIME,
        SearchEnd::Finished(_) => match read_summary(paths) {
            Some(s) if s.created > 0 && s.succeeded == 0 => EXIT_RUNTIME,
            _ => 0,
        },
    }
}

fn read_summary(paths: &SearchPaths) -> Option<crate::coordinator::events::Summary> {
    let text = std::fs::read_to_string(paths.snapshot()).ok()?;
    serde_json::from_str::<crate::export::Snapshot>(&text)
        .ok()
        .map(|s| s.summary)
}

pub(super) fn report_end(paths: &SearchPaths, end: &SearchEnd) {
    let reason = match end {
        SearchEnd::Finished(r) | SearchEnd::Stopped(r) | SearchEnd::Failed(r) => r,
    };
    outln!("search {}: {reason}", paths.search_id);
    if let Ok(text) = std::fs::read_to_string(paths.snapshot()) {
        if let Ok(snapshot) = serde_json::from_str::<crate::export::Snapshot>(&text) {
            let s = &snapshot.summary;
            outln!(
                "  {} succeeded, {} failed, {} cancelled{}, of {} combinations",
                s.succeeded,
                s.failed,
                s.cancelled,
                s.pruned_note(),
                s.created
            );
            if s.created > 0 && s.succeeded == 0 {
                outln!(
                    "  no run succeeded: `hpsearch results {}` lists each failure's reason",
                    paths.dir.display()
                );
            }
            if let (Some(loss), Some(id)) = (s.best_loss, s.best_id) {
                outln!(
                    "  best: loss {loss} (combination {id}, {})",
                    paths.combination_dir(id).display()
                );
            }
        }
    }
    outln!("  results: {}", paths.data_file().display());
    outln!("  log:     {}", paths.log().display());
}

/// Starts `hpsearch _coordinate` for a search, detached from this terminal and session.
fn spawn_detached(paths: &SearchPaths, resumed: bool) -> Result<u32, CliError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.log())
        .map_err(|e| CliError::Runtime(format!("{}: {e}", paths.log().display())))?;
    let log_err = log
        .try_clone()
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let mut command = Command::new(self_exe()?);
    command.arg("_coordinate").arg(&paths.dir);
    if resumed {
        command.arg("--resumed");
    }
    command.stdin(Stdio::null()).stdout(log).stderr(log_err);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let child = command
        .spawn()
        .map_err(|e| CliError::Runtime(format!("cannot start the coordinator: {e}")))?;
    wait_for_takeover(paths, child)
}

/// How long a detached coordinator may take to start and take the search's lock.
const TAKEOVER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits until the detached coordinator holds the search's lock (then it runs the search), or
/// has ended (a search with nothing left to do ends at once; one that lost the lock to another
/// coordinator, or could not start, ends with an error in the search log). Only then may the
/// command say that it started the search.
fn wait_for_takeover(paths: &SearchPaths, mut child: std::process::Child) -> Result<u32, CliError> {
    let pid = child.id();
    let deadline = std::time::Instant::now() + TAKEOVER_TIMEOUT;
    loop {
        if let Some(holder) = lock::live_holder(&paths.lock()) {
            if holder.pid == pid && holder.host == lock::hostname() {
                return Ok(pid);
            }
        }
        match child.try_wait() {
            Ok(Some(status)) if status.success() || status.code() == Some(EXIT_STOPPED) => {
                return Ok(pid)
            }
            Ok(Some(status)) => {
                let why = last_error_line(&paths.log()).unwrap_or_else(|| status.to_string());
                return Err(CliError::Runtime(match lock::live_holder(&paths.lock()) {
                    Some(holder) => format!(
                        "search {} was taken over by another coordinator first (pid {} on {}); this one stopped: {why}",
                        paths.search_id, holder.pid, holder.host
                    ),
                    None => format!(
                        "the coordinator of search {} stopped at once: {why} (see {})",
                        paths.search_id,
                        paths.log().display()
                    ),
                }));
            }
            Ok(None) => {}
            Err(e) => {
                return Err(CliError::Runtime(format!(
                    "cannot watch the coordinator (pid {pid}): {e}"
                )))
            }
        }
        if std::time::Instant::now() > deadline {
            return Err(CliError::Runtime(format!(
                "the coordinator of search {} (pid {pid}) has not taken the search within {} s; see {}",
                paths.search_id,
                TAKEOVER_TIMEOUT.as_secs(),
                paths.log().display()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The last `error:` line a coordinator wrote to the search log, if any.
fn last_error_line(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map(|l| l.trim().to_string())
}

/// `hpsearch launch`: a new search in the background: a Slurm job for a Slurm profile (as the
/// seed's launcher did), else a detached process on this machine.
pub fn launch(args: &ConfigArgs, local: bool) -> Result<i32, CliError> {
    let (definition, paths) = prepare(args)?;
    let hpsearch = self_exe()?;
    let coordinator = format!(
        "{} _coordinate {}",
        shell_quote(&hpsearch.display().to_string()),
        shell_quote(&paths.dir.display().to_string())
    );
    match (&definition.job.cluster, local) {
        (Cluster::Slurm(profile), false) => {
            // The coordinator's own time: the whole search plus a margin to stop its runs.
            let minutes = (definition.search.search_time_hours * 60.0).ceil() as u64 + 5;
            let job = slurm::submit_coordinator(
                profile,
                &hpsearch,
                &paths.dir,
                paths.search_id,
                minutes,
                definition.search.search_memory_gb,
                false,
            )
            .map_err(|e| {
                // Nothing ran: a folder left behind would read `[starting]` forever.
                let removed = std::fs::remove_dir_all(&paths.dir).is_ok();
                CliError::Runtime(format!(
                    "{e}; {} (search_config.json `search_memory` and the profile's cpu_partition, account and qos set the coordinator's request)",
                    if removed {
                        format!("nothing was started, and {} was removed", paths.dir.display())
                    } else {
                        format!("nothing was started in {}", paths.dir.display())
                    }
                ))
            })?;
            record_started_launch(
                &definition,
                &paths,
                job.job_id.clone(),
                coordinator,
                job.sbatch_command,
            );
            outln!(
                "launched search {} as Slurm job {} (cluster profile \"{}\")",
                paths.search_id,
                job.job_id,
                profile.name
            );
        }
        _ => {
            let pid = spawn_detached(&paths, false)?;
            record_started_launch(
                &definition,
                &paths,
                format!("local:{pid}"),
                coordinator,
                String::new(),
            );
            outln!(
                "launched search {} (coordinator pid {pid})",
                paths.search_id
            );
        }
    }
    outln!("  folder:   {}", paths.dir.display());
    outln!("  progress: tail -f {}", paths.log().display());
    outln!("  status:   hpsearch status {}", paths.dir.display());
    outln!("  results:  {}", paths.data_file().display());
    Ok(0)
}

/// `hpsearch _coordinate`: the detached coordinator.
pub fn coordinate(search: &Path, resumed: bool) -> Result<i32, CliError> {
    let paths = SearchPaths::from_dir(search)?;
    // Its stderr is the search log, where the pause's note is written already.
    let end = run_pausing_when_full(
        &paths,
        &self_exe()?,
        resumed,
        Pausing {
            observers: &mut Vec::new,
            paused: &mut |_| {},
        },
    )?;
    Ok(exit_code(&paths, &end))
}

/// `hpsearch resume`: continue a search whose coordinator stopped or died.
pub fn resume(search: &Path, detach: bool, on_slurm: bool) -> Result<i32, CliError> {
    let paths = SearchPaths::from_dir(search)?;
    if let Some(holder) = lock::live_holder(&paths.lock()) {
        return Err(CliError::Runtime(format!(
            "search {} is running (coordinator pid {} on {}); nothing to resume",
            paths.search_id, holder.pid, holder.host
        )));
    }
    if on_slurm {
        return resume_on_slurm(&paths);
    }
    if detach {
        let pid = spawn_detached(&paths, true)?;
        outln!(
            "resumed search {} in the background (coordinator pid {pid}); log: {}",
            paths.search_id,
            paths.log().display()
        );
        return Ok(0);
    }
    outln!(
        "resuming search {} in {}",
        paths.search_id,
        paths.dir.display()
    );
    coordinate_foreground(paths, true)
}

/// `resume --slurm`: the coordinator goes back on Slurm as a job, with the search time it has
/// left, and the job is recorded in launched_hp_searches.txt as `launch` records one.
fn resume_on_slurm(paths: &SearchPaths) -> Result<i32, CliError> {
    let store = crate::store::Store::open_read_only(&paths.database())
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let definition = Definition::from_store(&store)
        .map_err(|e| CliError::Runtime(format!("{}: {e}", paths.database().display())))?;
    let elapsed: f64 = store
        .meta("elapsed_seconds")
        .ok()
        .flatten()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    drop(store);
    let Cluster::Slurm(profile) = &definition.job.cluster else {
        return Err(CliError::Usage(format!(
            "search {} runs on cluster \"{}\", not on a Slurm profile; resume it with `hpsearch resume {}` (or --detach)",
            paths.search_id,
            definition.job.cluster_name,
            paths.dir.display()
        )));
    };
    let left_minutes = ((definition.search.search_time_hours * 3600.0 - elapsed) / 60.0)
        .max(0.0)
        .ceil() as u64;
    let hpsearch = self_exe()?;
    let job = slurm::submit_coordinator(
        profile,
        &hpsearch,
        &paths.dir,
        paths.search_id,
        left_minutes + 5,
        definition.search.search_memory_gb,
        true,
    )
    .map_err(CliError::Runtime)?;
    let coordinator = format!(
        "{} _coordinate {} --resumed",
        shell_quote(&hpsearch.display().to_string()),
        shell_quote(&paths.dir.display().to_string())
    );
    record_started_launch(
        &definition,
        paths,
        job.job_id.clone(),
        coordinator,
        job.sbatch_command,
    );
    outln!(
        "resumed search {} as Slurm job {} (cluster profile \"{}\"); log: {}",
        paths.search_id,
        job.job_id,
        profile.name,
        paths.log().display()
    );
    Ok(0)
}

/// `hpsearch cancel`: stop a search's coordinator and runs.
pub fn cancel(search: &Path) -> Result<i32, CliError> {
    let paths = SearchPaths::from_dir(search)?;
    match lock::live_holder(&paths.lock()) {
        Some(holder) if holder.host == lock::hostname() && holder.pid > 0 => {
            let pid = nix::unistd::Pid::from_raw(holder.pid as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).map_err(|e| {
                CliError::Runtime(format!(
                    "cannot signal the coordinator (pid {}): {e}",
                    holder.pid
                ))
            })?;
            outln!("asked the coordinator of search {} (pid {}) to stop; waiting for its runs to stop...", paths.search_id, holder.pid);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            while lock::live_holder(&paths.lock()).is_some() {
                if std::time::Instant::now() > deadline {
                    return Err(CliError::Runtime(format!(
                        "the coordinator (pid {}) has not stopped after 120 s",
                        holder.pid
                    )));
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            outln!(
                "search {} stopped; `hpsearch resume {}` continues it",
                paths.search_id,
                paths.dir.display()
            );
            Ok(0)
        }
        Some(holder) if scancel_coordinator(&paths) => {
            outln!(
                "asked Slurm to stop the coordinator of search {} (on {}); its runs stop with it",
                paths.search_id,
                holder.host
            );
            Ok(0)
        }
        Some(holder) => Err(CliError::Runtime(format!(
            "search {}'s coordinator runs on host {} (pid {}); run `hpsearch cancel` there",
            paths.search_id, holder.host, holder.pid
        ))),
        None => {
            if let Some((state, reason)) = ended_state(&paths) {
                if state == "finished" {
                    outln!(
                        "search {} has already finished ({reason}); nothing to cancel",
                        paths.search_id
                    );
                    return Ok(0);
                }
            }
            // No coordinator: stop whatever runs it left behind, as a coordinator would.
            let coordinator = Coordinator::open(paths.clone(), self_exe()?, Vec::new())?;
            let stopped = coordinator.cancel()?;
            outln!(
                "search {} has no running coordinator; stopped {stopped} run(s) it left behind",
                paths.search_id
            );
            Ok(0)
        }
    }
}

/// The state and end reason the search's snapshot records, if it has one.
fn ended_state(paths: &SearchPaths) -> Option<(String, String)> {
    let text = std::fs::read_to_string(paths.snapshot()).ok()?;
    let snapshot = serde_json::from_str::<crate::export::Snapshot>(&text).ok()?;
    Some((snapshot.state, snapshot.end_reason.unwrap_or_default()))
}

/// Cancels a coordinator that runs as a Slurm job on another host, by the job id recorded in
/// launched_hp_searches.txt. Slurm sends it SIGTERM, and it stops its runs as on Ctrl-C.
fn scancel_coordinator(paths: &SearchPaths) -> bool {
    let Ok(text) =
        std::fs::read_to_string(paths.project.join(crate::project::paths::LAUNCHED_FILE))
    else {
        return false;
    };
    let folder = paths.dir.display().to_string();
    let job = text.lines().rev().find_map(|l| {
        let cells: Vec<&str> = l.split('\t').collect();
        (cells.get(2) == Some(&folder.as_str())
            && cells[0].chars().all(|c| c.is_ascii_digit())
            && !cells[0].is_empty())
        .then(|| cells[0].to_string())
    });
    match job {
        Some(id) => Command::new("scancel")
            .args(["--signal=TERM", "--full", &id])
            .status()
            .is_ok_and(|s| s.success()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_replaced_while_it_ran_is_named_by_its_installed_path() {
        let dir = tempfile::tempdir().unwrap();
        let installed = dir.path().join("hpsearch");
        std::fs::write(&installed, "new build").unwrap();
        let reported = dir.path().join("hpsearch (deleted)");
        assert_eq!(installed_path(reported).unwrap(), installed);
    }

    #[test]
    fn a_binary_deleted_without_a_replacement_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let reported = dir.path().join("hpsearch (deleted)");
        let message = installed_path(reported).unwrap_err().to_string();
        assert!(message.contains("was deleted while it ran"), "{message}");
        assert!(message.contains(&dir.path().join("hpsearch").display().to_string()));
    }

    #[test]
    fn an_ordinary_path_is_kept_even_when_it_ends_like_a_deleted_one() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("hpsearch (deleted)");
        std::fs::write(&odd, "a binary named so").unwrap();
        assert_eq!(installed_path(odd.clone()).unwrap(), odd);
        let plain = dir.path().join("hpsearch");
        assert_eq!(installed_path(plain.clone()).unwrap(), plain);
    }
}
