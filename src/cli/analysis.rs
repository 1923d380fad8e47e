//! The commands after a search: `report` (read-only), `replicate` and `test` (they write the
//! search's store, so they take its lock like a coordinator).

use super::errors::{CliError, EXIT_STOPPED};
use super::progress::ProgressObserver;
use crate::config::search::{MAX_REPLICATES, MAX_REPLICATE_TOP_K};
use crate::coordinator::events::Observer;
use crate::coordinator::{Coordinator, SearchEnd};
use crate::project::lock;
use crate::project::SearchPaths;
use crate::report::analysis::{analyse, Analysis};
use crate::report::figures::write_all;
use crate::report::html::{page, url_path_bytes, Links};
use crate::store::RunState;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn analysis_of(paths: &SearchPaths, alpha: f64) -> Result<Analysis, CliError> {
    let snapshot = super::view::load(paths)?;
    Ok(analyse(&snapshot, alpha)?)
}

fn check_alpha(alpha: f64) -> Result<(), CliError> {
    if alpha > 0.0 && alpha < 1.0 {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "--alpha {alpha}: the significance level must lie strictly between 0 and 1, e.g. 0.05"
        )))
    }
}

/// `hpsearch report`: the HTML page and the figures as PNG and SVG files.
pub fn report(search: &Path, out: Option<&Path>, alpha: f64) -> Result<i32, CliError> {
    check_alpha(alpha)?;
    let started = Instant::now();
    let paths = SearchPaths::from_dir(search)?;
    let analysis = analysis_of(&paths, alpha)?;
    let folder: PathBuf = match out {
        Some(dir) => std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
        None => paths.dir.join("report"),
    };
    let figures = folder.join("figures");
    let files = write_all(&analysis, &figures).map_err(CliError::Runtime)?;
    let search_prefix = if folder.parent() == Some(paths.dir.as_path()) {
        "../".to_string()
    } else {
        // An absolute URL: the folder's name may hold `#`, `?`, `%` or spaces, which a
        // browser would otherwise read as a fragment, a query or an escape.
        use std::os::unix::ffi::OsStrExt;
        format!(
            "file://{}/",
            url_path_bytes(paths.dir.as_os_str().as_bytes())
        )
    };
    let links = Links {
        search_folder: Some(search_prefix),
        figures: Some("figures/".into()),
    };
    let html = page(&analysis, &links, Some(started.elapsed().as_secs_f64()));
    let html_path = folder.join("report.html");
    std::fs::write(&html_path, html)
        .map_err(|e| CliError::Runtime(format!("{}: {e}", html_path.display())))?;
    outln!("report: {}", html_path.display());
    outln!(
        "figures: {} files (PNG and SVG) in {}",
        files.len(),
        figures.display()
    );
    match (&analysis.recommendation, &analysis.no_recommendation) {
        (Some(r), _) => outln!("recommended: combination {} ({})", r.id, r.why),
        (None, Some(why)) => outln!("recommended: nothing ({why})"),
        (None, None) => {}
    }
    outln!("took {:.2} s", started.elapsed().as_secs_f64());
    Ok(0)
}

fn refuse_if_running(paths: &SearchPaths, what: &str) -> Result<(), CliError> {
    match lock::live_holder(&paths.lock()) {
        Some(holder) => Err(CliError::Runtime(format!(
            "search {} is still running (coordinator pid {} on {}); {what} after it has ended, or `hpsearch cancel` it first",
            paths.search_id, holder.pid, holder.host
        ))),
        None => Ok(()),
    }
}

