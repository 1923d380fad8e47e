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
    /// A discrete domain's members placed on [0, 1], computed on first use.
    positions: MemberPositions,
}

/// The unit points of a discrete domain's members, in order: every candidate of a suggestion is
/// snapped to its nearest member, and without them each step of that binary search took a
/// log10 of a member (a quarter of a suggestion's time on a space of log-scaled integers).
/// Kept only for domains up to `MAX_CACHED_MEMBERS` (a million-member domain is searched as
/// before). A cache: equal hyperparameters are equal whether or not it has been filled.
#[derive(Debug, Clone, Default)]
struct MemberPositions(std::sync::OnceLock<Vec<f64>>);

impl PartialEq for MemberPositions {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Most members of a discrete domain whose unit points are kept (512 KiB).
const MAX_CACHED_MEMBERS: usize = 1 << 16;

impl Hyperparameter {
    pub fn new(name: impl Into<String>, domain: Domain, transformation: Transformation) -> Self {
        Hyperparameter {
            name: name.into(),
            domain,
            transformation,
            positions: MemberPositions::default(),
        }
    }

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
        match self.member_positions(values) {
            Some(positions) => nearest_around(
                u,
                positions.partition_point(|p| *p < u),
                positions.len(),
                |i| positions[i],
            ),
            None => {
                let scale = self.unit_scale(values[0], values[values.len() - 1]);
                let above = values.partition_point(|v| scale(*v) < u);
                nearest_around(u, above, values.len(), |i| scale(values[i]))
            }
        }
    }

    /// The unit points of a discrete domain's members (`MemberPositions`), or `None` for a
    /// domain too large to keep them.
    fn member_positions(&self, values: &[f64]) -> Option<&[f64]> {
        if values.len() > MAX_CACHED_MEMBERS {
            return None;
        }
        let positions = self.positions.0.get_or_init(|| {
            let scale = self.unit_scale(values[0], values[values.len() - 1]);
            values.iter().map(|v| scale(*v)).collect()
        });
        Some(positions)
    }

    /// The point of [0, 1] of the value `u` stands for: `encode(&decode(u))`, or `u` where that
    /// has none. Every candidate of a suggestion is snapped so; for a discrete domain the member
    /// found is placed directly, without a JSON value and a scan of the domain to find it again.
    pub fn snap(&self, u: f64) -> f64 {
        if let Domain::Discrete { values, integer } = &self.domain {
            let member = self.nearest_discrete(unit_or_middle(u), values);
            let x = values[member];
            // An integer domain's member goes through i64 in `decode`: the same number when it
            // is whole and within i64 (the config sees to both).
            if !*integer || (x as i64) as f64 == x {
                return match self.member_positions(values) {
                    Some(positions) => positions[member],
                    None => self.unit_of_number(x, values[0], values[values.len() - 1]),
                };
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

/// The index among `count` sorted, increasing unit points (`position(i)`) nearest to `u`, the
/// lower one on a tie, given `above`: the first at or above `u`.
fn nearest_around(u: f64, above: usize, count: usize, position: impl Fn(usize) -> f64) -> usize {
    if above == 0 {
        return 0;
    }
    if above == count {
        return count - 1;
    }
    if (u - position(above - 1)).abs() <= (position(above) - u).abs() {
        above - 1
    } else {
        above
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
        Hyperparameter::new("h", domain, transformation)
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

    /// The member a point stands for is the nearest on the unit interval, the lower one on a
    /// tie, whether the members' unit points are kept (`MemberPositions`) or, for a domain
    /// beyond `MAX_CACHED_MEMBERS`, computed at each step of the search.
    #[test]
    fn a_point_stands_for_its_nearest_member_with_the_positions_kept_or_not() {
        let kept = hyperparameter(
            Domain::Discrete {
                values: (1..=1000).map(f64::from).collect(),
                integer: true,
            },
            Transformation::Log,
        );
        let beyond = hyperparameter(
            Domain::Discrete {
                values: (1..=(MAX_CACHED_MEMBERS as i32 + 5))
                    .map(f64::from)
                    .collect(),
                integer: true,
            },
            Transformation::Log,
        );
        for h in [&kept, &beyond] {
            let Domain::Discrete { values, .. } = &h.domain else {
                unreachable!()
            };
            let units: Vec<f64> = values
                .iter()
                .map(|v| h.encode(&json!(*v as i64)).unwrap())
                .collect();
            // Points between members, on members, and halfway between two.
            let mut points: Vec<f64> = (0..=997).map(|i| f64::from(i) / 997.0).collect();
            points.extend(units.iter().take(50).copied());
            points.extend(units.windows(2).take(50).map(|w| (w[0] + w[1]) / 2.0));
            for u in points {
                let nearest = (0..units.len())
                    .min_by(|a, b| {
                        (units[*a] - u)
                            .abs()
                            .partial_cmp(&(units[*b] - u).abs())
                            .unwrap()
                            .then(a.cmp(b))
                    })
                    .unwrap();
                assert_eq!(h.decode(u), json!(values[nearest] as i64), "at {u}");
                assert_eq!(h.snap(u).to_bits(), units[nearest].to_bits(), "at {u}");
            }
        }
    }
}
