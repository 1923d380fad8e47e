//! Grid search: the Cartesian product of every hyperparameter's grid, in a fixed order.

use super::contract::{Strategy, StrategyError, SuggestContext, Suggestion};
use crate::space::Space;

pub struct GridStrategy {
    points_per_hyperparameter: usize,
}

impl GridStrategy {
    pub fn new(points_per_hyperparameter: usize) -> Self {
        GridStrategy {
            points_per_hyperparameter,
        }
    }

    /// Every valid grid combination once, first hyperparameter slowest, as a user reading the
    /// table expects: in a conditional space the product's points that differ only in inactive
    /// hyperparameters are one combination (its first), and forbidden ones are left out.
    pub fn points(&self, space: &Space) -> Vec<Vec<f64>> {
        let product = self.product(space);
        if space.is_flat() {
            return product;
        }
        let mut seen = std::collections::HashSet::new();
        product
            .into_iter()
            .filter(|p| !space.is_forbidden(p) && seen.insert(space.combination_key(p)))
            .collect()
    }

    fn product(&self, space: &Space) -> Vec<Vec<f64>> {
        let axes: Vec<Vec<f64>> = space
            .hyperparameters()
            .iter()
            .map(|h| h.grid(self.points_per_hyperparameter))
            .collect();
        let mut points: Vec<Vec<f64>> = vec![Vec::new()];
        for axis in &axes {
            points = points
                .into_iter()
                .flat_map(|prefix| {
                    axis.iter().map(move |u| {
                        let mut p = prefix.clone();
                        p.push(*u);
                        p
                    })
                })
                .collect();
        }
        points
    }
}

impl Strategy for GridStrategy {
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
                label: "grid".into(),
                notes: Vec::new(),
            }))
    }

    fn size(&self, space: &Space) -> Option<u64> {
        if !space.is_flat() {
            return Some(self.points(space).len() as u64);
        }
        Some(
            space
                .hyperparameters()
                .iter()
                .map(|h| h.grid(self.points_per_hyperparameter).len() as u64)
                .product(),
        )
    }
}
