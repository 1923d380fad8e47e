//! `model_config.json`: the analysis's variables; the objects among them are hyperparameters.
//!
//! A top-level value is a hyperparameter when it is an object whose `type` is one of
//! `continuous`, `discrete`, `categorical`, or an object that has both `type` and `domain`
//! (then a wrong `type` is reported instead of silently treated as a fixed value). Every other value
//! is passed to the script unchanged.

use super::error::ConfigError;
use super::fields::{describe, Fields};
use crate::space::{Domain, Hyperparameter, Space, Transformation};
use serde_json::{Map, Value};
use std::path::Path;

/// The variable hpsearch sets itself in every input.json.
pub const SAVE_FOLDER: &str = "save_folder";

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Every variable in the user's order; hyperparameters keep their spec object here.
    pub variables: Map<String, Value>,
    pub space: Space,
    /// What the report needs to know of each hyperparameter, in the space's order.
    pub notes: Vec<HyperparameterNotes>,
    /// Things that are allowed but probably not meant (a two-value discrete domain that looks
    /// like a range): shown when a search starts and written to its log.
    pub warnings: Vec<String>,
}

/// Which end of a hyperparameter's domain gives the simpler model (`"simpler"` in its spec):
/// `lower`/`higher` values of a number, the `first`/`last` listed of a categorical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Simpler {
    Lower,
    Higher,
}

/// A hyperparameter's optional annotations: `"unit"` (axis labels) and `"simpler"`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HyperparameterNotes {
    pub unit: Option<String>,
    pub simpler: Option<Simpler>,
}

/// The largest integer magnitude below which every integer is an exact f64: 2^53.
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// Whether a JSON number written as an integer survives the f64 encoding unchanged (all of them
/// up to 2^53; beyond it, 2^53 + 1 would silently become 2^53). Numbers with a fraction or an
/// exponent are floats and pass.
fn integer_is_exact(n: &serde_json::Number) -> bool {
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => u <= MAX_EXACT_INTEGER,
        (None, Some(i)) => i.unsigned_abs() <= MAX_EXACT_INTEGER,
        (None, None) => true,
    }
}

const KINDS: [&str; 4] = ["continuous", "discrete", "categorical", "integer"];

/// The most values an `integer` domain may hold: every one is a member the search can pick.
const MAX_INTEGER_VALUES: u64 = 1_000_000;

impl ModelConfig {
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let map = super::fields::read_object(file)?;
        Self::from_map(file, map)
    }

    pub fn from_map(file: &Path, mut variables: Map<String, Value>) -> Result<Self, ConfigError> {
        // The forbidden combinations are the search's, not a variable of the script.
        let forbidden = variables.remove(super::conditions::FORBIDDEN);
        let mut hyperparameters = Vec::new();
        let mut notes = Vec::new();
        let mut warnings = Vec::new();
        for (name, value) in &variables {
            if let Value::Object(spec) = value {
                if !spec.contains_key("type") && spec.contains_key("domain") {
                    return Err(ConfigError::field(
                        file,
                        format!("{name}.type"),
                        "nothing (the object has a \"domain\" but no \"type\")",
                        "add \"type\": \"continuous\", \"discrete\" or \"categorical\" to make it a hyperparameter; a fixed value needs no \"domain\"",
                    ));
                }
                if is_hyperparameter(spec) {
                    let (hyperparameter, note) = parse_hyperparameter(file, name, spec)?;
                    if spec
                        .get("type")
                        .and_then(Value::as_str)
                        .map(str::trim)
                        .is_some_and(|t| t.eq_ignore_ascii_case("discrete"))
                    {
                        warnings.extend(looks_like_a_range(file, name, &hyperparameter));
                    }
                    hyperparameters.push(hyperparameter);
                    notes.push(note);
                }
            }
        }
        if let Some(Value::Object(spec)) = variables.get(SAVE_FOLDER) {
            if is_hyperparameter(spec) {
                return Err(ConfigError::field(
                    file,
                    SAVE_FOLDER,
                    "a hyperparameter",
                    "save_folder is set by hpsearch for every run; rename your variable",
                ));
            }
        }
        if hyperparameters.is_empty() {
            return Err(ConfigError::field(
                file,
                "(top level)",
                "no hyperparameter",
                "mark at least one variable as a hyperparameter, e.g. \"lr\": {\"type\": \"continuous\", \"domain\": [1e-5, 1e-1], \"transformation\": \"log\"}",
            ));
        }
        let tree =
            super::conditions::read_tree(file, &hyperparameters, &variables, forbidden.as_ref())?;
        Ok(ModelConfig {
            variables,
            space: Space::with_tree(hyperparameters, tree),
            notes,
            warnings,
        })
    }
}

