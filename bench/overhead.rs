//! The coordinator's throughput, against a bare loop doing the same work, and as a search grows.
//!
//! Every run is a trivial script (`/bin/sh trivial.sh input.json`, which writes
//! `{"objective": 1}` to output.json) of a random search of one hyperparameter, through the
//! release `hpsearch run`. The bare loop does what a minimal runner must do for each run: create
//! the run's folder, write input.json, spawn the script with its output to log.txt, wait for it
//! and read output.json, from `slots` threads at once.
//!
//! 1. Slots: N runs (default 200) through hpsearch and through the bare loop at 1, 2 and 8 runs
//!    at a time, in `--pairs` (default 10) pairs of tries back to back: runs per second both
//!    ways, hpsearch's rate as a share of the bare loop's (the median over the pairs and its
//!    interquartile range), the overhead per run, and the CPU time per run of all processes
//!    (which the machine's other load changes less than the rates).
//! 2. Size: whole searches of each size in `--sizes` (default 1000) at `--sweep-slots` (default
//!    4): the rate over the whole search and over its first and last tenth (from the runs'
//!    output.json times), against the bare loop, and how long `hpsearch status` takes at the end.
//! 3. Preloaded: for each size n in `--at` (default 10000 and 100000), a search whose store
//!    already holds n finished combinations is resumed for `--window` (default 300) more runs:
//!    the rate at that size, without running n runs first; `status` time and snapshot size.
//!
//! ```text
//! cargo bench --bench overhead
//! cargo bench --bench overhead -- --runs 500 --slots 1,2,4,8
//! cargo bench --bench overhead -- --sizes 1000,10000 --at 100000 --window 1000
//! ```
//!
//! Each option may also be given as an environment variable: HPSEARCH_BENCH_RUNS,
//! HPSEARCH_BENCH_SLOTS, HPSEARCH_BENCH_SIZES, HPSEARCH_BENCH_SWEEP_SLOTS, HPSEARCH_BENCH_AT,
//! HPSEARCH_BENCH_WINDOW, HPSEARCH_BENCH_PAIRS, HPSEARCH_BENCH_REPEAT (default 3: the bare rate
//! of parts 2 and 3 is the best of that many tries, as other load on the machine only slows a
//! try); an empty list skips
//! its part. The binary is $HPSEARCH_BIN if set (an older build, to compare), else the one cargo
//! built with this benchmark. Every search's full data file is checked (every run `succeeded`),
//! so the benchmark cannot silently time failures.

#[path = "stats.rs"]
mod stats;

use hpsearch::coordinator::Definition;
use hpsearch::store::{Finish, NewCombination, RunState, Store};
use stats::quartiles;
use std::path::{Path, PathBuf};
use std::process::{exit, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

const SCRIPT: &str = "echo '{\"objective\": 1}' > output.json\n";

fn fail(message: String) -> ! {
    eprintln!("error: {message}");
    remove_scratch();
    exit(1)
}

struct Options {
    runs: usize,
    slots: Vec<usize>,
    sizes: Vec<usize>,
    sweep_slots: usize,
    at: Vec<usize>,
    window: usize,
    repeat: usize,
    pairs: usize,
}

/// `--name value` from the command line, else $HPSEARCH_BENCH_NAME, else `default`.
fn option(args: &[String], name: &str, default: &str) -> String {
    let flag = format!("--{name}");
    if let Some(i) = args.iter().position(|a| *a == flag) {
        return args
            .get(i + 1)
            .cloned()
            .unwrap_or_else(|| fail(format!("{flag} needs a value")));
    }
    let var = format!("HPSEARCH_BENCH_{}", name.to_uppercase().replace('-', "_"));
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

fn list(text: &str, what: &str) -> Vec<usize> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.replace('_', "")
                .parse()
                .unwrap_or_else(|_| fail(format!("{what}: `{s}` is not a count")))
        })
        .collect()
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let one = |name: &str, default: &str| -> usize {
        let value = option(&args, name, default);
        value
            .parse()
            .unwrap_or_else(|_| fail(format!("--{name}: `{value}` is not a count")))
    };
    let options = Options {
        runs: one("runs", "200"),
        slots: list(&option(&args, "slots", "1,2,8"), "--slots"),
        sizes: list(&option(&args, "sizes", "1000"), "--sizes"),
        sweep_slots: one("sweep-slots", "4"),
        at: list(&option(&args, "at", "10000,100000"), "--at"),
        window: one("window", "300"),
        repeat: one("repeat", "3"),
        pairs: one("pairs", "10"),
    };
    if options.runs < 2 || options.window < 2 || options.repeat < 1 || options.pairs < 1 {
        fail("--runs and --window must be at least 2, --repeat and --pairs at least 1".into());
    }
    options
}

