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
//!
//! `importance` holds the GP behind importance and main effects, `replicates` the replicate
//! analysis and the recommendation; this file the analysis they make up together.

use crate::config::model::{ModelConfig, Simpler};
use crate::config::search::SearchConfig;
use crate::export::Snapshot;
use crate::space::{Domain, Space};
use crate::store::{Combination, RunState, TestRun};
use serde::Serialize;
use serde_json::{Map, Value};

mod importance;
mod replicates;
#[cfg(test)]
mod tests;

use importance::importance;
use replicates::recommend;
pub use replicates::{mean_sd, replicate_analysis};

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
