//! The test phase: the chosen setting runs once more with `"phase": "test"` in its input.json,
//! through the search's own executor, and its score is recorded apart from the validation scores.
//! Touching the test data more than once per search is allowed but warned about: a test score
//! picked from several is no longer an unbiased estimate.

use super::events::Event;
use super::outcome::{judge, Outcome};
use super::search::{Coordinator, CoordinatorError};
use crate::config::model::SAVE_FOLDER;
use crate::executor::{ExecutorError, RunEnd, RunSpec};
use crate::project::paths::write_atomically;
use crate::store::{Finish, RunState, TestRun};
use serde_json::{Map, Value};
use std::time::Duration;

/// The key added to input.json for a test run.
pub const PHASE_KEY: &str = "phase";

/// Executors key runs by combination id; test runs take ids far above any search's.
const TEST_RUN_IDS: u64 = 1_000_000_000;

#[derive(Debug, thiserror::Error)]
pub enum TestPhaseError {
    #[error("combination {0} does not exist in this search; `hpsearch results SEARCH` lists them")]
    NoSuchCombination(u64),
    #[error("model_config.json has its own variable `phase`, which the test phase needs to tell the script it is a test run; rename that variable")]
    PhaseTaken,
}

impl Coordinator {
    /// How many test runs this search has had.
    pub fn test_run_count(&self) -> Result<usize, CoordinatorError> {
        Ok(self.store.test_runs()?.len())
    }

    /// Runs combination `id`'s setting once as a test run and records its score.
    pub fn run_test(mut self, id: u64) -> Result<TestRun, CoordinatorError> {
        let combination = self
            .combinations
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or(CoordinatorError::TestPhase(
                TestPhaseError::NoSuchCombination(id),
            ))?;
        if self.definition.model.variables.contains_key(PHASE_KEY) {
            return Err(CoordinatorError::TestPhase(TestPhaseError::PhaseTaken));
        }
        let number = self.store.test_runs()?.len() as u64;
        let folder = self.paths.test_run_dir(number);
        std::fs::create_dir_all(&folder).map_err(|e| CoordinatorError::io(&folder, e))?;
        let mut input = self.definition.model.input_values(&combination.params);
        input.insert(
            SAVE_FOLDER.into(),
            Value::String(folder.display().to_string()),
        );
        input.insert(PHASE_KEY.into(), Value::String("test".into()));
        let input_path = folder.join("input.json");
        let text = serde_json::to_string_pretty(&Value::Object(input)).unwrap_or_default();
        write_atomically(&input_path, text.as_bytes())
            .map_err(|e| CoordinatorError::io(&input_path, e))?;
        let spec = RunSpec {
            combination_id: TEST_RUN_IDS + number,
            folder: folder.clone(),
            input: input_path,
            ..self.spec(id)
        };
        self.emit(Event::Note(format!(
            "test run {number}: combination {id} with \"phase\": \"test\" in {}",
            folder.display()
        )));
        let (job_id, end, started_at) = match self.executor.submit(&spec) {
            Ok(submitted) => {
                self.store
                    .insert_test_run(id, &submitted.job_id, submitted.started_at)?;
                let end = self.wait_for(spec.combination_id);
                (Some(submitted.job_id), end, submitted.started_at)
            }
            Err(ExecutorError::Start { message, .. })
            | Err(ExecutorError::Refused { message, .. })
            | Err(ExecutorError::Unavailable { message }) => {
                let now = crate::clock::now();
                self.store.insert_test_run(id, "", now)?;
                (None, RunEnd::StartFailed(message), now)
            }
        };
        let search = &self.definition.search;
        let outcome = judge(
            &end,
            &folder,
            search.y_transformation,
            self.definition.job.time_hours,
        );
        let empty = Map::new();
        let finished_at = crate::clock::now();
        let finish = match &outcome {
            Outcome::Success {
                objective,
                loss,
                metrics,
            } => Finish {
                state: RunState::Succeeded,
                finished_at,
                objective: Some(*objective),
                loss: Some(*loss),
                kind: None,
                reason: None,
                metrics,
            },
            Outcome::Failure {
                kind,
                reason,
                objective,
                metrics,
            } => Finish {
                state: RunState::Failed,
                finished_at,
                objective: *objective,
                loss: None,
                kind: Some(*kind),
                reason: Some(reason),
                metrics: if metrics.is_empty() { &empty } else { metrics },
            },
        };
        self.store.finish_test_run(number, &finish)?;
        let recorded = self
            .store
            .test_runs()?
            .into_iter()
            .find(|t| t.id == number)
            .unwrap_or(TestRun {
                id: number,
                combination_id: id,
                state: finish.state,
                job_id,
                started_at,
                finished_at: Some(finished_at),
                objective: finish.objective,
                loss: finish.loss,
                failure_kind: finish.kind,
                failure_reason: finish.reason.map(String::from),
                metrics: Map::new(),
            });
        self.publish(true)?;
        Ok(recorded)
    }

    /// Waits for one run to end; a stop request (Ctrl-C, SIGTERM) stops it.
    fn wait_for(&mut self, run_id: u64) -> RunEnd {
        let mut stopping = false;
        loop {
            if let Some(ended) = self
                .executor
                .poll()
                .into_iter()
                .find(|e| e.combination_id == run_id)
            {
                return ended.end;
            }
            if self.executor.active() == 0 {
                return RunEnd::Lost(if stopping {
                    "the test run was stopped by a signal before it finished".into()
                } else {
                    "the executor lost track of the test run".into()
                });
            }
            if self.stop_requests > 0 && !stopping {
                stopping = true;
                self.executor.cancel(run_id);
            }
            if self.stop_requests > 1 {
                self.executor.stop_all(Duration::ZERO);
            }
            self.drain_signals(Duration::from_millis(250));
        }
    }
}
