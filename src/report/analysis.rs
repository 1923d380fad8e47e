//! The numbers behind the report and the dashboard, computed once from a search's snapshot:
//! history, per-hyperparameter views, importance and main effects from a GP fitted to the
//! results, failures, run times, and the replicate analysis (noise of the score, the settings not
//! significantly worse than the best, and the simplest of them). Pure: no files, no clock.
//!
//! Why the GP and not a random forest for importance: it is the engine a bopt search already
//! trusts, it is smooth and usable with the few dozen results a search typically has (a forest
//! of a few dozen points is a handful of steps), and it gives the uncertainty band of each main
//! effect. Importance is the functional-ANOVA share of each hyperparameter's main effect: the
//! variance of `E[m(x) | x_d]` over `x_d` divided by the variance of the GP mean `m` over the
//! whole unit cube, both under the uniform measure on the encoded space.
//!
//! What the data can carry decides what is said. A setting is recommended only when it ran at
//! least twice: one run mixes the setting's merit with the noise of the score. A category's main
//! effect is estimated only when it has at least two successful runs, and a hyperparameter's
//! importance only when at least two of its categories (or three of its values) have; the GP's
//! averages then run over those categories only, so that the figures describe the region the
//! search measured, not the GP's prior guess about a category it saw once.

use super::numbers::{approx, sig};
use crate::config::model::{ModelConfig, Simpler};
use crate::config::search::{Kernel, SearchConfig};
use crate::export::Snapshot;
use crate::gp::model::{Gp, Noise};
use crate::space::{Domain, Space};
use crate::store::{Combination, RunState, TestRun};
use crate::strategy::bopt::features;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use serde_json::{Map, Value};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// The significance level of the near-best test, unless the user gives another.
pub const DEFAULT_ALPHA: f64 = 0.05;
/// A setting is recommended only with this many successful runs: its own replicate estimate of
/// its mean, so that a lucky single draw cannot win.
pub const MIN_RUNS_TO_RECOMMEND: usize = 2;
/// The power at which the report states the smallest difference the near-best test detects.
pub const POWER: f64 = 0.8;
/// A category's main effect is estimated only with this many successful runs of it.
pub const MIN_CATEGORY_RUNS: usize = 2;
/// A numeric hyperparameter's main effect is estimated only with this many distinct values.
pub const MIN_DISTINCT_VALUES: usize = 3;
/// The GP behind importance and main effects sees at most this many results (the best half
/// and a spread of the rest): a report of a 1000-run search took 6.2 s with 400, 1.1 s with 200.
const MAX_GP_POINTS: usize = 200;
/// Points of the unit cube averaged over for each main-effect value.
const BACKGROUND_POINTS: usize = 128;
const CURVE_POINTS: usize = 25;

#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub search_id: u64,
    pub search_folder: String,
    pub search_type: String,
    pub state: String,
    pub end_reason: Option<String>,
    /// How the loss relates to the script's objective, for axis labels.
    pub loss_label: String,
    pub hyperparameters: Vec<HyperparameterInfo>,
    pub summary: crate::coordinator::events::Summary,
    /// Run, CPU and GPU hours, and what early stopping saved.
    pub compute: crate::export::compute::Compute,
    pub runs: Vec<Run>,
    /// The intermediate results of the runs that reported them (the latest
    /// `curves::MAX_CURVES`).
    pub curves: Vec<super::curves::LearningCurve>,
    pub importance: Option<Importance>,
    pub failures: Vec<FailureCount>,
    pub replicates: ReplicateAnalysis,
    pub recommendation: Option<Recommendation>,
    /// Why nothing is recommended, when nothing is.
    pub no_recommendation: Option<String>,
    pub test_runs: Vec<TestRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HyperparameterInfo {
    pub name: String,
    /// `continuous`, `discrete` or `categorical`.
    pub kind: &'static str,
    pub log_scale: bool,
    /// A discrete domain of whole numbers.
    pub integer: bool,
    pub unit: Option<String>,
    pub simpler: Option<Simpler>,
    /// The categories' labels, for a categorical.
    pub categories: Vec<String>,
    /// Bounds of a numeric domain.
    pub low: Option<f64>,
    pub high: Option<f64>,
}

impl HyperparameterInfo {
    /// The axis label: name and unit, and the scale when it is logarithmic.
    pub fn label(&self) -> String {
        let unit = self
            .unit
            .as_ref()
            .map(|u| format!(" [{u}]"))
            .unwrap_or_default();
        let scale = if self.log_scale { " (log scale)" } else { "" };
        format!("{}{unit}{scale}", self.name)
    }
}

