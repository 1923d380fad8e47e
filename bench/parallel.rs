//! Regret of the Bayesian optimiser against the number of finished runs with 1, 4 and 16 runs in
//! flight (asynchronous: the oldest run finishes, a new one starts with the rest still pending).
//! Problems: Branin (2-D) and Hartmann6; 48 finished runs; median over 5 seeds (or
//! `HPSEARCH_BENCH_SEEDS`). Then the speed-up in wall time (issue 16): how many rounds of q
//! results (q = 4, 16 in flight) a search needs to reach the regret that sequential search of
//! the same seed reaches after 48 results, against sequential search's 48 rounds; the results
//! each seed needed are printed, so that two builds compare seed by seed.
//!
//!     cargo bench --bench parallel
//!
//! Settings (environment): `HPSEARCH_BENCH_SEEDS` (5), `HPSEARCH_BENCH_FIRST_SEED` (0),
//! `HPSEARCH_BENCH_PART=2` (the speed-up alone), `HPSEARCH_BENCH_BOPT` (a `bopt_config` object),
//! `HPSEARCH_BENCH_PROBLEMS` (of branin, hartmann6, rosenbrock4, ackley5_off, styblinski4;
//! the first two unless set).

#[path = "stats.rs"]
mod stats;

use hpsearch::config::search::SearchConfig;
use hpsearch::space::Space;
use hpsearch::strategy::{BoptStrategy, Observation, Strategy, SuggestContext};
use stats::quartiles;
use std::collections::VecDeque;

fn branin(x: &[f64]) -> f64 {
    let (a, b) = (-5.0 + 15.0 * x[0], 15.0 * x[1]);
    let pi = std::f64::consts::PI;
    (b - 5.1 / (4.0 * pi * pi) * a * a + 5.0 / pi * a - 6.0).powi(2)
        + 10.0 * (1.0 - 1.0 / (8.0 * pi)) * a.cos()
        + 10.0
}

