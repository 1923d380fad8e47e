use super::replicates::complexity;
use super::*;
use rand::{RngExt, SeedableRng};

fn info(name: &str, simpler: Option<Simpler>) -> HyperparameterInfo {
    HyperparameterInfo {
        name: name.into(),
        kind: "continuous",
        log_scale: false,
        integer: false,
        unit: None,
        simpler,
        categories: vec![],
        low: Some(0.0),
        high: Some(1.0),
    }
}

fn run(id: u64, x: f64, loss: f64) -> Run {
    let mut params = Map::new();
    params.insert("x".into(), Value::from(x));
    Run {
        id,
        state: RunState::Succeeded,
        search_type: "grid".into(),
        params,
        unit_point: vec![x],
        loss: Some(loss),
        objective: Some(loss),
        imputed: false,
        failure_kind: None,
        failure_reason: None,
        minutes: Some(0.1),
        finished_at: None,
        replicate_of: None,
        job_id: None,
        scheduler_state: None,
        peak_memory_mb: None,
        folder: String::new(),
        log: String::new(),
    }
}

/// The hand-computed example: settings x = 0.8, 0.5, 0.9 with means 1.0, 1.1, 2.0, each run
/// three times at the mean and ± 0.1.
fn three_settings_run_three_times() -> Vec<Run> {
    let mut runs = Vec::new();
    let mut id = 0;
    for (x, m) in [(0.8, 1.0), (0.5, 1.1), (0.9, 2.0)] {
        for d in [-0.1, 0.0, 0.1] {
            runs.push(run(id, x, m + d));
            id += 1;
        }
    }
    runs
}

/// Three settings, each run three times. By hand: group means 1.0, 1.1, 2.0; each group's
/// variance is 0.01 (values m ± 0.1), so the pooled sd is 0.1 with 6 degrees of freedom.
/// Setting x=0.5: t = 0.1 / (0.1·√(2/3)) = 1.2247, one-sided p = 0.133 > 0.05: near-best.
/// Setting x=0.9: t = 1.0 / 0.08165 = 12.25, p ≈ 9e-6: not near-best.
#[test]
fn near_best_set_matches_the_hand_computed_answer() {
    let runs = three_settings_run_three_times();
    let hp = vec![info("x", Some(Simpler::Lower))];
    let a = replicate_analysis(&runs, &hp, 0.05);
    assert!(a.judged);
    assert!((a.noise_sd.unwrap() - 0.1).abs() < 1e-9);
    assert_eq!(a.noise_df, 6);
    let by_x = |x: f64| a.groups.iter().find(|g| g.params["x"] == x).unwrap();
    assert!(by_x(0.8).near_best);
    let mid = by_x(0.5);
    assert!((mid.p_value.unwrap() - 0.1333).abs() < 2e-3, "{mid:?}");
    assert!(mid.near_best);
    assert!(!by_x(0.9).near_best);
    assert!(by_x(0.9).p_value.unwrap() < 1e-4);
}

#[test]
fn without_repeats_the_set_is_not_judged() {
    let runs = vec![run(0, 0.1, 1.0), run(1, 0.2, 2.0)];
    let a = replicate_analysis(&runs, &[info("x", None)], 0.05);
    assert!(!a.judged);
    assert!(a.explanation.contains("hpsearch replicate"));
    assert!(a.groups.iter().all(|g| g.p_value.is_none()));
}

#[test]
fn a_categorical_complexity_runs_from_0_at_the_first_to_1_at_the_last() {
    let mut h = info("c", Some(Simpler::Lower));
    h.kind = "categorical";
    h.categories = vec!["a".into(), "b".into(), "c".into()];
    let slice_centre = |i: f64| (i + 0.5) / 3.0;
    assert_eq!(
        complexity(&[slice_centre(0.0)], &[h.clone()], &[true]),
        Some(0.0)
    );
    assert_eq!(
        complexity(&[slice_centre(1.0)], &[h.clone()], &[true]),
        Some(0.5)
    );
    assert_eq!(complexity(&[slice_centre(2.0)], &[h], &[true]), Some(1.0));
}

