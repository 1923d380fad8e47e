//! The rules' tests: each rule on hand-made curves, the order check and its controls.

use super::*;

fn median_rule(startup_runs: u64, warmup_steps: u64, interval_steps: u64) -> Pruner {
    Pruner::new(EarlyStopping::Median {
        startup_runs,
        warmup_steps,
        interval_steps,
    })
}

/// Runs 0..n, run i's loss at step s = (i + 1) / s, each to the end.
fn finished_runs(pruner: &mut Pruner, n: u64, steps: u64) {
    for id in 0..n {
        for step in 1..=steps {
            assert_eq!(
                pruner.add(id, step, (id + 1) as f64 / step as f64, true),
                None
            );
        }
        pruner.ended(id, true);
    }
}

#[test]
fn median_stops_a_run_worse_than_the_finished_runs_median_and_spares_a_better_one() {
    let mut pruner = median_rule(3, 1, 1);
    // Runs 0, 1, 2 at step 2: 0.5, 1.0, 1.5: median 1.0. The first three are never stopped:
    // they have no finished runs (or too few) to compare with.
    finished_runs(&mut pruner, 3, 5);
    // Within the warm-up (step 1) even a poor run goes on.
    assert_eq!(pruner.add(10, 1, 9.0, true), None);
    let stop = pruner
        .add(10, 2, 2.0, true)
        .expect("2.0 is worse than the median 1.0");
    assert_eq!(stop.step, 2);
    assert!(
        stop.reason.contains("median of 3 finished runs"),
        "{}",
        stop.reason
    );
    // A run as good as the median goes on.
    assert_eq!(pruner.add(11, 2, 1.0, true), None);
    assert_eq!(pruner.add(11, 3, 0.2, true), None);
}

#[test]
fn steps_summed_over_runs_at_the_largest_step_do_not_overflow() {
    // Each run's furthest step counts towards the order check's control budget: three runs
    // at the largest step a script may report overflowed the sum (a panic in a debug build).
    let mut pruner = median_rule(1, 0, 1);
    let largest = crate::config::early_stopping::MAX_STEP;
    for id in 0..3 {
        assert_eq!(pruner.add(id, 1, 1.0, true), None);
        pruner.add(id, largest, 0.5, true);
    }
    assert_eq!(pruner.steps_seen, u64::MAX);
}

#[test]
fn median_waits_for_startup_runs_and_judges_once_per_interval() {
    let mut pruner = median_rule(3, 0, 4);
    finished_runs(&mut pruner, 2, 8);
    assert_eq!(
        pruner.add(10, 4, 100.0, true),
        None,
        "only 2 of 3 startup runs finished"
    );
    finished_runs(&mut pruner, 3, 8);
    // Steps 5-7 are inside the second interval, not yet crossed: no judgement.
    for step in 5..8 {
        assert_eq!(pruner.add(10, step, 100.0, true), None);
    }
    assert!(pruner.add(10, 8, 100.0, true).is_some());
}

#[test]
fn median_compares_sparse_reports_with_the_last_value_at_or_before_the_step() {
    let mut pruner = median_rule(1, 0, 1);
    for (step, loss) in [(10, 5.0), (20, 1.0)] {
        pruner.add(0, step, loss, true);
    }
    pruner.ended(0, true);
    // At step 15 the finished run stood at 5.0 (its value at step 10).
    assert_eq!(pruner.add(1, 15, 4.0, true), None);
    assert!(pruner.add(2, 15, 6.0, true).is_some());
}

fn asha(max_step: u64) -> Rungs {
    Rungs {
        min_step: 1,
        max_step,
        reduction_factor: 3,
        min_early_stopping_rate: 0,
        order_check: false,
    }
}

