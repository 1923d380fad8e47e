//! What the coordinator tells the world. Observers (the search log, the progress bar) see only
//! these events and the running summary, never processes or the store.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub enum Event {
    SearchStarted {
        search_id: u64,
        resumed: bool,
        seed: u64,
    },
    RunStarted {
        id: u64,
        job_id: String,
        params: Map<String, Value>,
        label: String,
    },
    RunAdopted {
        id: u64,
        job_id: String,
        /// Still waiting in the scheduler's queue, not running.
        queued: bool,
    },
    RunRestarted {
        id: u64,
    },
    RunSucceeded {
        id: u64,
        objective: f64,
        loss: f64,
    },
    RunFailed {
        id: u64,
        kind: &'static str,
        reason: String,
        imputed: Option<f64>,
    },
    RunStopped {
        id: u64,
        reason: String,
    },
    /// A run the early-stopping rule stopped has ended: its last reported result.
    RunPruned {
        id: u64,
        step: u64,
        objective: Option<f64>,
        reason: String,
    },
    Note(String),
    SearchEnded {
        reason: String,
    },
}

/// The state of the search in numbers, updated with every event.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub created: u64,
    /// Waiting in a scheduler's queue (Slurm's PENDING).
    #[serde(default)]
    pub queued: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Stopped early by the `early_stopping` rule.
    #[serde(default)]
    pub pruned: u64,
    /// The most combinations this search will create, when known.
    pub planned: Option<u64>,
    pub best_loss: Option<f64>,
    pub best_id: Option<u64>,
    pub elapsed_seconds: f64,
}

impl Summary {
    /// `, N pruned (stopped early)` when early stopping stopped any run, else nothing: the
    /// counts of searches without it read as before.
    pub fn pruned_note(&self) -> String {
        if self.pruned > 0 {
            format!(", {} pruned (stopped early)", self.pruned)
        } else {
            String::new()
        }
    }
}

pub trait Observer {
    fn event(&mut self, event: &Event, summary: &Summary);
}

/// Writes every event as one line of the search's log.txt.
pub struct LogObserver {
    file: Option<std::fs::File>,
}

impl LogObserver {
    pub fn open(path: &std::path::Path) -> LogObserver {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok();
        LogObserver { file }
    }

    pub fn line(&mut self, text: &str) {
        use std::io::Write;
        if let Some(file) = self.file.as_mut() {
            // One write a line: `writeln!` on a file writes each piece with a system call of its
            // own, four a line, two lines a run.
            let line = format!("{} {text}\n", crate::clock::format(crate::clock::now()));
            let _ = file.write_all(line.as_bytes());
        }
    }
}

pub fn describe(event: &Event) -> String {
    match event {
        Event::SearchStarted {
            search_id,
            resumed,
            seed,
        } => {
            format!(
                "search {search_id} {} (random_seed {seed}, pid {})",
                if *resumed { "resumed" } else { "started" },
                std::process::id()
            )
        }
        Event::RunStarted {
            id,
            job_id,
            params,
            label,
        } => {
            let values: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(
                "combination {id} started ({label}, {job_id}): {}",
                values.join(", ")
            )
        }
        Event::RunAdopted { id, job_id, queued } => format!(
            "combination {id} is still {} ({job_id}); watching it again",
            if *queued { "queued" } else { "running" }
        ),
        Event::RunRestarted { id } => {
            format!("combination {id} was stopped before it finished; running it again")
        }
        Event::RunSucceeded {
            id,
            objective,
            loss,
        } => format!("combination {id} succeeded: objective {objective}, loss {loss}"),
        Event::RunFailed {
            id,
            kind,
            reason,
            imputed,
        } => match imputed {
            Some(loss) => {
                format!("combination {id} failed ({kind}): {reason}; imputed loss {loss}")
            }
            None => format!("combination {id} failed ({kind}): {reason}"),
        },
        Event::RunStopped { id, reason } => format!("combination {id} stopped: {reason}"),
        Event::RunPruned {
            id,
            step,
            objective,
            reason,
        } => match objective {
            Some(objective) => format!(
                "combination {id} pruned at step {step} (last objective {objective}): {reason}"
            ),
            None => format!("combination {id} pruned at step {step}: {reason}"),
        },
        Event::Note(text) => text.clone(),
        Event::SearchEnded { reason } => format!("search ended: {reason}"),
    }
}

impl Observer for LogObserver {
    fn event(&mut self, event: &Event, summary: &Summary) {
        let mut text = describe(event);
        if matches!(
            event,
            Event::RunSucceeded { .. } | Event::RunFailed { .. } | Event::RunPruned { .. }
        ) {
            if let (Some(best), Some(id)) = (summary.best_loss, summary.best_id) {
                text.push_str(&format!(" [best so far: loss {best} (combination {id})]"));
            }
        }
        self.line(&text);
    }
}
