//! The search space: the hyperparameters in the model config's order, and whole combinations.

use super::hyperparameter::Hyperparameter;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    hyperparameters: Vec<Hyperparameter>,
}

impl Space {
    pub fn new(hyperparameters: Vec<Hyperparameter>) -> Self {
        Space { hyperparameters }
    }

    /// `d` linear continuous hyperparameters `x0`, `x1`, ... on [0, 1]: the space of the
    /// benchmark functions and of tests of the engine.
    pub fn unit_cube(d: usize) -> Self {
        use super::hyperparameter::{Domain, Transformation};
        Space::new(
            (0..d)
                .map(|i| Hyperparameter {
                    name: format!("x{i}"),
                    domain: Domain::Continuous {
                        low: 0.0,
                        high: 1.0,
                    },
                    transformation: Transformation::Linear,
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

    /// The hyperparameter values a unit-cube point stands for, by name, in the config's order.
    pub fn decode(&self, point: &[f64]) -> Map<String, Value> {
        self.hyperparameters
            .iter()
            .zip(point)
            .map(|(h, u)| (h.name.clone(), h.decode(*u)))
            .collect()
    }

    /// The unit-cube point of a combination; `None` if a value is missing or outside its domain.
    pub fn encode(&self, values: &Map<String, Value>) -> Option<Vec<f64>> {
        self.hyperparameters
            .iter()
            .map(|h| values.get(&h.name).and_then(|v| h.encode(v)))
            .collect()
    }

    /// The canonical point of a unit-cube point: what it decodes to, encoded again. Two points
    /// with the same canonical point run the same combination.
    pub fn canonical(&self, point: &[f64]) -> Vec<f64> {
        self.hyperparameters
            .iter()
            .zip(point)
            .map(|(h, u)| h.encode(&h.decode(*u)).unwrap_or(*u))
            .collect()
    }

    /// A key that is equal for two points exactly when they run the same combination.
    pub fn combination_key(&self, point: &[f64]) -> String {
        Value::Object(self.decode(point)).to_string()
    }
}