#[test]
fn a_curve_reported_every_batch_is_thinned_but_its_rungs_and_end_are_read_exactly() {
    // A script reporting 200,000 batches: kept whole, 3.2 MB for this one run.
    let steps = 200_000;
    let mut pruner = Pruner::new(EarlyStopping::Asha(asha(steps)));
    let loss = |step: u64| 1.0 + 1.0 / step as f64;
    for step in 1..=steps {
        pruner.add(0, step, loss(step), true);
    }
    pruner.ended(0, true);
    let kept = pruner.curves[&0].points.len();
    assert!(kept < 2 * CURVE_POINTS + 40, "{kept} points kept");
    assert_eq!(pruner.last(0), Some((steps, loss(steps))));
    // Every rung (3^k) and max_step reads the value reported there, before and after it.
    let mut rungs = asha(steps).rung_steps(0);
    rungs.push(steps);
    for rung in rungs {
        assert_eq!(pruner.at(0, rung), Some(loss(rung)), "at {rung}");
        assert_eq!(
            pruner.curves[&0].from(rung),
            Some(loss(rung)),
            "from {rung}"
        );
    }
    // Between them the nearest kept report before the step: close, never later.
    let read = pruner.at(0, 150_000).expect("a loss");
    assert!(read >= loss(150_000) && read < loss(140_000), "{read}");
}

#[test]
fn a_curve_of_an_epoch_a_step_is_kept_whole() {
    let mut pruner = median_rule(1, 0, 1);
    for step in 1..=(2 * CURVE_POINTS as u64 - 1) {
        pruner.add(0, step, 1.0 / step as f64, true);
    }
    assert_eq!(pruner.curves[&0].points.len(), 2 * CURVE_POINTS - 1);
}

#[test]
fn asha_lets_the_best_third_of_each_rung_go_on() {
    let mut pruner = Pruner::new(EarlyStopping::Asha(asha(27)));
    // Rung steps 1, 3, 9. The first run at a rung always goes on.
    assert_eq!(pruner.add(0, 1, 0.5, true), None);
    // Second run, worse: of 2 runs the best max(2/3, 1) = 1 goes on.
    let stop = pruner
        .add(1, 1, 0.9, true)
        .expect("worse than the only other run");
    assert!(
        stop.reason.contains("ranks 2 of the 2 runs"),
        "{}",
        stop.reason
    );
    // Better than run 0: goes on.
    assert_eq!(pruner.add(2, 1, 0.1, true), None);
    // Six runs at the rung: the best 2 go on; this one would be 2nd.
    for (id, loss) in [(3, 0.8), (4, 0.7)] {
        pruner.add(id, 1, loss, true);
    }
    assert_eq!(pruner.add(5, 1, 0.3, true), None);
    // A report that skips rungs is judged at each rung it passed, the lowest first.
    let stop = pruner.add(6, 9, 0.95, true).expect("worst at rung 1");
    assert!(stop.reason.contains("rung of step 1"), "{}", stop.reason);
}

#[test]
fn a_run_read_again_after_a_restart_is_not_judged_again_at_rungs_it_passed() {
    let mut pruner = Pruner::new(EarlyStopping::Asha(asha(27)));
    for id in 0..6 {
        pruner.add(id, 1, 0.1 * id as f64, true);
    }
    // Read again without judging: it had passed rung 1 before the restart.
    assert_eq!(pruner.add(9, 1, 5.0, false), None);
    assert_eq!(pruner.add(9, 2, 4.0, true), None);
    // It is judged at the next rung (3), where it is the first: it goes on.
    assert_eq!(pruner.add(9, 3, 3.0, true), None);
    assert_eq!(pruner.last(9), Some((3, 3.0)));
}

fn checked(max_step: u64) -> Pruner {
    Pruner::new(EarlyStopping::Asha(Rungs {
        order_check: true,
        ..asha(max_step)
    }))
}

/// Runs `ids`, each to `max_step` with loss `loss(id, step)`; none may be stopped.
fn whole_runs(
    pruner: &mut Pruner,
    ids: std::ops::Range<u64>,
    max_step: u64,
    loss: fn(u64, u64) -> f64,
) {
    for id in ids {
        for step in 1..=max_step {
            assert_eq!(
                pruner.add(id, step, loss(id, step), true),
                None,
                "run {id} step {step}"
            );
        }
        pruner.ended(id, true);
    }
}

/// Crossing curves: run `id`'s loss is `id` before step 9 and `10 - id` from step 9 on.
fn crossing(id: u64, step: u64) -> f64 {
    if step < 9 {
        id as f64
    } else {
        10.0 - id as f64
    }
}