/// An additive function of two inputs, one ten times stronger: its main effects explain
/// nearly everything, the strong one most, and no share exceeds 1.
#[test]
fn importance_ranks_an_additive_function_s_inputs() {
    let space = Space::unit_cube(2);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let combinations: Vec<Combination> = (0..40)
        .map(|id| {
            let point = vec![rng.random::<f64>(), rng.random::<f64>()];
            let loss = 10.0 * (point[0] - 0.3).powi(2) + (point[1] - 0.5).powi(2);
            succeeded(id, &space, point, loss)
        })
        .collect();
    let imp = importance(&space, &combinations, 0).unwrap();
    let [a, b] = [imp.shares[0].unwrap(), imp.shares[1].unwrap()];
    assert!(a > 0.85 && a <= 1.0, "{imp:?}");
    assert!(b < 0.1 && b > 0.0, "{imp:?}");
    assert!(a + b <= 1.0 + 1e-9 && imp.interactions < 0.1, "{imp:?}");
    // The main effect of `a` bottoms out near 0.3.
    let e = &imp.effects[0];
    let lowest = e
        .mean
        .iter()
        .enumerate()
        .min_by(|x, y| x.1.total_cmp(y.1))
        .map(|(i, _)| e.unit[i])
        .unwrap();
    assert!((lowest - 0.3).abs() < 0.1, "minimum at {lowest}");
}

fn succeeded(id: u64, space: &Space, point: Vec<f64>, loss: f64) -> Combination {
    Combination {
        id,
        state: RunState::Succeeded,
        search_type: "random".into(),
        params: space.decode(&point),
        point,
        previous_results_count: 0,
        is_queued: true,
        job_id: None,
        pid: None,
        pid_start: None,
        created_at: 0.0,
        started_at: None,
        finished_at: None,
        attempts: 1,
        objective: Some(loss),
        loss: Some(loss),
        failure_kind: None,
        failure_reason: None,
        metrics: Map::new(),
        replicate_of: None,
        scheduler_state: None,
        elapsed_seconds: None,
        peak_memory_mb: None,
        steps: None,
        stop_step: None,
        cpu_seconds: None,
        gpus: None,
        control_step: None,
    }
}

/// A continuous `x` on [0, 1] with `"simpler": "lower"`.
fn model_x() -> ModelConfig {
    let variables = serde_json::json!({
        "x": {"type": "continuous", "domain": [0, 1], "simpler": "lower"},
        "fixed": 3
    });
    let Value::Object(map) = variables else {
        unreachable!()
    };
    ModelConfig::from_map(std::path::Path::new("model_config.json"), map).unwrap()
}

/// x=0.8 and x=0.5 ran three times (means 1.0 and 1.02, pooled sd 0.1), x=0.1 once at
/// 1.05: all three are near-best, x=0.1 is the simplest, but one run is not a measurement
/// of a setting, so x=0.5 is recommended.
#[test]
fn a_setting_that_ran_once_is_never_recommended() {
    let mut runs = Vec::new();
    let mut id = 0;
    for (x, m) in [(0.8, 1.0), (0.5, 1.02)] {
        for d in [-0.1, 0.0, 0.1] {
            runs.push(run(id, x, m + d));
            id += 1;
        }
    }
    runs.push(run(id, 0.1, 1.05));
    let model = model_x();
    let hp = describe_space(&model);
    let a = replicate_analysis(&runs, &hp, 0.05);
    let once = a.groups.iter().find(|g| g.n == 1).unwrap();
    assert!(once.near_best, "{once:?}");
    let r = recommend(&a, &hp, &model).unwrap();
    assert_eq!(r.params["x"], 0.5, "{r:?}");
    assert!(
        r.why
            .contains("1 near-best setting that ran once is left out"),
        "{}",
        r.why
    );
    assert_eq!(r.input_json["fixed"], 3);

    // Every setting once: nothing, and the reason says what to do.
    let single = vec![run(0, 0.1, 1.0), run(1, 0.2, 2.0)];
    let a = replicate_analysis(&single, &hp, 0.05);
    let why = recommend(&a, &hp, &model).unwrap_err();
    assert!(
        why.contains("no setting has run more than once")
            && why.contains("hpsearch test SEARCH --combination ID"),
        "{why}"
    );
}