/// One combination as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: u64,
    pub state: RunState,
    pub search_type: String,
    pub params: Map<String, Value>,
    /// The encoded position of the setting in [0, 1] per hyperparameter.
    pub unit_point: Vec<f64>,
    pub loss: Option<f64>,
    pub objective: Option<f64>,
    /// Whether the loss was imputed for a failure (then it is not a measurement).
    pub imputed: bool,
    pub failure_kind: Option<&'static str>,
    pub failure_reason: Option<String>,
    pub minutes: Option<f64>,
    /// When the run ended (seconds since the epoch), for the order of the compute figure.
    pub finished_at: Option<f64>,
    pub replicate_of: Option<u64>,
    pub job_id: Option<String>,
    pub scheduler_state: Option<String>,
    pub peak_memory_mb: Option<f64>,
    pub folder: String,
    pub log: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Importance {
    pub method: String,
    /// Per hyperparameter, in the config's order: its share of the variance of the GP mean;
    /// None when the results cannot tell it (a category tried once, a single value).
    pub shares: Vec<Option<f64>>,
    /// What the main effects leave unexplained: interactions.
    pub interactions: f64,
    /// Why some hyperparameters or categories are not estimated, one sentence each.
    pub notes: Vec<String>,
    pub effects: Vec<MainEffect>,
    pub fitted_on: usize,
}

/// The GP's mean loss as one hyperparameter moves, the others averaged out, with a band.
#[derive(Debug, Clone, Serialize)]
pub struct MainEffect {
    pub name: String,
    /// Positions in [0, 1] and the hyperparameter values they stand for.
    pub unit: Vec<f64>,
    pub values: Vec<Value>,
    pub mean: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// Whether the results carry the effect at each position: false for a category with
    /// fewer than `MIN_CATEGORY_RUNS` successful runs, and everywhere on a numeric
    /// hyperparameter whose importance is not estimable.
    pub estimated: Vec<bool>,
    /// Successful runs of each category (empty for a numeric hyperparameter).
    pub runs: Vec<usize>,
    /// Whether the hyperparameter's importance could be estimated.
    pub estimable: bool,
    /// Why not, when it could not (or why some categories are left out), for people.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureCount {
    pub kind: String,
    pub count: usize,
    pub ids: Vec<u64>,
}

