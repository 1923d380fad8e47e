//! Suggestion time of the Bayesian optimiser as the search grows: n finished observations of a
//! smooth function in d dimensions, a cold suggestion (fresh strategy) and the median of the three
//! that follow (warm-started fits) timed (release build).
//!
//!     cargo bench --bench bopt_scale               # n = 50, 200, 1000; d = 6, 20
//!     HPSEARCH_SCALE_N=50,200,1000,5000 cargo bench --bench bopt_scale
//!     HPSEARCH_SCALE_N=250 HPSEARCH_SCALE_D=25,50 cargo bench --bench bopt_scale
//!     HPSEARCH_SCALE_DECADES=1 cargo bench --bench bopt_scale   # losses spanning decades
//!     HPSEARCH_SCALE_CONFIG='{"bopt_config": {"additive_kernel": false}}' cargo bench --bench bopt_scale
//!
//! The smooth function's losses stay within two decades (the Yeo-Johnson path of `warp_Y`); with
//! `HPSEARCH_SCALE_DECADES` they are its powers of ten, which span decades above zero (the
//! Box-Cox path, with the noise bound that path has).

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
    // The losses are handed over as they are: without `y_transformation: none` the seed's
    // default `log` would make the strategy read them as log10 values.
    let mut settings: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        r#"{"search_type": "bopt", "random_suggestion_probability": 0, "y_transformation": "none"}"#,
    )
    .unwrap();
    // More settings for a comparison, e.g. HPSEARCH_SCALE_CONFIG='{"bopt_config": {"additive_kernel": false}}'.
    if let Ok(extra) = std::env::var("HPSEARCH_SCALE_CONFIG") {
        let extra: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&extra).expect("HPSEARCH_SCALE_CONFIG: a JSON object");
        settings.extend(extra);
    }
    let config = SearchConfig::from_map(std::path::Path::new("bench"), &settings).unwrap();
    let decades = std::env::var_os("HPSEARCH_SCALE_DECADES").is_some();
    println!("{:>6} {:>4} {:>10} {:>10}", "n", "d", "cold s", "warm s");
    let dims: Vec<usize> = std::env::var("HPSEARCH_SCALE_D")
        .unwrap_or_else(|_| "6,20".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if dims.is_empty() || sizes.is_empty() {
        eprintln!("bopt_scale: HPSEARCH_SCALE_N and HPSEARCH_SCALE_D take comma lists of whole numbers, e.g. 200,1000");
        std::process::exit(2);
    }
    for d in dims {
        let space = Space::unit_cube(d);
        for &n in &sizes {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(n as u64);
            let loss_of = |point: &[f64]| {
                let smooth = point
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (x - 0.3 - 0.02 * i as f64).powi(2))
                    .sum::<f64>();
                if decades {
                    1e-3 * 10f64.powf(10.0 * smooth / d as f64)
                } else {
                    smooth
                }
            };
            let mut finished: Vec<Observation> = (0..n)
                .map(|_| {
                    let point: Vec<f64> = (0..d).map(|_| rng.random::<f64>()).collect();
                    let loss = loss_of(&point);
                    Observation::whole(point, Some(loss))
                })
                .collect();
            // A search past its initial design has run its best settings twice (the noise
            // check's repeat, a default): without it, the first suggestion here would be that
            // repeat, made without a model, and "cold" would time no fit.
            if let Some(best) = finished
                .iter()
                .min_by(|a, b| {
                    a.loss
                        .unwrap_or(f64::INFINITY)
                        .total_cmp(&b.loss.unwrap_or(f64::INFINITY))
                })
                .cloned()
            {
                finished.push(best);
            }
            let mut strategy = BoptStrategy::new(&config);
            // The first suggestion is cold (as after a resume: the anchor's multi-start fit
            // runs); the next ones are what a running search pays (one warm-started fit).
            let mut times = Vec::new();
            for step in 0..4 {
                let context = SuggestContext {
                    space: &space,
                    finished: &finished,
                    pending: &[],
                    sequence: (n + step) as u64,
                    seed: 1,
                    full_length: None,
                    budget: None,
                };
                let start = Instant::now();
                let suggestion = strategy.suggest(&context).unwrap().unwrap();
                times.push(start.elapsed().as_secs_f64());
                assert_eq!(suggestion.point.len(), d);
                let loss = loss_of(&suggestion.point);
                finished.push(Observation::whole(suggestion.point, Some(loss)));
            }
            let mut warm = times[1..].to_vec();
            warm.sort_by(f64::total_cmp);
            println!("{n:>6} {d:>4} {:>10.3} {:>10.3}", times[0], warm[1]);
        }
    }
}
