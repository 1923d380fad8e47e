//! Bayesian optimisation: the seed's bopt loop around the GP engine.
//!
//! Per suggestion: a space-filling (Sobol) point until `min_initial_points` results exist; then,
//! with probability `grid_suggestion_probability` an unused grid point, else with probability
//! `random_suggestion_probability` a random point, else a GP suggestion: kernel, acquisition and
//! estimator drawn from the configured lists, a MAP-fitted GP on the finished runs' losses
//! (imputed failures included, `nan` ones left out; normalised and, with `warp_Y`, through a
//! power transform: Box-Cox where the losses span decades, with the noise the fit may assume
//! bounded there (`BoptStrategy::noise`), else Yeo-Johnson), runs in flight
//! added as "kriging believer" observations at the GP's own mean (so parallel suggestions spread
//! out), and the acquisition (improvement measured against the best observed target, or where the
//! losses span decades against the model's best mean at an observed point:
//! `improvement_reference`) maximised over candidates (random, perturbed incumbents, a trust
//! region) whose discrete and categorical values are snapped to their domain before scoring, the
//! best refined by L-BFGS-B on the continuous dimensions, then every categorical swept exactly.
//!
//! The MAP fit is warm-started: a full multi-start fit runs only at anchor sizes of the data
//! (`anchor_size`) and is remembered; in between one L-BFGS-B run starts from the anchor's
//! hyperparameters. The anchor depends on the data and the seed only, so the strategy stays pure.
//!
//! Features: a numeric hyperparameter is one feature (its unit-cube coordinate); a categorical of
//! k values is k one-hot features, so the kernel sees categories as unordered.

use super::contract::{Strategy, StrategyError, SuggestContext, Suggestion};
use super::grid::GridStrategy;
use crate::config::search::{
    Acquisition, BoptConfig, Estimator, Kernel, SearchConfig, YTransformation,
};
use crate::gp::mcmc::{self, McmcSettings};
use crate::gp::{acquisition, Gp, Hyper, Noise};
use crate::space::{Domain, Space, INACTIVE};
use rand::{RngExt, SeedableRng};
use std::collections::HashSet;

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
    /// Whether the losses are log10 of the objective (`y_transformation` log or neglog).
    logged: bool,
}

/// Most observations the hyperparameters are fitted on (the best ones and a random rest); the
/// prediction still uses up to `MAX_PREDICT` of them.
const MAX_FIT: usize = 150;
const MAX_PREDICT: usize = 400;
const RANDOM_CANDIDATES: usize = 2048;
const LOCAL_STARTS: usize = 10;
/// Candidates drawn in a box around the incumbent, and the box's mean side (unit cube).
const TRUST_REGION_CANDIDATES: usize = 512;
const TRUST_REGION_SIDE: f64 = 0.2;
/// Most MCMC draws the acquisition is averaged over (evenly thinned).
const MAX_MCMC_MODELS: usize = 16;
/// Losses whose smallest is under this fraction of the largest (all positive) "span decades"
/// (`spans_decades`): two decades, where the Box-Cox warp won (1% against 10% and 0.1%).
const DECADES_RATIO: f64 = 0.01;
/// The most noise variance a fit may assume on the Box-Cox targets of losses spanning decades
/// (`BoptStrategy::noise`).
const DECADES_MAX_NOISE: f64 = 1e-4;

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
            logged: matches!(
                config.y_transformation,
                YTransformation::Log | YTransformation::NegLog
            ),
        }
    }
}

