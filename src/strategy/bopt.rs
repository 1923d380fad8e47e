//! Bayesian optimisation: the seed's bopt loop around the GP engine.
//!
//! Per suggestion: a space-filling (Sobol) point until `min_initial_points` results exist; then,
//! with probability `grid_suggestion_probability` an unused grid point, else with probability
//! `random_suggestion_probability` a random point, else a GP suggestion: kernel, acquisition and
//! estimator drawn from the configured lists, a MAP-fitted GP on the finished runs' losses
//! (imputed failures included, `nan` ones left out), runs in flight added as "kriging believer"
//! observations at the GP's own mean (so parallel suggestions spread out), and the acquisition
//! maximised from random and perturbed-incumbent starts refined by L-BFGS-B on the numeric
//! dimensions; categorical dimensions are swept exactly, discrete ones snapped to their domain.
//!
//! Features: a numeric hyperparameter is one feature (its unit-cube coordinate); a categorical of
//! k values is k one-hot features, so the kernel sees categories as unordered.

use super::contract::{Strategy, StrategyError, SuggestContext, Suggestion};
use super::grid::GridStrategy;
use crate::config::search::{Acquisition, BoptConfig, Estimator, Kernel, SearchConfig};
use crate::gp::{acquisition, Gp};
use crate::space::{Domain, Space};
use rand::RngExt;
use std::collections::HashSet;

pub struct BoptStrategy {
    bopt: BoptConfig,
    min_initial_points: usize,
    grid_probability: f64,
    random_probability: f64,
    grid: GridStrategy,
}

/// Most observations the hyperparameters are fitted on (the best ones and a random rest); the
/// prediction still uses up to `MAX_PREDICT` of them.
const MAX_FIT: usize = 150;
const MAX_PREDICT: usize = 400;
const RANDOM_CANDIDATES: usize = 2048;
const LOCAL_STARTS: usize = 10;

impl BoptStrategy {
    pub fn new(config: &SearchConfig) -> Self {
        BoptStrategy {
            bopt: config.bopt.clone(),
            min_initial_points: config.min_initial_points as usize,
            grid_probability: config.grid_suggestion_probability,
            random_probability: config.random_suggestion_probability,
            grid: GridStrategy::new(config.num_grid_points_per_hyperparameter.max(1) as usize),
        }
    }
}

/// The GP's features for a unit-cube point.
pub fn features(space: &Space, point: &[f64]) -> Vec<f64> {
    let mut f = Vec::new();
    for (h, u) in space.hyperparameters().iter().zip(point) {
        match &h.domain {
            Domain::Categorical { values } => {
                let k = values.len();
                let index = ((u.clamp(0.0, 1.0) * k as f64).floor() as usize).min(k - 1);
                f.extend((0..k).map(|i| if i == index { 1.0 } else { 0.0 }));
            }
            _ => f.push(*u),
        }
    }
    f
}

/// For each hyperparameter, its feature index when it is numeric.
fn numeric_features(space: &Space) -> Vec<Option<usize>> {
    let mut next = 0;
    space
        .hyperparameters()
        .iter()
        .map(|h| match &h.domain {
            Domain::Categorical { values } => {
                next += values.len();
                None
            }
            _ => {
                next += 1;
                Some(next - 1)
            }
        })
        .collect()
}

struct Surrogate<'a> {
    gp: Gp,
    space: &'a Space,
    acquisition: Acquisition,
    best: f64,
}