impl ModelConfig {
    /// What a run's input.json holds of the model config for a combination's values: every
    /// fixed variable, and the value of each active hyperparameter (an inactive one is left
    /// out), in the file's order; `save_folder` is the caller's.
    pub fn input_values(&self, params: &Map<String, Value>) -> Map<String, Value> {
        self.variables
            .iter()
            .filter(|(name, _)| name.as_str() != SAVE_FOLDER)
            .filter_map(|(name, value)| {
                if self.space.names().any(|h| h == name) {
                    params.get(name).map(|v| (name.clone(), v.clone()))
                } else {
                    Some((name.clone(), value.clone()))
                }
            })
            .collect()
    }
}

/// `"domain": [1, 8]` of a discrete hyperparameter means the two values 1 and 8, which is
/// rarely what a user who writes two integers far apart means.
fn looks_like_a_range(file: &Path, name: &str, h: &Hyperparameter) -> Option<String> {
    match &h.domain {
        Domain::Discrete {
            values,
            integer: true,
        } if values.len() == 2 && values[1] - values[0] > 1.0 => {
            Some(format!(
                "{}: `{}`: a discrete domain [{}, {}] means the two values {} and {} only; for every whole number from {} to {} write \"type\": \"integer\"",
                file.display(),
                super::error::one_line(name),
                values[0], values[1], values[0], values[1], values[0], values[1]
            ))
        }
        _ => None,
    }
}

fn is_hyperparameter(spec: &Map<String, Value>) -> bool {
    let named_kind = matches!(spec.get("type"), Some(Value::String(t)) if KINDS.iter().any(|k| k.eq_ignore_ascii_case(t.trim())));
    named_kind || (spec.contains_key("type") && spec.contains_key("domain"))
}

fn parse_hyperparameter(
    file: &Path,
    name: &str,
    spec: &Map<String, Value>,
) -> Result<(Hyperparameter, HyperparameterNotes), ConfigError> {
    let mut f = Fields::new(file, name, spec);
    let unit = f.string("unit")?.map(str::to_string);
    // Read with every hyperparameter known (`conditions::read_tree`).
    let _ = f.get("condition");
    let kind = f.choice("type", &KINDS)?.ok_or_else(|| {
        f.error(
            "type",
            "nothing",
            "required: \"continuous\", \"discrete\", \"integer\" or \"categorical\"",
        )
    })?;
    let transformation_value = f.get("transformation");
    let transformation = match (kind, transformation_value) {
        // The seed: transformation is ignored for categorical variables.
        (2, _) | (_, None) => Transformation::Linear,
        (_, Some(value)) => {
            match f.choice_value("transformation", value, &["linear", "log", "none"])? {
                1 => Transformation::Log,
                _ => Transformation::Linear,
            }
        }
    };
    let domain_value = f.require("domain", domain_hint(kind))?;
    let items = match domain_value {
        Value::Array(items) if !items.is_empty() => items,
        Value::Array(_) => return Err(f.error("domain", "[] (an empty list)", domain_hint(kind))),
        other => return Err(f.error("domain", describe(other), domain_hint(kind))),
    };
    let domain = match kind {
        0 => {
            if items.len() != 2 {
                return Err(f.error("domain", describe(domain_value), domain_hint(kind)));
            }
            let bound = |i: usize| {
                items[i].as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
                    f.error(
                        "domain",
                        format!("{} as a bound", describe(&items[i])),
                        "bounds must be finite numbers: [lower, upper]",
                    )
                })
            };
            let (low, high) = (bound(0)?, bound(1)?);
            if !(high - low).is_finite() {
                return Err(f.error(
                    "domain",
                    describe(domain_value),
                    "the range is too wide to compute with; keep the bounds within about ±1e307",
                ));
            }
            if low >= high {
                return Err(f.error(
                    "domain",
                    describe(domain_value),
                    "the lower bound must be below the upper bound; for a fixed value write the value itself instead of a hyperparameter",
                ));
            }
            if transformation == Transformation::Log && low <= 0.0 {
                return Err(f.error(
                    "domain",
                    format!("{} with \"transformation\": \"log\"", describe(domain_value)),
                    "a log transformation needs a domain above 0; raise the lower bound or use \"linear\"",
                ));
            }
            Domain::Continuous { low, high }
        }
        1 => {
            let mut values = Vec::with_capacity(items.len());
            let mut integer = true;
            for item in items {
                match item {
                    Value::Number(n) if !integer_is_exact(n) => {
                        return Err(f.error(
                            "domain",
                            format!("{} in the list", describe(item)),
                            "integers must lie within ±2^53 (9007199254740992) to be represented exactly",
                        ))
                    }
                    Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => {
                        integer &= n.is_i64() || n.is_u64();
                        values.push(n.as_f64().unwrap_or_default());
                    }
                    other => {
                        return Err(f.error(
                            "domain",
                            format!("{} in the list", describe(other)),
                            "a discrete domain holds numbers only; use \"categorical\" for names or mixed values",
                        ))
                    }
                }
            }
            values.sort_by(f64::total_cmp);
            if !(values[values.len() - 1] - values[0]).is_finite() {
                return Err(f.error(
                    "domain",
                    describe(domain_value),
                    "the range is too wide to compute with; keep the values within about ±1e307",
                ));
            }
            if values.windows(2).any(|w| w[0] == w[1]) {
                return Err(f.error(
                    "domain",
                    describe(domain_value),
                    "each value may appear once",
                ));
            }
            if transformation == Transformation::Log && values[0] <= 0.0 {
                return Err(f.error(
                    "domain",
                    format!("{} with \"transformation\": \"log\"", describe(domain_value)),
                    "a log transformation needs every value above 0; drop the non-positive values or use \"linear\"",
                ));
            }
            Domain::Discrete { values, integer }
        }
        3 => {
            let step = f.get("step");
            integer_domain(&f, domain_value, items, transformation, step)?
        }
        _ => {
            for (i, a) in items.iter().enumerate() {
                if items[..i].contains(a) {
                    return Err(f.error(
                        "domain",
                        format!("{} twice", describe(a)),
                        "each category may appear once",
                    ));
                }
            }
            Domain::Categorical {
                values: items.clone(),
            }
        }
    };
    let simpler = if kind == 2 {
        f.choice("simpler", &["first", "last"])?
    } else {
        f.choice("simpler", &["lower", "higher"])?
    }
    .map(|i| {
        if i == 0 {
            Simpler::Lower
        } else {
            Simpler::Higher
        }
    });
    f.finish()?;
    let hyperparameter = Hyperparameter::new(name, domain, transformation);
    Ok((hyperparameter, HyperparameterNotes { unit, simpler }))
}

