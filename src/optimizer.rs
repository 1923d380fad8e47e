//! In-process ask/tell: a search's optimiser without its coordinator, for a program that
//! evaluates the objective itself (the Python package's `hpsearch.Optimizer`).
//!
//! ```
//! use hpsearch::optimizer::{Optimizer, Source, Told};
//! let space = r#"{"x": {"type": "continuous", "domain": [-2, 2]}, "epochs": 10}"#;
//! let config = r#"{"search_type": "random"}"#;
//! let mut optimizer =
//!     Optimizer::new(&Source::json(space), Some(&Source::json(config)), Some(7)).unwrap();
//! for _ in 0..5 {
//!     let trial = optimizer.ask().unwrap().unwrap();
//!     let x = trial.params["x"].as_f64().unwrap();
//!     let id = trial.id;
//!     optimizer.tell(id, Told::Objective((x - 0.5).powi(2))).unwrap();
//! }
//! assert!(optimizer.best().is_some());
//! ```
//!
//! The space is a model_config.json and the settings a search_config.json, read and checked by
//! the same code as a search's, with the same messages. `ask` asks the strategy exactly as the
//! coordinator's `create_next` does: the finished trials in the order they were asked, with the
//! loss of each (failures imputed per `y_failure_value`, `nan` ones and cancelled ones without a
//! loss), the trials asked but not told as pending, `sequence` = the number of trials asked so
//! far, and the search's seed; points and values pass through the JSON text the store keeps them
//! in. So a seed, a space, a config and the same told values give the suggestions `hpsearch run`
//! makes with that seed and one run at a time; `ask_many(n)` suggests as a search fills n free
//! slots.
//!
//! The search config means what it means for a search, defaults included (`y_transformation`
//! `log`: a told value is an objective, as in output.json; `max_suggestions` 200); the fields
//! about running scripts (`search_time`, `max_active_points`, `replicates`,
//! `stop_after_failures`, ...) are checked and unused.
//!
//! Early stopping works as in a search: `report` gives a trial's intermediate result (as a
//! progress.jsonl line), and the search's `early_stopping` rule, judging it against every other
//! trial's, says whether to stop it; a trial stopped is told `Told::Pruned` and the strategy
//! sees it as a search's pruned run (`PrunedRuns`).

use crate::config::early_stopping::EarlyStopping;
use crate::config::fields::{parse_object, read_object};
use crate::config::{ConfigError, ModelConfig, SearchConfig};
use crate::coordinator::imputation::imputed_loss;
use crate::coordinator::outcome::transform;
use crate::coordinator::pruning::{direction, Pruner, Stop};
use crate::space::Space;
use crate::store::FailureKind;
use crate::strategy::{Observation, Strategy, SuggestContext};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// Where a config comes from: a file (named in messages by its absolute path, as a search names
/// it), or JSON text (named by the file it stands for, e.g. `model_config.json`).
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    File(PathBuf),
    Json(String),
}

impl Source {
    pub fn json(text: impl Into<String>) -> Self {
        Source::Json(text.into())
    }