impl Surrogate<'_> {
    fn score(&self, point: &[f64]) -> f64 {
        let p = self.gp.predict(&features(self.space, point), false);
        acquisition::score(self.acquisition, p.mean, p.variance.sqrt(), self.best).0
    }

    /// Score and its gradient along the numeric dimensions (0 along categoricals).
    fn score_and_gradient(&self, point: &[f64], numeric: &[Option<usize>]) -> (f64, Vec<f64>) {
        let p = self.gp.predict(&features(self.space, point), true);
        let sd = p.variance.sqrt();
        let (s, d_mean, d_sd) = acquisition::score(self.acquisition, p.mean, sd, self.best);
        let grad = numeric
            .iter()
            .map(|f| match f {
                Some(f) => d_mean * p.d_mean[*f] + d_sd * p.d_variance[*f] / (2.0 * sd.max(1e-9)),
                None => 0.0,
            })
            .collect();
        (s, grad)
    }

    /// L-BFGS-B on the numeric dimensions from `start` (categoricals held).
    fn refine(&self, start: &[f64], numeric: &[Option<usize>]) -> Vec<f64> {
        let free: Vec<usize> = (0..start.len()).filter(|d| numeric[*d].is_some()).collect();
        if free.is_empty() {
            return start.to_vec();
        }
        let assemble = |x: &[f64]| {
            let mut p = start.to_vec();
            for (i, d) in free.iter().enumerate() {
                p[*d] = x[i];
            }
            p
        };
        let init: Vec<f64> = free.iter().map(|d| start[*d]).collect();
        let Ok(bounds) = rcompat_lbfgsb::Bounds::new(vec![0.0; free.len()], vec![1.0; free.len()])
        else {
            return start.to_vec();
        };
        let mut control = rcompat_lbfgsb::OptimControl::default_for_dimension(free.len());
        control.maxit = 100;
        control.factr = 1e7;
        let result = rcompat_lbfgsb::optim_lbfgsb_with_gradient(
            init,
            bounds,
            |x| -self.score(&assemble(x)),
            |x| {
                let (_, g) = self.score_and_gradient(&assemble(x), numeric);
                free.iter().map(|d| -g[*d]).collect()
            },
            control,
        );
        match result {
            Ok(r) if r.value.is_finite() => assemble(&r.par),
            _ => start.to_vec(),
        }
    }
}

fn choose<T: Copy>(items: &[T], rng: &mut impl rand::Rng) -> T {
    items[rng.random_range(0..items.len())]
}

fn random_point(dims: usize, rng: &mut impl rand::Rng) -> Vec<f64> {
    (0..dims).map(|_| rng.random::<f64>()).collect()
}

impl Strategy for BoptStrategy {
    fn suggest(&mut self, context: &SuggestContext) -> Result<Option<Suggestion>, StrategyError> {
        let space = context.space;
        let mut rng = context.rng();
        let data: Vec<(&Vec<f64>, f64)> = context
            .finished
            .iter()
            .filter_map(|o| o.loss.filter(|l| l.is_finite()).map(|l| (&o.point, l)))
            .collect();
        if data.len() < self.min_initial_points {
            return super::SobolStrategy.suggest(context);
        }
        if rng.random::<f64>() < self.grid_probability {
            if let Some(s) = self.grid.suggest(context)? {
                return Ok(Some(s));
            }
        }
        if rng.random::<f64>() < self.random_probability {
            return Ok(Some(Suggestion {
                point: random_point(space.dims(), &mut rng),
                label: "random".into(),
            }));
        }
        let kernel: Kernel = choose(&self.bopt.kernel, &mut rng);
        let acquisition_kind: Acquisition = choose(&self.bopt.acquisition_type, &mut rng);
        // MCMC estimation is not built yet: every GP is fitted by MAP (and labelled so).
        let _estimator: Estimator = choose(&self.bopt.model_estimation_method, &mut rng);
        let label = format!(
            "{}_{}_MLE",
            Kernel::NAMES[kernel as usize],
            Acquisition::NAMES[acquisition_kind as usize]
        );

        // Training data: all of it, or the best and a random rest when there is a lot.
        let mut order: Vec<usize> = (0..data.len()).collect();
        order.sort_by(|a, b| data[*a].1.total_cmp(&data[*b].1));
        let keep = |limit: usize, rng: &mut rand_chacha::ChaCha8Rng| -> Vec<usize> {
            if order.len() <= limit {
                return order.clone();
            }
            let best = limit / 5;
            let mut rest: Vec<usize> = order[best..].to_vec();
            for i in 0..(limit - best) {
                let j = rng.random_range(i..rest.len());
                rest.swap(i, j);
            }
            order[..best]
                .iter()
                .copied()
                .chain(rest.into_iter().take(limit - best))
                .collect()
        };
        let fit_rows = keep(MAX_FIT, &mut rng);
        let predict_rows = keep(MAX_PREDICT, &mut rng);
        let losses: Vec<f64> = data.iter().map(|(_, l)| *l).collect();
        let (center, scale) = if self.bopt.normalize_y {
            let mean = losses.iter().sum::<f64>() / losses.len() as f64;
            let var = losses.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / losses.len() as f64;
            (mean, if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 })
        } else {
            (0.0, 1.0)
        };
        let rows = |ids: &[usize]| -> (Vec<Vec<f64>>, Vec<f64>) {
            ids.iter()
                .map(|i| (features(space, data[*i].0), (data[*i].1 - center) / scale))
                .unzip()
        };
        let (fx, fy) = rows(&fit_rows);
        let fitted = match Gp::fit(
            kernel,
            fx,
            &fy,
            self.bopt.exact_feval,
            if data.len() < 100 { 2 } else { 1 },
            &mut rng,
        ) {
            Ok(gp) => gp,
            Err(e) => {
                return Ok(Some(Suggestion {
                    point: random_point(space.dims(), &mut rng),
                    label: format!("random (GP fit failed: {e})"),
                }));
            }
        };
        let (mut px, mut py) = rows(&predict_rows);
        let best = py.iter().copied().fold(f64::INFINITY, f64::min);
        let mut gp = if predict_rows.len() == fit_rows.len() {
            fitted.clone()
        } else {
            Gp::new(kernel, fitted.hyper.clone(), px.clone(), &py).unwrap_or(fitted.clone())
        };
        // Kriging believer: runs in flight count as observed at the model's mean.
        if !context.pending.is_empty() {
            for p in context.pending {
                let f = features(space, p);
                py.push(gp.predict(&f, false).mean);
                px.push(f);
            }
            if let Ok(with_pending) = Gp::new(kernel, gp.hyper.clone(), px, &py) {
                gp = with_pending;
            }
        }
        let surrogate = Surrogate {
            gp,
            space,
            acquisition: acquisition_kind,
            best,
        };
        let numeric = numeric_features(space);

