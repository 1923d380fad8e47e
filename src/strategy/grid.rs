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
        if space.is_flat() {
            return self.allowed(space).collect();
        }
        let mut seen = std::collections::HashSet::new();
        self.allowed(space)
            .filter(|p| seen.insert(space.combination_key(p)))
            .collect()
    }

    /// The product's points in order, less the forbidden ones of a conditional space.
    fn allowed<'a>(&self, space: &'a Space) -> impl Iterator<Item = Vec<f64>> + 'a {
        self.product(space)
            .filter(move |p| space.is_flat() || !space.is_forbidden(p))
    }

    fn axes(&self, space: &Space) -> Vec<Vec<f64>> {
        space
            .hyperparameters()
            .iter()
            .map(|h| h.grid(self.points_per_hyperparameter))
            .collect()
    }

    /// The Cartesian product of the axes, made one point at a time.
    fn product(&self, space: &Space) -> Product {
        let axes = self.axes(space);
        let done = axes.iter().any(Vec::is_empty);
        Product {
            digits: vec![0; axes.len()],
            axes,
            done,
        }
    }
}

/// The grid's points in order, first hyperparameter slowest, one at a time: a grid of many
/// hyperparameters has more points than memory holds (20 at 3 points each: 3.5·10⁹), while a
/// suggestion needs only the first one not run yet.
struct Product {
    axes: Vec<Vec<f64>>,
    /// Which value of each axis the next point takes.
    digits: Vec<usize>,
    done: bool,
}

impl Iterator for Product {
    type Item = Vec<f64>;

    fn next(&mut self) -> Option<Vec<f64>> {
        if self.done {
            return None;
        }
        let point = self
            .digits
            .iter()
            .zip(&self.axes)
            .map(|(digit, axis)| axis[*digit])
            .collect();
        // The next point: the last axis moves fastest, carrying into the ones before it.
        self.done = true;
        for (digit, axis) in self.digits.iter_mut().zip(&self.axes).rev() {
            *digit += 1;
            if *digit < axis.len() {
                self.done = false;
                break;
            }
            *digit = 0;
        }
        Some(point)
    }
}

/// Past this many points a conditional grid's size is not counted (it would walk the whole
/// product at every status update); the search's `max_suggestions` bounds it then.
const MAX_COUNTED_POINTS: u64 = 1_000_000;

impl Strategy for GridStrategy {
    fn adapts_to_results(&self) -> bool {
        false
    }

    fn suggest(&mut self, context: &SuggestContext) -> Result<Option<Suggestion>, StrategyError> {
        let existing = context.existing_keys();
        let space = context.space;
        // The first point whose combination is new. In a conditional space that is also the
        // first point of its combination in the product (an earlier one with the same
        // combination would be new too), so the grid's order is the one `points` lists.
        Ok(self
            .allowed(space)
            .find(|p| !existing.contains(&space.combination_key(p)))
            .map(|point| Suggestion {
                point,
                label: "grid".into(),
                notes: Vec::new(),
            }))
    }

    fn size(&self, space: &Space) -> Option<u64> {
        // Checked: a product past u64 is no finite size to plan with.
        let product = self
            .axes(space)
            .iter()
            .try_fold(1u64, |n, axis| n.checked_mul(axis.len() as u64))?;
        if space.is_flat() {
            return Some(product);
        }
        (product <= MAX_COUNTED_POINTS).then(|| self.points(space).len() as u64)
    }
}