/// `hpsearch replicate`: more runs of the best settings of an ended search.
pub fn replicate(search: &Path, top: Option<u64>, runs: Option<u64>) -> Result<i32, CliError> {
    // A bad argument is reported as such whatever state the search is in. (The config's own
    // values are never 0: replicate_top_k >= 1 is checked when it is read.)
    // The same ranges as the config's `replicate_top_k` and `replicates`: a mistyped --runs
    // would otherwise create its rows in one transaction until the disk or the memory ran out.
    if top.is_some_and(|k| !(1..=MAX_REPLICATE_TOP_K).contains(&k)) {
        return Err(CliError::Usage(format!(
            "--top must be a whole number from 1 to {MAX_REPLICATE_TOP_K}, as replicate_top_k in search_config.json"
        )));
    }
    if runs.is_some_and(|n| !(1..=MAX_REPLICATES).contains(&n)) {
        return Err(CliError::Usage(format!(
            "--runs must be a whole number from 1 to {MAX_REPLICATES}, as replicates in search_config.json"
        )));
    }
    let paths = SearchPaths::from_dir(search)?;
    refuse_if_running(&paths, "replicate it")?;
    let snapshot = super::view::load(&paths)?;
    let config = snapshot.search_config()?;
    let top = top.unwrap_or(config.replicate_top_k);
    let runs = runs.unwrap_or(if config.replicates > 0 {
        config.replicates
    } else {
        2
    });
    let succeeded = snapshot
        .combinations
        .iter()
        .any(|c| c.state == RunState::Succeeded);
    if !succeeded {
        return Err(CliError::Runtime(format!(
            "search {} has no successful run to replicate",
            paths.search_id
        )));
    }
    outln!(
        "replicating the {top} best settings of search {} {runs} more time(s) each",
        paths.search_id
    );
    let progress = ProgressObserver::new();
    let bar = progress.handle();
    let observers: Vec<Box<dyn Observer>> = vec![Box::new(progress)];
    let coordinator = Coordinator::open(paths.clone(), super::search::self_exe()?, observers)?;
    let end = coordinator.replicate(top, runs)?;
    bar.finish_and_clear();
    super::search::report_end(&paths, &end);
    outln!("  next:    hpsearch report {}", paths.dir.display());
    Ok(match end {
        SearchEnd::Finished(_) => 0,
        SearchEnd::Stopped(_) => EXIT_STOPPED,
        SearchEnd::Failed(_) => super::errors::EXIT_RUNTIME,
    })
}

/// `hpsearch test`: the chosen setting, once, on the test data.
pub fn test(search: &Path, combination: Option<u64>, alpha: f64) -> Result<i32, CliError> {
    check_alpha(alpha)?;
    let paths = SearchPaths::from_dir(search)?;
    refuse_if_running(&paths, "run the test phase")?;
    let id = match combination {
        Some(id) => id,
        None => {
            let analysis = analysis_of(&paths, alpha)?;
            let Some(r) = analysis.recommendation else {
                let why = analysis
                    .no_recommendation
                    .unwrap_or_else(|| "no run has succeeded yet".into());
                return Err(CliError::Runtime(format!(
                    "search {} has no recommended setting to test: {why}. Choose one yourself: `hpsearch test {} --combination ID` (`hpsearch results {}` lists them)",
                    paths.search_id,
                    paths.dir.display(),
                    paths.dir.display()
                )));
            };
            outln!(
                "testing the recommended setting, combination {}: {}",
                r.id,
                r.why
            );
            r.id
        }
    };
    let coordinator = Coordinator::open(paths.clone(), super::search::self_exe()?, Vec::new())?;
    let earlier = coordinator.test_run_count()?;
    if earlier > 0 {
        errln!(
            "warning: search {} has been tested {earlier} time(s) before; a test score picked among several is no longer an unbiased estimate of the final performance",
            paths.search_id
        );
    }
    let run = coordinator.run_test(id)?;
    let folder = paths.test_run_dir(run.id);
    match run.state {
        RunState::Succeeded => {
            outln!(
                "test run {} of combination {id}: objective {} (loss {})",
                run.id,
                run.objective.map(|o| o.to_string()).unwrap_or_default(),
                run.loss.map(|o| o.to_string()).unwrap_or_default()
            );
            outln!("  folder: {}", folder.display());
            Ok(0)
        }
        _ => Err(CliError::Runtime(format!(
            "test run {} of combination {id} failed: {} (log: {})",
            run.id,
            run.failure_reason.unwrap_or_default(),
            folder.join("log.txt").display()
        ))),
    }
}
