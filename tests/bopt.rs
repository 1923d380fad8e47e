//! Bayesian optimisation through the real binary: a bopt search of a real script beats random
//! search on the same budget, is reproducible with a seed, and labels its suggestions.

mod support;
use serde_json::json;
use support::*;

/// A smooth 2-D bowl with its minimum at x = 0.7, log10(lr) = -3 (loss 0 there).
const BOWL: &str = "import json, math, os, sys\ncfg = json.load(open(sys.argv[1]))\nloss = (cfg['x'] - 0.7) ** 2 + 0.1 * (math.log10(cfg['lr']) + 3) ** 2 + (0.2 if cfg['opt'] == 'sgd' else 0.0)\njson.dump({'objective': loss}, open(os.path.join(cfg['save_folder'], 'output.json'), 'w'))\n";

fn bowl_project(search: serde_json::Value) -> Project {
    let project = Project::new();
    project.script("bowl.py", BOWL);
    project.configs(
        "python3",
        "bowl.py",
        json!({
            "x": {"type": "continuous", "domain": [0, 1]},
            "lr": {"type": "continuous", "domain": [1e-6, 1], "transformation": "log"},
            "opt": {"type": "categorical", "domain": ["sgd", "adam"]}
        }),
        search,
    );
    project
}

fn best_loss(project: &Project) -> f64 {
    project
        .data_rows(0)
        .iter()
        .filter(|r| r["status"] == "succeeded")
        .map(|r| r["loss"].parse::<f64>().unwrap())
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn bopt_finds_a_better_setting_than_random_search_on_the_same_budget() {
    let mut bopt_wins = 0;
    for seed in [1, 2, 3] {
        let bopt = bowl_project(
            json!({"search_type": "bopt", "max_suggestions": 20, "max_active_points": 2, "y_transformation": "none", "random_seed": seed}),
        );
        bopt.hpsearch(&["run", "."]).ok();
        let random = bowl_project(
            json!({"search_type": "random", "max_suggestions": 20, "max_active_points": 2, "y_transformation": "none", "random_seed": seed}),
        );
        random.hpsearch(&["run", "."]).ok();
        let (b, r) = (best_loss(&bopt), best_loss(&random));
        eprintln!("seed {seed}: bopt {b:.5}, random {r:.5}");
        assert!(b < 0.01, "bopt gets close to the optimum: {b}");
        if b < r {
            bopt_wins += 1;
        }
        let rows = bopt.data_rows(0);
        assert!(
            rows.iter().any(|r| r["search_type"] == "Matern52_EI_MLE"),
            "GP suggestions are labelled kernel_acquisition_estimator"
        );
        assert!(
            rows.iter().take(5).all(|r| r["search_type"] == "sobol"),
            "a space-filling design until min_initial_points"
        );
    }
    assert_eq!(bopt_wins, 3);
}

/// The search's budget known (`max_suggestions`), its last 30% goes to the model's best guess:
/// the data file's `search_type` says `final` for those, and only for those.
#[test]
fn the_last_thirty_percent_of_max_suggestions_goes_to_the_models_best_guess() {
    let labels = |final_exploitation: Option<f64>| -> Vec<String> {
        let mut search = json!({"search_type": "bopt", "max_suggestions": 20, "max_active_points": 1,
                                "y_transformation": "none", "random_seed": 4});
        if let Some(share) = final_exploitation {
            search["bopt_config"] = json!({ "final_exploitation": share });
        }
        let project = bowl_project(search);
        project.hpsearch(&["run", "."]).ok();
        let rows = project.data_rows(0);
        assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
        rows.iter().map(|r| r["search_type"].clone()).collect()
    };
    let is_final = |label: &String| label.contains("_final_");
    let default = labels(None);
    assert_eq!(default.len(), 20, "{default:?}");
    assert!(default[14..].iter().all(is_final), "{default:?}");
    assert!(!default[..14].iter().any(is_final), "{default:?}");
    let tenth = labels(Some(0.1));
    assert!(tenth[18..].iter().all(is_final), "{tenth:?}");
    assert!(!tenth[..18].iter().any(is_final), "{tenth:?}");
    let off = labels(Some(0.0));
    assert!(!off.iter().any(is_final), "{off:?}");
}

#[test]
fn bopt_with_a_seed_suggests_the_same_combinations() {
    let run = || {
        let project = bowl_project(
            json!({"search_type": "bopt", "max_suggestions": 8, "max_active_points": 1, "y_transformation": "none", "random_seed": 5}),
        );
        project.hpsearch(&["run", "."]).ok();
        project
            .data_rows(0)
            .iter()
            .map(|r| (r["x"].clone(), r["lr"].clone(), r["opt"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn a_seed_mixture_of_kernels_and_acquisitions_is_honoured() {
    let project = bowl_project(json!({
        "search_type": "bopt", "max_suggestions": 16, "max_active_points": 1, "y_transformation": "none", "random_seed": 3,
        "min_initial_points": 3, "random_suggestion_probability": 0,
        "bopt_config": {"kernel": ["ExpQuad", "RatQuad"], "acquisition_type": ["MPI", "LCB"]}
    }));
    project.hpsearch(&["run", "."]).ok();
    let labels: std::collections::BTreeSet<String> = project
        .data_rows(0)
        .iter()
        .map(|r| r["search_type"].clone())
        .collect();
    assert!(
        labels.iter().all(|l| l == "sobol"
            || l == "repeat"
            || ["ExpQuad_", "RatQuad_"].iter().any(|k| l.starts_with(k))),
        "{labels:?}"
    );
    assert!(
        labels.iter().any(|l| l.contains("_MPI_")) && labels.iter().any(|l| l.contains("_LCB_")),
        "{labels:?}"
    );
    assert!(best_loss(&project) < 0.05);
}

#[test]
fn parallel_bopt_suggestions_do_not_pile_up() {
    let project = bowl_project(
        json!({"search_type": "bopt", "max_suggestions": 16, "max_active_points": 4, "y_transformation": "none", "random_seed": 9}),
    );
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    // No combination twice, but for the noise check's one repeat of the best.
    let key = |r: &std::collections::BTreeMap<String, String>| {
        format!("{}|{}|{}", r["x"], r["lr"], r["opt"])
    };
    let repeats: Vec<_> = rows
        .iter()
        .filter(|r| r["search_type"] == "repeat")
        .collect();
    assert_eq!(repeats.len(), 1, "{rows:?}");
    let mut keys: Vec<String> = rows.iter().map(key).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        rows.len() - 1,
        "a combination suggested twice: {rows:?}"
    );
    let repeated = key(repeats[0]);
    assert_eq!(rows.iter().filter(|r| key(r) == repeated).count(), 2);
}

#[test]
fn failures_enter_the_model_as_imputed_losses_and_the_search_goes_on() {
    let project = Project::new();
    project.script(
        "half.py",
        "import json, os, sys\ncfg = json.load(open(sys.argv[1]))\nif cfg['x'] > 0.8:\n    sys.exit('diverged')\njson.dump((cfg['x'] - 0.5) ** 2, open(os.path.join(cfg['save_folder'], 'output.json'), 'w'))\n",
    );
    project.configs(
        "python3",
        "half.py",
        json!({"x": {"type": "continuous", "domain": [0, 1]}}),
        json!({"search_type": "bopt", "max_suggestions": 12, "max_active_points": 1, "y_transformation": "none", "random_seed": 2}),
    );
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    assert_eq!(rows.len(), 12);
    assert!(
        rows.iter()
            .any(|r| r["status"] == "failed" && r["failure_reason"].contains("diverged")),
        "{rows:?}"
    );
    assert!(best_loss(&project) < 0.001);
}

#[test]
fn mcmc_estimation_samples_the_gp_and_logs_its_diagnostics() {
    let project = bowl_project(json!({
        "search_type": "bopt", "max_suggestions": 9, "max_active_points": 1, "y_transformation": "none", "random_seed": 4,
        "random_suggestion_probability": 0,
        "bopt_config": {"model_estimation_method": "MCMC", "n_burnin": 100, "n_samples": 20, "subsample_interval": 2}
    }));
    project.hpsearch(&["run", "."]).ok();
    let rows = project.data_rows(0);
    assert!(
        rows.iter()
            // Matern52, or Matern32 once the losses span two decades (the default kernel's rule);
            // EI, or `final` in the budget's last 30%.
            .filter(|r| r["search_type"].ends_with("_MCMC"))
            .count()
            >= 3,
        "{rows:?}"
    );
    let log = std::fs::read_to_string(project.search_dir(0).join("log.txt")).unwrap();
    assert!(
        log.contains("MCMC (NUTS) of the GP hyperparameters: 20 samples"),
        "{log}"
    );
    assert!(
        log.contains("divergent transitions") && log.contains("R-hat"),
        "{log}"
    );
    assert!(best_loss(&project) < 0.1);
}

/// Runs `hpsearch ask-tell` on a 2-D bowl with a budget of 14, answering each suggestion with
/// the bowl's value (or `override_at`'s value for that suggestion's index), `in_flight` set or
/// not; checks that it ends by itself once the budget is spent, and returns the suggestions.
fn ask_tell_session(in_flight: Option<&str>, override_at: Option<(usize, f64)>) -> Vec<Vec<f64>> {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Command, Stdio};
    let mut command = Command::new(env!("CARGO_BIN_EXE_hpsearch"));
    // No random share: every suggestion past the initial design is the model's, so a changed
    // value shows in the next one the model sees it in.
    command
        .arg("ask-tell")
        .env(
            "HPSEARCH_SOLVER_CONFIG",
            r#"{"random_suggestion_probability": 0}"#,
        )
        .env_remove("HPSEARCH_IN_FLIGHT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(q) = in_flight {
        command.env("HPSEARCH_IN_FLIGHT", q);
    }
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let problem = json!({"space": [{"name": "x", "type": "float", "low": -1.0, "high": 1.0},
                                   {"name": "y", "type": "float", "low": -1.0, "high": 1.0}],
                         "seed": 5, "budget": 14, "direction": "minimize"});
    writeln!(stdin, "{problem}").unwrap();
    let mut points = Vec::new();
    for i in 0..14 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let reply: serde_json::Value = serde_json::from_str(&line).unwrap();
        let (x, y) = (
            reply["params"]["x"].as_f64().unwrap(),
            reply["params"]["y"].as_f64().unwrap(),
        );
        points.push(vec![x, y]);
        let value = match override_at {
            Some((at, value)) if at == i => value,
            _ => (x - 0.3).powi(2) + (y + 0.2).powi(2),
        };
        writeln!(stdin, "{}", json!({ "value": value })).unwrap();
    }
    // The budget spent, it ends by itself, with stdin still open and nothing more printed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("ask-tell did not end after its budget of 14 suggestions");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "printed past the budget");
    drop(stdin);
    points
}

/// `HPSEARCH_IN_FLIGHT=4`: each suggestion is made while the three before it have no value yet,
/// so a value reaches the suggestions from the fourth after it on, and no sooner.
#[test]
fn ask_tell_in_flight_suggests_ahead_of_the_values() {
    let bowl = ask_tell_session(Some("4"), None);
    // Suggestion 7's value made very different: with four in flight, suggestions 8-10 were made
    // before it came and are the same; the model sees it from suggestion 11 on.
    let changed = ask_tell_session(Some("4"), Some((7, 50.0)));
    assert_eq!(bowl[..11], changed[..11]);
    assert_ne!(bowl[11..], changed[11..]);
    // One at a time (unset), suggestion 8 already sees it.
    let sequential = ask_tell_session(None, None);
    let sequential_changed = ask_tell_session(None, Some((7, 50.0)));
    assert_eq!(sequential[..8], sequential_changed[..8]);
    assert_ne!(sequential[8], sequential_changed[8]);
    // And suggesting ahead changes the search: past the initial design, other points.
    assert_ne!(bowl[8..], sequential[8..]);
}

/// `hpsearch ask-tell` (the benchmark's solver protocol): one suggestion per reply until EOF,
/// through the config's y_transformation; a value its log10 refuses counts as a failed run and
/// the optimiser goes on.
#[test]
fn ask_tell_serves_suggestions_through_the_y_transformation_and_survives_a_refused_value() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_hpsearch"))
        .arg("ask-tell")
        .env("HPSEARCH_SOLVER_CONFIG", r#"{"y_transformation": "log"}"#)
        .env_remove("HPSEARCH_IN_FLIGHT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let problem = json!({"space": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
                         "seed": 1, "budget": 12, "direction": "minimize"});
    writeln!(stdin, "{problem}").unwrap();
    let mut xs = Vec::new();
    for i in 0..12 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let reply: serde_json::Value = serde_json::from_str(&line).unwrap();
        let x = reply["params"]["x"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x), "{reply}");
        xs.push(x);
        // The third value is 0, which log10 refuses; the others span four decades.
        let value = if i == 2 {
            0.0
        } else {
            10f64.powf(4.0 * (x - 0.3).abs()) * 1e-3
        };
        writeln!(stdin, "{}", json!({ "value": value })).unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    // Every combination once, but for the noise check's repeat of the best one, right after the
    // space-filling suggestions (six: the refused value left five with a loss).
    let distinct: std::collections::HashSet<u64> = xs.iter().map(|x| x.to_bits()).collect();
    assert_eq!(
        distinct.len(),
        xs.len() - 1,
        "a combination suggested twice: {xs:?}"
    );
    assert!(xs[..6].contains(&xs[6]), "{xs:?}");
    // The search log says when the objective (before its log10) spans decades.
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("before y_transformation's log10"), "{log}");
}
