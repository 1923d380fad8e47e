//! The tree's rules for every strategy: a suggestion's inactive hyperparameters sit at
//! `space::INACTIVE` (so the store, the model and duplicate checks see one value for "not
//! used"), and a forbidden combination is never suggested: the strategy's point is replaced by a
//! random valid one (grid and line enumerate only valid points, and bopt's candidates skip
//! forbidden ones, so this catches the rest: design points, random draws).

use super::contract::{Strategy, StrategyError, SuggestContext, Suggestion};
use crate::space::Space;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Draws tried for a valid point before the forbidden combinations are said to exclude
/// (nearly) everything.
const MAX_DRAWS: usize = 10_000;

pub struct Constrained {
    inner: Box<dyn Strategy>,
}

impl Constrained {
    pub fn new(inner: Box<dyn Strategy>) -> Self {
        Constrained { inner }
    }
}

impl Strategy for Constrained {
    fn suggest(&mut self, context: &SuggestContext) -> Result<Option<Suggestion>, StrategyError> {
        let Some(mut suggestion) = self.inner.suggest(context)? else {
            return Ok(None);
        };
        let space = context.space;
        if space.is_forbidden(&suggestion.point) {
            suggestion.point = valid_draw(space, context)?;
            suggestion.label = "random".into();
            suggestion.notes.push(
                "the suggestion was a forbidden combination; a random valid one replaces it".into(),
            );
        }
        suggestion.point = space.deactivate(&suggestion.point);
        Ok(Some(suggestion))
    }

    fn adapts_to_results(&self) -> bool {
        self.inner.adapts_to_results()
    }

    fn size(&self, space: &Space) -> Option<u64> {
        self.inner.size(space)
    }
}

/// A random point that is not forbidden, from a stream of its own (the strategy's draws stay
/// what they were).
fn valid_draw(space: &Space, context: &SuggestContext) -> Result<Vec<f64>, StrategyError> {
    let mut rng = ChaCha8Rng::seed_from_u64(context.seed ^ 0x9e37_79b9_7f4a_7c15);
    rng.set_stream(context.sequence);
    for _ in 0..MAX_DRAWS {
        let point: Vec<f64> = (0..space.dims()).map(|_| rng.random::<f64>()).collect();
        if !space.is_forbidden(&point) {
            return Ok(point);
        }
    }
    Err(StrategyError::Failed(format!(
        "{MAX_DRAWS} random combinations were all forbidden: the \"forbidden\" list of model_config.json excludes (nearly) every combination; shorten it"
    )))
}
