//! The in-process optimizer's tests: suggestions, tells, reports and what the strategy sees.

use super::*;

const SPACE: &str = r#"{"x": {"type": "continuous", "domain": [0, 1]},
                       "n": {"type": "discrete", "domain": [1, 2, 3]},
                       "fixed": "kept out of the params"}"#;

fn optimizer(config: &str, seed: Option<u64>) -> Optimizer {
    Optimizer::new(&Source::json(SPACE), Some(&Source::json(config)), seed).unwrap()
}

fn error(space: &str, config: &str, seed: Option<u64>) -> String {
    match Optimizer::new(&Source::json(space), Some(&Source::json(config)), seed) {
        Ok(_) => panic!("accepted: {space} {config}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_same_seed_and_results_give_the_same_suggestions() {
    let run = |seed| {
        let mut o = optimizer(
            r#"{"min_initial_points": 2, "y_transformation": "none"}"#,
            Some(seed),
        );
        let mut seen = Vec::new();
        for _ in 0..4 {
            let t = o.ask().unwrap().unwrap();
            let (id, x) = (t.id, t.params["x"].as_f64().unwrap());
            seen.push(t.params.clone());
            o.tell(id, Told::Objective((x - 0.3).powi(2))).unwrap();
        }
        seen
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
    assert_eq!(run(3)[0].keys().collect::<Vec<_>>(), ["x", "n"]);
}

#[test]
fn a_batch_is_asked_with_the_earlier_ones_pending() {
    let mut o = optimizer(
        r#"{"search_type": "grid", "num_grid_points_per_hyperparameter": 3}"#,
        Some(1),
    );
    let batch: Vec<u64> = o.ask_many(20).unwrap().iter().map(|t| t.id).collect();
    assert_eq!(
        batch,
        (0..9).collect::<Vec<u64>>(),
        "a 3 x 3 grid, every point once"
    );
    let keys: std::collections::HashSet<String> = o
        .trials()
        .iter()
        .map(|t| Value::Object(t.params.clone()).to_string())
        .collect();
    assert_eq!(keys.len(), 9);
    assert!(o.ask().unwrap().is_none());
}

#[test]
fn failures_are_judged_and_imputed_as_a_search_does() {
    let mut o = optimizer(
        r#"{"search_type": "random", "y_transformation": "log"}"#,
        Some(2),
    );
    let ids: Vec<u64> = o.ask_many(4).unwrap().iter().map(|t| t.id).collect();
    o.tell(ids[0], Told::failure("timed_out").unwrap()).unwrap();
    assert_eq!(o.model_loss(0), None, "no success yet: no scale for max");
    o.tell(ids[1], Told::Objective(100.0)).unwrap();
    o.tell(ids[2], Told::Objective(10.0)).unwrap();
    assert_eq!(o.model_loss(1), Some(2.0));
    // worst + 0.05 * max(|worst|, worst - best) over the losses 2 and 1.
    assert_eq!(o.model_loss(0), Some(2.1));
    let refused = o.tell(ids[3], Told::Objective(-1.0)).unwrap().state.clone();
    assert!(
        matches!(
            refused,
            TrialState::Failed {
                kind: FailureKind::TransformationFailed,
                objective: Some(_),
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(o.best().unwrap().id, 2);
    let again = o
        .tell(ids[1], Told::Objective(1.0))
        .unwrap_err()
        .to_string();
    assert_eq!(again, "trial 1 was already told (succeeded)");
    assert!(o
        .tell(9, Told::Cancelled)
        .unwrap_err()
        .to_string()
        .starts_with("no trial 9"));
    let unknown = Told::failure("oom").unwrap_err().to_string();
    assert!(
        unknown.contains("out_of_memory") && unknown.contains("cancelled"),
        "{unknown}"
    );
}

#[test]
fn config_errors_are_the_searchs_one_line_messages() {
    let message = error(
        r#"{"x": {"type": "continuous", "domain": [1]}}"#,
        "{}",
        None,
    );
    assert!(
        message.starts_with("model_config.json: field `x"),
        "{message}"
    );
    let message = error(SPACE, r#"{"serch_type": "grid"}"#, None);
    assert!(
        message.starts_with("search_config.json: field `serch_type`"),
        "{message}"
    );
    let message = error(SPACE, r#"{"random_seed": 5}"#, Some(6));
    assert!(message.contains("differ"), "{message}");
    assert!(!message.contains('\n'));
}

#[test]
fn max_suggestions_limits_asks_as_it_limits_a_search() {
    let mut o = optimizer(
        r#"{"search_type": "random", "max_suggestions": 2}"#,
        Some(0),
    );
    assert_eq!(o.ask_many(5).unwrap().len(), 2);
    let mut o = optimizer(r#"{"search_type": "random"}"#, Some(0));
    assert_eq!(o.ask_many(250).unwrap().len(), 200, "the default, 200");
}

#[test]
fn reports_are_judged_by_the_early_stopping_rule_and_a_pruned_trial_keeps_its_last_value() {
    let config = r#"{"search_type": "random", "y_transformation": "log",
        "early_stopping": {"rule": "asha", "min_step": 1, "max_step": 9, "reduction_factor": 3,
            "order_check": false}}"#;
    let mut o = optimizer(config, Some(5));
    let ids: Vec<u64> = o.ask_many(3).unwrap().iter().map(|t| t.id).collect();
    assert!(o.trials().iter().all(|t| t.max_step == Some(9)));
    // The first trial at rung 1 goes on, and finishes.
    assert!(o.report(ids[0], 1, 10.0).unwrap().is_none());
    assert!(o.report(ids[0], 9, 1.0).unwrap().is_none());
    o.tell(ids[0], Told::Objective(1.0)).unwrap();
    // A worse second trial is stopped at rung 1; its later reports are not judged again.
    let stop = o
        .report(ids[1], 1, 100.0)
        .unwrap()
        .expect("worse at rung 1");
    assert!(stop.reason.contains("rung of step 1"), "{}", stop.reason);
    assert!(o.report(ids[1], 2, 1000.0).unwrap().is_none());
    let state = o.tell(ids[1], Told::Pruned).unwrap().state.clone();
    match &state {
        TrialState::Pruned {
            step,
            objective,
            loss,
            reason,
        } => {
            assert_eq!((*step, *objective, *loss), (2, 1000.0, Some(3.0)));
            assert!(
                reason.starts_with("stopped at step 1: at the rung"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        o.model_loss(ids[1]),
        Some(3.0),
        "a search's choice: its last value"
    );
    // ... read at the step it reached, of a whole run's 9.
    let (finished, _) = o.strategy_view();
    let stopped: Vec<Option<u64>> = finished.iter().map(|f| f.stopped_at).collect();
    assert_eq!(stopped, [None, Some(2)]);
    assert_eq!(o.full_length(), Some(9));
    o.set_pruned_runs(PrunedRuns::LeftOut);
    assert_eq!(o.model_loss(ids[1]), None);
    o.set_pruned_runs(PrunedRuns::Worst);
    assert!(
        o.model_loss(ids[1]).unwrap() > 0.0,
        "worse than the success's 0"
    );
    o.set_pruned_runs(PrunedRuns::LastValue);
    assert_eq!(o.model_loss(ids[1]), Some(3.0));
    // A trial without a report cannot be pruned; its state stays pending.
    let message = o.tell(ids[2], Told::Pruned).unwrap_err().to_string();
    assert!(
        message.contains("reported no intermediate result"),
        "{message}"
    );
    assert_eq!(o.trials()[2].state, TrialState::Pending);
}

#[test]
fn read_at_the_highest_rung_trials_are_seen_at_their_loss_on_the_rung_enough_reached() {
    let config = r#"{"search_type": "random", "y_transformation": "none",
        "early_stopping": {"rule": "asha", "min_step": 1, "max_step": 9, "reduction_factor": 3,
            "order_check": false}}"#;
    let mut o = optimizer(config, Some(3));
    o.set_pruned_runs(PrunedRuns::HighestRung);
    let ids: Vec<u64> = o.ask_many(4).unwrap().iter().map(|t| t.id).collect();
    let curves: [&[(u64, f64)]; 4] = [
        &[(1, 5.0), (3, 4.0), (9, 1.0)],
        &[(1, 4.0), (3, 3.0), (9, 2.0)],
        &[(1, 6.0)],
        &[(1, 3.0), (3, 2.5), (9, 0.5)],
    ];
    let mut views = Vec::new();
    for (id, curve) in ids.iter().zip(curves) {
        let mut stopped = false;
        for (step, objective) in curve {
            stopped = o.report(*id, *step, *objective).unwrap().is_some();
        }
        let told = if stopped {
            Told::Pruned
        } else {
            Told::Objective(curve.last().unwrap().1)
        };
        o.tell(*id, told).unwrap();
        let (finished, _) = o.strategy_view();
        views.push(
            finished
                .iter()
                .map(|f| (f.loss, f.stopped_at))
                .collect::<Vec<_>>(),
        );
    }
    // Two trials are too few (dims + 1 = 3) at any rung: read as AtTheirStep, whole.
    assert_eq!(views[1], [(Some(1.0), None), (Some(2.0), None)]);
    // The third, stopped at rung 1, makes three there: everyone is read at step 1.
    assert_eq!(
        views[2],
        [(Some(5.0), None), (Some(4.0), None), (Some(6.0), None)]
    );
    // Three reached max_step: read at their ends; the one stopped below is left out.
    assert_eq!(
        views[3],
        [
            (Some(1.0), None),
            (Some(2.0), None),
            (None, None),
            (Some(0.5), None)
        ]
    );
}

#[test]
fn bopt_reads_a_pruned_trial_at_its_step_and_suggests_otherwise() {
    // The same objective and rule, two ways of reading pruned trials: the suggestions are
    // the same until a trial is pruned, and part after it.
    let config = r#"{"search_type": "bopt", "min_initial_points": 3,
        "random_suggestion_probability": 0, "y_transformation": "none",
        "early_stopping": {"rule": "asha", "min_step": 1, "max_step": 9, "reduction_factor": 3,
            "order_check": false}}"#;
    let search = |pruned_runs: PrunedRuns| -> (Vec<Vec<f64>>, Option<usize>) {
        let mut o = optimizer(config, Some(4));
        o.set_pruned_runs(pruned_runs);
        let mut first_pruned = None;
        for i in 0..9 {
            let trial = o.ask().unwrap().unwrap();
            let (id, x) = (trial.id, trial.point[0]);
            // Curves cross: a high x learns fast and ends worse.
            let at = |step: u64| (x - 0.3).powi(2) + (1.0 - x) * 2.0 / step as f64;
            let mut told = Told::Objective(at(9));
            for step in 1..=9 {
                if o.report(id, step, at(step)).unwrap().is_some() {
                    told = Told::Pruned;
                    first_pruned = first_pruned.or(Some(i));
                    break;
                }
            }
            o.tell(id, told).unwrap();
        }
        let points = o.trials().iter().map(|t| t.point.clone()).collect();
        (points, first_pruned)
    };
    let (at_step, pruned) = search(PrunedRuns::AtTheirStep);
    let (as_whole, same_pruned) = search(PrunedRuns::LastValue);
    let first = pruned.expect("asha stops a trial");
    assert_eq!(Some(first), same_pruned);
    assert_eq!(at_step[..=first], as_whole[..=first]);
    assert_ne!(at_step[first + 1..], as_whole[first + 1..]);
}

#[test]
fn under_the_median_rule_a_whole_run_is_as_long_as_the_longest_success() {
    let config = r#"{"search_type": "random",
        "early_stopping": {"rule": "median", "startup_runs": 1}}"#;
    let mut o = optimizer(config, Some(2));
    let ids: Vec<u64> = o.ask_many(3).unwrap().iter().map(|t| t.id).collect();
    assert_eq!(o.full_length(), None, "no run has finished");
    for step in 1..=20 {
        o.report(ids[0], step, 1.0 / step as f64).unwrap();
    }
    o.tell(ids[0], Told::Objective(0.05)).unwrap();
    // The second is worse at step 1, stopped there.
    assert!(o.report(ids[1], 1, 5.0).unwrap().is_some());
    o.tell(ids[1], Told::Pruned).unwrap();
    // A pending trial's reports do not make a whole run longer.
    for step in 1..=30 {
        o.report(ids[2], step, 0.01).unwrap();
    }
    assert_eq!(o.full_length(), Some(20));
    let (finished, pending) = o.strategy_view();
    let stopped: Vec<Option<u64>> = finished.iter().map(|f| f.stopped_at).collect();
    assert_eq!(stopped, [None, Some(1)]);
    assert_eq!(pending.len(), 1);
}

#[test]
fn bad_reports_are_refused_with_what_to_do() {
    let mut o = optimizer(r#"{"search_type": "random"}"#, Some(1));
    let id = o.ask().unwrap().unwrap().id;
    let error =
        |o: &mut Optimizer, id, step, value| o.report(id, step, value).unwrap_err().to_string();
    assert!(error(&mut o, id, 0, 1.0).contains("steps are whole numbers from 1"));
    assert!(error(&mut o, id, 1, f64::NAN).contains("not a finite number"));
    assert!(o.report(id, 3, 1.0).unwrap().is_none(), "the rule is off");
    assert!(error(&mut o, id, 3, 1.0).contains("step 3 after step 3"));
    assert!(error(&mut o, 7, 1, 1.0).starts_with("no trial 7"));
    o.tell(id, Told::Objective(1.0)).unwrap();
    assert!(error(&mut o, id, 4, 1.0).contains("already told (succeeded)"));
    assert_eq!(o.trials()[0].max_step, None);
}

#[test]
fn a_trial_that_succeeds_short_of_max_step_under_the_order_check_is_noted_once() {
    let run = |order_check: bool| -> Vec<Vec<String>> {
        let config = format!(
            r#"{{"search_type": "random", "y_transformation": "none",
            "early_stopping": {{"rule": "asha", "max_step": 9, "order_check": {order_check}}}}}"#
        );
        let mut o = optimizer(&config, Some(2));
        (0..3)
            .map(|_| {
                let id = o.ask().unwrap().unwrap().id;
                for step in 1..=3 {
                    assert!(o.report(id, step, 1.0 / step as f64).unwrap().is_none());
                }
                o.tell(id, Told::Objective(1.0 / 3.0)).unwrap();
                o.take_notes()
            })
            .collect()
    };
    let noted = run(true);
    assert_eq!(noted[0].len(), 1, "{noted:?}");
    assert!(
        noted[0][0]
            .starts_with("trial 0 succeeded at step 3, short of early_stopping.max_step (9)"),
        "{noted:?}"
    );
    assert!(
        noted[1].is_empty() && noted[2].is_empty(),
        "once: {noted:?}"
    );
    assert!(
        run(false).iter().all(Vec::is_empty),
        "without the check the rungs judge anyway"
    );
}
