//! Line search: a base combination (the middle of every hyperparameter), then each
//! hyperparameter varied over its grid while the others stay at the base.

use super::contract::{Strategy, StrategyError, SuggestContext, Suggestion};
use crate::space::Space;
use std::collections::HashSet;

pub struct LineStrategy {
    points_per_hyperparameter: usize,
}

impl LineStrategy {
    pub fn new(points_per_hyperparameter: usize) -> Self {
        LineStrategy {
            points_per_hyperparameter,
        }
    }

    /// The base first, then one line per hyperparameter; combinations equal to one already
    /// listed (the base lies on every line) appear once.
    pub fn points(&self, space: &Space) -> Vec<Vec<f64>> {
        let base: Vec<f64> = space.hyperparameters().iter().map(|h| h.middle()).collect();
        let mut seen = HashSet::new();
        let mut points = Vec::new();
        // In a conditional space a line of an inactive hyperparameter is the base again (left
        // out as a duplicate); forbidden combinations are left out.
        let mut push = |p: Vec<f64>| {
            if !space.is_forbidden(&p) && seen.insert(space.combination_key(&p)) {
                points.push(p);
            }
        };
        push(base.clone());
        for (d, h) in space.hyperparameters().iter().enumerate() {
            for u in h.grid(self.points_per_hyperparameter) {
                let mut p = base.clone();
                p[d] = u;
                push(p);
            }
        }
        points
    }
}

impl Strategy for LineStrategy {
    fn adapts_to_results(&self) -> bool {
        false
    }

    fn suggest(&mut self, context: &SuggestContext) -> Result<Option<Suggestion>, StrategyError> {
        let existing = context.existing_keys();
        Ok(self
            .points(context.space)
            .into_iter()
            .find(|p| !existing.contains(&context.space.combination_key(p)))
            .map(|point| Suggestion {
                point,
                label: "line".into(),
                notes: Vec::new(),
            }))
    }

    fn size(&self, space: &Space) -> Option<u64> {
        Some(self.points(space).len() as u64)
    }
}
