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
    pub runs: Vec<Run>,
    pub importance: Option<Importance>,
    pub failures: Vec<FailureCount>,
    pub replicates: ReplicateAnalysis,
    pub recommendation: Option<Recommendation>,
    pub test_runs: Vec<TestRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HyperparameterInfo {
    pub name: String,
    /// `continuous`, `discrete` or `categorical`.
    pub kind: &'static str,
    pub log_scale: bool,
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
    /// Per hyperparameter, in the config's order: its share of the variance of the GP mean.
    pub shares: Vec<f64>,
    /// What the main effects leave unexplained: interactions.
    pub interactions: f64,
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
    let replicates = replicate_analysis(&runs, &hyperparameters, alpha);
    let recommendation = recommend(&replicates, &hyperparameters, &model);
    Ok(Analysis {
        search_id: snapshot.search_id,
        search_folder: snapshot.search_folder.clone(),
        search_type: snapshot.search_type.clone(),
        state: snapshot.state.clone(),
        end_reason: snapshot.end_reason.clone(),
        loss_label: loss_label(&snapshot.y_transformation),
        hyperparameters,
        summary: snapshot.summary.clone(),
        runs,
        importance,
        failures,
        replicates,
        recommendation,
        test_runs: snapshot.test_runs.clone(),
    })
}