/// Every folder the benchmark writes lives under one temporary folder, removed only when the
/// benchmark ends. Deleting a try's folders before the next try would slow that try: on ext4
/// without a journal (as on our test machines), a new inode skips every inode freed in the last
/// seconds, one look each, so thousands of files just deleted made file creation 2-5 times
/// slower for a while, for whichever of hpsearch or the bare loop came next.
static SCRATCH: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();

/// A new empty folder under the benchmark's scratch folder.
fn scratch() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let root = SCRATCH
        .get_or_init(|| tempfile::tempdir().unwrap_or_else(|e| fail(format!("temp dir: {e}"))));
    let dir = root
        .path()
        .join(format!("try_{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir(&dir).unwrap_or_else(|e| fail(format!("{}: {e}", dir.display())));
    dir
}

/// Removes the scratch folder (a static is never dropped).
fn remove_scratch() {
    if let Some(root) = SCRATCH.get() {
        let _ = std::fs::remove_dir_all(root.path());
    }
}

/// $HPSEARCH_BIN, or the hpsearch binary cargo built with this benchmark.
fn binary() -> PathBuf {
    std::env::var_os("HPSEARCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hpsearch")))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
}

/// A project folder with the trivial script and configs for `runs` runs, `slots` at a time.
fn project(dir: &Path, runs: usize, slots: usize) {
    write(&dir.join("trivial.sh"), SCRIPT);
    write(
        &dir.join("job_config.json"),
        r#"{"environment_path": "/bin/sh", "script_path": "trivial.sh", "cluster": "local", "time": 1, "memory": 1, "processor_type": "CPU", "num_processors": 1}"#,
    );
    write(
        &dir.join("model_config.json"),
        r#"{"x": {"type": "continuous", "domain": [0, 1], "transformation": "linear"}}"#,
    );
    write(
        &dir.join("search_config.json"),
        &format!(
            r#"{{"search_type": "random", "max_suggestions": {runs}, "max_active_points": {slots}, "y_transformation": "none", "random_seed": 1, "search_time": 1000}}"#
        ),
    );
}

/// Checks the search's full data file: `runs` rows, every one from `from` on `succeeded`.
fn check_data(search: &Path, runs: usize, from: usize) {
    let mut file = search.join("hp_search_data_full.txt");
    if !file.exists() {
        // A binary from before the full file (HPSEARCH_BIN): its data file had every column.
        file = search.join("hp_search_data.txt");
    }
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
    let bad = rows[from..]
        .iter()
        .filter(|r| r.get(status) != Some(&"succeeded"))
        .count();
    if bad > 0 {
        fail(format!(
            "{}: {bad} of {} runs did not succeed",
            file.display(),
            runs - from
        ));
    }
}