fn hartmann6(x: &[f64]) -> f64 {
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    const A: [[f64; 6]; 4] = [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    const P: [[f64; 6]; 4] = [
        [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ];
    -(0..4)
        .map(|i| {
            ALPHA[i]
                * (-(0..6)
                    .map(|j| A[i][j] * (x[j] - P[i][j]).powi(2))
                    .sum::<f64>())
                .exp()
        })
        .sum::<f64>()
}

/// Rosenbrock on [-5, 10]^4: a curved valley (the anchors' rosenbrock4).
fn rosenbrock4(x: &[f64]) -> f64 {
    let v: Vec<f64> = x.iter().map(|u| -5.0 + 15.0 * u).collect();
    v.windows(2)
        .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
        .sum()
}

/// Ackley on [-32.768, 32.768]^5 with its optimum moved off the centre, to (7.3, -11.2, 4.1,
/// 19.6, -2.7): many regular local minima.
fn ackley5_off(x: &[f64]) -> f64 {
    const OPTIMUM: [f64; 5] = [7.3, -11.2, 4.1, 19.6, -2.7];
    let v: Vec<f64> = x
        .iter()
        .zip(OPTIMUM)
        .map(|(u, o)| -32.768 + 65.536 * u - o)
        .collect();
    let n = v.len() as f64;
    let squares = v.iter().map(|t| t * t).sum::<f64>() / n;
    let cosines = v
        .iter()
        .map(|t| (std::f64::consts::TAU * t).cos())
        .sum::<f64>()
        / n;
    -20.0 * (-0.2 * squares.sqrt()).exp() - cosines.exp() + 20.0 + std::f64::consts::E
}

/// Styblinski-Tang on [-5, 5]^4: a double well per coordinate, summed.
fn styblinski4(x: &[f64]) -> f64 {
    x.iter()
        .map(|u| {
            let v = 10.0 * u - 5.0;
            0.5 * (v.powi(4) - 16.0 * v * v + 5.0 * v)
        })
        .sum()
}

/// A test problem: name, dimension, objective on the unit cube, known minimum.
type Problem = (&'static str, usize, fn(&[f64]) -> f64, f64);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One search of `f` with `in_flight` runs pending at once (the oldest finishes first), until
/// `stop` says so after a finished run; returns the best loss after each finished run.
fn search(
    config: &SearchConfig,
    space: &Space,
    f: fn(&[f64]) -> f64,
    in_flight: usize,
    seed: u64,
    stop: impl Fn(&[f64]) -> bool,
) -> Vec<f64> {
    let mut strategy = BoptStrategy::new(config);
    let mut finished: Vec<Observation> = Vec::new();
    let mut pending: VecDeque<Vec<f64>> = VecDeque::new();
    let mut created = 0u64;
    let mut bests: Vec<f64> = Vec::new();
    while !stop(&bests) {
        while pending.len() < in_flight {
            let pending_points: Vec<Vec<f64>> = pending.iter().cloned().collect();
            let context = SuggestContext {
                space,
                finished: &finished,
                pending: &pending_points,
                sequence: created,
                seed,
                full_length: None,
                budget: None,
            };
            let s = strategy.suggest(&context).unwrap().unwrap();
            pending.push_back(space.canonical(&s.point));
            created += 1;
        }
        let Some(point) = pending.pop_front() else {
            break;
        };
        let y = f(&point);
        bests.push(bests.last().map_or(y, |b: &f64| b.min(y)));
        finished.push(Observation::whole(point, Some(y)));
    }
    bests
}

/// Sequential search's budget, and the most results a parallel search gets to match it.
const SEQUENTIAL_RESULTS: usize = 48;
const MOST_RESULTS: usize = 192;

fn main() {
    // `HPSEARCH_BENCH_BOPT`: a `bopt_config` object to measure instead of the defaults.
    let bopt_config: serde_json::Value = match std::env::var("HPSEARCH_BENCH_BOPT") {
        Ok(json) => serde_json::from_str(&json).expect("HPSEARCH_BENCH_BOPT: a JSON object"),
        Err(_) => serde_json::json!({}),
    };
    // `HPSEARCH_BENCH_PART=2`: the speed-up alone.
    let first_part = std::env::var("HPSEARCH_BENCH_PART").map_or(true, |p| p != "2");
    let config = SearchConfig::from_map(
        std::path::Path::new("bench"),
        // The losses below are the objectives themselves, so no y_transformation: under the
        // seed's default `log` the strategy would read them as log10 values (hartmann6's are
        // negative; the coordinator and `Optimizer` take the log10 before the strategy sees it).
        &serde_json::from_value(serde_json::json!({
            "search_type": "bopt",
            "y_transformation": "none",
            "bopt_config": bopt_config,
        }))
        .unwrap(),
    )
    .unwrap();
    let all: [Problem; 5] = [
        ("branin", 2, branin, 0.397_887_357_729_738_4),
        ("hartmann6", 6, hartmann6, -3.322_368_011_415_514),
        ("rosenbrock4", 4, rosenbrock4, 0.0),
        ("ackley5_off", 5, ackley5_off, 0.0),
        ("styblinski4", 4, styblinski4, -39.166_165_703_771_42 * 4.0),
    ];
    // `HPSEARCH_BENCH_PROBLEMS`: a comma-separated selection (branin and hartmann6 unless set).
    let wanted = std::env::var("HPSEARCH_BENCH_PROBLEMS").unwrap_or("branin,hartmann6".into());
    let problems: Vec<Problem> = wanted
        .split(',')
        .map(|name| {
            *all.iter()
                .find(|p| p.0 == name.trim())
                .unwrap_or_else(|| panic!("HPSEARCH_BENCH_PROBLEMS: no problem {name:?}"))
        })
        .collect();
    let seeds: u64 = std::env::var("HPSEARCH_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    // `HPSEARCH_BENCH_FIRST_SEED`: seeds from this one on (0 unless set).
    let first_seed: u64 = std::env::var("HPSEARCH_BENCH_FIRST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let regret = |best: f64, f_star: f64| (best - f_star).max(1e-12).log10();
    if first_part {
        println!("1. median log10 regret after n finished runs ({seeds} seeds)");
        println!(
            "{:<10} {:>9} {:>8} {:>8} {:>8}",
            "problem", "in flight", "n=16", "n=32", "n=48"
        );
        for &(name, d, f, f_star) in &problems {
            let space = Space::unit_cube(d);
            for in_flight in [1usize, 4, 16] {
                let mut at: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
                for seed in first_seed..first_seed + seeds {
                    let bests = search(&config, &space, f, in_flight, seed, |b| b.len() >= 48);
                    for (slot, n) in [16, 32, 48].iter().enumerate() {
                        at[slot].push(regret(bests[n - 1], f_star));
                    }
                }
                let [a, b, c] = at;
                println!(
                    "{name:<10} {in_flight:>9} {:>8.2} {:>8.2} {:>8.2}",
                    median(a),
                    median(b),
                    median(c)
                );
            }
        }
    }

    // Wall time as a user sees it: with q runs in flight and runs of equal length, q results
    // arrive per round. The speed-up is 48 (sequential rounds) over the rounds a search with q
    // in flight needs to reach the regret that sequential search of the same seed reached after
    // 48 results; one that never gets there within MOST_RESULTS counts as that many.
    println!(
        "\n2. speed-up in rounds: q in flight against sequential search's regret after \
         {SEQUENTIAL_RESULTS} results ({seeds} seeds; target q/2)"
    );
    println!(
        "{:<10} {:>3} {:>16} {:>22} {:>8}",
        "problem", "q", "results needed", "speed-up [Q1, Q3]", "reached"
    );
    for &(name, d, f, _) in &problems {
        let space = Space::unit_cube(d);
        let targets: Vec<f64> = (first_seed..first_seed + seeds)
            .map(|seed| {
                search(&config, &space, f, 1, seed, |b| {
                    b.len() >= SEQUENTIAL_RESULTS
                })[SEQUENTIAL_RESULTS - 1]
            })
            .collect();
        for q in [4usize, 16] {
            let (mut needed, mut speed_ups, mut reached) = (Vec::new(), Vec::new(), 0);
            for seed in first_seed..first_seed + seeds {
                let target = targets[(seed - first_seed) as usize];
                let bests = search(&config, &space, f, q, seed, |b| {
                    b.len() >= MOST_RESULTS || b.last().is_some_and(|v| *v <= target)
                });
                let n = bests.len();
                reached += usize::from(bests.last().is_some_and(|v| *v <= target));
                needed.push(n as f64);
                let rounds = n.div_ceil(q) as f64;
                speed_ups.push(SEQUENTIAL_RESULTS as f64 / rounds);
            }
            println!("{name} q={q} results needed per seed: {needed:?}");
            let (_, n_med, _) = quartiles(needed);
            let (q1, med, q3) = quartiles(speed_ups);
            println!(
                "{name:<10} {q:>3} {n_med:>16.0} {:>22} {:>8}",
                format!("{med:.1} [{q1:.1}, {q3:.1}]"),
                format!("{reached}/{seeds}")
            );
        }
    }
}