/// The detectable difference of the hand-computed example above: 6 degrees of freedom,
/// t(0.95) = 1.9432 and t(0.80) = 0.9057, so (1.9432 + 0.9057) × 0.1·√(2/3) = 0.2326.
#[test]
fn the_detectable_difference_is_the_power_of_the_test() {
    let runs = three_settings_run_three_times();
    let a = replicate_analysis(&runs, &[info("x", None)], 0.05);
    assert_eq!(a.groups[0].detectable, None, "the best is the reference");
    for g in &a.groups[1..] {
        let d = g.detectable.unwrap();
        assert!((d - 0.2326).abs() < 1e-3, "{d}");
    }
    let power = a.power.unwrap();
    assert!(
        power.starts_with("with 3 runs per setting and noise sd 0.1, a difference in mean loss smaller than ~0.23 would likely go undetected"),
        "{power}"
    );
}

/// A categorical whose second category ran once: its importance is not estimable (not 0),
/// its main effect is not drawn there, and the other effects average over the first
/// category only.
#[test]
fn a_category_tried_once_has_no_importance() {
    use crate::space::{Hyperparameter, Transformation};
    let space = Space::new(vec![
        Hyperparameter::new(
            "x",
            Domain::Continuous {
                low: 0.0,
                high: 1.0,
            },
            Transformation::Linear,
        ),
        Hyperparameter::new(
            "kernel",
            Domain::Categorical {
                values: vec![Value::from("rbf"), Value::from("laplacian")],
            },
            Transformation::Linear,
        ),
    ]);
    let mut combinations: Vec<Combination> = (0..10)
        .map(|i| {
            let x = i as f64 / 9.0;
            succeeded(i, &space, vec![x, 0.25], (x - 0.4).powi(2))
        })
        .collect();
    combinations.push(succeeded(10, &space, vec![0.5, 0.75], 3.0));
    let imp = importance(&space, &combinations, 0).unwrap();
    assert!(imp.shares[0].is_some_and(|s| s > 0.5), "{imp:?}");
    assert_eq!(imp.shares[1], None, "{imp:?}");
    let kernel = &imp.effects[1];
    assert!(!kernel.estimable);
    assert_eq!(kernel.runs, [10, 1]);
    assert_eq!(kernel.estimated, [true, false], "rbf's level is measured");
    assert!(
        imp.notes.iter().any(|n| n
            .contains("kernel: importance not estimable, not 0%: laplacian (1 successful run)")
            && n.contains("hold kernel at rbf")),
        "{:?}",
        imp.notes
    );
}

#[test]
fn complexity_follows_the_marked_direction() {
    let lower = [info("x", Some(Simpler::Lower))];
    let higher = [info("x", Some(Simpler::Higher))];
    assert_eq!(complexity(&[0.25], &lower, &[true]), Some(0.25));
    assert_eq!(complexity(&[0.25], &higher, &[true]), Some(0.75));
    assert_eq!(complexity(&[0.25], &[info("x", None)], &[true]), None);
}

#[test]
fn complexity_counts_only_the_active_hyperparameters() {
    let marked = [
        info("layers", Some(Simpler::Lower)),
        info("width", Some(Simpler::Lower)),
    ];
    // A setting without `width` (inactive) is as complex as its layers say, not pulled to
    // the middle by the placeholder.
    assert_eq!(complexity(&[0.0, 0.5], &marked, &[true, false]), Some(0.0));
    assert_eq!(complexity(&[0.0, 0.5], &marked, &[true, true]), Some(0.25));
}