/// Runs `hpsearch ARGS` in `dir`; fails the benchmark if it fails. Returns its stdout.
fn hpsearch(bin: &Path, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| fail(format!("{}: {e}", bin.display())));
    if !out.status.success() {
        fail(format!(
            "hpsearch {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The end times of the runs `ids` (their output.json's modification times), sorted.
fn end_times(search: &Path, ids: std::ops::Range<usize>) -> Vec<SystemTime> {
    let mut times: Vec<SystemTime> = ids
        .filter_map(|id| {
            let file = search.join(format!("hp_combination_{id}/output.json"));
            std::fs::metadata(file).and_then(|m| m.modified()).ok()
        })
        .collect();
    times.sort();
    times
}

/// Runs per second between the first and the last of `times`.
fn rate_between(times: &[SystemTime]) -> f64 {
    let (Some(first), Some(last)) = (times.first(), times.last()) else {
        return f64::NAN;
    };
    let span = last.duration_since(*first).unwrap_or_default();
    (times.len() - 1) as f64 / span.as_secs_f64().max(1e-9)
}

/// The median time of three `hpsearch status` of a search.
fn status_seconds(bin: &Path, dir: &Path) -> f64 {
    let mut times: Vec<f64> = (0..3)
        .map(|_| {
            let start = Instant::now();
            hpsearch(bin, dir, &["status", "hp_search_0"]);
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[1]
}

/// CPU seconds (user and system) of every waited-for descendant of this process so far: the
/// coordinator with its wrappers and scripts, or the bare loop's scripts. Unlike wall time, the
/// machine's other load hardly changes it.
fn children_cpu() -> f64 {
    cpu(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
}

/// CPU seconds this process has used itself (the bare loop's own work).
fn own_cpu() -> f64 {
    cpu(nix::sys::resource::UsageWho::RUSAGE_SELF)
}

fn cpu(who: nix::sys::resource::UsageWho) -> f64 {
    nix::sys::resource::getrusage(who).map_or(0.0, |u| {
        let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        seconds(u.user_time()) + seconds(u.system_time())
    })
}

/// A whole search of `runs` runs, `slots` at a time (its folder kept in `dir`): its wall time
/// and the CPU seconds it used, all processes together.
fn timed_search(bin: &Path, dir: &Path, runs: usize, slots: usize) -> (Duration, f64) {
    project(dir, runs, slots);
    let cpu = children_cpu();
    let start = Instant::now();
    hpsearch(bin, dir, &["run", "."]);
    let elapsed = start.elapsed();
    let cpu = children_cpu() - cpu;
    check_data(&dir.join("hp_search_0"), runs, 0);
    (elapsed, cpu)
}

/// `runs` runs of the bare loop, `slots` at a time: wall time, and the CPU seconds of the loop
/// and its scripts.
fn timed_bare(runs: usize, slots: usize) -> (Duration, f64) {
    let dir = scratch();
    let script = dir.as_path().join("trivial.sh");
    write(&script, SCRIPT);
    let next = AtomicUsize::new(0);
    let cpu = children_cpu() + own_cpu();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..slots {
            scope.spawn(|| loop {
                let id = next.fetch_add(1, Ordering::Relaxed);
                if id >= runs {
                    break;
                }
                bare_run(dir.as_path(), &script, id);
            });
        }
    });
    (start.elapsed(), children_cpu() + own_cpu() - cpu)
}

fn bare_run(dir: &Path, script: &Path, id: usize) {
    let folder = dir.join(format!("run_{id}"));
    std::fs::create_dir(&folder).unwrap_or_else(|e| fail(format!("{}: {e}", folder.display())));
    let input = folder.join("input.json");
    write(
        &input,
        &format!(
            "{{\n  \"x\": 0.5,\n  \"save_folder\": \"{}\"\n}}",
            folder.display()
        ),
    );
    let log = std::fs::File::create(folder.join("log.txt")).expect("log.txt");
    let status = Command::new("/bin/sh")
        .arg(script)
        .arg(&input)
        .current_dir(&folder)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log.txt"))
        .stderr(log)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        fail("bare /bin/sh trivial.sh failed".into());
    }
    let output = std::fs::read_to_string(folder.join("output.json")).unwrap_or_default();
    if serde_json::from_str::<serde_json::Value>(&output).is_err() {
        fail(format!("bare run {id}: no output.json"));
    }
}

/// One try each way, back to back: wall seconds and CPU seconds.
struct Pair {
    searched: f64,
    bare: f64,
    searched_cpu: f64,
    bare_cpu: f64,
}

/// The best rate of `repeat` runs of the bare loop: the machine's other load only slows it.
fn bare_rate(runs: usize, slots: usize, repeat: usize) -> f64 {
    (0..repeat)
        .map(|_| runs as f64 / timed_bare(runs, slots).0.as_secs_f64())
        .fold(0.0, f64::max)
}

/// Creates a search of `n + window` suggestions in `dir` whose store already holds `n`
/// succeeded combinations, as a search that ran them would.
fn preload(dir: &Path, n: usize, window: usize, slots: usize) -> PathBuf {
    project(dir, n + window, slots);
    let definition = Definition::load(
        &dir.join("search_config.json"),
        &dir.join("job_config.json"),
        &dir.join("model_config.json"),
    )
    .unwrap_or_else(|e| fail(e.to_string()));
    let paths = hpsearch::coordinator::create(&definition).unwrap_or_else(|e| fail(e.to_string()));
    let mut store = Store::open_writer(&paths.database()).unwrap_or_else(|e| fail(e.to_string()));
    let now = hpsearch::clock::now();
    let empty = serde_json::Map::new();
    store
        .transaction(|store| {
            for i in 0..n {
                let x = (i as f64 + 0.5) / n as f64;
                let mut params = serde_json::Map::new();
                params.insert("x".into(), serde_json::json!(x));
                let id = store.insert(&NewCombination {
                    search_type: "random",
                    point: &[x],
                    params: &params,
                    previous_results_count: i as u64,
                    created_at: now,
                    replicate_of: None,
                })?;
                store.mark_running(id, &format!("local:{}", 1000 + i), None, None, now, false)?;
                store.finish(
                    id,
                    &Finish {
                        state: RunState::Succeeded,
                        finished_at: now + 0.01,
                        objective: Some(x),
                        loss: Some(x),
                        kind: None,
                        reason: None,
                        metrics: &empty,
                    },
                )?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| fail(e.to_string()));
    paths.dir
}

fn main() {
    let options = options();
    let bin = binary();
    println!(
        "hpsearch against a bare loop (folder, input.json, spawn, output.json); trivial runs of \
         /bin/sh; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    if !options.slots.is_empty() {
        println!(
            "\n1. slots: {} runs each; {} pairs of tries (hpsearch, then the bare loop); medians, \
             and the ratio's interquartile range over the pairs",
            options.runs, options.pairs
        );
        println!(
            "{:>6} {:>12} {:>12} {:>24} {:>12} {:>14} {:>14}",
            "slots",
            "hpsearch r/s",
            "bare r/s",
            "hpsearch/bare [Q1, Q3]",
            "overhead ms",
            "hps cpu ms/run",
            "bare cpu ms/run"
        );
        for &slots in &options.slots {
            // Pairs taken back to back: the machine's load (other guests' CPU steal, on a VM)
            // changes over minutes, so a pair's two tries meet much the same machine, and the
            // ratio within pairs is steadier than the ratio of two separate bests.
            let mut pairs: Vec<Pair> = Vec::with_capacity(options.pairs);
            for _ in 0..options.pairs {
                let dir = scratch();
                let (searched, searched_cpu) =
                    timed_search(&bin, dir.as_path(), options.runs, slots);
                let (bare, bare_cpu) = timed_bare(options.runs, slots);
                pairs.push(Pair {
                    searched: searched.as_secs_f64(),
                    bare: bare.as_secs_f64(),
                    searched_cpu,
                    bare_cpu,
                });
            }
            let runs = options.runs as f64;
            let median_of =
                |value: fn(&Pair) -> f64| quartiles(pairs.iter().map(value).collect()).1;
            let (searched, bare) = (median_of(|p| p.searched), median_of(|p| p.bare));
            let (q1, ratio, q3) = quartiles(pairs.iter().map(|p| p.bare / p.searched).collect());
            println!(
                "{:>6} {:>12.1} {:>12.1} {:>24} {:>12.2} {:>14.2} {:>14.2}",
                slots,
                runs / searched,
                runs / bare,
                format!("{ratio:.2} [{q1:.2}, {q3:.2}]"),
                median_of(|p| (p.searched - p.bare) * 1000.0) / runs,
                median_of(|p| p.searched_cpu) * 1000.0 / runs,
                median_of(|p| p.bare_cpu) * 1000.0 / runs
            );
        }
    }

    let slots = options.sweep_slots;
    if !options.sizes.is_empty() {
        println!("\n2. size: whole searches, {slots} slots");
        println!(
            "{:>8} {:>9} {:>9} {:>12} {:>12} {:>9} {:>14} {:>9}",
            "runs",
            "seconds",
            "r/s",
            "first10% r/s",
            "last10% r/s",
            "bare r/s",
            "hpsearch/bare",
            "status s"
        );
        for &runs in &options.sizes {
            let dir = scratch();
            let seconds = timed_search(&bin, dir.as_path(), runs, slots)
                .0
                .as_secs_f64();
            let times = end_times(&dir.as_path().join("hp_search_0"), 0..runs);
            let tenth = (runs / 10).max(2);
            let first = rate_between(&times[..tenth.min(times.len())]);
            let last = rate_between(&times[times.len().saturating_sub(tenth)..]);
            let bare = bare_rate(runs.min(2000), slots, options.repeat);
            let rate = runs as f64 / seconds;
            println!(
                "{:>8} {:>9.1} {:>9.1} {:>12.1} {:>12.1} {:>9.1} {:>14.2} {:>9.3}",
                runs,
                seconds,
                rate,
                first,
                last,
                bare,
                last.min(rate) / bare,
                status_seconds(&bin, dir.as_path())
            );
        }
    }

    if !options.at.is_empty() {
        let window = options.window;
        println!(
            "\n3. preloaded: n finished combinations in the store, then {window} more runs, {slots} slots"
        );
        println!(
            "{:>8} {:>10} {:>9} {:>9} {:>14} {:>9} {:>12}",
            "n", "resume s", "r/s", "bare r/s", "hpsearch/bare", "status s", "snapshot MB"
        );
        let bare = bare_rate(window.max(500), slots, options.repeat);
        for &n in &options.at {
            let dir = scratch();
            let search = preload(dir.as_path(), n, window, slots);
            let start = Instant::now();
            hpsearch(&bin, dir.as_path(), &["resume", "hp_search_0"]);
            let seconds = start.elapsed().as_secs_f64();
            check_data(&search, n + window, n);
            let rate = rate_between(&end_times(&search, n..n + window));
            let megabytes = std::fs::metadata(search.join("hp_search_state.json"))
                .map_or(0.0, |m| m.len() as f64 / 1e6);
            println!(
                "{:>8} {:>10.1} {:>9.1} {:>9.1} {:>14.2} {:>9.3} {:>12.1}",
                n,
                seconds,
                rate,
                bare,
                rate / bare,
                status_seconds(&bin, dir.as_path()),
                megabytes
            );
        }
    }
    remove_scratch();
}