    fn read(&self, name: &str) -> Result<(PathBuf, Map<String, Value>), ConfigError> {
        match self {
            Source::File(path) => {
                let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                let map = read_object(&path)?;
                Ok((path, map))
            }
            Source::Json(text) => {
                let path = PathBuf::from(name);
                let map = parse_object(&path, text)?;
                Ok((path, map))
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OptimizerError {
    /// A config is wrong: the message names the file, the field and what is allowed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A call that cannot be honoured: an unknown trial, a trial told twice, an unknown failure.
    #[error("{0}")]
    Usage(String),
    /// The strategy could not suggest.
    #[error("{0}")]
    Strategy(String),
}

/// What became of a trial.
#[derive(Debug, Clone, PartialEq)]
pub enum TrialState {
    /// Asked, not told yet: the strategy sees it as running.
    Pending,
    Succeeded {
        objective: f64,
        /// The objective through `y_transformation`: what the search minimises.
        loss: f64,
    },
    Failed {
        kind: FailureKind,
        reason: String,
        /// The objective when there was one (a value `log` refused).
        objective: Option<f64>,
    },
    /// Stopped before it gave a result: finished, without a loss (as a search's cancelled run).
    Cancelled,
    /// Stopped early after `report`s: where it stood when stopped.
    Pruned {
        /// Its last reported step and objective.
        step: u64,
        objective: f64,
        /// That objective through `y_transformation` (`None` when it cannot take it).
        loss: Option<f64>,
        reason: String,
    },
}

impl TrialState {
    /// `pending`, `succeeded`, `failed`, `cancelled` or `pruned`.
    pub fn name(&self) -> &'static str {
        match self {
            TrialState::Pending => "pending",
            TrialState::Succeeded { .. } => "succeeded",
            TrialState::Failed { .. } => "failed",
            TrialState::Cancelled => "cancelled",
            TrialState::Pruned { .. } => "pruned",
        }
    }
}

/// One suggestion and what became of it. Ids are 0, 1, 2, ... in the order of `ask`, as a
/// search's combination ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub id: u64,
    /// The hyperparameter values by name, in the model config's order (integers stay integers).
    pub params: Map<String, Value>,
    /// The unit-cube point the strategy suggested.
    pub point: Vec<f64>,
    /// What a search's data file says in `search_type` (`sobol`, `Matern52_EI_MLE`, ...).
    pub label: String,
    /// How the suggestion was made (a search writes these to its log).
    pub notes: Vec<String>,
    /// The step at which the trial is complete, when the early-stopping rule sets one (asha,
    /// hyperband: a search puts it in input.json as `max_step`).
    pub max_step: Option<u64>,
    pub state: TrialState,
}

/// What is told about a trial.
#[derive(Debug, Clone, PartialEq)]
pub enum Told {
    /// The objective, as a script's output.json holds it.
    Objective(f64),
    /// A failure of one of the kinds a search records (`FailureKind::name`).
    Failed(FailureKind),
    Cancelled,
    /// Stopped early, where its last `report` left it.
    Pruned,
}

impl Told {
    /// A failure named as a search records it (`timed_out`, `out_of_memory`, ...), or
    /// `cancelled`.
    pub fn failure(name: &str) -> Result<Told, OptimizerError> {
        match name {
            "cancelled" => return Ok(Told::Cancelled),
            "pruned" => return Ok(Told::Pruned),
            _ => {}
        }
        FailureKind::parse(name).map(Told::Failed).ok_or_else(|| {
            let kinds: Vec<&str> = FailureKind::ALL.iter().map(|k| k.name()).collect();
            OptimizerError::Usage(format!(
                "unknown failure kind {name:?}; allowed: {}, \"cancelled\", or \"pruned\"",
                kinds.join(", ")
            ))
        })
    }
}

/// What the strategy sees of a pruned trial. A search uses `AtTheirStep`; the others are kept
/// to measure the choice (bench/learning_curves.py, docs/benchmarks.md "Early stopping on
/// learning curves").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrunedRuns {
    /// The loss of its last report, as if it were a whole run's: the model learns that the
    /// region is poor (as Optuna's samplers treat pruned trials).
    LastValue,
    /// Not an observation (as a cancelled trial).
    LeftOut,
    /// Imputed as a failure under `max`: worse than every success so far.
    Worst,
    /// The loss of its last report, taken where it was on its learning curve: the strategy is
    /// told the step it reached and a whole run's length (`max_step`; under the median rule the
    /// longest succeeded run's), and bopt models the loss over the hyperparameters and that
    /// share together, so that a run stopped early in a region whose curves start slow does not
    /// rule the region out. As a search does.
    #[default]
    AtTheirStep,
    /// As BOHB fits its model: on every trial's loss at one step, the highest rung (or
    /// `max_step`) that at least dims + 1 trials reached; trials that reported less far (stopped
    /// below it, or silent) are left out, and a whole run is read at that step, not at its end. Before any rung has enough,
    /// as `AtTheirStep`. Under asha and hyperband only (the median rule has no rungs).
    HighestRung,
}

impl PrunedRuns {
    pub fn parse(name: &str) -> Option<PrunedRuns> {
        match name {
            "last_value" => Some(PrunedRuns::LastValue),
            "left_out" => Some(PrunedRuns::LeftOut),
            "worst" => Some(PrunedRuns::Worst),
            "at_their_step" => Some(PrunedRuns::AtTheirStep),
            "highest_rung" => Some(PrunedRuns::HighestRung),
            _ => None,
        }
    }
}

pub struct Optimizer {
    model: ModelConfig,
    config: SearchConfig,
    strategy: Box<dyn Strategy>,
    seed: u64,
    trials: Vec<Trial>,
    /// Every trial's reports, judged by the `early_stopping` rule.
    pruner: Pruner,
    /// The rule's decision for each trial it stopped, for the reason its pruned state gives.
    stops: std::collections::BTreeMap<u64, Stop>,
    pruned_runs: PrunedRuns,
}

impl Optimizer {
    /// Reads and checks the space (a model_config.json) and the settings (a search_config.json;
    /// none: every default, `bopt`). `seed` is the search's `random_seed` (both may be given only
    /// when they agree); without either, one is drawn, as a search draws it.
    pub fn new(
        space: &Source,
        search_config: Option<&Source>,
        seed: Option<u64>,
    ) -> Result<Optimizer, OptimizerError> {
        let (search_path, mut settings) = match search_config {
            Some(source) => source.read("search_config.json")?,
            None => (PathBuf::from("search_config.json"), Map::new()),
        };
        if let Some(seed) = seed {
            match settings.get("random_seed") {
                None | Some(Value::Null) => {
                    settings.insert("random_seed".into(), json!(seed));
                }
                Some(named) if named.as_u64() == Some(seed) => {}
                Some(named) => {
                    return Err(OptimizerError::Usage(format!(
                        "seed {seed} and the random_seed {named} of {} differ; give one of them",
                        search_path.display()
                    )))
                }
            }
        }
        let config = SearchConfig::from_map(&search_path, &settings)?;
        let (model_path, variables) = space.read("model_config.json")?;
        let model = ModelConfig::from_map(&model_path, variables)?;
        let seed = config
            .random_seed
            .unwrap_or_else(|| u64::from(rand::random::<u32>()));
        Ok(Optimizer {
            strategy: crate::strategy::build(&config),
            pruner: Pruner::new(config.early_stopping),
            stops: Default::default(),
            pruned_runs: PrunedRuns::default(),
            model,
            config,
            seed,
            trials: Vec::new(),
        })
    }

