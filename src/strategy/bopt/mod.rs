//! Bayesian optimisation: the seed's bopt loop around the GP engine.
//!
//! Per suggestion: a space-filling (Sobol) point until `min_initial_points` results exist; then,
//! with probability `grid_suggestion_probability` an unused grid point, else with probability
//! `random_suggestion_probability` a random point, else a GP suggestion: kernel, acquisition and
//! estimator drawn from the configured lists, a MAP-fitted GP on the finished runs' losses
//! (imputed failures included, `nan` ones left out; normalised and, with `warp_Y`, through a
//! power transform: Box-Cox where the losses span decades, with the noise the fit may assume
//! bounded there (`BoptStrategy::noise`), else Yeo-Johnson), runs in flight
//! added as "kriging believer" observations, exact, at the GP's own mean and counted in the
//! improvement reference (so parallel suggestions spread out), and the acquisition
//! (improvement measured against the best observed target, or where the losses span decades
//! against the model's best mean at an observed point: `improvement_reference`; one observed
//! level lower where runs tie at the best: `plateau_step`) maximised over candidates (random,
//! perturbed incumbents, a trust region) whose discrete and categorical values are snapped to
//! their domain before scoring, the best refined by L-BFGS-B on the continuous dimensions, then
//! every categorical swept exactly.
//!
//! The MAP fit is warm-started: a full multi-start fit runs only at anchor sizes of the data
//! (`anchor_size`) and is remembered; in between one L-BFGS-B run starts from the anchor's
//! hyperparameters. The anchor depends on the data and the seed only, so the strategy stays pure.
//!
//! Features: a numeric hyperparameter is one feature (its unit-cube coordinate); a categorical of
//! k values is k one-hot features, so the kernel sees categories as unordered.
//!
//! Each decision lives in one module: `features` (what the GP sees of a point), `targets` (the
//! output warps, the decades rule and the noise bound), `subsample` (the caps on what a fit and a
//! prediction see), `anchors` (warm starts of the MAP fit), `surrogate` (the acquisition, its
//! gradient and the improvement reference) and `candidates` (where the acquisition is
//! maximised); this file holds the loop that ties them together.

mod anchors;
mod candidates;
mod features;
mod structure;
mod subsample;
mod surrogate;
mod targets;

pub use features::features;

use super::contract::{Observation, Strategy, StrategyError, SuggestContext, Suggestion};
use super::grid::GridStrategy;
use crate::config::search::{
    Acquisition, BoptConfig, Estimator, Kernel, SearchConfig, YTransformation,
};
use crate::gp::acquisition::LCB_KAPPA;
use crate::gp::mcmc::{self, McmcSettings};
use crate::gp::{Gp, Hyper, Noise};
use anchors::restarts_for;
use features::{features_at, numeric_features, Fidelity};
use rand::RngExt;
use std::collections::HashSet;
use subsample::{keep, loss_order, MAX_FIT, MAX_PREDICT};
use surrogate::{improvement_reference, plateau_step, Surrogate};
use targets::{spans_decades, DECADES_MAX_NOISE, DECADES_RATIO};

pub struct BoptStrategy {
    bopt: BoptConfig,
    min_initial_points: usize,
    grid_probability: f64,
    random_probability: f64,
    grid: GridStrategy,
    /// Remembered anchor fits: (key of the data they were fitted on, hyperparameters).
    anchors: Vec<(u64, Hyper)>,
    /// Whether the search log has been told that the losses span decades (once per start).
    decades_noted: bool,
    /// Whether the search log has been told that the kernel got an additive part (once).
    additive_noted: bool,
    /// Whether the search log has been told that the final suggestions exploit (once).
    final_noted: bool,
    /// Whether the losses are log10 of the objective (`y_transformation` log or neglog).
    logged: bool,
}

/// Most MCMC draws the acquisition is averaged over (evenly thinned).
const MAX_MCMC_MODELS: usize = 16;

impl BoptStrategy {
    pub fn new(config: &SearchConfig) -> Self {
        BoptStrategy {
            bopt: config.bopt.clone(),
            min_initial_points: config.min_initial_points as usize,
            grid_probability: config.grid_suggestion_probability,
            random_probability: config.random_suggestion_probability,
            grid: GridStrategy::new(config.num_grid_points_per_hyperparameter.max(1) as usize),
            anchors: Vec::new(),
            decades_noted: false,
            additive_noted: false,
            final_noted: false,
            logged: matches!(
                config.y_transformation,
                YTransformation::Log | YTransformation::NegLog
            ),
        }
    }
}