#[test]
fn order_check_judges_only_at_rungs_whose_order_held_later() {
    // Crossing curves: the runs' order at steps 1-8 is the reverse of their order from
    // step 9 on (rungs 1, 3, 9 of 27).
    let mut pruner = checked(27);
    // Run 1 onwards are worse at rung 1 than run 0, and go on: nothing has been seen to hold.
    whole_runs(&mut pruner, 0..5, 27, crossing);
    // The worst run yet at rungs 1 and 3 goes on: there the order was reversed at the end.
    assert_eq!(pruner.add(10, 1, 100.0, true), None);
    assert_eq!(pruner.add(10, 3, 100.0, true), None);
    // At rung 9 the order held to the end: it is judged there, and stopped.
    let stop = pruner
        .add(10, 9, 100.0, true)
        .expect("worst at rung 9, whose order holds");
    assert!(stop.reason.contains("rung of step 9"), "{}", stop.reason);

    // Without the check, plain ASHA stops it at the first rung.
    let mut plain = Pruner::new(EarlyStopping::Asha(asha(27)));
    for step in 1..=27 {
        plain.add(0, step, crossing(0, step), true);
    }
    let stop = plain
        .add(10, 1, 100.0, true)
        .expect("worse than run 0 at rung 1");
    assert!(stop.reason.contains("rung of step 1"), "{}", stop.reason);
}

#[test]
fn order_check_waits_for_four_runs_past_the_rung_then_is_asha() {
    let kept = |id: u64, step: u64| (id + 1) as f64 / step as f64;
    let mut pruner = checked(27);
    whole_runs(&mut pruner, 0..3, 27, kept);
    assert_eq!(
        pruner.add(10, 1, 50.0, true),
        None,
        "3 runs are too few to check"
    );
    whole_runs(&mut pruner, 3..4, 27, kept);
    let stop = pruner
        .add(11, 1, 50.0, true)
        .expect("4 runs kept their order");
    assert!(stop.reason.contains("rung of step 1"), "{}", stop.reason);
}

#[test]
fn order_check_counts_runs_a_later_rung_stopped_not_only_the_whole_runs() {
    // Slow learners (0-4) go the whole way, in the same order at every step. Fast learners
    // (10-13) looked best at rungs 1 and 3, then worst, and rung 9 stopped them: at rung 1
    // the whole runs alone keep their order, the search as a whole does not.
    let slow = |id: u64, step: u64| 3.0 - 2.5 * step as f64 / 27.0 - id as f64 / 100.0;
    let fast = |id: u64, step: u64| {
        let level = if step < 9 { 1.0 } else { 2.5 };
        level + id as f64 / 100.0
    };
    // The runs recorded (as read again on resume), with the fast ones marked stopped or not
    // (the check as it was read the whole runs alone).
    let recorded = |mark_stopped: bool| {
        let mut pruner = checked(27);
        for id in 0..5 {
            for step in 1..=27 {
                pruner.add(id, step, slow(id, step), false);
            }
            pruner.ended(id, true);
        }
        for id in 10..14 {
            for step in 1..=9 {
                pruner.add(id, step, fast(id, step), false);
            }
            if mark_stopped {
                pruner.stopped(id, 9);
            }
            pruner.ended(id, false);
        }
        pruner
    };
    // A slow learner, worse at rung 1 than every fast one: it goes on.
    assert_eq!(recorded(true).add(20, 1, slow(0, 1) + 0.01, true), None);
    // Reading the whole runs alone, their order holds, and rung 1 stops it.
    let stop = recorded(false)
        .add(20, 1, slow(0, 1) + 0.01, true)
        .expect("the whole runs alone kept their order at rung 1");
    assert!(stop.reason.contains("rung of step 1"), "{}", stop.reason);
}

