//! One hyperparameter and its encoding to and from the unit interval.
//!
//! As the seed describes: transform (log10 or nothing), then shift and scale to [0, 1]; the
//! inverse is applied before a run. Discrete values snap to the nearest member of the domain (in
//! the transformed space); a categorical of `k` values owns the `k` equal slices of [0, 1].

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transformation {
    Linear,
    Log,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Domain {
    Continuous {
        low: f64,
        high: f64,
    },
    /// Sorted, distinct numbers; `integer` when every value was written as an integer.
    Discrete {
        values: Vec<f64>,
        integer: bool,
    },
    Categorical {
        values: Vec<Value>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hyperparameter {
    pub name: String,
    pub domain: Domain,
    pub transformation: Transformation,
}

impl Hyperparameter {
    fn forward(&self, x: f64) -> f64 {
        match self.transformation {
            Transformation::Linear => x,
            Transformation::Log => x.log10(),
        }
    }

    fn inverse(&self, t: f64) -> f64 {
        match self.transformation {
            Transformation::Linear => t,
            Transformation::Log => 10f64.powf(t),
        }
    }

    /// Position of a number on the unit interval of a numeric domain.
    fn unit_of_number(&self, x: f64, low: f64, high: f64) -> f64 {
        self.unit_scale(low, high)(x)
    }

    /// `unit_of_number` for one domain's bounds, their transforms taken once (a binary search
    /// over a domain's members places many numbers on the same interval).
    fn unit_scale(&self, low: f64, high: f64) -> impl Fn(f64) -> f64 + '_ {
        let (a, b) = (self.forward(low), self.forward(high));
        move |x| {
            if b == a {
                0.5
            } else {
                ((self.forward(x) - a) / (b - a)).clamp(0.0, 1.0)
            }
        }
    }

    /// The value a point `u` of [0, 1] stands for.
    pub fn decode(&self, u: f64) -> Value {
        let u = unit_or_middle(u);
        match &self.domain {
            Domain::Continuous { low, high } => {
                let (a, b) = (self.forward(*low), self.forward(*high));
                let x = self.inverse(a + u * (b - a)).clamp(*low, *high);
                number(x)
            }
            Domain::Discrete { values, integer } => {
                let x = values[self.nearest_discrete(u, values)];
                if *integer {
                    Value::from(x as i64)
                } else {
                    number(x)
                }
            }
            Domain::Categorical { values } => values[category_index(u, values.len())].clone(),
        }
    }

    /// The member nearest to `u` on the unit interval (the lower one on a tie). The values are
    /// sorted and their positions grow with them, so a binary search finds it: an `integer`
    /// domain may hold a million members.
    fn nearest_discrete(&self, u: f64, values: &[f64]) -> usize {
        let scale = self.unit_scale(values[0], values[values.len() - 1]);
        let position = |i: usize| scale(values[i]);
        let above = values.partition_point(|v| scale(*v) < u);
        if above == 0 {
            return 0;
        }
        if above == values.len() {
            return values.len() - 1;
        }
        if (u - position(above - 1)).abs() <= (position(above) - u).abs() {
            above - 1
        } else {
            above
        }
    }

    /// The point of [0, 1] of the value `u` stands for: `encode(&decode(u))`, or `u` where that
    /// has none. Every candidate of a suggestion is snapped so; for a discrete domain the member
    /// found is placed directly, without a JSON value and a scan of the domain to find it again.
    pub fn snap(&self, u: f64) -> f64 {
        if let Domain::Discrete { values, integer } = &self.domain {
            let x = values[self.nearest_discrete(unit_or_middle(u), values)];
            // An integer domain's member goes through i64 in `decode`: the same number when it
            // is whole and within i64 (the config sees to both).
            if !*integer || (x as i64) as f64 == x {
                return self.unit_of_number(x, values[0], values[values.len() - 1]);
            }
        }
        self.encode(&self.decode(u)).unwrap_or(u)
    }

    /// The point of [0, 1] that stands for a value, or `None` when the value is not in the domain.
    pub fn encode(&self, value: &Value) -> Option<f64> {
        match &self.domain {
            Domain::Continuous { low, high } => {
                let x = value.as_f64()?;
                (x >= *low && x <= *high).then(|| self.unit_of_number(x, *low, *high))
            }
            Domain::Discrete { values, .. } => {
                let x = value.as_f64()?;
                values.iter().position(|v| *v == x)?;
                Some(self.unit_of_number(x, values[0], values[values.len() - 1]))
            }
            Domain::Categorical { values } => {
                let i = values.iter().position(|v| v == value)?;
                Some((i as f64 + 0.5) / values.len() as f64)
            }
        }
    }

    /// The unit points of this hyperparameter's grid with `n` points per hyperparameter: the
    /// bounds included; every category; min(n, len) discrete values spread over the domain.
    pub fn grid(&self, n: usize) -> Vec<f64> {
        let n = n.max(1);
        match &self.domain {
            Domain::Continuous { .. } => {
                if n == 1 {
                    vec![0.5]
                } else {
                    (0..n).map(|i| i as f64 / (n - 1) as f64).collect()
                }
            }
            Domain::Discrete { values, .. } => {
                let m = n.min(values.len());
                let indices: Vec<usize> = if m == 1 {
                    vec![(values.len() - 1) / 2]
                } else {
                    (0..m)
                        .map(|j| {
                            ((j * (values.len() - 1)) as f64 / (m - 1) as f64).round() as usize
                        })
                        .collect()
                };
                let (low, high) = (values[0], values[values.len() - 1]);
                indices
                    .into_iter()
                    .map(|i| self.unit_of_number(values[i], low, high))
                    .collect()
            }
            Domain::Categorical { values } => (0..values.len())
                .map(|i| (i as f64 + 0.5) / values.len() as f64)
                .collect(),
        }
    }

    /// The line search's base: the middle of the range, or the middle member of a list.
    pub fn middle(&self) -> f64 {
        match &self.domain {
            Domain::Continuous { .. } => 0.5,
            Domain::Discrete { values, .. } => {
                let (low, high) = (values[0], values[values.len() - 1]);
                self.unit_of_number(values[(values.len() - 1) / 2], low, high)
            }
            Domain::Categorical { values } => {
                let k = values.len();
                ((k - 1) / 2) as f64 / k as f64 + 0.5 / k as f64
            }
        }
    }

    pub fn is_log(&self) -> bool {
        self.transformation == Transformation::Log
            && !matches!(self.domain, Domain::Categorical { .. })
    }
}

/// `u` within [0, 1]; the middle for a point that is not a number.
fn unit_or_middle(u: f64) -> f64 {
    if u.is_finite() {
        u.clamp(0.0, 1.0)
    } else {
        0.5
    }
}

fn category_index(u: f64, k: usize) -> usize {
    ((u * k as f64).floor() as usize).min(k - 1)
}

/// A JSON number for a float; values that are whole stay floats (`1.0`) so the type is stable.
fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hyperparameter(domain: Domain, transformation: Transformation) -> Hyperparameter {
        Hyperparameter {
            name: "h".into(),
            domain,
            transformation,
        }
    }

    #[test]
    fn snap_places_a_point_where_decoding_and_encoding_it_again_would() {
        let domains = [
            hyperparameter(
                Domain::Discrete {
                    values: (1..=1000).map(f64::from).collect(),
                    integer: true,
                },
                Transformation::Log,
            ),
            hyperparameter(
                Domain::Discrete {
                    values: vec![-3.0, 0.0, 0.5, 2.0, 40.0],
                    integer: false,
                },
                Transformation::Linear,
            ),
            hyperparameter(
                Domain::Discrete {
                    values: vec![7.0],
                    integer: true,
                },
                Transformation::Linear,
            ),
            hyperparameter(
                Domain::Categorical {
                    values: vec![json!("a"), json!(2), json!(null)],
                },
                Transformation::Linear,
            ),
            hyperparameter(
                Domain::Continuous {
                    low: 1e-5,
                    high: 10.0,
                },
                Transformation::Log,
            ),
        ];
        let mut points: Vec<f64> = (0..=4000).map(|i| f64::from(i) / 4000.0).collect();
        points.extend([-0.5, 1.5, f64::NAN, f64::INFINITY, 1e-300, 1.0 - 1e-16]);
        for h in &domains {
            for u in &points {
                let expected = h.encode(&h.decode(*u)).unwrap_or(*u);
                assert_eq!(
                    h.snap(*u).to_bits(),
                    expected.to_bits(),
                    "{:?} at {u}",
                    h.domain
                );
            }
        }
    }
}