/// The share of a whole run's length at which an observation's loss was taken: 1 for a run that
/// ended by itself (or when the length is not known).
fn reached_share(observation: &Observation, full_length: Option<u64>) -> f64 {
    match (observation.stopped_at, full_length) {
        // (Steps start at 1; a 0 from an old or edited store reads as a whole run.)
        (Some(step), Some(full)) if full > 0 && step > 0 => (step as f64 / full as f64).min(1.0),
        _ => 1.0,
    }
}

fn choose<T: Copy>(items: &[T], rng: &mut impl rand::Rng) -> T {
    items[rng.random_range(0..items.len())]
}

fn random_point(dims: usize, rng: &mut impl rand::Rng) -> Vec<f64> {
    (0..dims).map(|_| rng.random::<f64>()).collect()
}

/// LCB's κ for the budget's final suggestions: one standard deviation below the mean. Against
/// κ = 0 (the mean alone), which stalled in curved valleys (BBOB's Rosenbrock functions lost 9
/// of 10 seeds in 5 D) and lost hartmann6's basin more often (docs/benchmarks.md).
const FINAL_KAPPA: f64 = 1.0;
/// What the data file's `search_type` says in place of the acquisition for those suggestions.
const FINAL_LABEL: &str = "final";

impl BoptStrategy {
    /// How many of a budget's suggestions are its final ones: `final_exploitation` of it,
    /// rounded up, at least one (none when the share is 0).
    fn final_count(&self, budget: u64) -> u64 {
        let share = self.bopt.final_exploitation;
        if share <= 0.0 || budget == 0 {
            return 0;
        }
        // share < 1 (the config checks it), so the count stays within the budget.
        ((share * budget as f64).ceil() as u64).max(1)
    }

    /// Whether this suggestion is one of the budget's final ones, where bopt exploits what its
    /// model has learnt instead of exploring: the budget is known and this is among its last
    /// `final_count`. (On the broad benchmark the last tenth won 70-77% of the seed pairs in 2
    /// and 5 D against none, and the last 30% 61-64% against the tenth in 2, 5 and 20 D, level
    /// in 10 D and on the models: a search with an end in sight gains most by refining the basin
    /// it is in. It is LCB that gains: EI without the random share there lost.)
    fn in_final_phase(&self, context: &SuggestContext) -> bool {
        match context.budget {
            Some(budget) => {
                let last = self.final_count(budget);
                last > 0 && context.sequence.saturating_add(last) >= budget
            }
            None => false,
        }
    }

    /// The estimator for this suggestion. With both listed, the seed's rule: MCMC is favoured
    /// while data are few and MLE later; here P(MCMC) = 1 / (1 + n / 20) for n results.
    fn pick_estimator(&self, n: usize, rng: &mut impl rand::Rng) -> Estimator {
        let methods = &self.bopt.model_estimation_method;
        if methods.len() == 1 {
            return methods[0];
        }
        if rng.random::<f64>() < 1.0 / (1.0 + n as f64 / 20.0) {
            Estimator::Mcmc
        } else {
            Estimator::Mle
        }
    }
}