    /// Sets what the strategy sees of pruned trials (to measure the choice; a search uses the
    /// default).
    pub fn set_pruned_runs(&mut self, pruned_runs: PrunedRuns) {
        self.pruned_runs = pruned_runs;
    }

    pub fn space(&self) -> &Space {
        &self.model.space
    }

    /// The model config: its fixed values and hyperparameters, and its warnings.
    pub fn model(&self) -> &ModelConfig {
        &self.model
    }

    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// The seed the suggestions follow (given, or drawn).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Every trial, in the order asked.
    pub fn trials(&self) -> &[Trial] {
        &self.trials
    }

    /// The succeeded trial with the lowest loss (the first of equals).
    pub fn best(&self) -> Option<&Trial> {
        let loss = |t: &Trial| match t.state {
            TrialState::Succeeded { loss, .. } => Some(loss),
            _ => None,
        };
        self.trials
            .iter()
            .filter_map(|t| loss(t).map(|l| (l, t)))
            .fold(None, |best: Option<(f64, &Trial)>, (l, t)| match best {
                Some((b, _)) if b <= l => best,
                _ => Some((l, t)),
            })
            .map(|(_, t)| t)
    }

    /// The loss the strategy sees for a finished trial (under `PrunedRuns::HighestRung`, what it
    /// would see before a rung has enough trials): its own, the imputed one of a failure
    /// (`None` for a failure left out, or imputed with `max` before any success), `None` for a
    /// cancelled or pending one.
    pub fn model_loss(&self, id: u64) -> Option<f64> {
        let trial = self.trials.get(id as usize)?;
        self.loss_seen(trial, &self.losses())
    }

    /// The losses of the succeeded trials.
    fn losses(&self) -> Vec<f64> {
        self.trials
            .iter()
            .filter_map(|t| match t.state {
                TrialState::Succeeded { loss, .. } => Some(loss),
                _ => None,
            })
            .collect()
    }

    /// As the coordinator keeps them: a `max` failure at the rule's value over every success so
    /// far (`losses`), the other failures at their fixed number or left out.
    fn loss_seen(&self, trial: &Trial, losses: &[f64]) -> Option<f64> {
        match &trial.state {
            TrialState::Succeeded { loss, .. } => Some(*loss),
            TrialState::Failed { kind, .. } => {
                imputed_loss(self.config.y_failure_value.rule_for(kind.name()), losses)
            }
            TrialState::Pruned { loss, .. } => match self.pruned_runs {
                PrunedRuns::LastValue | PrunedRuns::AtTheirStep | PrunedRuns::HighestRung => *loss,
                PrunedRuns::LeftOut => None,
                PrunedRuns::Worst => imputed_loss(crate::config::search::FailureValue::Max, losses),
            },
            TrialState::Pending | TrialState::Cancelled => None,
        }
    }

    /// A whole run's length in steps: the rule's `max_step`, else the most steps a succeeded
    /// trial reported (`None` before one did).
    fn full_length(&self) -> Option<u64> {
        self.config.early_stopping.max_step().or_else(|| {
            self.trials
                .iter()
                .filter(|t| matches!(t.state, TrialState::Succeeded { .. }))
                .filter_map(|t| self.pruner.last(t.id).map(|(step, _)| step))
                .max()
        })
    }