/// One distinct setting and the successful runs of it.
#[derive(Debug, Clone, Serialize)]
pub struct SettingGroup {
    /// The first combination with this setting; the others repeat it.
    pub id: u64,
    pub ids: Vec<u64>,
    pub params: Map<String, Value>,
    pub n: usize,
    pub mean: f64,
    pub sd: Option<f64>,
    /// One-sided p-value of "worse than the best"; None for the best itself.
    pub p_value: Option<f64>,
    pub near_best: bool,
    /// The difference in mean loss from the best that the test would find significant with
    /// probability `POWER`, given this setting's runs, the best's and the noise; None for the
    /// best and when the noise is unknown.
    pub detectable: Option<f64>,
    /// 0 for the simplest end of every hyperparameter marked `simpler`, 1 for the other end.
    pub complexity: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicateAnalysis {
    /// Whether the near-best set could be judged: it needs settings run more than once.
    pub judged: bool,
    pub explanation: String,
    pub test: String,
    pub alpha: f64,
    /// Pooled standard deviation of the loss across repeated runs of one setting.
    pub noise_sd: Option<f64>,
    pub noise_df: usize,
    /// What the test can see: the smallest differences it would likely detect, in words.
    pub power: Option<String>,
    /// Every setting with a successful run, best mean first.
    pub groups: Vec<SettingGroup>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub id: u64,
    pub params: Map<String, Value>,
    pub mean_loss: f64,
    pub why: String,
    /// A ready input.json for the setting (without save_folder, which each run gets).
    pub input_json: Value,
}

/// Everything the report shows, from a snapshot.
pub fn analyse(snapshot: &Snapshot, alpha: f64) -> Result<Analysis, crate::config::ConfigError> {
    let search: SearchConfig = snapshot.search_config()?;
    let model: ModelConfig = snapshot.model_config()?;
    let space = &model.space;
    let hyperparameters = describe_space(&model);
    let runs: Vec<Run> = snapshot
        .combinations
        .iter()
        .map(|c| run_of(c, space, &snapshot.search_folder, snapshot.updated_at))
        .collect();
    let importance = importance(
        space,
        &snapshot.combinations,
        search.random_seed.unwrap_or(0),
    );
    let failures = failure_counts(&snapshot.combinations);
    let curves = super::curves::learning_curves(
        &snapshot.combinations,
        std::path::Path::new(&snapshot.search_folder),
        search.y_transformation,
    );
    let replicates = replicate_analysis(&runs, &hyperparameters, alpha);
    let (recommendation, no_recommendation) = match recommend(&replicates, &hyperparameters, &model)
    {
        Ok(r) => (Some(r), None),
        Err(why) => (None, Some(why)),
    };
    Ok(Analysis {
        search_id: snapshot.search_id,
        search_folder: snapshot.search_folder.clone(),
        search_type: snapshot.search_type.clone(),
        state: snapshot.state.clone(),
        end_reason: snapshot.end_reason.clone(),
        loss_label: loss_label(&snapshot.y_transformation),
        hyperparameters,
        summary: snapshot.summary.clone(),
        compute: snapshot.compute.clone(),
        runs,
        curves,
        importance,
        failures,
        replicates,
        recommendation,
        no_recommendation,
        test_runs: snapshot.test_runs.clone(),
    })
}

fn loss_label(y_transformation: &str) -> String {
    match y_transformation {
        "log" => "loss = log10(objective)".into(),
        "neg" => "loss = −objective".into(),
        "neglog" => "loss = −log10(objective)".into(),
        _ => "loss = objective".into(),
    }
}

fn describe_space(model: &ModelConfig) -> Vec<HyperparameterInfo> {
    model
        .space
        .hyperparameters()
        .iter()
        .zip(&model.notes)
        .map(|(h, note)| {
            let (kind, categories, low, high, integer) = match &h.domain {
                Domain::Continuous { low, high } => {
                    ("continuous", vec![], Some(*low), Some(*high), false)
                }
                Domain::Discrete { values, integer } => (
                    "discrete",
                    vec![],
                    values.first().copied(),
                    values.last().copied(),
                    *integer,
                ),
                Domain::Categorical { values } => (
                    "categorical",
                    values.iter().map(value_label).collect(),
                    None,
                    None,
                    false,
                ),
            };
            HyperparameterInfo {
                name: h.name.clone(),
                kind,
                log_scale: h.is_log(),
                integer,
                unit: note.unit.clone(),
                simpler: note.simpler,
                categories,
                low,
                high,
            }
        })
        .collect()
}

/// A value as a short label: strings without quotes.
pub fn value_label(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn run_of(c: &Combination, space: &Space, search_folder: &str, now: f64) -> Run {
    let folder = format!("{search_folder}/hp_combination_{}", c.id);
    Run {
        id: c.id,
        state: c.state,
        search_type: c.search_type.clone(),
        unit_point: space.encode(&c.params).unwrap_or_else(|| c.point.clone()),
        params: c.params.clone(),
        loss: c.loss,
        objective: c.objective,
        imputed: c.state == RunState::Failed && c.loss.is_some(),
        failure_kind: c.failure_kind.map(|k| k.name()),
        failure_reason: c.failure_reason.clone(),
        minutes: c.job_minutes(now),
        finished_at: c.finished_at,
        replicate_of: c.replicate_of,
        job_id: c.job_id.clone(),
        scheduler_state: c.scheduler_state.clone(),
        peak_memory_mb: c.peak_memory_mb,
        log: format!("{folder}/log.txt"),
        folder,
    }
}

fn failure_counts(combinations: &[Combination]) -> Vec<FailureCount> {
    let mut counts: Vec<FailureCount> = Vec::new();
    for c in combinations.iter().filter(|c| c.state == RunState::Failed) {
        let kind = c.failure_kind.map(|k| k.name()).unwrap_or("failed");
        match counts.iter_mut().find(|f| f.kind == kind) {
            Some(f) => {
                f.count += 1;
                f.ids.push(c.id);
            }
            None => counts.push(FailureCount {
                kind: kind.to_string(),
                count: 1,
                ids: vec![c.id],
            }),
        }
    }
    counts.sort_by(|a, b| b.count.cmp(&a.count).then(a.kind.cmp(&b.kind)));
    counts
}

/// What the results carry about one hyperparameter: which of its categories (or whether its
/// values) were tried often enough for the GP's averages to mean something there.
struct Coverage {
    estimable: bool,
    /// Per position of `curve_positions`: whether the effect there is estimated.
    estimated: Vec<bool>,
    /// Successful runs per category; empty for a numeric hyperparameter.
    runs: Vec<usize>,
    /// The unit positions the other main effects average this hyperparameter over; None: the
    /// whole interval.
    background: Option<Vec<f64>>,
    note: Option<String>,
}

fn runs_text(n: usize) -> String {
    match n {
        0 => "no successful run".into(),
        1 => "1 successful run".into(),
        n => format!("{n} successful runs"),
    }
}

fn coverage(h: &crate::space::Hyperparameter, points: &[&[f64]], d: usize) -> Coverage {
    let positions = curve_positions(h);
    match &h.domain {
        Domain::Categorical { values } => {
            let k = values.len();
            let mut runs = vec![0usize; k];
            for p in points {
                runs[category_of(p[d], k)] += 1;
            }
            let estimated: Vec<bool> = runs.iter().map(|n| *n >= MIN_CATEGORY_RUNS).collect();
            let kept: Vec<usize> = (0..k).filter(|i| estimated[*i]).collect();
            let estimable = kept.len() >= 2;
            let label = |i: usize| value_label(&values[i]);
            let left_out: Vec<String> = (0..k)
                .filter(|i| !estimated[*i])
                .map(|i| format!("{} ({})", label(i), runs_text(runs[i])))
                .collect();
            // The other effects average over the categories with enough runs; with fewer than
            // one, over the most tried category.
            let held: Vec<usize> = if kept.is_empty() {
                let most = (0..k).max_by_key(|i| (runs[*i], std::cmp::Reverse(*i)));
                most.into_iter().collect()
            } else {
                kept.clone()
            };
            let held_text = held
                .iter()
                .map(|i| label(*i))
                .collect::<Vec<_>>()
                .join(", ");
            let note = if left_out.is_empty() {
                (!estimable).then(|| {
                    format!(
                        "{}: importance not estimable: it has a single category",
                        h.name
                    )
                })
            } else if estimable {
                Some(format!(
                    "{}: the effect of {} is not estimated (a category needs at least {MIN_CATEGORY_RUNS} successful runs: one run cannot separate a category's effect from the noise); its importance is measured over {held_text}, and the other main effects average over those",
                    h.name,
                    left_out.join(", ")
                ))
            } else {
                Some(format!(
                    "{}: importance not estimable, not 0%: {} — a category needs at least {MIN_CATEGORY_RUNS} successful runs to separate its effect from the noise; the other main effects hold {} at {held_text}",
                    h.name,
                    left_out.join(", "),
                    h.name
                ))
            };
            Coverage {
                estimable,
                estimated,
                runs,
                background: Some(held.iter().map(|i| positions[*i]).collect()),
                note,
            }
        }
        _ => {
            let mut tried: Vec<f64> = points.iter().map(|p| p[d]).collect();
            tried.sort_by(|a, b| a.total_cmp(b));
            tried.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
            let estimable = tried.len() >= MIN_DISTINCT_VALUES;
            let note = (!estimable).then(|| {
                format!(
                    "{}: importance not estimable, not 0%: {} distinct value{} tried, and a main effect needs at least {MIN_DISTINCT_VALUES}; the other main effects hold {} at the tried value{}",
                    h.name,
                    tried.len(),
                    if tried.len() == 1 { " was" } else { "s were" },
                    h.name,
                    if tried.len() == 1 { "" } else { "s" },
                )
            });
            Coverage {
                estimable,
                estimated: vec![estimable; positions.len()],
                runs: Vec::new(),
                background: (!estimable).then_some(tried),
                note,
            }
        }
    }
}

/// The category a unit position falls in, of `k`.
fn category_of(u: f64, k: usize) -> usize {
    ((u.clamp(0.0, 1.0) * k as f64).floor() as usize).min(k.saturating_sub(1))
}

/// The GP's view of the search: main effects and their variance shares. None below 4 results.
fn importance(space: &Space, combinations: &[Combination], seed: u64) -> Option<Importance> {
    let mut data: Vec<(Vec<f64>, f64)> = combinations
        .iter()
        .filter(|c| c.state == RunState::Succeeded)
        .filter_map(|c| {
            let loss = c.loss.filter(|l| l.is_finite())?;
            let point = space.encode(&c.params).unwrap_or_else(|| c.point.clone());
            Some((point, loss))
        })
        .collect();
    if data.len() < 4 {
        return None;
    }
    // What the results cover of each hyperparameter: the runs where it was active (in a
    // conditional space an inactive one sits at one value that says nothing of it).
    let coverages: Vec<Coverage> = {
        let actives: Vec<Vec<bool>> = data.iter().map(|(p, _)| space.active(p)).collect();
        space
            .hyperparameters()
            .iter()
            .enumerate()
            .map(|(d, h)| {
                let points: Vec<&[f64]> = data
                    .iter()
                    .zip(&actives)
                    .filter(|(_, on)| on[d])
                    .map(|((p, _), _)| p.as_slice())
                    .collect();
                coverage(h, &points, d)
            })
            .collect()
    };
    let successful = data.len();
    if data.len() > MAX_GP_POINTS {
        // Keep the best half of the budget and spread the rest over the others: the region
        // near the optimum matters most, the rest keeps the global shape.
        data.sort_by(|a, b| a.1.total_cmp(&b.1));
        let keep = MAX_GP_POINTS / 2;
        let rest = data.split_off(keep);
        let stride = rest.len() as f64 / (MAX_GP_POINTS - keep) as f64;
        data.extend((0..MAX_GP_POINTS - keep).map(|i| rest[(i as f64 * stride) as usize].clone()));
    }
    let (mean, sd) = mean_sd(&data.iter().map(|d| d.1).collect::<Vec<_>>());
    let sd = if sd > 0.0 { sd } else { 1.0 };
    let x: Vec<Vec<f64>> = data.iter().map(|(p, _)| features(space, p)).collect();
    let y: Vec<f64> = data.iter().map(|(_, l)| (l - mean) / sd).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_ae0a);
    let gp = Gp::fit(Kernel::Matern52, x, &y, Noise::FITTED, 2, &mut rng).ok()?;
    // The measure the effects average over: uniform on the interval of a hyperparameter the
    // results cover, over its well-tried categories or tried values otherwise.
    let background: Vec<Vec<f64>> = (0..BACKGROUND_POINTS)
        .map(|_| {
            coverages
                .iter()
                .map(|c| match &c.background {
                    Some(allowed) if !allowed.is_empty() => {
                        allowed[rng.random_range(0..allowed.len())]
                    }
                    _ => rng.random::<f64>(),
                })
                .collect()
        })
        .collect();
    let predict = |point: &[f64]| {
        let p = gp.predict(&features(space, point), false);
        (p.mean * sd + mean, p.variance.max(0.0).sqrt() * sd)
    };
    let mut effects = Vec::new();
    let mut effect_variances = Vec::new();
    // The total variance is estimated from the same evaluations as the main effects, so that
    // a main effect's share cannot exceed 1 by sampling noise alone.
    let mut total_variances = Vec::new();
    for ((d, h), cover) in space.hyperparameters().iter().enumerate().zip(&coverages) {
        let unit = curve_positions(h);
        let mut curve_mean = Vec::new();
        let mut lower = Vec::new();
        let mut upper = Vec::new();
        let mut every = Vec::with_capacity(unit.len() * background.len());
        for (j, u) in unit.iter().enumerate() {
            let (mut m, mut s) = (0.0, 0.0);
            for base in &background {
                let mut p = base.clone();
                p[d] = *u;
                // A valid point of a conditional space: a child is set only where it is active,
                // and a parent's value switches its branch on or off (its effect includes the
                // branch's).
                let p = space.deactivate(&p);
                let (pm, ps) = predict(&p);
                if cover.estimated.get(j).copied().unwrap_or(false) {
                    every.push(pm);
                }
                m += pm;
                s += ps;
            }
            m /= background.len() as f64;
            // The mean of the pointwise bands: wider than the band of the average, so honest.
            s /= background.len() as f64;
            curve_mean.push(m);
            lower.push(m - 2.0 * s);
            upper.push(m + 2.0 * s);
        }
        if cover.estimable {
            let kept: Vec<f64> = curve_mean
                .iter()
                .zip(&cover.estimated)
                .filter(|(_, e)| **e)
                .map(|(m, _)| *m)
                .collect();
            effect_variances.push(Some(population_variance(&kept)));
            total_variances.push(population_variance(&every));
        } else {
            effect_variances.push(None);
        }
        effects.push(MainEffect {
            name: h.name.clone(),
            values: unit.iter().map(|u| h.decode(*u)).collect(),
            unit,
            mean: curve_mean,
            lower,
            upper,
            estimated: cover.estimated.clone(),
            runs: cover.runs.clone(),
            estimable: cover.estimable,
            note: cover.note.clone(),
        });
    }
    let total_var = total_variances.iter().sum::<f64>() / total_variances.len().max(1) as f64;
    let shares: Vec<Option<f64>> = effect_variances
        .iter()
        .map(|v| {
            v.map(|v| {
                if total_var > 0.0 {
                    (v / total_var).min(1.0)
                } else {
                    0.0
                }
            })
        })
        .collect();
    // First-order shares sum to at most 1; an excess is sampling noise of the estimates.
    let sum: f64 = shares.iter().flatten().sum();
    let shares: Vec<Option<f64>> = if sum > 1.0 {
        shares.iter().map(|s| s.map(|s| s / sum)).collect()
    } else {
        shares
    };
    let interactions = (1.0 - shares.iter().flatten().sum::<f64>()).max(0.0);
    let notes = coverages.iter().filter_map(|c| c.note.clone()).collect();
    Some(Importance {
        method: format!(
            "functional ANOVA of a Matern 5/2 GP fitted (MAP) to {} of {successful} successful results: each share is the variance of the hyperparameter's main effect over the variance of the GP mean, under the uniform measure on the encoded space restricted to the categories with at least {MIN_CATEGORY_RUNS} successful runs; bands are ±2 posterior standard deviations",
            data.len()
        ),
        shares,
        interactions,
        notes,
        effects,
        fitted_on: data.len(),
    })
}

/// Where a main effect is evaluated: every member of a small discrete or categorical domain,
/// else an even grid.
fn curve_positions(h: &crate::space::Hyperparameter) -> Vec<f64> {
    match &h.domain {
        Domain::Categorical { values } => (0..values.len())
            .map(|i| (i as f64 + 0.5) / values.len() as f64)
            .collect(),
        Domain::Discrete { values, .. } if values.len() <= CURVE_POINTS => values
            .iter()
            .filter_map(|v| h.encode(&Value::from(*v)))
            .collect(),
        _ => (0..CURVE_POINTS)
            .map(|i| i as f64 / (CURVE_POINTS - 1) as f64)
            .collect(),
    }
}

/// Variance with divisor n: of a function's values over a sample of its domain.
fn population_variance(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n
}

pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Groups the successful runs by setting, estimates the noise from the repeated settings, and
/// tests every setting against the best.
pub fn replicate_analysis(
    runs: &[Run],
    hyperparameters: &[HyperparameterInfo],
    alpha: f64,
) -> ReplicateAnalysis {
    let mut groups: Vec<(SettingGroup, Vec<f64>, Vec<f64>)> = Vec::new();
    for run in runs.iter().filter(|r| r.state == RunState::Succeeded) {
        let Some(loss) = run.loss.filter(|l| l.is_finite()) else {
            continue;
        };
        match groups.iter_mut().find(|(g, _, _)| g.params == run.params) {
            Some((g, losses, _)) => {
                g.ids.push(run.id);
                losses.push(loss);
            }
            None => groups.push((
                SettingGroup {
                    id: run.id,
                    ids: vec![run.id],
                    params: run.params.clone(),
                    n: 0,
                    mean: 0.0,
                    sd: None,
                    p_value: None,
                    near_best: false,
                    detectable: None,
                    complexity: None,
                },
                vec![loss],
                run.unit_point.clone(),
            )),
        }
    }
    let (mut ss, mut df) = (0.0, 0usize);
    for (g, losses, point) in &mut groups {
        let (mean, sd) = mean_sd(losses);
        g.n = losses.len();
        g.mean = mean;
        if g.n > 1 {
            g.sd = Some(sd);
            ss += sd * sd * (g.n - 1) as f64;
            df += g.n - 1;
        }
        // Over the setting's active hyperparameters: an inactive one (absent from its params)
        // sits at a placeholder that says nothing of the model's complexity.
        let active: Vec<bool> = hyperparameters
            .iter()
            .map(|h| g.params.contains_key(&h.name))
            .collect();
        g.complexity = complexity(point, hyperparameters, &active);
    }
    let mut groups: Vec<SettingGroup> = groups.into_iter().map(|(g, _, _)| g).collect();
    groups.sort_by(|a, b| a.mean.total_cmp(&b.mean).then(a.id.cmp(&b.id)));
    let test = format!(
        "one-sided t-test of each setting's mean loss against the best mean, with the noise pooled over all repeated settings (level {alpha}; no correction for multiple comparisons, so the set errs on the side of including settings)"
    );
    if groups.is_empty() {
        return ReplicateAnalysis {
            judged: false,
            explanation: "no run has succeeded yet".into(),
            test,
            alpha,
            noise_sd: None,
            noise_df: 0,
            power: None,
            groups,
        };
    }
    if df == 0 {
        return ReplicateAnalysis {
            judged: false,
            explanation: "no setting was run more than once, so the noise of the score is unknown and the settings that are as good as the best cannot be told apart; run `hpsearch replicate SEARCH` (or set `replicates` in search_config.json)".into(),
            test,
            alpha,
            noise_sd: None,
            noise_df: 0,
            power: None,
            groups,
        };
    }
    let sigma = (ss / df as f64).sqrt();
    let best = groups[0].clone();
    let t_dist = StudentsT::new(0.0, 1.0, df as f64).ok();
    // The difference the test finds with probability POWER: (t_{1-α} + t_{POWER}) · se, the
    // usual approximation of the noncentral t.
    let detect_factor = t_dist
        .as_ref()
        .map(|d| d.inverse_cdf(1.0 - alpha) + d.inverse_cdf(POWER));
    let se_of = |n: usize| sigma * (1.0 / n as f64 + 1.0 / best.n as f64).sqrt();
    for (i, g) in groups.iter_mut().enumerate() {
        if i == 0 {
            g.near_best = true;
            continue;
        }
        let se = se_of(g.n);
        let p = if se > 0.0 {
            let t = (g.mean - best.mean) / se;
            t_dist.as_ref().map_or(0.0, |d| 1.0 - d.cdf(t))
        } else if g.mean > best.mean {
            0.0
        } else {
            1.0
        };
        g.p_value = Some(p);
        g.near_best = p >= alpha;
        g.detectable = detect_factor.map(|f| f * se).filter(|d| d.is_finite());
    }
    let near = groups.iter().filter(|g| g.near_best).count();
    let near_repeated = groups
        .iter()
        .filter(|g| g.near_best && g.n >= MIN_RUNS_TO_RECOMMEND)
        .count();
    let power = detect_factor.map(|f| power_sentence(&groups, sigma, f, alpha));
    ReplicateAnalysis {
        judged: true,
        explanation: format!(
            "the noise of the loss is sd {} ({df} degrees of freedom from {} repeated settings); {near} of {} settings are not significantly worse than the best, {near_repeated} of them with at least {MIN_RUNS_TO_RECOMMEND} runs",
            sig(sigma),
            groups.iter().filter(|g| g.n > 1).count(),
            groups.len()
        ),
        test,
        alpha,
        noise_sd: Some(sigma),
        noise_df: df,
        power,
        groups,
    }
}

/// "With 3 runs per setting and noise sd 0.1, a difference in mean loss smaller than ~0.25
/// would likely go undetected ...": the near-best set's resolution, for each run count.
fn power_sentence(groups: &[SettingGroup], sigma: f64, factor: f64, alpha: f64) -> String {
    let best_n = groups.first().map_or(1, |g| g.n);
    let mut counts: Vec<usize> = groups.iter().skip(1).map(|g| g.n).collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    counts.dedup();
    let detectable = |n: usize| factor * sigma * (1.0 / n as f64 + 1.0 / best_n as f64).sqrt();
    let runs = runs_of;
    let tail = format!(
        "(the test finds such a difference {:.0}% of the time at level {alpha}); \"not significantly worse\" means no worse by more than that, not \"as good\"",
        POWER * 100.0
    );
    match counts.as_slice() {
        [] => format!(
            "there is a single setting, so nothing to compare it with; noise sd {}",
            sig(sigma)
        ),
        [n] if *n == best_n => format!(
            "with {} per setting and noise sd {}, a difference in mean loss smaller than ~{} would likely go undetected {tail}",
            runs(*n),
            sig(sigma),
            approx(detectable(*n))
        ),
        _ => {
            let parts: Vec<String> = counts
                .iter()
                .take(4)
                .map(|n| {
                    format!(
                        "~{} for a setting with {}",
                        approx(detectable(*n)),
                        runs(*n)
                    )
                })
                .collect();
            format!(
                "with noise sd {} and {} of the best setting, a difference in mean loss smaller than {} would likely go undetected {tail}",
                sig(sigma),
                runs(best_n),
                parts.join(", ")
            )
        }
    }
}

/// Mean position towards the complex end over the active hyperparameters marked `simpler`: 0
/// at the simpler end of the domain (the first listed category), 1 at the other.
fn complexity(
    point: &[f64],
    hyperparameters: &[HyperparameterInfo],
    active: &[bool],
) -> Option<f64> {
    let scores: Vec<f64> = hyperparameters
        .iter()
        .zip(point)
        .zip(active)
        .filter(|(_, on)| **on)
        .map(|(pair, _)| pair)
        .filter_map(|(h, u)| {
            let k = h.categories.len();
            let u = if h.kind == "categorical" && k > 1 {
                category_of(*u, k) as f64 / (k - 1) as f64
            } else {
                *u
            };
            let toward_complex = match h.simpler? {
                Simpler::Lower => u,
                Simpler::Higher => 1.0 - u,
            };
            Some(toward_complex.clamp(0.0, 1.0))
        })
        .collect();
    (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64)
}

fn runs_of(n: usize) -> String {
    if n == 1 {
        "1 run".into()
    } else {
        format!("{n} runs")
    }
}

/// The setting to take to the test phase, or why there is none. Only settings with at least
/// `MIN_RUNS_TO_RECOMMEND` runs are candidates: among those not significantly worse than the
/// best, the simplest when `simpler` is marked, else the lowest mean.
fn recommend(
    analysis: &ReplicateAnalysis,
    hyperparameters: &[HyperparameterInfo],
    model: &ModelConfig,
) -> Result<Recommendation, String> {
    let Some(best) = analysis.groups.first() else {
        return Err("no run has succeeded yet".into());
    };
    let how_to = "`hpsearch replicate SEARCH` runs the best settings again (or set `replicates` in search_config.json), and `hpsearch test SEARCH --combination ID` tests a setting of your choice";
    if !analysis.judged {
        return Err(format!(
            "no setting has run more than once: one run mixes a setting's merit with the noise of the score, which is unknown without repeats. The lowest single loss is {}, by combination {}; {how_to}",
            sig(best.mean),
            best.id
        ));
    }
    let near: Vec<&SettingGroup> = analysis.groups.iter().filter(|g| g.near_best).collect();
    let candidates: Vec<&SettingGroup> = near
        .iter()
        .copied()
        .filter(|g| g.n >= MIN_RUNS_TO_RECOMMEND)
        .collect();
    let Some(lowest) = candidates.first().copied() else {
        return Err(format!(
            "no setting with at least {MIN_RUNS_TO_RECOMMEND} runs is within the near-best set: the best mean loss, {} by combination {}, comes from {}; {how_to}",
            sig(best.mean),
            best.id,
            runs_of(best.n)
        ));
    };
    let marked: Vec<&str> = hyperparameters
        .iter()
        .filter(|h| h.simpler.is_some())
        .map(|h| h.name.as_str())
        .collect();
    let single = near.len() - candidates.len();
    let left_out = if single > 0 {
        format!(
            "; {single} near-best setting{} that ran once {} left out, as one run cannot show a setting is as good as the best",
            if single == 1 { "" } else { "s" },
            if single == 1 { "is" } else { "are" }
        )
    } else {
        String::new()
    };
    let (chosen, why) = if marked.is_empty() {
        let why = if lowest.id == best.id {
            format!(
                "the best mean loss ({}){left_out}; mark hyperparameters with \"simpler\": \"lower\"/\"higher\" (\"first\"/\"last\" for a categorical) in model_config.json to get the simplest near-best setting instead",
                runs_of(lowest.n)
            )
        } else {
            format!(
                "the best mean loss among the settings with at least {MIN_RUNS_TO_RECOMMEND} runs ({}); the lowest mean overall, {} by combination {}, comes from {}{left_out}",
                runs_of(lowest.n),
                sig(best.mean),
                best.id,
                runs_of(best.n)
            )
        };
        (lowest, why)
    } else {
        let chosen = candidates
            .iter()
            .min_by(|a, b| {
                a.complexity
                    .unwrap_or(1.0)
                    .total_cmp(&b.complexity.unwrap_or(1.0))
                    .then(a.mean.total_cmp(&b.mean))
            })
            .copied()
            .unwrap_or(lowest);
        let why = if chosen.id == best.id {
            format!(
                "the best mean loss ({}), and also the simplest of the {} near-best settings with at least {MIN_RUNS_TO_RECOMMEND} runs by {} (complexity {:.3}, 0 = the simpler end of every marked domain){left_out}",
                runs_of(chosen.n),
                candidates.len(),
                marked.join(", "),
                chosen.complexity.unwrap_or(0.0)
            )
        } else {
            format!(
                "the simplest of the {} settings with at least {MIN_RUNS_TO_RECOMMEND} runs not significantly worse than the best (by {}): complexity {:.3} against {:.3} for the best (combination {}), at mean loss {} over {} against {} (p = {:.3}){left_out}",
                candidates.len(),
                marked.join(", "),
                chosen.complexity.unwrap_or(0.0),
                best.complexity.unwrap_or(0.0),
                best.id,
                sig(chosen.mean),
                runs_of(chosen.n),
                sig(best.mean),
                chosen.p_value.unwrap_or(1.0)
            )
        };
        (chosen, why)
    };
    let mut input = Map::new();
    for (name, value) in &model.variables {
        if name == crate::config::model::SAVE_FOLDER {
            continue;
        }
        input.insert(
            name.clone(),
            chosen.params.get(name).unwrap_or(value).clone(),
        );
    }
    Ok(Recommendation {
        id: chosen.id,
        params: chosen.params.clone(),
        mean_loss: chosen.mean,
        why,
        input_json: Value::Object(input),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            imp.notes.iter().any(|n| n.contains(
                "kernel: importance not estimable, not 0%: laplacian (1 successful run)"
            ) && n.contains("hold kernel at rbf")),
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
}
