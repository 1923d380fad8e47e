//! Suggestion time of the Bayesian optimiser as the search grows: n finished observations of a
//! smooth function in d dimensions, one suggestion timed (release build).
//!
//!     cargo bench --bench bopt_scale               # n = 50, 200, 1000; d = 6, 20
//!     HPSEARCH_SCALE_N=50,200,1000,5000 cargo bench --bench bopt_scale

use hpsearch::config::search::SearchConfig;
use hpsearch::space::Space;
use hpsearch::strategy::{BoptStrategy, Observation, Strategy, SuggestContext};
use rand::{RngExt, SeedableRng};
use std::time::Instant;

fn main() {
    let sizes: Vec<usize> = std::env::var("HPSEARCH_SCALE_N")
        .unwrap_or_else(|_| "50,200,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let config = SearchConfig::from_map(
        std::path::Path::new("bench"),
        &serde_json::from_str(r#"{"search_type": "bopt", "random_suggestion_probability": 0}"#)
            .unwrap(),
    )
    .unwrap();
    println!("{:>6} {:>4} {:>14}", "n", "d", "s/suggestion");
    for d in [6, 20] {
        let space = Space::unit_cube(d);
        for &n in &sizes {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(n as u64);
            let finished: Vec<Observation> = (0..n)
                .map(|_| {
                    let point: Vec<f64> = (0..d).map(|_| rng.random::<f64>()).collect();
                    let loss = point
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (x - 0.3 - 0.02 * i as f64).powi(2))
                        .sum::<f64>();
                    Observation {
                        point,
                        loss: Some(loss),
                    }
                })
                .collect();
            let mut strategy = BoptStrategy::new(&config);
            let context = SuggestContext {
                space: &space,
                finished: &finished,
                pending: &[],
                sequence: n as u64,
                seed: 1,
            };
            let start = Instant::now();
            let suggestion = strategy.suggest(&context).unwrap().unwrap();
            let seconds = start.elapsed().as_secs_f64();
            assert_eq!(suggestion.point.len(), d);
            println!("{n:>6} {d:>4} {seconds:>14.3}");
        }
    }
}