    /// For `PrunedRuns::HighestRung`: the highest rung step (or `max_step`) that at least
    /// dims + 1 finished trials reached, with each such trial's loss there.
    fn highest_rung(&self) -> Option<(u64, std::collections::BTreeMap<u64, f64>)> {
        let (EarlyStopping::Asha(rungs) | EarlyStopping::Hyperband(rungs)) =
            self.config.early_stopping
        else {
            return None;
        };
        let mut steps = rungs.rung_steps(0);
        steps.push(rungs.max_step);
        let y = self.config.y_transformation;
        let needed = self.model.space.dims() + 1;
        steps.into_iter().rev().find_map(|step| {
            let at_step: std::collections::BTreeMap<u64, f64> = self
                .trials
                .iter()
                .filter(|t| {
                    matches!(
                        t.state,
                        TrialState::Succeeded { .. } | TrialState::Pruned { .. }
                    )
                })
                .filter(|t| self.pruner.last(t.id).is_some_and(|(last, _)| last >= step))
                .filter_map(|t| {
                    let objective = direction(y) * self.pruner.at(t.id, step)?;
                    Some((t.id, transform(objective, y).ok()?))
                })
                .collect();
            (at_step.len() >= needed).then_some((step, at_step))
        })
    }

    /// What the strategy is given of the trials: the finished ones as observations, in id
    /// order, and the points of the pending ones.
    fn strategy_view(&self) -> (Vec<Observation>, Vec<Vec<f64>>) {
        if self.pruned_runs == PrunedRuns::HighestRung {
            if let Some((_, at_step)) = self.highest_rung() {
                return self.view_at_rung(&at_step);
            }
        }
        let losses = self.losses();
        let mut finished = Vec::new();
        let mut pending = Vec::new();
        for trial in &self.trials {
            if trial.state == TrialState::Pending {
                pending.push(trial.point.clone());
                continue;
            }
            let stopped_at = match trial.state {
                TrialState::Pruned { step, .. }
                    if matches!(
                        self.pruned_runs,
                        PrunedRuns::AtTheirStep | PrunedRuns::HighestRung
                    ) =>
                {
                    Some(step)
                }
                _ => None,
            };
            finished.push(Observation {
                point: trial.point.clone(),
                loss: self.loss_seen(trial, &losses),
                stopped_at,
            });
        }
        (finished, pending)
    }

    /// `strategy_view` under `PrunedRuns::HighestRung` once a rung has enough trials: those
    /// that reached it at their loss there, those that reported less far without a loss, and
    /// failures imputed from the losses at the rung (a `max` failure worse than every one).
    fn view_at_rung(
        &self,
        at_step: &std::collections::BTreeMap<u64, f64>,
    ) -> (Vec<Observation>, Vec<Vec<f64>>) {
        let losses: Vec<f64> = at_step.values().copied().collect();
        let mut finished = Vec::new();
        let mut pending = Vec::new();
        for trial in &self.trials {
            let loss = match trial.state {
                TrialState::Pending => {
                    pending.push(trial.point.clone());
                    continue;
                }
                TrialState::Succeeded { .. } | TrialState::Pruned { .. } => {
                    at_step.get(&trial.id).copied()
                }
                _ => self.loss_seen(trial, &losses),
            };
            finished.push(Observation::whole(trial.point.clone(), loss));
        }
        (finished, pending)
    }

    /// The next suggestion, as a new pending trial; `None` when the strategy has nothing left
    /// (a finished grid) or `max_suggestions` trials were asked.
    pub fn ask(&mut self) -> Result<Option<&Trial>, OptimizerError> {
        if self.trials.len() as u64 >= self.config.max_suggestions {
            return Ok(None);
        }
        let (finished, pending) = self.strategy_view();
        let context = SuggestContext {
            space: &self.model.space,
            finished: &finished,
            pending: &pending,
            sequence: self.trials.len() as u64,
            seed: self.seed,
            full_length: self.full_length(),
        };
        let suggestion = self
            .strategy
            .suggest(&context)
            .map_err(|e| OptimizerError::Strategy(e.to_string()))?;
        let Some(suggestion) = suggestion else {
            return Ok(None);
        };
        let params = self.model.space.decode(&suggestion.point);
        self.trials.push(Trial {
            id: self.trials.len() as u64,
            params: as_stored(params),
            point: as_stored(suggestion.point),
            label: suggestion.label,
            notes: suggestion.notes,
            max_step: self.config.early_stopping.max_step(),
            state: TrialState::Pending,
        });
        Ok(self.trials.last())
    }

