//! The `Strategy` trait and the data it sees.

use crate::config::search::{SearchConfig, SearchType};
use crate::space::Space;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

/// A combination already created in this search: its unit-cube point and, once it has finished
/// with a usable loss, that loss (minimised). Failures imputed per `y_failure_value` carry the
/// imputed loss; failures left out (`nan`) carry `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub point: Vec<f64>,
    pub loss: Option<f64>,
    /// For a run stopped early whose loss is its last reported value: the step it reached
    /// (with `SuggestContext::full_length`, where on its learning curve the loss was taken).
    /// `None` for a run that ended by itself, or one whose stop the strategy is not told.
    pub stopped_at: Option<u64>,
}

impl Observation {
    /// A run that ended by itself (or whose stop the strategy does not tell apart).
    pub fn whole(point: Vec<f64>, loss: Option<f64>) -> Observation {
        Observation {
            point,
            loss,
            stopped_at: None,
        }
    }
}

/// What a strategy knows when it is asked for the next combination.
pub struct SuggestContext<'a> {
    pub space: &'a Space,
    /// Combinations that have finished (succeeded or failed).
    pub finished: &'a [Observation],
    /// Combinations created but not finished: queued or running.
    pub pending: &'a [Vec<f64>],
    /// How many combinations this search created before this one; with the seed it fixes the
    /// randomness of this suggestion, whatever happened in between (restarts included).
    pub sequence: u64,
    pub seed: u64,
    /// A whole run's length in steps, where runs report progress: the early-stopping rule's
    /// `max_step`, else the most steps a run that ended by itself reported.
    pub full_length: Option<u64>,
    /// How many combinations the search will create in all, where that is known
    /// (`max_suggestions`; ask-tell's `budget`): bopt spends the last of them on its best guess.
    pub budget: Option<u64>,
}

impl SuggestContext<'_> {
    /// The random source of this suggestion: one ChaCha stream per sequence number.
    pub fn rng(&self) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(self.sequence);
        rng
    }

    /// Keys of every combination created so far, to avoid running one twice.
    pub fn existing_keys(&self) -> HashSet<String> {
        let (finished, pending) = self.keys();
        finished.into_iter().flatten().chain(pending).collect()
    }

    /// Each finished run's combination key, in the order of `finished` (`None` for a point that
    /// is not of this space's length: a corrupted row), and each run in flight's. A strategy
    /// that needs them in several places makes them once: at 5,000 runs in 20 dimensions, three
    /// passes took bopt's warm suggestion from 0.39 to 0.41 s (`cargo bench --bench bopt_scale`).
    pub fn keys(&self) -> (Vec<Option<String>>, Vec<String>) {
        let dims = self.space.dims();
        let finished = self
            .finished
            .iter()
            .map(|o| (o.point.len() == dims).then(|| self.space.combination_key(&o.point)))
            .collect();
        let pending = self
            .pending
            .iter()
            .filter(|p| p.len() == dims)
            .map(|p| self.space.combination_key(p))
            .collect();
        (finished, pending)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// A point of the unit cube; the coordinator decodes it into values.
    pub point: Vec<f64>,
    /// What the data file's `search_type` column says for it (`grid`, `random`, `Matern52_EI_MLE`).
    pub label: String,
    /// Lines for the search log: how the suggestion was made, diagnostics, fallbacks.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    #[error("{0}")]
    Failed(String),
}

pub trait Strategy: Send {
    /// The next combination to run, or `None` when the strategy has nothing left (a finished
    /// grid); random strategies never run out.
    fn suggest(&mut self, context: &SuggestContext) -> Result<Option<Suggestion>, StrategyError>;

    /// Whether a suggestion depends on the results of earlier runs. Strategies that do not
    /// (grid, line, random, Sobol) can have many runs submitted at once as one job array.
    fn adapts_to_results(&self) -> bool {
        true
    }

    /// The total number of combinations this strategy can suggest, when it is finite.
    fn size(&self, _space: &Space) -> Option<u64> {
        None
    }
}

/// The strategy a search config asks for, held to the space's tree (inactive hyperparameters
/// at one value, no forbidden combination).
pub fn build(config: &SearchConfig) -> Box<dyn Strategy> {
    let n = config.num_grid_points_per_hyperparameter as usize;
    let inner: Box<dyn Strategy> = match config.search_type {
        SearchType::Line => Box::new(super::LineStrategy::new(n)),
        SearchType::Grid => Box::new(super::GridStrategy::new(n)),
        SearchType::Random => Box::new(super::RandomStrategy),
        SearchType::Sobol => Box::new(super::SobolStrategy),
        SearchType::Bopt => Box::new(super::BoptStrategy::new(config)),
    };
    Box::new(super::constrained::Constrained::new(inner))
}
