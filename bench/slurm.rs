//! hpsearch on a real Slurm: time from `launch` to the first run, overhead per run against bare
//! `sbatch --wrap` jobs, and Slurm client calls per minute; then job arrays (`"job_arrays":
//! true`) against one job per run, at `HPSEARCH_BENCH_SLOTS` runs at a time (default 8): runs/s
//! and sbatch calls, best of `HPSEARCH_BENCH_REPEAT` tries (default 3).
//!
//!     bash scripts/slurm/start-local-slurm.sh      # once
//!     cargo bench --bench slurm                    # HPSEARCH_BENCH_RUNS=40 by default
//!
//! Prints a note and exits when no Slurm answers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new("cargo")
        .args(["build", "--release", "--quiet", "--bin", "hpsearch"])
        .current_dir(root)
        .status()
        .expect("cargo build");
    assert!(status.success(), "cannot build the release binary");
    root.join("target/release/hpsearch")
}

fn project(runs: usize, poll: f64) -> tempfile::TempDir {
    project_with(runs, runs, poll, false)
}

fn project_with(runs: usize, slots: usize, poll: f64, arrays: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    let write = |name: &str, text: String| std::fs::write(p.join(name), text).expect("write");
    write(
        "trivial.sh",
        "echo '{\"objective\": 1}' > output.json\n".into(),
    );
    write("job_config.json", r#"{"environment_path": "/bin/sh", "script_path": "trivial.sh", "cluster": "bench", "time": 0.1, "memory": 1}"#.into());
    write(
        "model_config.json",
        r#"{"x": {"type": "continuous", "domain": [0, 1]}}"#.into(),
    );
    write(
        "search_config.json",
        format!(
            r#"{{"search_type": "random", "max_suggestions": {runs}, "max_active_points": {slots}, "y_transformation": "none", "search_memory": 1, "search_time": 1}}"#
        ),
    );
    write(
        "hpsearch_clusters.json",
        format!(
            r#"{{"bench": {{"scheduler": "slurm", "poll_interval_seconds": {poll}, "job_arrays": {arrays}}}}}"#
        ),
    );
    dir
}

fn queue_empty(name: &str) -> bool {
    let out = Command::new("squeue")
        .args(["--noheader", &format!("--name={name}")])
        .output()
        .expect("squeue");
    out.stdout.is_empty()
}

fn main() {
    if !Command::new("sinfo")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        println!("no Slurm answers here: start one with `bash scripts/slurm/start-local-slurm.sh`");
        return;
    }
    let runs: usize = std::env::var("HPSEARCH_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let hpsearch = binary();

    // 1. launch → first run started (the coordinator is itself a Slurm job).
    let dir = project(4, 0.5);
    let start = Instant::now();
    let out = Command::new(&hpsearch)
        .args(["launch", "."])
        .current_dir(dir.path())
        .output()
        .expect("launch");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = dir
        .path()
        .join("hp_search_0/hp_combination_0/.hpsearch_started.json");
    while !started.exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "no run started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let first_run = start.elapsed().as_secs_f64();
    while !std::fs::read_to_string(dir.path().join("hp_search_0/hp_search_state.json"))
        .unwrap_or_default()
        .contains("\"state\":\"finished\"")
    {
        std::thread::sleep(Duration::from_millis(50));
    }

    // 2. N trivial runs through hpsearch against N bare sbatch --wrap jobs, all submitted at once.
    let (searched, calls_line) = search(&hpsearch, &project(runs, 0.5), runs);
    let calls: u64 = calls_line
        .split(": ")
        .nth(1)
        .unwrap_or("")
        .split(", ")
        .filter_map(|p| p.split_whitespace().next()?.parse::<u64>().ok())
        .sum();

    let bare_dir = tempfile::tempdir().expect("temp dir");
    let name = format!("bare{}", std::process::id());
    let start = Instant::now();
    for _ in 0..runs {
        let status = Command::new("sbatch")
            .args([
                "--parsable",
                "--quiet",
                &format!("--job-name={name}"),
                "--output=/dev/null",
                "--mem=1G",
                "--time=10",
                "--wrap",
                "echo '{\"objective\": 1}' > output.json",
            ])
            .current_dir(bare_dir.path())
            .status()
            .expect("sbatch");
        assert!(status.success());
    }
    while !queue_empty(&name) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let bare = start.elapsed().as_secs_f64();

    println!("hpsearch on Slurm ({runs} trivial runs, poll interval 0.5 s)");
    println!("  launch → first run started:      {first_run:.2} s (coordinator submitted as a Slurm job)");
    println!(
        "  hpsearch run:                    {searched:.2} s, {:.1} runs/s",
        runs as f64 / searched
    );
    println!(
        "  bare sbatch --wrap:              {bare:.2} s, {:.1} runs/s",
        runs as f64 / bare
    );
    println!(
        "  overhead per run:                {:.1} ms",
        (searched - bare) * 1000.0 / runs as f64
    );
    println!("  {calls_line}");
    println!(
        "  Slurm client calls per minute:   {:.0}",
        calls as f64 / (searched / 60.0)
    );

    // 3. Job arrays against one job per run, `slots` at a time.
    let slots: usize = std::env::var("HPSEARCH_BENCH_SLOTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let repeat: usize = std::env::var("HPSEARCH_BENCH_REPEAT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    println!("\njob arrays against one job per run ({runs} trivial runs, {slots} at a time, poll 0.5 s, best of {repeat})");
    println!(
        "  {:<18} {:>10} {:>8}  Slurm client calls",
        "submission", "runs/s", "sbatch"
    );
    for arrays in [false, true] {
        let mut best: Option<(f64, String)> = None;
        for _ in 0..repeat {
            let (seconds, line) = search(&hpsearch, &project_with(runs, slots, 0.5, arrays), runs);
            if best.as_ref().is_none_or(|(b, _)| seconds < *b) {
                best = Some((seconds, line));
            }
        }
        let (seconds, line) = best.unwrap_or_default();
        let sbatch = line
            .split(": ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("?")
            .to_string();
        println!(
            "  {:<18} {:>10.1} {:>8}  {}",
            if arrays {
                "job arrays"
            } else {
                "one job per run"
            },
            runs as f64 / seconds,
            sbatch,
            line.split(": ").nth(1).unwrap_or("")
        );
    }
}

/// Runs the search of `dir` to its end: seconds taken and the log's line of Slurm client calls.
/// Every run must have succeeded.
fn search(hpsearch: &Path, dir: &tempfile::TempDir, runs: usize) -> (f64, String) {
    let start = Instant::now();
    let out = Command::new(hpsearch)
        .args(["run", "."])
        .current_dir(dir.path())
        .output()
        .expect("run");
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(dir.path().join("hp_search_0/log.txt")).unwrap_or_default();
    let calls_line = log
        .lines()
        .find(|l| l.contains("Slurm client calls"))
        .unwrap_or("")
        .to_string();
    let table = std::fs::read_to_string(dir.path().join("hp_search_0/hp_search_data_full.txt"))
        .unwrap_or_default();
    let succeeded = table
        .lines()
        .filter(|l| l.contains("\tsucceeded\t"))
        .count();
    assert_eq!(succeeded, runs, "every run succeeded");
    (seconds, calls_line)
}