        // Candidates: random points and perturbations of the best observed ones.
        let mut candidates: Vec<Vec<f64>> = (0..RANDOM_CANDIDATES)
            .map(|_| random_point(space.dims(), &mut rng))
            .collect();
        for i in order.iter().take(5) {
            for _ in 0..24 {
                let mut p = data[*i].0.clone();
                for (d, u) in p.iter_mut().enumerate() {
                    if numeric[d].is_some() {
                        *u = (*u + 0.05 * (rng.random::<f64>() - 0.5) * 2.0 * rng.random::<f64>())
                            .clamp(0.0, 1.0);
                    } else if rng.random::<f64>() < 0.2 {
                        *u = rng.random::<f64>();
                    }
                }
                candidates.push(p);
            }
        }
        let mut scored: Vec<(f64, Vec<f64>)> = candidates
            .into_iter()
            .map(|p| (surrogate.score(&p), p))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let existing: HashSet<String> = if self.bopt.de_duplication {
            context.existing_keys()
        } else {
            HashSet::new()
        };
        let mut finals: Vec<(f64, Vec<f64>)> = Vec::new();
        for (_, start) in scored.iter().take(LOCAL_STARTS) {
            let refined = space.canonical(&surrogate.refine(start, &numeric));
            // Sweep every categorical exactly at the refined point.
            let mut point = refined;
            for (d, h) in space.hyperparameters().iter().enumerate() {
                if let Domain::Categorical { values } = &h.domain {
                    let k = values.len();
                    let mut best_u = point[d];
                    let mut best_s = surrogate.score(&point);
                    for i in 0..k {
                        let mut trial = point.clone();
                        trial[d] = (i as f64 + 0.5) / k as f64;
                        let s = surrogate.score(&trial);
                        if s > best_s {
                            best_s = s;
                            best_u = trial[d];
                        }
                    }
                    point[d] = best_u;
                }
            }
            finals.push((surrogate.score(&point), point));
        }
        finals.extend(scored.into_iter().map(|(s, p)| (s, space.canonical(&p))));
        finals.sort_by(|a, b| b.0.total_cmp(&a.0));
        let too_close = |p: &[f64]| {
            self.bopt.eps > 0.0
                && data.iter().any(|(q, _)| {
                    p.iter()
                        .zip(q.iter())
                        .map(|(a, b)| (a - b).powi(2))
                        .sum::<f64>()
                        .sqrt()
                        < self.bopt.eps
                })
        };
        let chosen = finals
            .into_iter()
            .find(|(s, p)| {
                s.is_finite() && !existing.contains(&space.combination_key(p)) && !too_close(p)
            })
            .map(|(_, p)| p);
        Ok(Some(match chosen {
            Some(point) => Suggestion { point, label },
            None => Suggestion {
                point: random_point(space.dims(), &mut rng),
                label: "random".into(),
            },
        }))
    }
}