/// The GP's features for a unit-cube point: a numeric hyperparameter's position, a categorical's
/// one-hot vector. In a conditional space an inactive categorical is all zeros (no category), an
/// inactive numeric one sits at `INACTIVE`, and each conditional numeric hyperparameter adds an
/// activity feature (1 active, 0 not) after the others, so that "not used" is never mistaken for
/// the middle of its range.
pub fn features(space: &Space, point: &[f64]) -> Vec<f64> {
    let active = space.is_conditional().then(|| space.active(point));
    let on = |i: usize| active.as_ref().is_none_or(|a| a[i]);
    let mut f = Vec::new();
    for (i, (h, u)) in space.hyperparameters().iter().zip(point).enumerate() {
        match &h.domain {
            Domain::Categorical { values } => {
                let k = values.len();
                let index = ((u.clamp(0.0, 1.0) * k as f64).floor() as usize).min(k - 1);
                f.extend((0..k).map(|c| if on(i) && c == index { 1.0 } else { 0.0 }));
            }
            _ => f.push(if on(i) { *u } else { INACTIVE }),
        }
    }
    if let Some(active) = &active {
        for (i, h) in space.hyperparameters().iter().enumerate() {
            let conditional = !space.tree().conditions[i].is_empty();
            if conditional && !matches!(h.domain, Domain::Categorical { .. }) {
                f.push(if active[i] { 1.0 } else { 0.0 });
            }
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

/// The acquisition of one GP, or its average over several (MCMC draws of the hyperparameters):
/// the mean of EI or PI (a log-sum-exp of their logarithms), the mean of LCB.
struct Surrogate<'a> {
    gps: Vec<Gp>,
    space: &'a Space,
    acquisition: Acquisition,
    best: f64,
}

impl Surrogate<'_> {
    fn score(&self, point: &[f64]) -> f64 {
        let f = features(self.space, point);
        let scores: Vec<f64> = self
            .gps
            .iter()
            .map(|gp| {
                let p = gp.predict(&f, false);
                acquisition::score(self.acquisition, p.mean, p.variance.sqrt(), self.best).0
            })
            .collect();
        self.combine(&scores).0
    }

    /// Scores of many points at once (batched predictions; the same numbers as `score`).
    fn score_batch(&self, points: &[Vec<f64>]) -> Vec<f64> {
        let flat: Vec<f64> = points
            .iter()
            .flat_map(|p| features(self.space, p))
            .collect();
        let m = points.len();
        let (mut means, mut variances) = (vec![0.0; m], vec![0.0; m]);
        let mut per_gp: Vec<Vec<f64>> = Vec::with_capacity(self.gps.len());
        for gp in &self.gps {
            gp.predict_batch(&flat, &mut means, &mut variances);
            per_gp.push(
                means
                    .iter()
                    .zip(&variances)
                    .map(|(mu, var)| {
                        acquisition::score(self.acquisition, *mu, var.sqrt(), self.best).0
                    })
                    .collect(),
            );
        }
        (0..m)
            .map(|c| {
                let scores: Vec<f64> = per_gp.iter().map(|s| s[c]).collect();
                self.combine(&scores).0
            })
            .collect()
    }

    /// The averaged score and each GP's weight in its gradient.
    fn combine(&self, scores: &[f64]) -> (f64, Vec<f64>) {
        let m = scores.len() as f64;
        if self.acquisition == Acquisition::Lcb {
            return (scores.iter().sum::<f64>() / m, vec![1.0 / m; scores.len()]);
        }
        let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = scores.iter().map(|s| (s - top).exp()).collect();
        let total: f64 = exps.iter().sum();
        (
            top + (total / m).ln(),
            exps.iter().map(|e| e / total).collect(),
        )
    }

    /// Score and its gradient along the numeric dimensions (0 along categoricals).
    fn score_and_gradient(&self, point: &[f64], numeric: &[Option<usize>]) -> (f64, Vec<f64>) {
        let f = features(self.space, point);
        let mut scores = Vec::with_capacity(self.gps.len());
        let mut grads = Vec::with_capacity(self.gps.len());
        for gp in &self.gps {
            let p = gp.predict(&f, true);
            let sd = p.variance.sqrt();
            let (s, d_mean, d_sd) = acquisition::score(self.acquisition, p.mean, sd, self.best);
            scores.push(s);
            grads.push(
                numeric
                    .iter()
                    .map(|f| match f {
                        Some(f) => {
                            d_mean * p.d_mean[*f] + d_sd * p.d_variance[*f] / (2.0 * sd.max(1e-9))
                        }
                        None => 0.0,
                    })
                    .collect::<Vec<f64>>(),
            );
        }
        let (s, weights) = self.combine(&scores);
        let grad = (0..numeric.len())
            .map(|j| grads.iter().zip(&weights).map(|(g, w)| w * g[j]).sum())
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
        // L-BFGS-B asks for the value and the gradient apart, at the same point: one prediction
        // serves both.
        let last: std::cell::RefCell<Option<Evaluated>> = Default::default();
        let evaluate = |x: &[f64]| -> (f64, Vec<f64>) {
            if let Some((at, v, g)) = last.borrow().as_ref() {
                if at.as_slice() == x {
                    return (*v, g.clone());
                }
            }
            let (v, g) = self.score_and_gradient(&assemble(x), numeric);
            let g: Vec<f64> = free.iter().map(|d| -g[*d]).collect();
            *last.borrow_mut() = Some((x.to_vec(), -v, g.clone()));
            (-v, g)
        };
        let result = rcompat_lbfgsb::optim_lbfgsb_with_gradient(
            init,
            bounds,
            |x| evaluate(x).0,
            |x| evaluate(x).1,
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

/// The last acquisition evaluation: point, value, gradient.
type Evaluated = (Vec<f64>, f64, Vec<f64>);

/// Random restarts of a full MAP fit (beside the prior's centre) for `n` observations.
fn restarts_for(n: usize) -> usize {
    if n < 100 {
        4
    } else {
        1
    }
}

/// The anchor size for `n` observations: the largest member ≤ `n` of 1, 2, …, 8, then each
/// a quarter larger than the one before (10, 12, 15, 18, 22, 27, 33, 41, 51, 63, …).
fn anchor_size(n: usize) -> usize {
    let mut m = 1;
    loop {
        let next = if m < 8 { m + 1 } else { m + m / 4 };
        if next > n {
            return m;
        }
        m = next;
    }
}

/// Indices of `data` by increasing loss.
fn loss_order(data: &[(&Vec<f64>, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by(|a, b| data[*a].1.total_cmp(&data[*b].1));
    order
}

/// At most `limit` of the indices in `order` (best first): all of them, or the best fifth of the
/// limit and a random rest.
fn keep(order: &[usize], limit: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<usize> {
    if order.len() <= limit {
        return order.to_vec();
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
}

/// The Yeo-Johnson transform of `y` with exponent `lambda`.
fn yeo_johnson(lambda: f64, y: f64) -> f64 {
    if y >= 0.0 {
        if lambda.abs() < 1e-9 {
            y.ln_1p()
        } else {
            ((1.0 + y).powf(lambda) - 1.0) / lambda
        }
    } else if (lambda - 2.0).abs() < 1e-9 {
        -(-y).ln_1p()
    } else {
        -((1.0 - y).powf(2.0 - lambda) - 1.0) / (2.0 - lambda)
    }
}

/// The Box-Cox transform of `y > 0` with exponent `lambda` (the logarithm at 0).
fn box_cox(lambda: f64, y: f64) -> f64 {
    if lambda.abs() < 1e-9 {
        y.ln()
    } else {
        (y.powf(lambda) - 1.0) / lambda
    }
}

/// The exponent on a grid over [−2, 3] under which `transform(λ, y)` is most likely Gaussian.
/// `log_slope` is Σ log |dtransform/dy| per unit of (λ − 1), the Jacobian of both families.
fn likeliest_exponent(y: &[f64], transform: impl Fn(f64, f64) -> f64, log_slope: f64) -> f64 {
    let n = y.len() as f64;
    let mut best = (f64::NEG_INFINITY, 1.0);
    for step in 0..=100 {
        let lambda = -2.0 + 0.05 * step as f64;
        let t: Vec<f64> = y.iter().map(|v| transform(lambda, *v)).collect();
        let mean = t.iter().sum::<f64>() / n;
        let var = t.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        if !(var.is_finite() && var > 1e-300) {
            continue;
        }
        let ll = -0.5 * n * var.ln() + (lambda - 1.0) * log_slope;
        if ll > best.0 {
            best = (ll, lambda);
        }
    }
    best.1
}

/// `t` shifted and scaled to mean 0 and variance 1 (left at scale 1 when constant).
fn standardised(t: Vec<f64>) -> Vec<f64> {
    let n = t.len() as f64;
    let mean = t.iter().sum::<f64>() / n;
    let sd = (t.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let sd = if sd > 1e-12 { sd } else { 1.0 };
    t.iter().map(|v| (v - mean) / sd).collect()
}

/// `y` through a Yeo-Johnson transform, standardised to mean 0 and variance 1. Its exponent is
/// halfway between 1 (no change) and the likeliest one. Monotone, so the best loss stays the
/// best.
fn power_transform(y: &[f64]) -> Vec<f64> {
    let log_slope: f64 = y.iter().map(|v| v.signum() * v.abs().ln_1p()).sum();
    // Halfway to the likelihood's choice: with the full exponent (often −2 once the search
    // has concentrated near an optimum) the stretched low tail made the model over-exploit on
    // mixed_hpo; the half step kept the gains elsewhere (docs/benchmarks.md).
    let lambda = 0.5 * (1.0 + likeliest_exponent(y, yeo_johnson, log_slope));
    standardised(y.iter().map(|v| yeo_johnson(lambda, *v)).collect())
}

/// Positive `losses` through a Box-Cox transform with the likeliest exponent, standardised.
/// Unlike Yeo-Johnson on normalised losses it keeps zero as the origin, so losses spanning
/// decades above zero are modelled nearly on a log scale, where the low tail near the optimum
/// is resolved instead of squeezed against the bulk.
fn box_cox_transform(losses: &[f64]) -> Vec<f64> {
    let n = losses.len() as f64;
    let mean = losses.iter().sum::<f64>() / n;
    let spread = (losses.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    // The exponent does not depend on the scale; dividing keeps the powers in range.
    let y: Vec<f64> = losses.iter().map(|v| v / spread.max(1e-300)).collect();
    let log_slope: f64 = y.iter().map(|v| v.ln()).sum();
    let lambda = likeliest_exponent(&y, box_cox, log_slope);
    standardised(y.iter().map(|v| box_cox(lambda, *v)).collect())
}

/// Whether losses "span decades above zero": all positive, the smallest under `DECADES_RATIO`
/// of the largest. Such losses (residuals, errors with an optimum near 0, runtimes) get the
/// Box-Cox warp and, unless the config names a kernel, Matern32: the log-like warp turns the
/// optimum into a sharp funnel that the rougher kernel fits (docs/benchmarks.md).
fn spans_decades(losses: &[f64]) -> bool {
    let low = losses.iter().copied().fold(f64::INFINITY, f64::min);
    let high = losses.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    low > 0.0 && low < DECADES_RATIO * high
}

/// The target level EI and MPI measure improvement against: the best observed target, or with
/// `smoothed` the models' lowest mean (averaged over `gps`) at an observed point, as GPyOpt does.
///
/// Smoothed where the losses span decades (the Box-Cox path): there the log-like warp turns the
/// best losses into a sharp dip that the fit partly explains as noise, the model's mean at the
/// incumbent sits above its observed target, and against that lucky-looking value improvement
/// beside the incumbent seemed unlikely, so EI left descending valleys (rosenbrock4's stalled
/// runs: median 1.19 → 0.86 and 1.17 → 0.79 on two sets of 30 seeds). Elsewhere the smoothed
/// reference let searches settle in the local minima of rugged losses (ackley5_off 0.90 → 1.08),
/// so the observed best stays (docs/benchmarks.md). Since the noise of that path is bounded
/// (`BoptStrategy::noise`) the model's mean at the incumbent stays close to its target and the
/// two references give nearly the same suggestions (60 seeds: rosenbrock4 0.85 / 0.60 smoothed,
/// 0.86 / 0.58 observed; the others within the noise).
fn improvement_reference(
    gps: &[Gp],
    observed: &[Vec<f64>],
    observed_best: f64,
    smoothed: bool,
) -> f64 {
    if !smoothed {
        return observed_best;
    }
    // No models or no observations leave no finite mean: the observed best stands.
    let models = gps.len() as f64;
    observed
        .iter()
        .map(|x| gps.iter().map(|gp| gp.predict(x, false).mean).sum::<f64>() / models)
        .filter(|m| m.is_finite())
        .reduce(f64::min)
        .unwrap_or(observed_best)
}

/// The random stream of anchor fits: beyond any suggestion's sequence number.
const ANCHOR_STREAM: u64 = 1 << 62;
/// Anchor fits remembered (the latest few; they are a cache, never needed for correctness).
const MAX_ANCHORS: usize = 8;

impl BoptStrategy {
    /// Centre and scale of the losses (mean and standard deviation when `normalize_Y`).
    fn normalisation(&self, data: &[(&Vec<f64>, f64)]) -> (f64, f64) {
        if !self.bopt.normalize_y || data.is_empty() {
            return (0.0, 1.0);
        }
        let n = data.len() as f64;
        let mean = data.iter().map(|(_, l)| l).sum::<f64>() / n;
        let var = data.iter().map(|(_, l)| (l - mean).powi(2)).sum::<f64>() / n;
        (mean, if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 })
    }

    /// Whether `warp_Y` takes the Box-Cox path for these losses (`spans_decades` on
    /// `decades_scale`).
    fn log_like_warp(&self, losses: &[f64]) -> bool {
        self.bopt.warp_y && losses.len() >= 3 && spans_decades(&self.decades_scale(losses))
    }

    /// The losses on the scale where the decades rule and the Box-Cox warp apply: as they are,
    /// or where `y_transformation` took log10 of the objective (log, the seed's default, and
    /// neglog), back on the objective's own scale, 10^loss, divided by its smallest value (the
    /// Box-Cox targets do not depend on the scale, and the powers stay finite). Without this the
    /// default configuration never took the decades path, and a user who wrote only
    /// `"search_type": "bopt"` got the weaker model on losses spanning decades (30 seeds with
    /// `log` against `none`: rosenbrock4 1.59 against 0.85, branin −4.39 against −6.1).
    fn decades_scale(&self, losses: &[f64]) -> Vec<f64> {
        if !self.logged {
            return losses.to_vec();
        }
        let low = losses.iter().copied().fold(f64::INFINITY, f64::min);
        losses
            .iter()
            .map(|l| 10f64.powf((l - low).min(300.0)))
            .collect()
    }

    /// What the MAP fits may assume about noise: none with `exact_feval`; on the Box-Cox targets
    /// of losses spanning decades at most `DECADES_MAX_NOISE` (a standard deviation of 1% of the
    /// targets'); elsewhere up to the targets' whole variance.
    ///
    /// Why the bound: a stationary GP cannot follow the sharp funnel that the log-like warp makes
    /// of the best losses, and the MAP fit explained that misfit as noise (rosenbrock4: a
    /// variance of 0.06-0.12 by 30 results, a standard deviation of a quarter of the targets'),
    /// so the model smoothed over the incumbent's neighbourhood. Bounded, it follows the funnel:
    /// 60 seeds, rosenbrock4 mean / median 1.13 / 0.75 → 0.85 / 0.60, the other problems of this
    /// path within the noise; and on copies of them with 20-50% relative or additive noise
    /// (`bench/noisy_problems.py`) the bounded fit did as well or better, since the bound only
    /// stops the fit from calling the funnel noise. 1e-3 did no better on either; 1e-6 (as
    /// `exact_feval`) cost branin. The rugged problems of the other path need the noise to absorb
    /// their ripples (1e-3 there: ackley5 0.68 → 0.82). MCMC draws are not bounded; they start
    /// from the MAP fit.
    fn noise(&self, decades: bool) -> Noise {
        if self.bopt.exact_feval {
            Noise::Exact
        } else if decades {
            Noise::AtMost(DECADES_MAX_NOISE)
        } else {
            Noise::FITTED
        }
    }

    /// The GP's targets for `data`: normalised losses, then with `warp_Y` a power transform,
    /// Box-Cox where the losses span decades above zero (`box_cox_transform`), else Yeo-Johnson
    /// (`power_transform`).
    fn targets(&self, data: &[(&Vec<f64>, f64)]) -> Vec<f64> {
        let losses: Vec<f64> = data.iter().map(|(_, l)| *l).collect();
        if self.log_like_warp(&losses) {
            return box_cox_transform(&self.decades_scale(&losses));
        }
        let y = self.normalised_losses(data);
        if !self.bopt.warp_y || y.len() < 3 {
            return y;
        }
        power_transform(&y)
    }

    /// The targets of an anchor fit on `prefix`: where its losses span decades, the Box-Cox
    /// targets that the fits warm-started from the anchor use too; otherwise the normalised
    /// losses. Fitting the anchors of the decades path on the normalised losses gave those fits
    /// a start tuned to other targets (60 seeds: goldstein's worst tenth −0.94 → −3.30, its
    /// median −4.77 → −4.89, the other decades problems within the noise); the Yeo-Johnson
    /// targets in the anchors of the other path cost hartmann6 and hpo_ints (docs/benchmarks.md).
    fn anchor_targets(&self, prefix: &[(&Vec<f64>, f64)]) -> Vec<f64> {
        let losses: Vec<f64> = prefix.iter().map(|(_, l)| *l).collect();
        if self.log_like_warp(&losses) {
            return box_cox_transform(&self.decades_scale(&losses));
        }
        self.normalised_losses(prefix)
    }

    /// The losses of `data`, shifted and scaled by `normalisation`.
    fn normalised_losses(&self, data: &[(&Vec<f64>, f64)]) -> Vec<f64> {
        let (center, scale) = self.normalisation(data);
        data.iter().map(|(_, l)| (l - center) / scale).collect()
    }

    /// The hyperparameters of a full multi-start MAP fit on the first `anchor_size(n)`
    /// observations, with randomness from the seed and that size only. A pure function of the
    /// data and the seed (a resumed search gets the same); computed once per anchor and kept.
    fn anchor(
        &mut self,
        kernel: Kernel,
        space: &Space,
        data: &[(&Vec<f64>, f64)],
        seed: u64,
    ) -> Option<Hyper> {
        use std::hash::{Hash, Hasher};
        let m = anchor_size(data.len());
        let prefix = &data[..m];
        let mut hasher = std::hash::DefaultHasher::new();
        (
            kernel as u8,
            self.bopt.exact_feval,
            self.bopt.normalize_y,
            seed,
            m,
        )
            .hash(&mut hasher);
        for (p, l) in prefix {
            p.iter().for_each(|v| v.to_bits().hash(&mut hasher));
            l.to_bits().hash(&mut hasher);
        }
        let key = hasher.finish();
        if let Some((_, h)) = self.anchors.iter().find(|(k, _)| *k == key) {
            return Some(h.clone());
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(ANCHOR_STREAM + m as u64);
        let rows = keep(&loss_order(prefix), MAX_FIT, &mut rng);
        let targets = self.anchor_targets(prefix);
        let (x, y): (Vec<Vec<f64>>, Vec<f64>) = rows
            .iter()
            .map(|i| (features(space, prefix[*i].0), targets[*i]))
            .unzip();
        let prefix_losses: Vec<f64> = prefix.iter().map(|(_, l)| *l).collect();
        let gp = Gp::fit(
            kernel,
            x,
            &y,
            self.noise(self.log_like_warp(&prefix_losses)),
            restarts_for(m),
            &mut rng,
        )
        .ok()?;
        if self.anchors.len() >= MAX_ANCHORS {
            self.anchors.remove(0);
        }
        self.anchors.push((key, gp.hyper.clone()));
        Some(gp.hyper)
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
        let data: Vec<(&Vec<f64>, f64)> = context
            .finished
            .iter()
            .filter(|o| o.point.len() == space.dims())
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
                notes: Vec::new(),
            }));
        }
        let losses: Vec<f64> = data.iter().map(|(_, l)| *l).collect();
        let log_like = self.log_like_warp(&losses);
        // Drawn even when replaced, so that every later draw is the same either way.
        let listed: Kernel = choose(&self.bopt.kernel, &mut rng);
        let kernel = if self.bopt.kernel_is_default && log_like {
            Kernel::Matern32
        } else {
            listed
        };
        let acquisition_kind: Acquisition = choose(&self.bopt.acquisition_type, &mut rng);
        let mut estimator = self.pick_estimator(data.len(), &mut rng);
        let mut notes = Vec::new();
        if log_like && !self.decades_noted {
            self.decades_noted = true;
            let what = if self.logged {
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
                .map(|i| (features(space, data[*i].0), targets[*i]))
                .unzip()
        };
        let (fx, fy) = rows(&fit_rows);
        let noise = self.noise(log_like);
        // The MAP fit starts from the hyperparameters of the last anchor fit (a full multi-start
        // fit on a prefix of the data, see `anchor`): one local L-BFGS-B run instead of five.
        let fitted = match self.anchor(kernel, space, &data, context.seed) {
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
            Acquisition::NAMES[acquisition_kind as usize],
            Estimator::NAMES[estimator as usize]
        );
        let (px, py) = rows(&predict_rows);
        let observed_best = py.iter().copied().fold(f64::INFINITY, f64::min);
        let mut gps = Vec::with_capacity(hypers.len());
        for hyper in hypers {
            let Ok(mut gp) = Gp::new(kernel, hyper, px.clone(), &py) else {
                continue;
            };
            // Kriging believer: runs in flight count as observed at the model's mean.
            if !context.pending.is_empty() {
                let (mut bx, mut by) = (px.clone(), py.clone());
                for p in context.pending.iter().filter(|p| p.len() == space.dims()) {
                    let f = features(space, p);
                    by.push(gp.predict(&f, false).mean);
                    bx.push(f);
                }
                if let Ok(with_pending) = Gp::new(kernel, gp.hyper.clone(), bx, &by) {
                    gp = with_pending;
                }
            }
            gps.push(gp);
        }
        if gps.is_empty() {
            gps.push(fitted);
        }
        let best = improvement_reference(&gps, &px, observed_best, log_like);
        let surrogate = Surrogate {
            gps,
            space,
            acquisition: acquisition_kind,
            best,
        };
        let numeric = numeric_features(space);

        // Candidates: random points, perturbations of the best observed ones, and a trust region.
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
        // A trust region around the incumbent: boxes of side `TRUST_REGION_SIDE` on average,
        // wider along dimensions with long lengthscales (the MAP fit's, relative to their
        // geometric mean, within 1/4..4).
        let numeric_ls: Vec<f64> = numeric
            .iter()
            .flatten()
            .map(|f| map_lengthscales[*f])
            .collect();
        let mean_log_ls = numeric_ls.iter().sum::<f64>() / numeric_ls.len().max(1) as f64;
        let incumbent = data[order[0]].0;
        for _ in 0..TRUST_REGION_CANDIDATES {
            let mut p = incumbent.clone();
            for (d, u) in p.iter_mut().enumerate() {
                if let Some(f) = numeric[d] {
                    let width = TRUST_REGION_SIDE
                        * (map_lengthscales[f] - mean_log_ls).exp().clamp(0.25, 4.0);
                    *u = (*u + width * (rng.random::<f64>() - 0.5)).clamp(0.0, 1.0);
                } else if rng.random::<f64>() < 0.2 {
                    *u = rng.random::<f64>();
                }
            }
            candidates.push(p);
        }
        // Discrete and categorical values are scored only where they can run: every candidate
        // is snapped to the domain before the acquisition sees it, and the refinement moves the
        // continuous dimensions alone (the snapped acquisition is flat along the others). Against
        // scoring relaxed values and snapping afterwards, with or without a search over
        // neighbouring values, this won on both mixed problems (docs/benchmarks.md).
        let continuous: Vec<Option<usize>> = numeric
            .iter()
            .zip(space.hyperparameters())
            .map(|(f, h)| match h.domain {
                Domain::Continuous { .. } => *f,
                _ => None,
            })
            .collect();
        if continuous.iter().any(Option::is_none) {
            for c in candidates.iter_mut() {
                let snapped = space.canonical(c);
                for (d, u) in c.iter_mut().enumerate() {
                    if continuous[d].is_none() {
                        *u = snapped[d];
                    }
                }
            }
        }
        let mut scored: Vec<(f64, Vec<f64>)> = surrogate
            .score_batch(&candidates)
            .into_iter()
            .zip(candidates)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let existing: HashSet<String> = if self.bopt.de_duplication {
            context.existing_keys()
        } else {
            HashSet::new()
        };
        let mut finals: Vec<(f64, Vec<f64>)> = Vec::new();
        for (_, start) in scored.iter().take(LOCAL_STARTS) {
            let refined = space.canonical(&surrogate.refine(start, &continuous));
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
        finals.extend(scored);
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
        // Canonical forms only as far down the ranking as needed.
        let chosen = finals
            .into_iter()
            .map(|(s, p)| (s, space.canonical(&p)))
            .find(|(s, p)| {
                s.is_finite()
                    && !existing.contains(&space.combination_key(p))
                    && !too_close(p)
                    && !space.is_forbidden(p)
            })
            .map(|(_, p)| p);
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

    #[test]
    fn points_of_another_length_are_left_out_not_a_panic() {
        // A corrupted store row reads as an empty point (with a warning); before, such a point
        // reached the GP's features and panicked on a slice index.
        use crate::strategy::Observation;
        let space = Space::unit_cube(2);
        let config = SearchConfig::from_map(
            std::path::Path::new("test"),
            &serde_json::from_str(
                r#"{"search_type": "bopt", "min_initial_points": 2, "random_suggestion_probability": 0}"#,
            )
            .unwrap(),
        )
        .unwrap();
        let observation = |point: Vec<f64>, loss: f64| Observation {
            point,
            loss: Some(loss),
        };
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
        };
        let suggestion = BoptStrategy::new(&config)
            .suggest(&context)
            .unwrap()
            .unwrap();
        assert_eq!(suggestion.point.len(), 2);
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
            finished.push(Observation {
                point,
                loss: Some(loss),
            });
        }
    }

    #[test]
    fn the_smoothed_reference_is_the_models_best_mean_above_a_lucky_looking_dip() {
        // A smooth bowl with one deep dip at 0.5 that a noisy model cannot follow.
        let x: Vec<Vec<f64>> = (0..11).map(|i| vec![i as f64 / 10.0]).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|p| {
                if p[0] == 0.5 {
                    -3.0
                } else {
                    (p[0] - 0.5).powi(2) * 4.0
                }
            })
            .collect();
        let hyper = Hyper {
            log_lengthscales: vec![0.3f64.ln()],
            log_signal: 0.0,
            log_noise: 0.5f64.ln(),
            mean: 0.0,
            log_alpha: 0.0,
        };
        let gp = Gp::new(Kernel::Matern32, hyper, x.clone(), &y).unwrap();
        let observed_best = -3.0;
        assert_eq!(
            improvement_reference(std::slice::from_ref(&gp), &x, observed_best, false),
            observed_best
        );
        let smoothed = improvement_reference(std::slice::from_ref(&gp), &x, observed_best, true);
        let at_dip = gp.predict(&[0.5], false).mean;
        assert!(smoothed > observed_best + 1.0, "{smoothed}");
        assert!(smoothed <= at_dip + 1e-12, "{smoothed} vs {at_dip}");
        assert_eq!(
            improvement_reference(&[], &x, observed_best, true),
            observed_best
        );
        assert_eq!(
            improvement_reference(std::slice::from_ref(&gp), &[], observed_best, true),
            observed_best
        );
    }

    #[test]
    fn anchors_are_fitted_on_the_targets_of_the_fits_they_start() {
        let config = SearchConfig::from_map(
            std::path::Path::new("test"),
            &serde_json::from_str(r#"{"search_type": "bopt", "y_transformation": "none"}"#)
                .unwrap(),
        )
        .unwrap();
        let strategy = BoptStrategy::new(&config);
        let points: Vec<Vec<f64>> = (0..6).map(|i| vec![i as f64 / 6.0]).collect();
        let with = |losses: &[f64]| -> Vec<(&Vec<f64>, f64)> {
            points.iter().zip(losses.iter().copied()).collect()
        };
        // Spanning decades: the Box-Cox targets that `targets` gives the warm-started fit.
        let wide = [1e-3, 0.05, 2.0, 30.0, 400.0, 9000.0];
        assert_eq!(
            strategy.anchor_targets(&with(&wide)),
            strategy.targets(&with(&wide))
        );
        // Otherwise the normalised losses, not the Yeo-Johnson targets.
        let narrow = [1.0, 1.5, 2.0, 4.0, 3.0, 9.0];
        let anchored = strategy.anchor_targets(&with(&narrow));
        let (center, scale) = strategy.normalisation(&with(&narrow));
        let normalised: Vec<f64> = narrow.iter().map(|l| (l - center) / scale).collect();
        assert_eq!(anchored, normalised);
        assert_ne!(anchored, strategy.targets(&with(&narrow)));
    }

    #[test]
    fn anchors_grow_by_a_quarter_after_eight() {
        let sizes: Vec<usize> = (1..=45).map(anchor_size).collect();
        assert_eq!(&sizes[..9], &[1, 2, 3, 4, 5, 6, 7, 8, 8]);
        assert_eq!(anchor_size(10), 10);
        assert_eq!(anchor_size(11), 10);
        assert_eq!(anchor_size(44), 41);
        assert!(sizes.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn the_power_transform_is_monotone_and_standardised() {
        let y: Vec<f64> = [0.1, 0.2, 0.25, 0.3, 0.5, 1.0, 3.0, 12.0, 80.0]
            .iter()
            .map(|v: &f64| v.ln() * 3.0 + v)
            .collect();
        let t = power_transform(&y);
        assert!(t.windows(2).all(|w| w[0] < w[1]), "{t:?}");
        let n = t.len() as f64;
        let mean = t.iter().sum::<f64>() / n;
        let var = t.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-9);
        // Continuous at 0 for every exponent, identity at 1.
        for lambda in [-2.0, 0.0, 0.5, 1.0, 2.0, 3.0] {
            assert!((yeo_johnson(lambda, 1e-12) - yeo_johnson(lambda, -1e-12)).abs() < 1e-9);
        }
        assert_eq!(yeo_johnson(1.0, 2.5), 2.5);
        assert_eq!(yeo_johnson(1.0, -2.5), -2.5);
    }

    #[test]
    fn box_cox_finds_the_logarithm_of_log_normal_losses() {
        // Losses whose logarithms are evenly spread: the likeliest exponent is (near) 0, and the
        // transformed losses are then evenly spread too, whatever the losses' scale.
        let losses: Vec<f64> = (0..40).map(|i| (0.25 * i as f64 - 5.0).exp()).collect();
        let log_slope: f64 = losses.iter().map(|v| v.ln()).sum();
        let lambda = likeliest_exponent(&losses, box_cox, log_slope);
        assert!(lambda.abs() <= 0.05, "exponent {lambda}");
        for scale in [1e-6, 1.0, 1e6] {
            let scaled: Vec<f64> = losses.iter().map(|v| v * scale).collect();
            let t = box_cox_transform(&scaled);
            let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
            assert!(gaps.iter().all(|g| *g > 0.0), "{t:?}");
            let (lo, hi) = gaps
                .iter()
                .fold((f64::INFINITY, 0.0f64), |(a, b), g| (a.min(*g), b.max(*g)));
            assert!(hi / lo < 1.5, "uneven gaps at scale {scale}: {lo}..{hi}");
        }
        // The Yeo-Johnson path on normalised losses cannot do this: the 20 smallest losses
        // (below e^0 = 1 of up to e^4.75) stay squeezed into a sliver of the range.
        let n = losses.len() as f64;
        let mean = losses.iter().sum::<f64>() / n;
        let sd = (losses.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let normalised: Vec<f64> = losses.iter().map(|v| (v - mean) / sd).collect();
        let yj = power_transform(&normalised);
        let bc = box_cox_transform(&losses);
        let share = |t: &[f64]| (t[19] - t[0]) / (t[39] - t[0]);
        assert!(share(&bc) > 0.45, "{}", share(&bc));
        assert!(share(&yj) < 0.1, "{}", share(&yj));
    }

    #[test]
    fn fits_assume_little_noise_where_losses_span_decades_and_none_when_exact() {
        let strategy = |config: &str| {
            let config = SearchConfig::from_map(
                std::path::Path::new("test"),
                &serde_json::from_str(config).unwrap(),
            )
            .unwrap();
            BoptStrategy::new(&config)
        };
        let default = strategy(r#"{"search_type": "bopt"}"#);
        assert_eq!(default.noise(true), Noise::AtMost(DECADES_MAX_NOISE));
        assert_eq!(default.noise(false), Noise::FITTED);
        let exact = strategy(r#"{"search_type": "bopt", "bopt_config": {"exact_feval": true}}"#);
        assert_eq!(exact.noise(true), Noise::Exact);
        assert_eq!(exact.noise(false), Noise::Exact);
    }

    #[test]
    fn log10_losses_of_objectives_spanning_decades_get_the_targets_of_the_objectives() {
        // The seed's default y_transformation (log) hands the strategy log10 of the objective;
        // the decades rule and the Box-Cox warp look through it, so the GP's targets are those a
        // search with "none" gets from the objective itself.
        let strategy = |y_transformation: &str| {
            let text =
                format!(r#"{{"search_type": "bopt", "y_transformation": "{y_transformation}"}}"#);
            let config = SearchConfig::from_map(
                std::path::Path::new("test"),
                &serde_json::from_str(&text).unwrap(),
            )
            .unwrap();
            BoptStrategy::new(&config)
        };
        let points: Vec<Vec<f64>> = (0..12).map(|i| vec![i as f64 / 11.0]).collect();
        let check = |objective: &dyn Fn(f64) -> f64, decades: bool| {
            let raw: Vec<(&Vec<f64>, f64)> = points.iter().map(|p| (p, objective(p[0]))).collect();
            let logged: Vec<(&Vec<f64>, f64)> = raw.iter().map(|(p, v)| (*p, v.log10())).collect();
            let (plain, log) = (strategy("none"), strategy("log"));
            let losses = |d: &[(&Vec<f64>, f64)]| d.iter().map(|(_, l)| *l).collect::<Vec<f64>>();
            assert_eq!(plain.log_like_warp(&losses(&raw)), decades);
            assert_eq!(log.log_like_warp(&losses(&logged)), decades);
            if decades {
                for (a, b) in plain.targets(&raw).iter().zip(log.targets(&logged)) {
                    assert!((a - b).abs() < 1e-9, "{a} vs {b}");
                }
            }
            // neglog hands over −log10 of a score; the same look-through applies.
            assert_eq!(strategy("neglog").log_like_warp(&losses(&logged)), decades);
        };
        check(&|x| 1e-3 * 10f64.powf(5.0 * x), true);
        check(&|x| 0.5 + x, false);
        // Below zero, log10 losses still come from positive objectives: no reason to refuse.
        check(&|x| 1e-6 * 10f64.powf(3.0 * x), true);
    }

    #[test]
    fn losses_spanning_decades_switch_the_default_kernel_to_matern32_only() {
        use crate::strategy::Observation;
        let space = Space::unit_cube(2);
        let label_after = |config: &str, loss: &dyn Fn(&[f64]) -> f64| -> String {
            let config = SearchConfig::from_map(
                std::path::Path::new("test"),
                &serde_json::from_str(config).unwrap(),
            )
            .unwrap();
            let mut strategy = BoptStrategy::new(&config);
            let finished: Vec<Observation> = (0..8)
                .map(|i| {
                    let point = vec![(i as f64 + 0.5) / 8.0, ((i * 3 % 8) as f64 + 0.5) / 8.0];
                    let loss = Some(loss(&point));
                    Observation { point, loss }
                })
                .collect();
            let context = SuggestContext {
                space: &space,
                finished: &finished,
                pending: &[],
                sequence: 8,
                seed: 3,
            };
            let first = strategy.suggest(&context).unwrap().unwrap();
            let said = |notes: &[String]| notes.iter().any(|n| n.contains("span decades"));
            // The search log hears it once, when the rule first applies.
            let losses: Vec<f64> = finished.iter().filter_map(|o| o.loss).collect();
            let expected = config.bopt.warp_y && spans_decades(&strategy.decades_scale(&losses));
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
        // Negative losses have no natural zero: Yeo-Johnson and the default Matern52.
        assert_eq!(label_after(bopt, &shifted), "Matern52_EI_MLE");
        // A kernel the user names is kept, and without warp_Y nothing switches.
        let named = r#"{"search_type": "bopt", "random_suggestion_probability": 0,
                        "y_transformation": "none", "bopt_config": {"kernel": "Matern52"}}"#;
        assert_eq!(label_after(named, &wide), "Matern52_EI_MLE");
        let unwarped = r#"{"search_type": "bopt", "random_suggestion_probability": 0,
                           "y_transformation": "none", "bopt_config": {"warp_Y": false}}"#;
        assert_eq!(label_after(unwarped, &wide), "Matern52_EI_MLE");
    }
}
