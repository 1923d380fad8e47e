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
//! The noise check (`repeats`): right after the initial design the best settings run once more.
//! Where the loss comes back the same, the MAP fit may assume a noise variance of at most 3e-3 of
//! the targets' and a point on a face of the box is taken only where the model's mean there beats
//! the improvement reference; otherwise the noise is fitted freely (on the Box-Cox path it is
//! bounded at 1e-4 either way), and the decades rule reads the losses from zero only, not from a
//! floor below the best, whose spacing is then the noise's. Runs of the same settings enter the
//! GP as one, at their mean.
//!
//! The MAP fit is warm-started: a full multi-start fit runs only at anchor sizes of the data
//! (`anchor_size`) and is remembered; in between one L-BFGS-B run starts from the anchor's
//! hyperparameters. The anchor depends on the data and the seed only, so the strategy stays pure.
//!
//! Features: a numeric hyperparameter is one feature (its unit-cube coordinate); a categorical of
//! k values is k one-hot features, so the kernel sees categories as unordered.
//!
//! Each decision lives in one module: `features` (what the GP sees of a point), `targets` (the
//! output warps, the decades rule and the noise bounds), `repeats` (the noise check), `subsample` (the caps on what a fit and a
//! prediction see), `anchors` (warm starts of the MAP fit), `surrogate` (the acquisition, its
//! gradient and the improvement reference), `candidates` (where the acquisition is
//! maximised) and `final_phase` (the budget's last suggestions); this file holds the loop that
//! ties them together, `tests.rs` its end-to-end tests.

mod anchors;
mod candidates;
mod features;
mod final_phase;
mod repeats;
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
use final_phase::{FINAL_KAPPA, FINAL_LABEL};
use rand::RngExt;
use repeats::{Repeats, REPEAT_LABEL};
use std::collections::HashSet;
use subsample::{fit_limit, keep, loss_order, MAX_PREDICT};
use surrogate::{improvement_reference, plateau_step, Surrogate};
use targets::{spans_decades, DECADES_MAX_NOISE, DECADES_RATIO, MAX_NOISE};

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
    /// Whether the search log has been told what the noise check found (once).
    noise_noted: bool,
    /// Whether the losses are log10 of the objective (`y_transformation` log or neglog).
    logged: bool,
    /// Whether the noise check found the loss noisy (its repeat gave another loss): the
    /// decades rule then reads the losses from zero only, not from a floor below the best
    /// (`BoptStrategy::decades_scale`).
    loss_is_noisy: bool,
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
            noise_noted: false,
            logged: matches!(
                config.y_transformation,
                YTransformation::Log | YTransformation::NegLog
            ),
            loss_is_noisy: false,
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

impl BoptStrategy {
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
        let (keys, pending_keys) = context.keys();
        let mut data: Vec<(&Vec<f64>, f64)> = Vec::with_capacity(keys.len());
        let mut reached = Vec::with_capacity(keys.len());
        let mut data_keys = Vec::with_capacity(keys.len());
        for (o, key) in context.finished.iter().zip(&keys) {
            if let (Some(key), Some(loss)) = (key, o.loss.filter(|l| l.is_finite())) {
                data.push((&o.point, loss));
                reached.push(reached_share(o, context.full_length));
                data_keys.push(key.as_str());
            }
        }
        // Runs of the same settings (the noise check's repeat) are one observation.
        let (data, reached) = repeats::merged(data, reached, &data_keys);
        // Runs stopped early, told apart: the GP gets where on its curve each loss was taken.
        let fidelity = Fidelity::of(&reached);
        if data.len() < self.min_initial_points {
            return super::SobolStrategy.suggest(context);
        }
        // The budget's final suggestions are the model's: no grid or random ones. (Their draws
        // are made all the same, so that every later draw is the same either way.)
        let final_phase = self.in_final_phase(context);
        // The noise check: the best settings run once more, right after the initial design;
        // a loss that comes back the same is deterministic (`repeats.rs`). Not while runs are
        // read at their step (a repeat would be judged against curves), nor in the final phase.
        let noise_check = self.bopt.noise_check && !self.bopt.exact_feval;
        let repeats = Repeats::of(context, &keys, &pending_keys);
        let deterministic = noise_check && repeats.deterministic == Some(true);
        self.loss_is_noisy = noise_check && repeats.deterministic == Some(false);
        if noise_check && !repeats.made && fidelity.is_none() && !final_phase {
            let best = loss_order(&data)[0];
            return Ok(Some(Suggestion {
                point: data[best].0.clone(),
                label: REPEAT_LABEL.into(),
                notes: vec![
                    "the best combination so far is run once more, to learn whether the loss is noisy (\"noise_check\": false in bopt_config turns this off)".to_string(),
                ],
            }));
        }
        let mut notes = Vec::new();
        if let (true, Some(same), false) = (noise_check, repeats.deterministic, self.noise_noted) {
            self.noise_noted = true;
            notes.push(if same {
                format!("the repeated combination gave the same loss: the loss is taken as deterministic, so the GP assumes a noise variance of at most {MAX_NOISE} of the losses' and suggests a point on a face of the box only where it expects improvement there")
            } else {
                format!("the repeated combination gave another loss: the loss is noisy, and the GP fits its noise freely (on losses spanning decades, within {DECADES_MAX_NOISE} of the Box-Cox targets' variance)")
            });
        }
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
        let fit_rows = keep(&order, fit_limit(data.len(), space.dims()), &mut rng);
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
        let noise = self.noise(log_like, deterministic);
        // The MAP fit starts from the hyperparameters of the last anchor fit (a full multi-start
        // fit on a prefix of the data, see `anchor`): one local L-BFGS-B run instead of five.
        // (Anchors are fitted without the fidelity feature: with it, a full fit each time.)
        let warm = match fidelity {
            None => self.anchor(kernel, space, &data, context.seed, deterministic),
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
        if let Some(note) = self.final_note(final_phase, context.budget) {
            notes.push(note);
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
        // Every combination created so far, finished or in flight, to avoid running one twice
        // (a corrupted row's point, of another length, has no key).
        let existing: HashSet<String> = if self.bopt.de_duplication {
            keys.into_iter().flatten().chain(pending_keys).collect()
        } else {
            HashSet::new()
        };
        let chosen = candidates::pick(
            &surrogate,
            space,
            &data,
            candidates,
            &continuous,
            &candidates::Admissible {
                existing: &existing,
                eps: self.bopt.eps,
                faces_rule: deterministic,
            },
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
mod tests;
