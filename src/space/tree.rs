//! Conditional spaces: which hyperparameters are active given the values of others (a
//! hyperparameter's `"condition"` in model_config.json), and the combinations that must never be
//! suggested (`"forbidden"`). Parsed and checked in `config::conditions`; evaluated here.

use serde_json::Value;

/// What a parent's value must be for a child to be active.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// One of these values (a categorical or discrete parent).
    OneOf(Vec<Value>),
    /// A number within [min, max] (a numeric parent).
    Within { min: f64, max: f64 },
}

impl Condition {
    pub fn holds(&self, value: &Value) -> bool {
        match self {
            Condition::OneOf(values) => values.iter().any(|v| same_value(v, value)),
            Condition::Within { min, max } => {
                value.as_f64().is_some_and(|x| *min <= x && x <= *max)
            }
        }
    }
}

/// Whether two JSON values name the same setting: numbers by value (1 and 1.0), the rest exactly.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The tree of a space: conditions and forbidden combinations, by hyperparameter index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tree {
    /// Per hyperparameter, in the space's order: the conditions on its parents, all of which must
    /// hold (and each parent be active) for it to be active. Empty: always active.
    pub conditions: Vec<Vec<(usize, Condition)>>,
    /// Every hyperparameter, each parent before its children.
    pub order: Vec<usize>,
    /// Combinations never suggested: each a list of (hyperparameter, value) that all hold.
    pub forbidden: Vec<Vec<(usize, Value)>>,
}

impl Tree {
    /// The tree of `n` hyperparameters without conditions or forbidden combinations.
    pub fn flat(n: usize) -> Tree {
        Tree {
            conditions: vec![Vec::new(); n],
            order: (0..n).collect(),
            forbidden: Vec::new(),
        }
    }

    pub fn has_conditions(&self) -> bool {
        self.conditions.iter().any(|c| !c.is_empty())
    }

    /// Which hyperparameters are active, given a value for each (`value(i)`, asked only of
    /// active parents).
    pub fn active(&self, mut value: impl FnMut(usize) -> Value) -> Vec<bool> {
        let mut active = vec![true; self.conditions.len()];
        for &i in &self.order {
            active[i] = self.conditions[i]
                .iter()
                .all(|(parent, condition)| active[*parent] && condition.holds(&value(*parent)));
        }
        active
    }
}