/// `"type": "integer"`: every whole number from `lo` to `hi` (both included), or every `step`-th
/// one from `lo`; held as the discrete domain of those numbers, so that every strategy treats it
/// as it treats a list of integers.
fn integer_domain(
    f: &Fields,
    domain_value: &Value,
    items: &[Value],
    transformation: Transformation,
    step: Option<&Value>,
) -> Result<Domain, ConfigError> {
    let bound = |i: usize| -> Result<i64, ConfigError> {
        match &items[i] {
            Value::Number(n) if integer_is_exact(n) => n.as_i64().ok_or(()),
            _ => Err(()),
        }
        .map_err(|_| {
            f.error(
                "domain",
                format!("{} as a bound", describe(&items[i])),
                "an integer domain is [lower, upper] of whole numbers within ±2^53, both included",
            )
        })
    };
    if items.len() != 2 {
        return Err(f.error("domain", describe(domain_value), domain_hint(3)));
    }
    let (low, high) = (bound(0)?, bound(1)?);
    if low >= high {
        return Err(f.error(
            "domain",
            describe(domain_value),
            "the lower bound must be below the upper bound; for a fixed value write the value itself",
        ));
    }
    if transformation == Transformation::Log && low <= 0 {
        return Err(f.error(
            "domain",
            format!(
                "{} with \"transformation\": \"log\"",
                describe(domain_value)
            ),
            "a log transformation needs a domain above 0; raise the lower bound or use \"linear\"",
        ));
    }
    let step = match step {
        None => 1,
        Some(value) => f.integer_value(
            "step",
            value,
            1..=MAX_INTEGER_VALUES.pow(2),
            "allowed: a whole number >= 1 (the domain holds lower, lower + step, ... up to upper)",
        )?,
    };
    // The bounds are within ±2^53, so the span fits an i64 and a u64.
    let span = high.abs_diff(low);
    let count = span / step + 1;
    if count > MAX_INTEGER_VALUES {
        return Err(f.error(
            "domain",
            format!("{} with step {step}: {count} values", describe(domain_value)),
            "an integer domain holds at most 1000000 values; give a larger \"step\", or use \"continuous\" and round in your script",
        ));
    }
    // k * step <= span < 2^54: the sums stay exact.
    let values = (0..count)
        .map(|k| low.saturating_add_unsigned(k * step) as f64)
        .collect();
    Ok(Domain::Discrete {
        values,
        integer: true,
    })
}

fn domain_hint(kind: usize) -> &'static str {
    match kind {
        0 => "a continuous domain is [lower, upper] with lower < upper",
        1 => "a discrete domain is a non-empty list of numbers, e.g. [1, 2, 4, 8]",
        3 => "an integer domain is [lower, upper] of whole numbers, both included, e.g. [1, 64]",
        _ => "a categorical domain is a non-empty list of values, e.g. [\"relu\", \"tanh\"]",
    }
}
