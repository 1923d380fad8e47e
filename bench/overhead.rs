//! The coordinator's overhead per run, against bare spawns of the same trivial script.
//!
//! A random search of N trivial runs (`/bin/sh trivial.sh`, which writes `{"objective": 1}` to
//! output.json) goes through the release `hpsearch run` with max_active_points 1 and 2; the same
//! script is then spawned N times bare, sequentially for 1 and from two threads (N/2 each) for 2.
//! The table shows runs per second both ways, the overhead per run ((t_hpsearch - t_bare) / N)
//! and the ratio t_hpsearch / t_bare.
//!
//!     cargo bench --bench overhead                            # N = 200
//!     HPSEARCH_BENCH_RUNS=500 cargo bench --bench overhead    # another N
//!
//! The binary is $HPSEARCH_BIN if set, else target/release/hpsearch (built first if missing).
//! The data file is checked: N rows, every one `succeeded`, or the benchmark fails, so that it
//! cannot silently time failures.

use std::path::{Path, PathBuf};
use std::process::{exit, Command};
use std::time::{Duration, Instant};

const SCRIPT: &str = "echo '{\"objective\": 1}' > output.json\n";

fn fail(message: String) -> ! {
    eprintln!("error: {message}");
    exit(1)
}

/// $HPSEARCH_BIN, or the release binary of this crate, built if it is not there yet.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("HPSEARCH_BIN") {
        return PathBuf::from(path);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("target/release/hpsearch");
    if !path.exists() {
        let built = Command::new("cargo")
            .args(["build", "--release", "--bin", "hpsearch"])
            .current_dir(root)
            .status()
            .is_ok_and(|s| s.success());
        if !built || !path.exists() {
            fail(format!("cannot build {}", path.display()));
        }
    }
    path
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
}

/// Checks the search's data file: `runs` rows, every one with status `succeeded`.
fn check_data(project: &Path, runs: usize) {
    let search = std::fs::read_dir(project)
        .expect("project folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("hp_search_")
        })
        .unwrap_or_else(|| fail("no hp_search_N folder".into()));
    let file = search.join("hp_search_data.txt");
    let text =
        std::fs::read_to_string(&file).unwrap_or_else(|e| fail(format!("{}: {e}", file.display())));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let Some(status) = header.iter().position(|h| *h == "status") else {
        fail(format!("{}: no status column", file.display()))
    };
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    if rows.len() != runs {
        fail(format!(
            "{}: {} rows, expected {runs}",
            file.display(),
            rows.len()
        ));
    }
    let bad = rows
        .iter()
        .filter(|r| r.get(status) != Some(&"succeeded"))
        .count();
    if bad > 0 {
        fail(format!(
            "{}: {bad} of {runs} runs did not succeed",
            file.display()
        ));
    }
}

/// Times `hpsearch run` of a random search of `runs` trivial runs, `active` at a time.
fn timed_search(hpsearch: &Path, runs: usize, active: usize) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path();
    write(&project.join("trivial.sh"), SCRIPT);
    write(
        &project.join("job_config.json"),
        r#"{"environment_path": "/bin/sh", "script_path": "trivial.sh", "cluster": "local", "time": 1, "memory": 1, "processor_type": "CPU", "num_processors": 1}"#,
    );
    write(
        &project.join("model_config.json"),
        r#"{"x": {"type": "continuous", "domain": [0, 1], "transformation": "linear"}}"#,
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
        .unwrap_or_else(|e| fail(format!("{}: {e}", hpsearch.display())));
    let elapsed = start.elapsed();
    if !out.status.success() {
        fail(format!(
            "hpsearch run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    check_data(project, runs);
    elapsed
}

/// Times `runs` bare spawns of the trivial script, from `parallel` threads at once.
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
                        .status();
                    if !status.is_ok_and(|s| s.success()) {
                        fail("bare /bin/sh trivial.sh failed".into());
                    }
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
    if runs < 2 {
        fail(format!(
            "HPSEARCH_BENCH_RUNS must be at least 2, not {runs}"
        ));
    }
    let hpsearch = binary();
    println!("coordinator overhead: {runs} trivial runs (/bin/sh writing output.json)");
    println!(
        "{:<22} {:>6} {:>9} {:>9} {:>12} {:>12} {:>8}",
        "mode", "runs", "seconds", "runs/s", "bare runs/s", "overhead ms", "ratio"
    );
    for active in [1, 2] {
        let searched = timed_search(&hpsearch, runs, active).as_secs_f64();
        // The bare threads share the runs evenly; compare like with like.
        let bare_runs = runs / active * active;
        let bare = timed_bare(runs, active).as_secs_f64() * runs as f64 / bare_runs as f64;
        println!(
            "{:<22} {:>6} {:>9.2} {:>9.1} {:>12.1} {:>12.2} {:>8.2}",
            format!("max_active_points {active}"),
            runs,
            searched,
            runs as f64 / searched,
            runs as f64 / bare,
            (searched - bare) * 1000.0 / runs as f64,
            searched / bare
        );
    }
}