    /// Up to `n` suggestions at once, each made with the ones before it pending (as a search
    /// fills `n` free slots); fewer when the strategy runs out.
    pub fn ask_many(&mut self, n: usize) -> Result<Vec<&Trial>, OptimizerError> {
        let first = self.trials.len();
        for _ in 0..n {
            if self.ask()?.is_none() {
                break;
            }
        }
        Ok(self.trials[first..].iter().collect())
    }

    /// Records what became of a pending trial. An objective is judged as a search judges a
    /// script's: a non-finite one, or one that `y_transformation` cannot take (log of a value
    /// ≤ 0), makes a failed trial with the search's reason.
    pub fn tell(&mut self, id: u64, told: Told) -> Result<&Trial, OptimizerError> {
        let y = self.config.y_transformation;
        self.pending(id)?;
        let state = match told {
            Told::Objective(objective) if !objective.is_finite() => TrialState::Failed {
                kind: FailureKind::NonFiniteObjective,
                reason: format!("the objective is {objective}, not a finite number"),
                objective: None,
            },
            Told::Objective(objective) => match transform(objective, y) {
                Ok(loss) => TrialState::Succeeded { objective, loss },
                Err(reason) => TrialState::Failed {
                    kind: FailureKind::TransformationFailed,
                    reason,
                    objective: Some(objective),
                },
            },
            Told::Failed(kind) => TrialState::Failed {
                kind,
                reason: format!("told: {}", kind.name()),
                objective: None,
            },
            Told::Cancelled => TrialState::Cancelled,
            Told::Pruned => self.pruned_state(id)?,
        };
        let trial = &mut self.trials[id as usize];
        trial.state = state;
        let succeeded = matches!(trial.state, TrialState::Succeeded { .. });
        // A trial that reported and succeeded is a finished curve the median rule compares
        // against; its last report stands for its result.
        self.pruner.ended(id, succeeded);
        Ok(&self.trials[id as usize])
    }

    /// A pending trial's intermediate result at `step` (steps increase from 1, as in
    /// progress.jsonl; the objective in output.json's units). Returns the early-stopping rule's
    /// decision to stop the trial there (with `early_stopping` off: never); a trial stopped is
    /// then told `Told::Pruned`. A decision stands: a later report of a condemned trial is
    /// judged no more.
    pub fn report(
        &mut self,
        id: u64,
        step: u64,
        objective: f64,
    ) -> Result<Option<Stop>, OptimizerError> {
        self.pending(id)?;
        if step == 0 {
            return Err(OptimizerError::Usage(format!(
                "trial {id}: step 0; steps are whole numbers from 1"
            )));
        }
        if !objective.is_finite() {
            return Err(OptimizerError::Usage(format!(
                "trial {id}: the objective at step {step} is {objective}, not a finite number"
            )));
        }
        if let Some((last, _)) = self.pruner.last(id) {
            if step <= last {
                return Err(OptimizerError::Usage(format!(
                    "trial {id}: step {step} after step {last}; steps must increase"
                )));
            }
        }
        let loss = direction(self.config.y_transformation) * objective;
        let judge = !self.stops.contains_key(&id);
        let stop = self.pruner.add(id, step, loss, judge);
        if let Some(stop) = &stop {
            self.stops.insert(id, stop.clone());
        }
        Ok(stop)
    }

    /// Where a trial stopped early stands: its last report, and why the rule stopped it.
    fn pruned_state(&self, id: u64) -> Result<TrialState, OptimizerError> {
        let y = self.config.y_transformation;
        let (step, loss) = self.pruner.last(id).ok_or_else(|| {
            OptimizerError::Usage(format!(
                "trial {id} reported no intermediate result to be pruned at; tell it \"cancelled\" or a failure"
            ))
        })?;
        let objective = direction(y) * loss;
        Ok(TrialState::Pruned {
            step,
            objective,
            loss: transform(objective, y).ok(),
            reason: self.stops.get(&id).map_or_else(
                || format!("stopped early at step {step}"),
                |stop| format!("stopped at step {}: {}", stop.step, stop.reason),
            ),
        })
    }

    /// The trial, when it is asked and not yet told.
    fn pending(&self, id: u64) -> Result<&Trial, OptimizerError> {
        let asked = self.trials.len();
        let trial = self.trials.get(id as usize).ok_or_else(|| {
            OptimizerError::Usage(format!(
                "no trial {id}: {asked} trial(s) were asked, with ids from 0"
            ))
        })?;
        if trial.state != TrialState::Pending {
            return Err(OptimizerError::Usage(format!(
                "trial {id} was already told ({})",
                trial.state.name()
            )));
        }
        Ok(trial)
    }
}

/// A value as the store gives it back: through the JSON text it is kept in (which the
/// coordinator's next suggestion, and the script's input.json, see).
fn as_stored<T: serde::Serialize + serde::de::DeserializeOwned>(value: T) -> T {
    serde_json::to_string(&value)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACE: &str = r#"{"x": {"type": "continuous", "domain": [0, 1]},
                           "n": {"type": "discrete", "domain": [1, 2, 3]},
                           "fixed": "kept out of the params"}"#;

