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

use crate::config::early_stopping::{EarlyStopping, MAX_STEP};
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
/// to measure the choice (bench/learning_curves.py, docs/benchmarks/early-stopping.md "Early stopping on
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
    /// below it, or silent) are left out, and a whole run is read at that step, not at its end.
    /// Before any rung has enough, as `AtTheirStep`. Under asha and hyperband only (the median
    /// rule has no rungs).
    HighestRung,
}

impl PrunedRuns {
    /// Every choice by its name.
    pub const NAMES: [(&'static str, PrunedRuns); 5] = [
        ("at_their_step", PrunedRuns::AtTheirStep),
        ("last_value", PrunedRuns::LastValue),
        ("left_out", PrunedRuns::LeftOut),
        ("worst", PrunedRuns::Worst),
        ("highest_rung", PrunedRuns::HighestRung),
    ];

    pub fn parse(name: &str) -> Option<PrunedRuns> {
        Self::NAMES
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, choice)| *choice)
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
    /// What a search would write to its log, for the caller to show (`take_notes`).
    notes: Vec<String>,
    /// Whether a trial that succeeded short of `max_step` has been noted (once).
    short_trial_noted: bool,
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
            notes: Vec::new(),
            short_trial_noted: false,
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

    /// For `PrunedRuns::HighestRung`: each trial's loss at the highest rung step (or `max_step`)
    /// that at least dims + 1 finished trials reached.
    fn highest_rung(&self) -> Option<std::collections::BTreeMap<u64, f64>> {
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
            (at_step.len() >= needed).then_some(at_step)
        })
    }

    /// What the strategy is given of the trials: the finished ones as observations, in id
    /// order, and the points of the pending ones. Under `PrunedRuns::HighestRung`, once a rung
    /// has enough trials, those that reached it are seen at their loss there, those that
    /// reported less far without a loss, and failures are imputed from the losses at the rung.
    fn strategy_view(&self) -> (Vec<Observation>, Vec<Vec<f64>>) {
        let at_rung = match self.pruned_runs {
            PrunedRuns::HighestRung => self.highest_rung(),
            _ => None,
        };
        let losses = match &at_rung {
            Some(at_rung) => at_rung.values().copied().collect(),
            None => self.losses(),
        };
        let mut finished = Vec::new();
        let mut pending = Vec::new();
        for trial in &self.trials {
            let observation = match (&at_rung, &trial.state) {
                (_, TrialState::Pending) => {
                    pending.push(trial.point.clone());
                    continue;
                }
                (Some(at_rung), TrialState::Succeeded { .. } | TrialState::Pruned { .. }) => {
                    Observation::whole(trial.point.clone(), at_rung.get(&trial.id).copied())
                }
                (None, TrialState::Pruned { step, .. })
                    if matches!(
                        self.pruned_runs,
                        PrunedRuns::AtTheirStep | PrunedRuns::HighestRung
                    ) =>
                {
                    Observation {
                        point: trial.point.clone(),
                        loss: self.loss_seen(trial, &losses),
                        stopped_at: Some(*step),
                    }
                }
                _ => Observation::whole(trial.point.clone(), self.loss_seen(trial, &losses)),
            };
            finished.push(observation);
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
            budget: Some(self.config.max_suggestions),
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
        // As a search's log says, once: trials that end short of `max_step` leave the order
        // check, and so every rung, unjudged.
        let rungs = self.config.early_stopping.rungs().copied();
        let step = self.pruner.last(id).map(|(step, _)| step);
        if let (Some(rungs), Some(step)) = (rungs, step) {
            if succeeded && !self.short_trial_noted && rungs.ends_unseen_by_order_check(step) {
                self.short_trial_noted = true;
                self.notes.push(format!(
                    "trial {id} succeeded at step {step}, short of early_stopping.max_step ({}): the order check judges a rung only once trials have reported at max_step, so while trials end short of it none is stopped; report up to max_step (trial.max_step), or set max_step to where your trials end, or \"order_check\": false",
                    rungs.max_step
                ));
            }
        }
        Ok(&self.trials[id as usize])
    }

    /// What the optimizer has noted since the last call, as a search writes to its log (a
    /// trial that succeeded short of `max_step` under the order check); the Python package
    /// shows each as a warning.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
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
        if step == 0 || step > MAX_STEP {
            return Err(OptimizerError::Usage(format!(
                "trial {id}: step {step}; steps are whole numbers from 1 to {MAX_STEP}"
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
        // A control goes on like any run the rule lets go on; only a log would tell it apart.
        let _ = self.pruner.take_controls();
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
mod tests;