#[test]
fn order_check_lets_a_run_near_the_cut_go_on_as_a_control_and_counts_it_for_those_stopped() {
    // Ten whole runs in the same order at every step, each better than the last: rungs 1, 3
    // and 9 judge.
    let kept = |id: u64, step: u64| (10 - id) as f64 / step as f64;
    let mut pruner = checked(27);
    whole_runs(&mut pruner, 0..10, 27, kept);
    // Run 20 ranks 4th of 11 at rung 1, below the best 3 but near them: rung 1 would stop
    // it, and with 270 steps seen its 26 more are within a tenth: it goes on as a control.
    assert_eq!(pruner.add(20, 1, 3.5, true), None);
    // No later rung stops it, though it is the worst at rungs 3 and 9; it ends the best.
    for step in 2..27 {
        assert_eq!(pruner.add(20, step, 100.0, true), None, "step {step}");
    }
    assert_eq!(pruner.add(20, 27, 0.0, true), None);
    pruner.ended(20, true);
    // Run 21 is the worst at rung 1: stopped (rung 1's order held for all but the control).
    // Each run stopped there adds to the weight of the control, which stands for them, until
    // its pairs outweigh the whole runs' and the rung no longer judges.
    let mut stopped = 0;
    for id in 21..60 {
        if pruner.add(id, 1, 50.0, true).is_none() {
            break;
        }
        stopped += 1;
    }
    // The control's pairs: 7 in the same order at rung 1 and at the end, 3 reversed; the
    // whole runs' 45 pairs all the same: the rung judges while (45 + 7w) / (45 + 10w) >= 0.75,
    // that is for w up to 22.5 runs stopped, the control among them.
    assert_eq!(
        stopped, 22,
        "runs stopped at rung 1 before the check turned it off"
    );
}

#[test]
fn order_check_is_not_passed_by_runs_in_flight_at_a_nearer_step() {
    // Four runs in flight at step 3, none at the end yet; their order at steps 1 and 3 is
    // the same (it reverses only from step 9): rung 1 must not judge on that.
    let mut pruner = checked(27);
    for id in 0..4 {
        for step in 1..=3 {
            assert_eq!(pruner.add(id, step, crossing(id, step), true), None);
        }
    }
    assert_eq!(pruner.add(10, 1, 100.0, true), None);
}

#[test]
fn order_check_reads_runs_that_skip_the_rung_step_where_the_rung_does() {
    // Reports at even steps only: rung 1 reads each run at step 2.
    let mut pruner = checked(27);
    for id in 0..4 {
        for step in (2..=26).step_by(2).chain([27]) {
            assert_eq!(
                pruner.add(id, step, (id + 1) as f64 / step as f64, true),
                None
            );
        }
        pruner.ended(id, true);
    }
    let stop = pruner
        .add(10, 2, 50.0, true)
        .expect("worst at rung 1, whose order held");
    assert!(stop.reason.contains("rung of step 1"), "{}", stop.reason);
}

/// The share of pairs ordered alike by both values (pairs tied in either left out); `None`
/// when every pair ties.
fn concordance(items: &[(f64, f64)]) -> Option<f64> {
    let pairs = items.iter().enumerate().flat_map(|(i, (a1, b1))| {
        items[i + 1..]
            .iter()
            .map(move |(a2, b2)| ((*a1, *a2), (*b1, *b2), 1.0))
    });
    concordant_share(pairs)
}

#[test]
fn concordance_leaves_ties_out() {
    assert_eq!(
        concordance(&[(1.0, 1.0), (2.0, 2.0), (3.0, 0.0)]),
        Some(1.0 / 3.0)
    );
    assert_eq!(concordance(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), None);
    assert_eq!(
        concordance(&[(1.0, 5.0), (2.0, 6.0), (2.0, 7.0)]),
        Some(1.0)
    );
}

#[test]
fn hyperband_brackets_compete_apart() {
    let rungs = asha(9);
    assert_eq!(rungs.brackets(), 2);
    let mut pruner = Pruner::new(EarlyStopping::Hyperband(rungs));
    // Even ids: bracket 0 (rungs 1, 3); odd ids: bracket 1 (rung 3 only).
    assert_eq!(pruner.add(0, 1, 0.1, true), None);
    assert_eq!(
        pruner.add(1, 1, 9.0, true),
        None,
        "bracket 1 has no rung at step 1"
    );
    assert!(
        pruner.add(2, 1, 0.5, true).is_some(),
        "worse than run 0 in bracket 0"
    );
    assert_eq!(
        pruner.add(1, 3, 9.0, true),
        None,
        "first of bracket 1 at rung 3"
    );
    assert!(pruner.add(3, 3, 9.5, true).is_some());
}
