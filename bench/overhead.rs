//! The coordinator's overhead per run, against bare spawns of the same trivial script.
//!
//! Runs a random search of N trivial runs (`/bin/sh` writing `{"objective": 1}`) through the
//! release `hpsearch run` with max_active_points 1 and 2, and times N bare spawns of the same
//! script (sequentially, and two at a time). Prints runs per second and the overhead per run.
//!
//!     cargo bench --bench overhead            # N = 200
//!     HPSEARCH_BENCH_RUNS=500 cargo bench --bench overhead
//!
//! The data file is checked: every run must have succeeded, or the numbers mean nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SCRIPT: &str = "echo '{\"objective\": 1}' > output.json\n";

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("HPSEARCH_BIN") {
        return PathBuf::from(path);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new("cargo")
        .args(["build", "--release", "--quiet", "--bin", "hpsearch"])
        .current_dir(root)
        .status()
        .expect("cargo build");
    assert!(status.success(), "cannot build the release binary");
    root.join("target/release/hpsearch")
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

fn timed_search(hpsearch: &Path, runs: usize, active: usize) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path();
    write(&project.join("trivial.sh"), SCRIPT);
    write(
        &project.join("job_config.json"),
        r#"{"environment_path": "/bin/sh", "script_path": "trivial.sh", "time": 1}"#,
    );
    write(
        &project.join("model_config.json"),
        r#"{"x": {"type": "continuous", "domain": [0, 1]}}"#,
    );
    write(
        &project.join("search_config.json"),
        &format!(
            r#"{{"search_type": "random", "max_suggestions": {runs}, "max_active_points": {active}, "y_transformation": "none", "random_seed": 1}}"#
        ),
    );
    let start = Instant::now();
    let out = Command::new(hpsearch)
        .args(["run", "."])
        .current_dir(project)
        .output()
        .expect("hpsearch run");
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "hpsearch run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table =
        std::fs::read_to_string(project.join("hp_search_0/hp_search_data.txt")).expect("data file");
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let status = header
        .iter()
        .position(|h| *h == "status")
        .expect("status column");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), runs, "every run recorded");
    assert!(
        rows.iter().all(|r| r[status] == "succeeded"),
        "every run succeeded"
    );
    elapsed
}

fn timed_bare(runs: usize, parallel: usize) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    write(&dir.path().join("trivial.sh"), SCRIPT);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..parallel {
            scope.spawn(|| {
                for _ in 0..runs / parallel {
                    let status = Command::new("/bin/sh")
                        .arg("trivial.sh")
                        .current_dir(dir.path())
                        .status()
                        .expect("spawn");
                    assert!(status.success());
                }
            });
        }
    });
    start.elapsed()
}

fn main() {
    let runs: usize = std::env::var("HPSEARCH_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let hpsearch = binary();
    println!("coordinator overhead, {runs} trivial runs (/bin/sh writing output.json)");
    println!(
        "{:<22} {:>9} {:>10} {:>12} {:>16} {:>10}",
        "mode", "seconds", "runs/s", "bare runs/s", "overhead ms/run", "ratio"
    );
    for active in [1, 2] {
        let searched = timed_search(&hpsearch, runs, active).as_secs_f64();
        let bare = timed_bare(runs, active).as_secs_f64();
        println!(
            "{:<22} {:>9.2} {:>10.1} {:>12.1} {:>16.2} {:>10.2}",
            format!("max_active_points {active}"),
            searched,
            runs as f64 / searched,
            runs as f64 / bare,
            (searched - bare) * 1000.0 / runs as f64,
            searched / bare
        );
    }
}