    fn optimizer(config: &str, seed: Option<u64>) -> Optimizer {
        Optimizer::new(&Source::json(SPACE), Some(&Source::json(config)), seed).unwrap()
    }

    fn error(space: &str, config: &str, seed: Option<u64>) -> String {
        match Optimizer::new(&Source::json(space), Some(&Source::json(config)), seed) {
            Ok(_) => panic!("accepted: {space} {config}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_same_seed_and_results_give_the_same_suggestions() {
        let run = |seed| {
            let mut o = optimizer(
                r#"{"min_initial_points": 2, "y_transformation": "none"}"#,
                Some(seed),
            );
            let mut seen = Vec::new();
            for _ in 0..4 {
                let t = o.ask().unwrap().unwrap();
                let (id, x) = (t.id, t.params["x"].as_f64().unwrap());
                seen.push(t.params.clone());
                o.tell(id, Told::Objective((x - 0.3).powi(2))).unwrap();
            }
            seen
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        assert_eq!(run(3)[0].keys().collect::<Vec<_>>(), ["x", "n"]);
    }

    #[test]
    fn a_batch_is_asked_with_the_earlier_ones_pending() {
        let mut o = optimizer(
            r#"{"search_type": "grid", "num_grid_points_per_hyperparameter": 3}"#,
            Some(1),
        );
        let batch: Vec<u64> = o.ask_many(20).unwrap().iter().map(|t| t.id).collect();
        assert_eq!(
            batch,
            (0..9).collect::<Vec<u64>>(),
            "a 3 x 3 grid, every point once"
        );
        let keys: std::collections::HashSet<String> = o
            .trials()
            .iter()
            .map(|t| Value::Object(t.params.clone()).to_string())
            .collect();
        assert_eq!(keys.len(), 9);
        assert!(o.ask().unwrap().is_none());
    }

    #[test]
    fn failures_are_judged_and_imputed_as_a_search_does() {
        let mut o = optimizer(
            r#"{"search_type": "random", "y_transformation": "log"}"#,
            Some(2),
        );
        let ids: Vec<u64> = o.ask_many(4).unwrap().iter().map(|t| t.id).collect();
        o.tell(ids[0], Told::failure("timed_out").unwrap()).unwrap();
        assert_eq!(o.model_loss(0), None, "no success yet: no scale for max");
        o.tell(ids[1], Told::Objective(100.0)).unwrap();
        o.tell(ids[2], Told::Objective(10.0)).unwrap();
        assert_eq!(o.model_loss(1), Some(2.0));
        // worst + 0.05 * max(|worst|, worst - best) over the losses 2 and 1.
        assert_eq!(o.model_loss(0), Some(2.1));
        let refused = o.tell(ids[3], Told::Objective(-1.0)).unwrap().state.clone();
        assert!(
            matches!(
                refused,
                TrialState::Failed {
                    kind: FailureKind::TransformationFailed,
                    objective: Some(_),
                    ..
                }
            ),
            "{refused:?}"
        );
        assert_eq!(o.best().unwrap().id, 2);
        let again = o
            .tell(ids[1], Told::Objective(1.0))
            .unwrap_err()
            .to_string();
        assert_eq!(again, "trial 1 was already told (succeeded)");
        assert!(o
            .tell(9, Told::Cancelled)
            .unwrap_err()
            .to_string()
            .starts_with("no trial 9"));
        let unknown = Told::failure("oom").unwrap_err().to_string();
        assert!(
            unknown.contains("out_of_memory") && unknown.contains("cancelled"),
            "{unknown}"
        );
    }

    #[test]
    fn config_errors_are_the_searchs_one_line_messages() {
        let message = error(
            r#"{"x": {"type": "continuous", "domain": [1]}}"#,
            "{}",
            None,
        );
        assert!(
            message.starts_with("model_config.json: field `x"),
            "{message}"
        );
        let message = error(SPACE, r#"{"serch_type": "grid"}"#, None);
        assert!(
            message.starts_with("search_config.json: field `serch_type`"),
            "{message}"
        );
        let message = error(SPACE, r#"{"random_seed": 5}"#, Some(6));
        assert!(message.contains("differ"), "{message}");
        assert!(!message.contains('\n'));
    }

    #[test]
    fn max_suggestions_limits_asks_as_it_limits_a_search() {
        let mut o = optimizer(
            r#"{"search_type": "random", "max_suggestions": 2}"#,
            Some(0),
        );
        assert_eq!(o.ask_many(5).unwrap().len(), 2);
        let mut o = optimizer(r#"{"search_type": "random"}"#, Some(0));
        assert_eq!(o.ask_many(250).unwrap().len(), 200, "the default, 200");
    }

    #[test]
    fn reports_are_judged_by_the_early_stopping_rule_and_a_pruned_trial_keeps_its_last_value() {
        let config = r#"{"search_type": "random", "y_transformation": "log",
            "early_stopping": {"rule": "asha", "min_step": 1, "max_step": 9, "reduction_factor": 3}}"#;
        let mut o = optimizer(config, Some(5));
        let ids: Vec<u64> = o.ask_many(3).unwrap().iter().map(|t| t.id).collect();
        assert!(o.trials().iter().all(|t| t.max_step == Some(9)));
        // The first trial at rung 1 goes on, and finishes.
        assert!(o.report(ids[0], 1, 10.0).unwrap().is_none());
        assert!(o.report(ids[0], 9, 1.0).unwrap().is_none());
        o.tell(ids[0], Told::Objective(1.0)).unwrap();
        // A worse second trial is stopped at rung 1; its later reports are not judged again.
        let stop = o
            .report(ids[1], 1, 100.0)
            .unwrap()
            .expect("worse at rung 1");
        assert!(stop.reason.contains("rung of step 1"), "{}", stop.reason);
        assert!(o.report(ids[1], 2, 1000.0).unwrap().is_none());
        let state = o.tell(ids[1], Told::Pruned).unwrap().state.clone();
        match &state {
            TrialState::Pruned {
                step,
                objective,
                loss,
                reason,
            } => {
                assert_eq!((*step, *objective, *loss), (2, 1000.0, Some(3.0)));
                assert!(
                    reason.starts_with("stopped at step 1: at the rung"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            o.model_loss(ids[1]),
            Some(3.0),
            "a search's choice: its last value"
        );
        // ... read at the step it reached, of a whole run's 9.
        let (finished, _) = o.strategy_view();
        let stopped: Vec<Option<u64>> = finished.iter().map(|f| f.stopped_at).collect();
        assert_eq!(stopped, [None, Some(2)]);
        assert_eq!(o.full_length(), Some(9));
        o.set_pruned_runs(PrunedRuns::LeftOut);
        assert_eq!(o.model_loss(ids[1]), None);
        o.set_pruned_runs(PrunedRuns::Worst);
        assert!(
            o.model_loss(ids[1]).unwrap() > 0.0,
            "worse than the success's 0"
        );
        o.set_pruned_runs(PrunedRuns::LastValue);
        assert_eq!(o.model_loss(ids[1]), Some(3.0));
        // A trial without a report cannot be pruned; its state stays pending.
        let message = o.tell(ids[2], Told::Pruned).unwrap_err().to_string();
        assert!(
            message.contains("reported no intermediate result"),
            "{message}"
        );
        assert_eq!(o.trials()[2].state, TrialState::Pending);
    }

    #[test]
    fn read_at_the_highest_rung_trials_are_seen_at_their_loss_on_the_rung_enough_reached() {
        let config = r#"{"search_type": "random", "y_transformation": "none",
            "early_stopping": {"rule": "asha", "min_step": 1, "max_step": 9, "reduction_factor": 3}}"#;
        let mut o = optimizer(config, Some(3));
        o.set_pruned_runs(PrunedRuns::HighestRung);
        let ids: Vec<u64> = o.ask_many(4).unwrap().iter().map(|t| t.id).collect();
        let curves: [&[(u64, f64)]; 4] = [
            &[(1, 5.0), (3, 4.0), (9, 1.0)],
            &[(1, 4.0), (3, 3.0), (9, 2.0)],
            &[(1, 6.0)],
            &[(1, 3.0), (3, 2.5), (9, 0.5)],
        ];
        let mut views = Vec::new();
        for (id, curve) in ids.iter().zip(curves) {
            let mut stopped = false;
            for (step, objective) in curve {
                stopped = o.report(*id, *step, *objective).unwrap().is_some();
            }
            let told = if stopped {
                Told::Pruned
            } else {
                Told::Objective(curve.last().unwrap().1)
            };
            o.tell(*id, told).unwrap();
            let (finished, _) = o.strategy_view();
            views.push(
                finished
                    .iter()
                    .map(|f| (f.loss, f.stopped_at))
                    .collect::<Vec<_>>(),
            );
        }
        // Two trials are too few (dims + 1 = 3) at any rung: read as AtTheirStep, whole.
        assert_eq!(views[1], [(Some(1.0), None), (Some(2.0), None)]);
        // The third, stopped at rung 1, makes three there: everyone is read at step 1.
        assert_eq!(
            views[2],
            [(Some(5.0), None), (Some(4.0), None), (Some(6.0), None)]
        );
        // Three reached max_step: read at their ends; the one stopped below is left out.
        assert_eq!(
            views[3],
            [
                (Some(1.0), None),
                (Some(2.0), None),
                (None, None),
                (Some(0.5), None)
            ]
        );
    }

    #[test]
    fn bopt_reads_a_pruned_trial_at_its_step_and_suggests_otherwise() {
        // The same objective and rule, two ways of reading pruned trials: the suggestions are
        // the same until a trial is pruned, and part after it.
        let config = r#"{"search_type": "bopt", "min_initial_points": 3,
            "random_suggestion_probability": 0, "y_transformation": "none",
            "early_stopping": {"rule": "asha", "min_step": 1, "max_step": 9, "reduction_factor": 3}}"#;
        let search = |pruned_runs: PrunedRuns| -> (Vec<Vec<f64>>, Option<usize>) {
            let mut o = optimizer(config, Some(4));
            o.set_pruned_runs(pruned_runs);
            let mut first_pruned = None;
            for i in 0..9 {
                let trial = o.ask().unwrap().unwrap();
                let (id, x) = (trial.id, trial.point[0]);
                // Curves cross: a high x learns fast and ends worse.
                let at = |step: u64| (x - 0.3).powi(2) + (1.0 - x) * 2.0 / step as f64;
                let mut told = Told::Objective(at(9));
                for step in 1..=9 {
                    if o.report(id, step, at(step)).unwrap().is_some() {
                        told = Told::Pruned;
                        first_pruned = first_pruned.or(Some(i));
                        break;
                    }
                }
                o.tell(id, told).unwrap();
            }
            let points = o.trials().iter().map(|t| t.point.clone()).collect();
            (points, first_pruned)
        };
        let (at_step, pruned) = search(PrunedRuns::AtTheirStep);
        let (as_whole, same_pruned) = search(PrunedRuns::LastValue);
        let first = pruned.expect("asha stops a trial");
        assert_eq!(Some(first), same_pruned);
        assert_eq!(at_step[..=first], as_whole[..=first]);
        assert_ne!(at_step[first + 1..], as_whole[first + 1..]);
    }

    #[test]
    fn under_the_median_rule_a_whole_run_is_as_long_as_the_longest_success() {
        let config = r#"{"search_type": "random",
            "early_stopping": {"rule": "median", "startup_runs": 1}}"#;
        let mut o = optimizer(config, Some(2));
        let ids: Vec<u64> = o.ask_many(3).unwrap().iter().map(|t| t.id).collect();
        assert_eq!(o.full_length(), None, "no run has finished");
        for step in 1..=20 {
            o.report(ids[0], step, 1.0 / step as f64).unwrap();
        }
        o.tell(ids[0], Told::Objective(0.05)).unwrap();
        // The second is worse at step 1, stopped there.
        assert!(o.report(ids[1], 1, 5.0).unwrap().is_some());
        o.tell(ids[1], Told::Pruned).unwrap();
        // A pending trial's reports do not make a whole run longer.
        for step in 1..=30 {
            o.report(ids[2], step, 0.01).unwrap();
        }
        assert_eq!(o.full_length(), Some(20));
        let (finished, pending) = o.strategy_view();
        let stopped: Vec<Option<u64>> = finished.iter().map(|f| f.stopped_at).collect();
        assert_eq!(stopped, [None, Some(1)]);
        assert_eq!(pending.len(), 1);
    }

    #[test]
    fn bad_reports_are_refused_with_what_to_do() {
        let mut o = optimizer(r#"{"search_type": "random"}"#, Some(1));
        let id = o.ask().unwrap().unwrap().id;
        let error =
            |o: &mut Optimizer, id, step, value| o.report(id, step, value).unwrap_err().to_string();
        assert!(error(&mut o, id, 0, 1.0).contains("steps are whole numbers from 1"));
        assert!(error(&mut o, id, 1, f64::NAN).contains("not a finite number"));
        assert!(o.report(id, 3, 1.0).unwrap().is_none(), "the rule is off");
        assert!(error(&mut o, id, 3, 1.0).contains("step 3 after step 3"));
        assert!(error(&mut o, 7, 1, 1.0).starts_with("no trial 7"));
        o.tell(id, Told::Objective(1.0)).unwrap();
        assert!(error(&mut o, id, 4, 1.0).contains("already told (succeeded)"));
        assert_eq!(o.trials()[0].max_step, None);
    }
}
