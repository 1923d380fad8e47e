//! Regret of the Bayesian optimiser against the number of finished runs with 1, 4 and 16 runs in
//! flight (asynchronous: the oldest run finishes, a new one starts with the rest still pending).
//! Problems: Branin (2-D) and Hartmann6; 48 finished runs; median over 5 seeds (or
//! `HPSEARCH_BENCH_SEEDS`).
//!
//!     cargo bench --bench parallel

use hpsearch::config::search::SearchConfig;
use hpsearch::space::Space;
use hpsearch::strategy::{BoptStrategy, Observation, Strategy, SuggestContext};
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

/// A test problem: name, dimension, objective on the unit cube, known minimum.
type Problem = (&'static str, usize, fn(&[f64]) -> f64, f64);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let config = SearchConfig::from_map(
        std::path::Path::new("bench"),
        &serde_json::from_str(r#"{"search_type": "bopt"}"#).unwrap(),
    )
    .unwrap();
    let problems: [Problem; 2] = [
        ("branin", 2, branin, 0.397_887_357_729_738_4),
        ("hartmann6", 6, hartmann6, -3.322_368_011_415_514),
    ];
    let seeds: u64 = std::env::var("HPSEARCH_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    println!("median log10 regret after n finished runs ({seeds} seeds)");
    println!(
        "{:<10} {:>9} {:>8} {:>8} {:>8}",
        "problem", "in flight", "n=16", "n=32", "n=48"
    );
    for (name, d, f, f_star) in problems {
        let space = Space::unit_cube(d);
        for in_flight in [1usize, 4, 16] {
            let mut at: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
            for seed in 0..seeds {
                let mut strategy = BoptStrategy::new(&config);
                let mut finished: Vec<Observation> = Vec::new();
                let mut pending: VecDeque<Vec<f64>> = VecDeque::new();
                let mut created = 0u64;
                let mut best = f64::INFINITY;
                while finished.len() < 48 {
                    while pending.len() < in_flight {
                        let pending_points: Vec<Vec<f64>> = pending.iter().cloned().collect();
                        let context = SuggestContext {
                            space: &space,
                            finished: &finished,
                            pending: &pending_points,
                            sequence: created,
                            seed,
                        };
                        let s = strategy.suggest(&context).unwrap().unwrap();
                        pending.push_back(space.canonical(&s.point));
                        created += 1;
                    }
                    let Some(point) = pending.pop_front() else {
                        break;
                    };
                    let y = f(&point);
                    best = best.min(y);
                    finished.push(Observation {
                        point,
                        loss: Some(y),
                    });
                    for (slot, n) in [16, 32, 48].iter().enumerate() {
                        if finished.len() == *n {
                            at[slot].push((best - f_star).max(1e-12).log10());
                        }
                    }
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
