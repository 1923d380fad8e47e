//! A corrupted row of a search's database is read with a warning, never silently; a run's peak
//! memory counts every process of its group at once.

mod support;
use hpsearch::store::{NewCombination, RunState, Store};
use serde_json::{json, Map, Value};
use support::*;

fn corrupt(database: &std::path::Path, statements: &str) {
    let conn = rusqlite::Connection::open(database).expect("open the database");
    conn.execute_batch(statements).expect("corrupt the rows");
}

/// Inserts `n` combinations of `x = 0.5`, state `created`.
fn insert_rows(store: &Store, n: usize) {
    let params: Map<String, Value> = [("x".to_string(), json!(0.5))].into_iter().collect();
    for _ in 0..n {
        store
            .insert(&NewCombination {
                search_type: "random",
                point: &[0.5],
                params: &params,
                previous_results_count: 0,
                created_at: 1.0,
                replicate_of: None,
            })
            .expect("insert");
    }
}

#[test]
fn the_store_reads_bad_rows_as_defaults_and_says_so_once_per_row_and_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("search.db");
    {
        let store = Store::open_writer(&database).expect("store");
        insert_rows(&store, 3);
    }
    corrupt(
        &database,
        "UPDATE combinations SET params = '{\"x\": 0.5', point = '[\"a\"]' WHERE id = 1;
         UPDATE combinations SET state = 'bogus', metrics = '[1, 2]', failure_kind = 'gremlins'
         WHERE id = 2;",
    );
    let store = Store::open_writer(&database).expect("store");
    let rows = store.combinations().expect("every row still reads");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].params["x"], json!(0.5));
    assert!(rows[1].params.is_empty() && rows[1].point.is_empty());
    assert_eq!(rows[2].state, RunState::Failed);
    let warnings: Vec<String> = store
        .take_warnings()
        .iter()
        .map(|w| w.to_string())
        .collect();
    let expected = [
        "combination 1: the search database's `point` column holds \"[\\\"a\\\"]\"",
        "combination 1: the search database's `params` column holds \"{\\\"x\\\": 0.5\"",
        "combination 2: the search database's `state` column holds the unknown state \"bogus\"; read as failed",
        "combination 2: the search database's `failure_kind` column holds the unknown failure kind \"gremlins\"",
        "combination 2: the search database's `metrics` column holds \"[1, 2]\"",
    ];
    assert_eq!(warnings.len(), expected.len(), "{warnings:#?}");
    for start in expected {
        assert!(
            warnings.iter().any(|w| w.starts_with(start)),
            "{start}\nnot in {warnings:#?}"
        );
    }
    assert!(warnings.iter().all(|w| !w.contains('\n')), "{warnings:#?}");
    store.combinations().expect("read again");
    assert!(
        store.take_warnings().is_empty(),
        "each bad column is reported once"
    );
}

#[test]
fn resume_warns_of_corrupted_rows_and_reads_the_rest_of_the_search() {
    let project = Project::new();
    project.script("score.py", python_ok());
    project.configs(
        "python3",
        "score.py",
        model_two_params(),
        json!({"search_type": "grid", "num_grid_points_per_hyperparameter": 2,
               "max_active_points": 2, "y_transformation": "none"}),
    );
    project.hpsearch(&["run", "."]).ok();
    corrupt(
        &project.search_dir(0).join("hp_search.sqlite"),
        "UPDATE combinations SET params = '{not json' WHERE id = 1;
         UPDATE combinations SET state = 'bogus' WHERE id = 2;",
    );

    let resume = project.hpsearch(&["resume", "hp_search_0"]).ok();
    let params_warning =
        "warning: combination 1: the search database's `params` column holds \"{not json\"";
    let state_warning = "warning: combination 2: the search database's `state` column holds the unknown state \"bogus\"; read as failed";
    for warning in [params_warning, state_warning] {
        assert_eq!(
            resume.stderr.matches(warning).count(),
            1,
            "once on the terminal: {warning}\n{}",
            resume.stderr
        );
    }
    let log = std::fs::read_to_string(project.search_dir(0).join("log.txt")).expect("log");
    assert_eq!(log.matches(params_warning).count(), 1, "{log}");
    assert_eq!(log.matches(state_warning).count(), 1, "{log}");

    let results = project
        .hpsearch(&["results", "hp_search_0", "--format", "json"])
        .ok();
    let rows: Vec<Value> = serde_json::from_str(&results.stdout).expect("results json");
    assert_eq!(rows.len(), 4, "every combination still reads: {rows:#?}");
    // Readers of the published state show the same warnings, on stderr.
    let status = project.hpsearch(&["status", "hp_search_0"]).ok();
    for (out, what) in [(&results.stderr, "results"), (&status.stderr, "status")] {
        assert!(out.contains(params_warning), "{what}: {out}");
        assert!(out.contains(state_warning), "{what}: {out}");
    }
    let by_id = |id: u64| {
        rows.iter()
            .find(|r| r["combination_id"] == json!(id))
            .unwrap_or_else(|| panic!("combination {id} in {rows:#?}"))
    };
    for id in [0, 3] {
        assert_eq!(by_id(id)["status"], "succeeded", "{rows:#?}");
        assert!(by_id(id)["x"].is_number(), "{rows:#?}");
    }
    assert!(
        by_id(1)["x"].is_null(),
        "the unreadable params read as none"
    );
    assert_eq!(by_id(2)["status"], "failed");
}

#[test]
fn a_runs_peak_memory_counts_its_processes_running_at_once() {
    let project = Project::new();
    // Two workers of ~60 MB each, alive at the same time; the script itself stays small.
    project.script(
        "workers.py",
        "import json, os, subprocess, sys\n\
         cfg = json.load(open(sys.argv[1]))\n\
         hold = \"x = bytearray(b'\\\\x01') * (60 << 20); import time; time.sleep(1.5)\"\n\
         workers = [subprocess.Popen([sys.executable, '-c', hold]) for _ in range(2)]\n\
         codes = [w.wait() for w in workers]\n\
         json.dump({'objective': 1.0 + sum(codes)}, open(os.path.join(cfg['save_folder'], 'output.json'), 'w'))\n",
    );
    project.configs(
        "python3",
        "workers.py",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "random", "max_suggestions": 1, "y_transformation": "none"}),
    );
    project.hpsearch(&["run", "."]).ok();
    let results = project
        .hpsearch(&["results", "hp_search_0", "--format", "json"])
        .ok();
    let rows: Vec<Value> = serde_json::from_str(&results.stdout).expect("results json");
    assert_eq!(rows[0]["status"], "succeeded", "{rows:#?}");
    let peak = rows[0]["peak_memory_mb"].as_f64().expect("a peak memory");
    // The largest single process holds ~70 MB (what getrusage alone reported); both at once
    // hold ~130 MB.
    assert!(
        peak >= 110.0,
        "peak {peak} MB: the two workers together hold 120 MB"
    );
}

#[test]
fn only_the_newest_rows_that_never_started_can_be_deleted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_writer(&dir.path().join("search.db")).expect("store");
    insert_rows(&store, 4);
    store
        .mark_running(2, "local:1", Some(1), None, 2.0, false)
        .expect("mark running");
    let refused = store
        .delete_unstarted_from(1)
        .expect_err("combination 2 started: rows 1-3 must stay");
    assert!(refused.to_string().contains("have started"), "{refused}");
    assert_eq!(store.combinations().expect("rows").len(), 4);
    store.delete_unstarted_from(3).expect("row 3 never started");
    let ids: Vec<u64> = store
        .combinations()
        .expect("rows")
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, [0, 1, 2], "ids stay without a gap");
}
