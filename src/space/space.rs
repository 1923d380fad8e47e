//! The search space: the hyperparameters in the model config's order, and whole combinations.
//!
//! In a conditional space (`Tree`) a combination holds only its active hyperparameters: an
//! inactive one is left out of the decoded values and sits at `INACTIVE` in the unit cube, so two
//! points that differ only where it does not matter are one combination, and a model of the
//! flattened cube sees one value for "not used".

use super::hyperparameter::{Domain, Hyperparameter};
use super::tree::{same_value, Tree};
use serde_json::{Map, Value};

/// Where an inactive hyperparameter sits in the unit cube.
pub const INACTIVE: f64 = 0.5;

#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    hyperparameters: Vec<Hyperparameter>,
    tree: Tree,
}

impl Space {
    pub fn new(hyperparameters: Vec<Hyperparameter>) -> Self {
        let tree = Tree::flat(hyperparameters.len());
        Space {
            hyperparameters,
            tree,
        }
    }

    /// A space with conditions and forbidden combinations (checked by the caller: indices in
    /// range, `order` a topological order).
    pub fn with_tree(hyperparameters: Vec<Hyperparameter>, tree: Tree) -> Self {
        Space {
            hyperparameters,
            tree,
        }
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Whether some hyperparameter is active only under a condition.
    pub fn is_conditional(&self) -> bool {
        self.tree.has_conditions()
    }

    /// Neither conditions nor forbidden combinations: every point of the cube is a valid
    /// combination of its own.
    pub fn is_flat(&self) -> bool {
        !self.is_conditional() && self.tree.forbidden.is_empty()
    }

    /// Which hyperparameters of a unit-cube point are active.
    pub fn active(&self, point: &[f64]) -> Vec<bool> {
        self.tree
            .active(|i| self.hyperparameters[i].decode(point.get(i).copied().unwrap_or(INACTIVE)))
    }

    /// The point with its inactive hyperparameters at `INACTIVE` (the point itself in a space
    /// without conditions).
    pub fn deactivate(&self, point: &[f64]) -> Vec<f64> {
        if !self.is_conditional() {
            return point.to_vec();
        }
        self.active(point)
            .into_iter()
            .zip(point)
            .map(|(on, u)| if on { *u } else { INACTIVE })
            .collect()
    }

    /// Whether a point is one of the forbidden combinations.
    pub fn is_forbidden(&self, point: &[f64]) -> bool {
        if self.tree.forbidden.is_empty() {
            return false;
        }
        let values = self.decode(point);
        self.tree.forbidden.iter().any(|clause| {
            clause.iter().all(|(i, value)| {
                values
                    .get(&self.hyperparameters[*i].name)
                    .is_some_and(|v| same_value(v, value))
            })
        })
    }

    /// `d` linear continuous hyperparameters `x0`, `x1`, ... on [0, 1]: the space of the
    /// benchmark functions and of tests of the engine.
    pub fn unit_cube(d: usize) -> Self {
        use super::hyperparameter::Transformation;
        Space::new(
            (0..d)
                .map(|i| {
                    Hyperparameter::new(
                        format!("x{i}"),
                        Domain::Continuous {
                            low: 0.0,
                            high: 1.0,
                        },
                        Transformation::Linear,
                    )
                })
                .collect(),
        )
    }

    pub fn dims(&self) -> usize {
        self.hyperparameters.len()
    }

    pub fn hyperparameters(&self) -> &[Hyperparameter] {
        &self.hyperparameters
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.hyperparameters.iter().map(|h| h.name.as_str())
    }

    /// The values of a unit-cube point's active hyperparameters, by name, in the config's order.
    pub fn decode(&self, point: &[f64]) -> Map<String, Value> {
        let active = self.active(point);
        self.hyperparameters
            .iter()
            .zip(point)
            .zip(active)
            .filter(|(_, on)| *on)
            .map(|((h, u), _)| (h.name.clone(), h.decode(*u)))
            .collect()
    }

    /// The unit-cube point of a combination; `None` if a value is outside its domain, or an
    /// active hyperparameter has none. Values of inactive hyperparameters are ignored.
    pub fn encode(&self, values: &Map<String, Value>) -> Option<Vec<f64>> {
        let point: Vec<f64> = self
            .hyperparameters
            .iter()
            .map(|h| match values.get(&h.name) {
                Some(v) => h.encode(v),
                None if self.is_conditional() => Some(f64::NAN),
                None => None,
            })
            .collect::<Option<_>>()?;
        let active = self.active(&point);
        if point.iter().zip(&active).any(|(u, on)| *on && u.is_nan()) {
            return None;
        }
        Some(self.deactivate(&point))
    }

    /// The canonical point of a unit-cube point: what it decodes to, encoded again (inactive
    /// hyperparameters at `INACTIVE`). Two points with the same canonical point run the same
    /// combination.
    pub fn canonical(&self, point: &[f64]) -> Vec<f64> {
        let snapped: Vec<f64> = self
            .hyperparameters
            .iter()
            .zip(point)
            .map(|(h, u)| h.snap(*u))
            .collect();
        self.deactivate(&snapped)
    }

    /// The point with its discrete and categorical dimensions on their members (inactive ones at
    /// `INACTIVE`) and its continuous ones as they were: `canonical`, but for those. Without
    /// conditions each dimension snaps on its own, and the continuous ones are not decoded.
    pub fn snap_to_members(&self, point: &mut [f64]) {
        let is_member = |h: &Hyperparameter| !matches!(h.domain, Domain::Continuous { .. });
        if self.is_conditional() {
            let snapped = self.canonical(point);
            for ((u, s), h) in point.iter_mut().zip(snapped).zip(&self.hyperparameters) {
                if is_member(h) {
                    *u = s;
                }
            }
        } else {
            for (u, h) in point.iter_mut().zip(&self.hyperparameters) {
                if is_member(h) {
                    *u = h.snap(*u);
                }
            }
        }
    }

    /// A key that is equal for two points exactly when they run the same combination.
    pub fn combination_key(&self, point: &[f64]) -> String {
        Value::Object(self.decode(point)).to_string()
    }
}