fn loss_label(y_transformation: &str) -> String {
    match y_transformation {
        "log" => "loss = log(objective)".into(),
        "neg" => "loss = −objective".into(),
        "neglog" => "loss = −log(objective)".into(),
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
            let (kind, categories, low, high) = match &h.domain {
                Domain::Continuous { low, high } => ("continuous", vec![], Some(*low), Some(*high)),
                Domain::Discrete { values, .. } => (
                    "discrete",
                    vec![],
                    values.first().copied(),
                    values.last().copied(),
                ),
                Domain::Categorical { values } => (
                    "categorical",
                    values.iter().map(value_label).collect(),
                    None,
                    None,
                ),
            };
            HyperparameterInfo {
                name: h.name.clone(),
                kind,
                log_scale: h.is_log(),
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
    let dims = space.dims();
    let background: Vec<Vec<f64>> = (0..BACKGROUND_POINTS)
        .map(|_| (0..dims).map(|_| rng.random::<f64>()).collect())
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
    for (d, h) in space.hyperparameters().iter().enumerate() {
        let unit = curve_positions(h);
        let mut curve_mean = Vec::new();
        let mut lower = Vec::new();
        let mut upper = Vec::new();
        let mut every = Vec::with_capacity(unit.len() * background.len());
        for u in &unit {
            let (mut m, mut s) = (0.0, 0.0);
            for base in &background {
                let mut p = base.clone();
                p[d] = *u;
                let (pm, ps) = predict(&p);
                every.push(pm);
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
        effect_variances.push(population_variance(&curve_mean));
        total_variances.push(population_variance(&every));
        effects.push(MainEffect {
            name: h.name.clone(),
            values: unit.iter().map(|u| h.decode(*u)).collect(),
            unit,
            mean: curve_mean,
            lower,
            upper,
        });
    }
    let total_var = total_variances.iter().sum::<f64>() / total_variances.len().max(1) as f64;
    let shares: Vec<f64> = effect_variances
        .iter()
        .map(|v| {
            if total_var > 0.0 {
                (v / total_var).min(1.0)
            } else {
                0.0
            }
        })
        .collect();
    // First-order shares sum to at most 1; an excess is sampling noise of the estimates.
    let sum: f64 = shares.iter().sum();
    let shares: Vec<f64> = if sum > 1.0 {
        shares.iter().map(|s| s / sum).collect()
    } else {
        shares
    };
    let interactions = (1.0 - shares.iter().sum::<f64>()).max(0.0);
    Some(Importance {
        method: format!(
            "functional ANOVA of a Matern 5/2 GP fitted (MAP) to {} successful results: each share is the variance of the hyperparameter's main effect over the variance of the GP mean, under the uniform measure on the encoded space; bands are ±2 posterior standard deviations",
            data.len()
        ),
        shares,
        interactions,
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
        g.complexity = complexity(point, hyperparameters);
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
            groups,
        };
    }
    let sigma = (ss / df as f64).sqrt();
    let best = groups[0].clone();
    let t_dist = StudentsT::new(0.0, 1.0, df as f64).ok();
    for (i, g) in groups.iter_mut().enumerate() {
        if i == 0 {
            g.near_best = true;
            continue;
        }
        let se = sigma * (1.0 / g.n as f64 + 1.0 / best.n as f64).sqrt();
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
    }
    let near = groups.iter().filter(|g| g.near_best).count();
    ReplicateAnalysis {
        judged: true,
        explanation: format!(
            "the noise of the loss is sd {sigma:.4} ({df} degrees of freedom from {} repeated settings); {near} of {} settings are not significantly worse than the best",
            groups.iter().filter(|g| g.n > 1).count(),
            groups.len()
        ),
        test,
        alpha,
        noise_sd: Some(sigma),
        noise_df: df,
        groups,
    }
}

/// Mean position towards the complex end over the hyperparameters marked `simpler`: 0 at the
/// simpler end of the domain (the first listed category), 1 at the other.
fn complexity(point: &[f64], hyperparameters: &[HyperparameterInfo]) -> Option<f64> {
    let scores: Vec<f64> = hyperparameters
        .iter()
        .zip(point)
        .filter_map(|(h, u)| {
            let k = h.categories.len();
            let u = if h.kind == "categorical" && k > 1 {
                let index = ((u.clamp(0.0, 1.0) * k as f64).floor() as usize).min(k - 1);
                index as f64 / (k - 1) as f64
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

/// The setting to take to the test phase: the simplest of the near-best set when it could be
/// judged and `simpler` is marked, else the best.
fn recommend(
    analysis: &ReplicateAnalysis,
    hyperparameters: &[HyperparameterInfo],
    model: &ModelConfig,
) -> Option<Recommendation> {
    let best = analysis.groups.first()?;
    let marked: Vec<&str> = hyperparameters
        .iter()
        .filter(|h| h.simpler.is_some())
        .map(|h| h.name.as_str())
        .collect();
    let (chosen, why) = if !analysis.judged {
        (
            best,
            format!(
                "the best mean loss; the near-best set cannot be judged because {}",
                analysis.explanation
            ),
        )
    } else if marked.is_empty() {
        (
            best,
            "the best mean loss; mark hyperparameters with \"simpler\": \"lower\"/\"higher\" (\"first\"/\"last\" for a categorical) in model_config.json to get the simplest near-best setting instead".into(),
        )
    } else {
        let near: Vec<&SettingGroup> = analysis.groups.iter().filter(|g| g.near_best).collect();
        let chosen = near
            .iter()
            .min_by(|a, b| {
                a.complexity
                    .unwrap_or(1.0)
                    .total_cmp(&b.complexity.unwrap_or(1.0))
                    .then(a.mean.total_cmp(&b.mean))
            })
            .copied()
            .unwrap_or(best);
        let why = if chosen.id == best.id {
            format!(
                "the best mean loss, and also the simplest of the {} near-best settings by {} (complexity {:.3}, 0 = the simpler end of every marked domain)",
                near.len(),
                marked.join(", "),
                chosen.complexity.unwrap_or(0.0)
            )
        } else {
            format!(
                "the simplest of the {} settings not significantly worse than the best (by {}): complexity {:.3} against {:.3} for the best (combination {}), at mean loss {:.6} against {:.6} (p = {:.3})",
                near.len(),
                marked.join(", "),
                chosen.complexity.unwrap_or(0.0),
                best.complexity.unwrap_or(0.0),
                best.id,
                chosen.mean,
                best.mean,
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
    Some(Recommendation {
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
            replicate_of: None,
            job_id: None,
            scheduler_state: None,
            peak_memory_mb: None,
            folder: String::new(),
            log: String::new(),
        }
    }

    /// Three settings, each run three times. By hand: group means 1.0, 1.1, 2.0; each group's
    /// variance is 0.01 (values m ± 0.1), so the pooled sd is 0.1 with 6 degrees of freedom.
    /// Setting x=0.5: t = 0.1 / (0.1·√(2/3)) = 1.2247, one-sided p = 0.133 > 0.05: near-best.
    /// Setting x=0.9: t = 1.0 / 0.08165 = 12.25, p ≈ 9e-6: not near-best.
    #[test]
    fn near_best_set_matches_the_hand_computed_answer() {
        let mut runs = Vec::new();
        let mut id = 0;
        for (x, m) in [(0.8, 1.0), (0.5, 1.1), (0.9, 2.0)] {
            for d in [-0.1, 0.0, 0.1] {
                runs.push(run(id, x, m + d));
                id += 1;
            }
        }
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
        assert_eq!(complexity(&[slice_centre(0.0)], &[h.clone()]), Some(0.0));
        assert_eq!(complexity(&[slice_centre(1.0)], &[h.clone()]), Some(0.5));
        assert_eq!(complexity(&[slice_centre(2.0)], &[h]), Some(1.0));
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
                }
            })
            .collect();
        let imp = importance(&space, &combinations, 0).unwrap();
        let [a, b] = [imp.shares[0], imp.shares[1]];
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

    #[test]
    fn complexity_follows_the_marked_direction() {
        let lower = [info("x", Some(Simpler::Lower))];
        let higher = [info("x", Some(Simpler::Higher))];
        assert_eq!(complexity(&[0.25], &lower), Some(0.25));
        assert_eq!(complexity(&[0.25], &higher), Some(0.75));
        assert_eq!(complexity(&[0.25], &[info("x", None)]), None);
    }
}