impl Strategy for BoptStrategy {
    fn suggest(&mut self, context: &SuggestContext) -> Result<Option<Suggestion>, StrategyError> {
        let space = context.space;
        let mut rng = context.rng();
        // A point of another length (a corrupted store row, read as an empty point with a
        // warning) says nothing about this space: it is left out, like a failure without a loss.
        let (data, reached): (Vec<(&Vec<f64>, f64)>, Vec<f64>) = context
            .finished
            .iter()
            .filter(|o| o.point.len() == space.dims())
            .filter_map(|o| {
                o.loss
                    .filter(|l| l.is_finite())
                    .map(|l| ((&o.point, l), reached_share(o, context.full_length)))
            })
            .unzip();
        // Runs stopped early, told apart: the GP gets where on its curve each loss was taken.
        let fidelity = Fidelity::of(&reached);
        if data.len() < self.min_initial_points {
            return super::SobolStrategy.suggest(context);
        }
        // The budget's final suggestions are the model's: no grid or random ones. (Their draws
        // are made all the same, so that every later draw is the same either way.)
        let final_phase = self.in_final_phase(context);
        let grid_draw = rng.random::<f64>();
        if grid_draw < self.grid_probability && !final_phase {
            if let Some(s) = self.grid.suggest(context)? {
                return Ok(Some(s));
            }
        }
        let random_draw = rng.random::<f64>();
        if random_draw < self.random_probability && !final_phase {
            return Ok(Some(Suggestion {
                point: random_point(space.dims(), &mut rng),
                label: "random".into(),
                notes: Vec::new(),
            }));
        }
        let losses: Vec<f64> = data.iter().map(|(_, l)| *l).collect();
        let log_like = self.log_like_warp(&losses, space.dims());
        // Drawn even when replaced, so that every later draw is the same either way.
        let listed: Kernel = choose(&self.bopt.kernel, &mut rng);
        let kernel = if self.bopt.kernel_is_default && log_like {
            Kernel::Matern32
        } else {
            listed
        };
        let acquisition_kind: Acquisition = choose(&self.bopt.acquisition_type, &mut rng);
        let (acquisition_kind, kappa) = if final_phase {
            (Acquisition::Lcb, FINAL_KAPPA)
        } else {
            (acquisition_kind, LCB_KAPPA)
        };
        let mut estimator = self.pick_estimator(data.len(), &mut rng);
        let mut notes = Vec::new();
        if log_like && !self.decades_noted {
            self.decades_noted = true;
            let what = if !spans_decades(&self.objective_scale(&losses)) {
                "the best losses have closed in on an optimum: measured from a floor below the best (as far below it as the 2·d-th distinct loss above it, for d hyperparameters), they span decades (the smallest under"
            } else if self.logged {
                "the objectives (before y_transformation's log10) span decades (the smallest under"
            } else {
                "the losses span decades above zero (all positive, the smallest under"
            };
            notes.push(format!(
                "{what} {}% of the largest): the GP models them after a Box-Cox transform{}, with a noise variance of at most {} of theirs, and improvement is measured against the model's best mean rather than the best loss",
                DECADES_RATIO * 100.0,
                if self.bopt.kernel_is_default { ", with the Matern32 kernel" } else { "" },
                DECADES_MAX_NOISE
            ));
        }

        // Training data: all of it, or the best and a random rest when there is a lot.
        let order = loss_order(&data);
        let fit_rows = keep(&order, MAX_FIT, &mut rng);
        let predict_rows = keep(&order, MAX_PREDICT, &mut rng);
        let targets = self.targets(&data);
        let rows = |ids: &[usize]| -> (Vec<Vec<f64>>, Vec<f64>) {
            ids.iter()
                .map(|i| {
                    (
                        features_at(space, data[*i].0, fidelity, reached[*i]),
                        targets[*i],
                    )
                })
                .unzip()
        };
        let (fx, fy) = rows(&fit_rows);
        let noise = self.noise(log_like);
        // The MAP fit starts from the hyperparameters of the last anchor fit (a full multi-start
        // fit on a prefix of the data, see `anchor`): one local L-BFGS-B run instead of five.
        // (Anchors are fitted without the fidelity feature: with it, a full fit each time.)
        let warm = match fidelity {
            None => self.anchor(kernel, space, &data, context.seed),
            Some(_) => None,
        };
        let fitted = match warm {
            Some(warm) => Gp::fit_from(kernel, fx.clone(), &fy, noise, &[warm], 60),
            None => Gp::fit(
                kernel,
                fx.clone(),
                &fy,
                noise,
                restarts_for(data.len()),
                &mut rng,
            ),
        };
        let fitted = match fitted {
            Ok(gp) => gp,
            Err(e) => {
                return Ok(Some(Suggestion {
                    point: random_point(space.dims(), &mut rng),
                    label: "random".into(),
                    notes: vec![format!(
                        "the GP fit failed ({e}); suggesting a random combination"
                    )],
                }));
            }
        };
        if let (Some(share), false) = (fitted.hyper.additive_share(), self.additive_noted) {
            self.additive_noted = true;
            notes.push(format!(
                "the GP's kernel now has an additive part (share {share:.2}): with it the model predicts the finished runs clearly better, each left out in turn (\"additive_kernel\": false in bopt_config turns this off)"
            ));
        }
        let map_lengthscales = fitted.hyper.log_lengthscales.clone();
        if fitted.jitter > 0.0 {
            notes.push(format!("the GP needed a diagonal jitter of {:.1e} to factorise (near-duplicate observations?)", fitted.jitter));
        }
        let hypers: Vec<Hyper> = match estimator {
            Estimator::Mle => vec![fitted.hyper.clone()],
            Estimator::Mcmc => {
                let settings = McmcSettings {
                    n_burnin: self.bopt.n_burnin,
                    n_samples: self.bopt.n_samples,
                    subsample_interval: self.bopt.subsample_interval,
                    step_size: self.bopt.step_size,
                    leapfrog_steps: self.bopt.leapfrog_steps,
                };
                match mcmc::sample(
                    kernel,
                    &fx,
                    &fy,
                    noise == Noise::Exact,
                    &fitted.hyper,
                    &settings,
                    rng.random(),
                ) {
                    Ok(outcome) => {
                        notes.push(outcome.summary().0);
                        // The acquisition averages over an evenly thinned subset of the draws.
                        let step = outcome.samples.len().div_ceil(MAX_MCMC_MODELS).max(1);
                        outcome.samples.into_iter().step_by(step).collect()
                    }
                    Err(e) => {
                        notes.push(format!(
                            "MCMC failed ({e}); this suggestion uses the MAP fit"
                        ));
                        estimator = Estimator::Mle;
                        vec![fitted.hyper.clone()]
                    }
                }
            }
        };
        let label = format!(
            "{}_{}_{}",
            Kernel::NAMES[kernel as usize],
            if final_phase {
                FINAL_LABEL
            } else {
                Acquisition::NAMES[acquisition_kind as usize]
            },
            Estimator::NAMES[estimator as usize]
        );
        if let (true, false, Some(budget)) = (final_phase, self.final_noted, context.budget) {
            self.final_noted = true;
            notes.push(format!(
                "the last {} of {budget} suggestions go to the model's best guess (the lowest mean less one standard deviation; no random or grid suggestions): \"final_exploitation\" in bopt_config sets the share, 0 turns this off",
                self.final_count(budget)
            ));
        }
        let (px, py) = rows(&predict_rows);
        // Improvement is measured against runs that went the whole way (all, when none has yet).
        let whole: Vec<usize> = (0..predict_rows.len())
            .filter(|r| reached[predict_rows[*r]] >= 1.0)
            .collect();
        let whole = if whole.is_empty() {
            (0..predict_rows.len()).collect()
        } else {
            whole
        };
        let whole_targets: Vec<f64> = whole.iter().map(|r| py[*r]).collect();
        let observed_best = whole_targets.iter().copied().fold(f64::INFINITY, f64::min);
        let reference_x: Vec<Vec<f64>> = whole
            .iter()
            .map(|r| features_at(space, data[predict_rows[*r]].0, fidelity, 1.0))
            .collect();
        let pending_features: Vec<Vec<f64>> = context
            .pending
            .iter()
            .filter(|p| p.len() == space.dims())
            .map(|p| features_at(space, p, fidelity, 1.0))
            .collect();
        let mut gps: Vec<Gp> = hypers
            .into_iter()
            .filter_map(|hyper| Gp::new(kernel, hyper, px.clone(), &py).ok())
            .collect();
        if gps.is_empty() {
            gps.push(fitted);
        }
        // Kriging believer: runs in flight count as observed, exactly, at the model's mean.
        if !pending_features.is_empty() {
            for gp in gps.iter_mut() {
                if let Ok((with_pending, _)) = gp.believing(&pending_features) {
                    *gp = with_pending;
                }
            }
        }
        // The runs in flight count in the level improvement is measured against too, at the
        // value they are believed to have (the models' mean there): with a run believed better
        // than the best one, improving on the best alone is not enough. (Without this, EI stayed
        // positive at such a point, and up to seven of 16 parallel suggestions landed on it.)
        let best = improvement_reference(&gps, &reference_x, observed_best, log_like).min(
            improvement_reference(&gps, &pending_features, f64::INFINITY, true),
        );
        // Runs tied at the best: improvement must reach the next level below them.
        let best = match plateau_step(&whole_targets) {
            Some(step) => best.min(observed_best - step),
            None => best,
        };
        let surrogate = Surrogate {
            gps,
            space,
            acquisition: acquisition_kind,
            kappa,
            best,
            fidelity,
        };
        let numeric = numeric_features(space);
        // Candidates gather around the best runs that went the whole way.
        let (whole_first, partial): (Vec<usize>, Vec<usize>) =
            order.iter().partition(|i| reached[**i] >= 1.0);
        let order: Vec<usize> = whole_first.into_iter().chain(partial).collect();
        let (candidates, continuous) =
            candidates::draw(space, &data, &order, &numeric, &map_lengthscales, &mut rng);
        let existing: HashSet<String> = if self.bopt.de_duplication {
            context.existing_keys()
        } else {
            HashSet::new()
        };
        let chosen = candidates::pick(
            &surrogate,
            space,
            &data,
            candidates,
            &continuous,
            &existing,
            self.bopt.eps,
        );
        Ok(Some(match chosen {
            Some(point) => Suggestion {
                point,
                label,
                notes,
            },
            None => {
                notes.push("every candidate was a duplicate or too close to a finished run; suggesting a random combination".into());
                Suggestion {
                    point: random_point(space.dims(), &mut rng),
                    label: "random".into(),
                    notes,
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Space;

    fn search_config(json: &str) -> SearchConfig {
        SearchConfig::from_map(
            std::path::Path::new("test"),
            &serde_json::from_str(json).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn the_default_additive_part_changes_what_bopt_suggests_on_a_sum_of_wells() {
        // Styblinski-Tang in 4-D (a double well per coordinate, summed): by default the GP's
        // kernel gets an additive part at the anchor fit (`structure`), and the suggestion
        // moves; `"additive_kernel": false` keeps the product kernel alone. (From 80 random runs:
        // from fewer, the mixture's lead in predicting them is within `structure`'s margin.)
        use crate::strategy::Observation;
        use rand::{RngExt, SeedableRng};
        let space = Space::unit_cube(4);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let finished: Vec<Observation> = (0..80)
            .map(|_| {
                let point: Vec<f64> = (0..4).map(|_| rng.random::<f64>()).collect();
                let loss = point
                    .iter()
                    .map(|u| {
                        let v = 10.0 * u - 5.0;
                        0.5 * (v.powi(4) - 16.0 * v * v + 5.0 * v)
                    })
                    .sum::<f64>();
                Observation::whole(point, Some(loss))
            })
            .collect();
        let suggest = |additive: bool| {
            let config = search_config(&if additive {
                r#"{"search_type": "bopt", "random_suggestion_probability": 0,
                    "y_transformation": "none"}"#
                    .to_string()
            } else {
                r#"{"search_type": "bopt", "random_suggestion_probability": 0,
                    "y_transformation": "none", "bopt_config": {"additive_kernel": false}}"#
                    .to_string()
            });
            let context = SuggestContext {
                space: &space,
                finished: &finished,
                pending: &[],
                sequence: 80,
                seed: 4,
                full_length: None,
                budget: None,
            };
            BoptStrategy::new(&config)
                .suggest(&context)
                .unwrap()
                .unwrap()
        };
        let (with, without) = (suggest(true), suggest(false));
        assert_ne!(with.point, without.point);
        // The search log is told, once, that the kernel changed.
        assert!(
            with.notes.iter().any(|n| n.contains("an additive part")),
            "{:?}",
            with.notes
        );
        assert!(!without.notes.iter().any(|n| n.contains("additive")));
    }

    #[test]
    fn a_plateau_of_ties_at_the_best_is_not_sampled_again() {
        // A loss counted in whole levels (like an error rate on a validation set): five runs
        // tie at the best level in a small square, the others are one or more levels worse.
        // The GP keeps a little variance between the ties; measured against their level, EI
        // found improvement there and the search kept suggesting the inside of the square.
        use crate::strategy::Observation;
        let space = Space::unit_cube(2);
        let mut finished: Vec<Observation> = [
            [0.45, 0.45],
            [0.55, 0.45],
            [0.45, 0.55],
            [0.55, 0.55],
            [0.5, 0.5],
        ]
        .iter()
        .map(|p| Observation::whole(p.to_vec(), Some(1.0)))
        .collect();
        for i in 0..8 {
            let angle = i as f64 * std::f64::consts::PI / 4.0;
            let point = vec![0.5 + 0.3 * angle.cos(), 0.5 + 0.3 * angle.sin()];
            finished.push(Observation::whole(point, Some(2.0 + (i % 3) as f64)));
        }
        for corner in [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]] {
            finished.push(Observation::whole(corner.to_vec(), Some(5.0)));
        }
        let config = search_config(
            r#"{"search_type": "bopt", "random_suggestion_probability": 0, "y_transformation": "none"}"#,
        );
        for seed in 0..4 {
            let context = SuggestContext {
                space: &space,
                finished: &finished,
                pending: &[],
                sequence: finished.len() as u64,
                seed,
                full_length: None,
                budget: None,
            };
            let point = BoptStrategy::new(&config)
                .suggest(&context)
                .unwrap()
                .unwrap()
                .point;
            let inside = point.iter().all(|u| (0.44..=0.56).contains(u));
            assert!(
                !inside,
                "seed {seed}: {point:?} lies inside the plateau of ties"
            );
        }
    }

    /// Branin on the unit square: three global minima, losses spanning decades.
    fn branin(x: &[f64]) -> f64 {
        let (a, b) = (-5.0 + 15.0 * x[0], 15.0 * x[1]);
        let pi = std::f64::consts::PI;
        (b - 5.1 / (4.0 * pi * pi) * a * a + 5.0 / pi * a - 6.0).powi(2)
            + 10.0 * (1.0 - 1.0 / (8.0 * pi)) * a.cos()
            + 10.0
    }

    #[test]
    fn parallel_suggestions_do_not_pile_up_on_one_spot() {
        // Eight runs in flight, the oldest finishing first, on Branin. Before, the believer's
        // runs in flight entered the GP with the fitted noise and did not count in the level
        // improvement is measured against: EI stayed high at a believed point, and five of
        // these parallel suggestions landed within 1e-4 of one another (seven with 16 in flight).
        let config = search_config(
            r#"{"search_type": "bopt", "random_suggestion_probability": 0, "y_transformation": "none"}"#,
        );
        let space = Space::unit_cube(2);
        let mut strategy = BoptStrategy::new(&config);
        let (mut finished, mut pending, mut made) = (Vec::new(), Vec::new(), Vec::new());
        while finished.len() < 48 {
            while pending.len() < 8 {
                let context = SuggestContext {
                    space: &space,
                    finished: &finished,
                    pending: &pending,
                    sequence: made.len() as u64,
                    seed: 0,
                    full_length: None,
                    budget: None,
                };
                let s = strategy.suggest(&context).unwrap().unwrap();
                pending.push(s.point.clone());
                made.push(s.point);
            }
            let point = pending.remove(0);
            let loss = branin(&point);
            finished.push(Observation::whole(point, Some(loss)));
        }
        let crowd = made
            .iter()
            .map(|a| {
                made.iter()
                    .filter(|b| a.iter().zip(*b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() < 1e-8)
                    .count()
            })
            .max()
            .unwrap();
        assert!(crowd <= 2, "{crowd} suggestions within 1e-4 of one another");
    }

    #[test]
    fn points_of_another_length_are_left_out_not_a_panic() {
        // A corrupted store row reads as an empty point (with a warning); before, such a point
        // reached the GP's features and panicked on a slice index.
        use crate::strategy::Observation;
        let space = Space::unit_cube(2);
        let config = search_config(
            r#"{"search_type": "bopt", "min_initial_points": 2, "random_suggestion_probability": 0}"#,
        );
        let observation = |point: Vec<f64>, loss: f64| Observation::whole(point, Some(loss));
        let finished = vec![
            observation(vec![0.1, 0.2], 1.0),
            observation(vec![0.3, 0.9], 2.0),
            observation(vec![0.6, 0.4], 0.5),
            observation(vec![], 0.7),
            observation(vec![0.5], 0.7),
            observation(vec![0.5, 0.5, 0.5], 0.7),
        ];
        let context = SuggestContext {
            space: &space,
            finished: &finished,
            pending: &[vec![], vec![0.2], vec![0.9, 0.9]],
            sequence: 6,
            seed: 1,
            full_length: None,
            budget: None,
        };
        let suggestion = BoptStrategy::new(&config)
            .suggest(&context)
            .unwrap()
            .unwrap();
        assert_eq!(suggestion.point.len(), 2);
    }

    #[test]
    fn runs_stopped_early_are_read_where_on_their_curve_they_stopped() {
        use crate::strategy::Observation;
        // Whole runs end at 1 - x; each is 1 worse early on (at step 3 of 27). Two runs were
        // stopped there at x = 0.7 and 0.85: their last values (1.3, 1.15) are worse than every
        // whole run's end, yet, read at their step, they are the most promising.
        let space = Space::unit_cube(1);
        let config = search_config(
            r#"{"search_type": "bopt", "min_initial_points": 2, "random_suggestion_probability": 0,
                    "bopt_config": {"model_estimation_method": ["MLE"], "acquisition_type": ["EI"]}}"#,
        );
        let suggest_with = |right_end_stopped_at: Option<u64>, seed: u64| -> f64 {
            let mut finished = Vec::new();
            for x in [0.05, 0.2, 0.35, 0.5] {
                finished.push(Observation::whole(vec![x], Some(1.0 - x)));
                // Runs of nearly the same settings stopped at step 3 of 27.
                finished.push(Observation {
                    point: vec![x + 0.01],
                    loss: Some(2.0 - x),
                    stopped_at: Some(3),
                });
            }
            for x in [0.7, 0.85] {
                finished.push(Observation {
                    point: vec![x],
                    loss: Some(2.0 - x),
                    stopped_at: right_end_stopped_at,
                });
            }
            let context = SuggestContext {
                space: &space,
                finished: &finished,
                pending: &[],
                sequence: 12,
                seed,
                full_length: Some(27),
                budget: None,
            };
            BoptStrategy::new(&config)
                .suggest(&context)
                .unwrap()
                .unwrap()
                .point[0]
        };
        for seed in 0..5 {
            let read_at_their_step = suggest_with(Some(3), seed);
            assert!(
                read_at_their_step > 0.75,
                "seed {seed}: {read_at_their_step}"
            );
            // Taken as whole runs, the same values make the right end look poor.
            let taken_as_whole = suggest_with(None, seed);
            assert!(taken_as_whole < 0.7, "seed {seed}: {taken_as_whole}");
        }
    }

    #[test]
    fn a_fresh_strategy_suggests_what_one_with_remembered_anchors_does() {
        use crate::strategy::Observation;
        let space = Space::unit_cube(3);
        let config = SearchConfig::from_map(
            std::path::Path::new("test"),
            &serde_json::from_str(r#"{"search_type": "bopt", "random_suggestion_probability": 0}"#)
                .unwrap(),
        )
        .unwrap();
        let mut running = BoptStrategy::new(&config);
        let mut finished: Vec<Observation> = Vec::new();
        for sequence in 0..16u64 {
            let context = SuggestContext {
                space: &space,
                finished: &finished,
                pending: &[],
                sequence,
                seed: 7,
                full_length: None,
                budget: None,
            };
            let point = running.suggest(&context).unwrap().unwrap().point;
            // A resumed search: a new strategy, no remembered anchors.
            let fresh = BoptStrategy::new(&config)
                .suggest(&context)
                .unwrap()
                .unwrap()
                .point;
            assert_eq!(point, fresh, "suggestion {sequence}");
            let loss = point.iter().map(|u| (u - 0.3).powi(2)).sum::<f64>();
            finished.push(Observation::whole(point, Some(loss)));
        }
    }

    /// Whole runs at `n` points of a lattice in the unit square (the second coordinate of point
    /// i is the (i · stride mod n)-th of n), with their losses.
    fn lattice(
        n: usize,
        stride: usize,
        loss: &dyn Fn(&[f64]) -> f64,
    ) -> Vec<crate::strategy::Observation> {
        (0..n)
            .map(|i| {
                let at = |k: usize| (k as f64 + 0.5) / n as f64;
                let point = vec![at(i), at(i * stride % n)];
                let value = Some(loss(&point));
                crate::strategy::Observation::whole(point, value)
            })
            .collect()
    }

    #[test]
    fn the_last_tenth_of_a_known_budget_goes_to_the_models_best_guess() {
        // A smooth bowl with its minimum at (0.3, 0.6), seen at 20 points of a lattice none of
        // which is within 0.05 of it. Every suggestion would be random (a random share of 1)
        // but the budget's last ones.
        let space = Space::unit_cube(2);
        let bowl = |p: &[f64]| (p[0] - 0.3).powi(2) + (p[1] - 0.6).powi(2);
        let finished = lattice(20, 7, &bowl);
        let best_seen = finished
            .iter()
            .filter_map(|o| o.loss)
            .fold(f64::INFINITY, f64::min);
        assert!(best_seen > 0.05f64.powi(2));
        // Suggestion 21 of a search with this budget.
        let context = |budget: Option<u64>| SuggestContext {
            space: &space,
            finished: &finished,
            pending: &[],
            sequence: 20,
            seed: 4,
            full_length: None,
            budget,
        };
        let suggest = |share: &str, budget: Option<u64>| {
            let config = search_config(&format!(
                r#"{{"search_type": "bopt", "random_suggestion_probability": 1,
                     "y_transformation": "none", "bopt_config": {{"final_exploitation": {share}}}}}"#
            ));
            let mut strategy = BoptStrategy::new(&config);
            let first = strategy.suggest(&context(budget)).unwrap().unwrap();
            let again = strategy.suggest(&context(budget)).unwrap().unwrap();
            (first, again)
        };
        // Budget 22: suggestion 21 is among the last ceil(0.1 · 22) = 3.
        let (last, again) = suggest("0.1", Some(22));
        assert_eq!(last.label, "Matern52_final_MLE");
        assert!(
            bowl(&last.point) < best_seen,
            "the model's best guess {:?} improves on the best run",
            last.point
        );
        // The search log hears it once.
        let told = |notes: &[String]| notes.iter().any(|n| n.contains("the last 3 of 22"));
        assert!(told(&last.notes), "{:?}", last.notes);
        assert!(!told(&again.notes), "{:?}", again.notes);
        // Further from the end, without a budget, or with the share at 0: the random share.
        for (share, budget) in [("0.1", Some(40)), ("0.1", None), ("0", Some(22))] {
            let (other, _) = suggest(share, budget);
            assert_eq!(other.label, "random", "{share} of {budget:?}");
        }
        // A share this small still leaves the last suggestion to the model.
        let (tiny, _) = suggest("0.001", Some(21));
        assert_eq!(tiny.label, "Matern52_final_MLE");
        // No grid suggestions there either, where every other suggestion would be one.
        let grid = search_config(
            r#"{"search_type": "bopt", "grid_suggestion_probability": 1,
                "num_grid_points_per_hyperparameter": 3, "y_transformation": "none"}"#,
        );
        let label_at = |budget: u64| {
            let mut strategy = BoptStrategy::new(&grid);
            strategy
                .suggest(&context(Some(budget)))
                .unwrap()
                .unwrap()
                .label
        };
        assert_eq!(label_at(40), "grid");
        assert_eq!(label_at(22), "Matern52_final_MLE");
    }

    #[test]
    fn losses_spanning_decades_switch_the_default_kernel_to_matern32_only() {
        let space = Space::unit_cube(2);
        let label_after = |config: &str, loss: &dyn Fn(&[f64]) -> f64| -> String {
            let config = SearchConfig::from_map(
                std::path::Path::new("test"),
                &serde_json::from_str(config).unwrap(),
            )
            .unwrap();
            let mut strategy = BoptStrategy::new(&config);
            let finished = lattice(8, 3, loss);
            let context = SuggestContext {
                space: &space,
                finished: &finished,
                pending: &[],
                sequence: 8,
                seed: 3,
                full_length: None,
                budget: None,
            };
            let first = strategy.suggest(&context).unwrap().unwrap();
            let said = |notes: &[String]| notes.iter().any(|n| n.contains("span decades"));
            // The search log hears it once, when the rule first applies.
            let losses: Vec<f64> = finished.iter().filter_map(|o| o.loss).collect();
            let expected = config.bopt.warp_y && spans_decades(&strategy.decades_scale(&losses, 2));
            assert_eq!(said(&first.notes), expected, "{:?}", first.notes);
            let again = strategy.suggest(&context).unwrap().unwrap();
            assert!(!said(&again.notes), "{:?}", again.notes);
            first.label
        };
        let bopt = r#"{"search_type": "bopt", "random_suggestion_probability": 0,
                       "y_transformation": "none"}"#;
        let wide = |p: &[f64]| 10f64.powf(4.0 * p[0] + p[1]) * 1e-3;
        let narrow = |p: &[f64]| 1.0 + p[0] + p[1];
        let shifted = |p: &[f64]| 10f64.powf(4.0 * p[0]) - 5.0;
        assert_eq!(label_after(bopt, &wide), "Matern32_EI_MLE");
        assert_eq!(label_after(bopt, &narrow), "Matern52_EI_MLE");
        // Negative losses have no natural zero, and read from a floor below the best these
        // (the six best spread over a tenth of the range) have not closed in on an optimum:
        // Yeo-Johnson and the default Matern52.
        assert_eq!(label_after(bopt, &shifted), "Matern52_EI_MLE");
        // Once the best ones have, the path is the same wherever the optimum's value lies.
        let funnel = |p: &[f64]| 1e-3 * 10f64.powf(20.0 * (p[0] - 0.4).hypot(p[1] - 0.55));
        let below_zero = |p: &[f64]| funnel(p) - 450.0;
        assert_eq!(label_after(bopt, &funnel), "Matern32_EI_MLE");
        assert_eq!(label_after(bopt, &below_zero), "Matern32_EI_MLE");
        // A kernel the user names is kept, and without warp_Y nothing switches.
        let named = r#"{"search_type": "bopt", "random_suggestion_probability": 0,
                        "y_transformation": "none", "bopt_config": {"kernel": "Matern52"}}"#;
        assert_eq!(label_after(named, &wide), "Matern52_EI_MLE");
        let unwarped = r#"{"search_type": "bopt", "random_suggestion_probability": 0,
                           "y_transformation": "none", "bopt_config": {"warp_Y": false}}"#;
        assert_eq!(label_after(unwarped, &wide), "Matern52_EI_MLE");
    }
}
