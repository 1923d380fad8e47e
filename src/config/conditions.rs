//! A conditional space in model_config.json: a hyperparameter's `"condition"` (when it is
//! active) and the top-level `"forbidden"` list (combinations never suggested), read into a
//! `space::Tree` and checked: an unknown parent, a value outside the parent's domain, a cycle,
//! a malformed clause are one-line errors naming the field.

use super::error::ConfigError;
use super::fields::describe;
use crate::space::{same_value, Condition, Domain, Hyperparameter, Tree};
use serde_json::{Map, Value};
use std::path::Path;

/// The top-level key of the forbidden combinations.
pub const FORBIDDEN: &str = "forbidden";

const CONDITION_HINT: &str = "a condition is an object of parents: {\"optimizer\": [\"sgd\"]} for a categorical or discrete parent, {\"num_layers\": {\"min\": 3, \"max\": 8}} for a numeric one";

/// The tree of the hyperparameters (in the space's order; `specs` their spec objects by name)
/// and of the top-level `forbidden` value.
pub fn read_tree(
    file: &Path,
    hyperparameters: &[Hyperparameter],
    specs: &Map<String, Value>,
    forbidden: Option<&Value>,
) -> Result<Tree, ConfigError> {
    let index = |name: &str| hyperparameters.iter().position(|h| h.name == name);
    let mut tree = Tree::flat(hyperparameters.len());
    for (i, h) in hyperparameters.iter().enumerate() {
        let Some(condition) = specs
            .get(&h.name)
            .and_then(Value::as_object)
            .and_then(|spec| spec.get("condition"))
        else {
            continue;
        };
        let field = format!("{}.condition", h.name);
        let parents = match condition {
            Value::Object(parents) if !parents.is_empty() => parents,
            other => {
                return Err(ConfigError::field(
                    file,
                    &field,
                    describe(other),
                    CONDITION_HINT,
                ))
            }
        };
        for (parent_name, wanted) in parents {
            let field = format!("{field}.{parent_name}");
            let parent = index(parent_name).ok_or_else(|| {
                let known: Vec<&str> = hyperparameters.iter().map(|h| h.name.as_str()).collect();
                ConfigError::field(
                    file,
                    &field,
                    format!("an unknown parent `{parent_name}`"),
                    format!(
                        "a condition names hyperparameters of this file: {}",
                        known.join(", ")
                    ),
                )
            })?;
            if parent == i {
                return Err(ConfigError::field(
                    file,
                    &field,
                    "a condition on itself",
                    "a hyperparameter's condition names other hyperparameters (its parents)",
                ));
            }
            let condition = condition_on(file, &field, &hyperparameters[parent], wanted)?;
            tree.conditions[i].push((parent, condition));
        }
    }
    tree.order = parents_first(file, hyperparameters, &tree)?;
    if let Some(value) = forbidden {
        tree.forbidden = forbidden_clauses(file, hyperparameters, value)?;
    }
    Ok(tree)
}

/// What `wanted` asks of the parent's value, checked against the parent's domain.
fn condition_on(
    file: &Path,
    field: &str,
    parent: &Hyperparameter,
    wanted: &Value,
) -> Result<Condition, ConfigError> {
    match wanted {
        Value::Array(values) if !values.is_empty() => {
            if let Domain::Continuous { low, high } = parent.domain {
                return Err(ConfigError::field(
                    file,
                    field,
                    describe(wanted),
                    format!(
                        "`{}` is continuous: name a range, e.g. {{\"min\": {low}, \"max\": {high}}}",
                        parent.name
                    ),
                ));
            }
            for value in values {
                if !in_domain(parent, value) {
                    return Err(ConfigError::field(
                        file,
                        field,
                        format!("{}, not a value of `{}`", describe(value), parent.name),
                        format!("allowed: values of its domain, {}", domain_text(parent)),
                    ));
                }
            }
            Ok(Condition::OneOf(values.clone()))
        }
        Value::Object(range) => {
            if matches!(parent.domain, Domain::Categorical { .. }) {
                return Err(ConfigError::field(
                    file,
                    field,
                    describe(wanted),
                    format!(
                        "`{}` is categorical: list the values, e.g. [{}]",
                        parent.name,
                        domain_text(parent).trim_matches(['[', ']'])
                    ),
                ));
            }
            let bound = |key: &str| -> Result<f64, ConfigError> {
                range
                    .get(key)
                    .and_then(Value::as_f64)
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| {
                        ConfigError::field(
                            file,
                            format!("{field}.{key}"),
                            range.get(key).map_or("nothing".into(), describe),
                            "a range needs \"min\" and \"max\", finite numbers",
                        )
                    })
            };
            let (min, max) = (bound("min")?, bound("max")?);
            if let Some(extra) = range.keys().find(|k| *k != "min" && *k != "max") {
                return Err(ConfigError::field(
                    file,
                    format!("{field}.{extra}"),
                    "an unknown field",
                    "a range has \"min\" and \"max\" only",
                ));
            }
            let (low, high) = numeric_bounds(parent);
            if min > max || max < low || min > high {
                return Err(ConfigError::field(
                    file,
                    field,
                    format!("the range [{min}, {max}]"),
                    format!(
                        "min ≤ max, overlapping the domain of `{}`, {}",
                        parent.name,
                        domain_text(parent)
                    ),
                ));
            }
            Ok(Condition::Within { min, max })
        }
        other => Err(ConfigError::field(
            file,
            field,
            describe(other),
            CONDITION_HINT,
        )),
    }
}

fn in_domain(h: &Hyperparameter, value: &Value) -> bool {
    match &h.domain {
        Domain::Categorical { values } => values.iter().any(|v| same_value(v, value)),
        Domain::Discrete { values, .. } => value.as_f64().is_some_and(|x| values.contains(&x)),
        Domain::Continuous { low, high } => value.as_f64().is_some_and(|x| *low <= x && x <= *high),
    }
}

fn numeric_bounds(h: &Hyperparameter) -> (f64, f64) {
    match &h.domain {
        Domain::Continuous { low, high } => (*low, *high),
        Domain::Discrete { values, .. } => (
            values.first().copied().unwrap_or(f64::NAN),
            values.last().copied().unwrap_or(f64::NAN),
        ),
        Domain::Categorical { .. } => (f64::NAN, f64::NAN),
    }
}

fn domain_text(h: &Hyperparameter) -> String {
    match &h.domain {
        Domain::Categorical { values } => Value::Array(values.clone()).to_string(),
        Domain::Discrete { values, .. } if values.len() <= 12 => format!(
            "[{}]",
            values
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => {
            let (low, high) = numeric_bounds(h);
            format!("{low} to {high}")
        }
    }
}

/// The hyperparameters, each parent before its children; a cycle is an error naming it.
fn parents_first(
    file: &Path,
    hyperparameters: &[Hyperparameter],
    tree: &Tree,
) -> Result<Vec<usize>, ConfigError> {
    let n = hyperparameters.len();
    let mut placed = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        // The first (in the file's order) whose parents are all placed: a stable order.
        let next =
            (0..n).find(|&i| !placed[i] && tree.conditions[i].iter().all(|(p, _)| placed[*p]));
        let Some(i) = next else {
            let start = (0..n).find(|&i| !placed[i]).unwrap_or(0);
            let cycle = cycle_from(start, tree, &placed);
            let names: Vec<&str> = cycle
                .iter()
                .map(|i| hyperparameters[*i].name.as_str())
                .collect();
            return Err(ConfigError::field(
                file,
                format!("{}.condition", names[0]),
                format!("a cycle of conditions: {} → {}", names.join(" → "), names[0]),
                "conditions form a tree: a hyperparameter cannot depend, through its parents, on itself",
            ));
        };
        placed[i] = true;
        order.push(i);
    }
    Ok(order)
}

/// A cycle among the unplaced hyperparameters, found by following parents from `start`.
fn cycle_from(start: usize, tree: &Tree, placed: &[bool]) -> Vec<usize> {
    let mut path = vec![start];
    let mut at = start;
    loop {
        let Some((parent, _)) = tree.conditions[at].iter().find(|(p, _)| !placed[*p]) else {
            return path;
        };
        if let Some(k) = path.iter().position(|i| i == parent) {
            // Child → parent: the order a reader follows the conditions in.
            return path.split_off(k);
        }
        path.push(*parent);
        at = *parent;
    }
}

/// The top-level `forbidden`: a list of objects, each naming categorical or discrete
/// hyperparameters and a value of each.
fn forbidden_clauses(
    file: &Path,
    hyperparameters: &[Hyperparameter],
    value: &Value,
) -> Result<Vec<Vec<(usize, Value)>>, ConfigError> {
    const HINT: &str = "a list of combinations never to suggest, e.g. [{\"solver\": \"liblinear\", \"penalty\": \"elasticnet\"}]";
    let Value::Array(items) = value else {
        return Err(ConfigError::field(file, FORBIDDEN, describe(value), HINT));
    };
    let mut clauses = Vec::new();
    for (k, item) in items.iter().enumerate() {
        let field = format!("{FORBIDDEN}[{k}]");
        let clause = match item {
            Value::Object(clause) if !clause.is_empty() => clause,
            other => return Err(ConfigError::field(file, &field, describe(other), HINT)),
        };
        let mut parsed = Vec::new();
        for (name, wanted) in clause {
            let field = format!("{field}.{name}");
            let Some(i) = hyperparameters.iter().position(|h| &h.name == name) else {
                return Err(ConfigError::field(
                    file,
                    &field,
                    format!("an unknown hyperparameter `{name}`"),
                    "a forbidden combination names hyperparameters of this file",
                ));
            };
            let h = &hyperparameters[i];
            if matches!(h.domain, Domain::Continuous { .. }) {
                return Err(ConfigError::field(
                    file,
                    &field,
                    format!("`{name}`, a continuous hyperparameter"),
                    "a forbidden combination names categorical or discrete hyperparameters (a single value of a continuous one is never drawn exactly)",
                ));
            }
            if !in_domain(h, wanted) {
                return Err(ConfigError::field(
                    file,
                    &field,
                    format!("{}, not a value of `{name}`", describe(wanted)),
                    format!("allowed: values of its domain, {}", domain_text(h)),
                ));
            }
            parsed.push((i, wanted.clone()));
        }
        clauses.push(parsed);
    }
    Ok(clauses)
}

#[cfg(test)]
mod tests {
    use crate::config::ModelConfig;
    use serde_json::{json, Value};
    use std::path::Path;

    fn read(config: Value) -> Result<ModelConfig, String> {
        let Value::Object(map) = config else {
            panic!("an object")
        };
        ModelConfig::from_map(Path::new("model_config.json"), map).map_err(|e| e.to_string())
    }

    fn error(config: Value) -> String {
        let message = read(config).expect_err("refused");
        assert!(!message.contains('\n'), "{message}");
        message
    }

    fn tree() -> Value {
        json!({
            "optimizer": {"type": "categorical", "domain": ["sgd", "adam"]},
            "momentum": {"type": "continuous", "domain": [0, 0.99], "condition": {"optimizer": ["sgd"]}},
            "beta1": {"type": "continuous", "domain": [0.8, 0.999], "condition": {"optimizer": ["adam"]}},
            "num_layers": {"type": "integer", "domain": [1, 3]},
            "units_3": {"type": "discrete", "domain": [16, 32, 64],
                        "condition": {"num_layers": {"min": 3, "max": 3}}},
            "dropout_3": {"type": "continuous", "domain": [0, 0.5], "condition": {"units_3": [64]}},
            "epochs": 5,
            "forbidden": [{"optimizer": "adam", "num_layers": 1}]
        })
    }

    #[test]
    fn a_tree_decodes_only_its_active_hyperparameters_and_forbids_what_it_lists() {
        let model = read(tree()).unwrap();
        let space = &model.space;
        assert!(space.is_conditional());
        assert!(
            !model.variables.contains_key("forbidden"),
            "not a variable of the script"
        );
        // sgd, 3 layers of 64 units: momentum, units_3 and dropout_3 are active.
        let point = [0.2, 0.3, 0.9, 0.9, 0.9, 0.1];
        let values = space.decode(&point);
        let names: Vec<&str> = values.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "optimizer",
                "momentum",
                "num_layers",
                "units_3",
                "dropout_3"
            ]
        );
        // adam, 2 layers: beta1 only, nested children off with their parent.
        let point = [0.8, 0.3, 0.9, 0.5, 0.9, 0.1];
        let values = space.decode(&point);
        let names: Vec<&str> = values.keys().map(String::as_str).collect();
        assert_eq!(names, ["optimizer", "beta1", "num_layers"]);
        assert_eq!(
            space.deactivate(&point),
            [0.8, 0.5, 0.9, 0.5, 0.5, 0.5],
            "inactive ones at one value"
        );
        // Two points that differ only where it does not matter are one combination.
        assert_eq!(
            space.combination_key(&point),
            space.combination_key(&[0.8, 0.01, 0.9, 0.5, 0.2, 0.7])
        );
        // The input.json of a combination: its active values and the fixed ones.
        let input = model.input_values(&values);
        let keys: Vec<&str> = input.keys().map(String::as_str).collect();
        assert_eq!(keys, ["optimizer", "beta1", "num_layers", "epochs"]);
        // encode takes a combination without its inactive values, and refuses one that lacks
        // an active value.
        assert_eq!(space.encode(&values).unwrap(), space.canonical(&point));
        let mut missing = values.clone();
        missing.remove("beta1");
        assert_eq!(space.encode(&missing), None);
        // adam with one layer is forbidden; adam with two is not.
        assert!(space.is_forbidden(&[0.8, 0.5, 0.9, 0.1, 0.5, 0.5]));
        assert!(!space.is_forbidden(&point));
    }

    #[test]
    fn malformed_conditions_are_one_line_errors_naming_the_field() {
        let with = |name: &str, condition: Value| {
            let mut config = tree();
            config[name]["condition"] = condition;
            error(config)
        };
        let cases = [
            (
                with("momentum", json!({"optimiser": ["sgd"]})),
                "field `momentum.condition.optimiser`",
                "unknown parent `optimiser`",
            ),
            (
                with("momentum", json!({"optimizer": ["rmsprop"]})),
                "field `momentum.condition.optimizer`",
                "rmsprop\" (a string), not a value of `optimizer`",
            ),
            (
                with("momentum", json!({"momentum": [0.5]})),
                "field `momentum.condition.momentum`",
                "a condition on itself",
            ),
            (
                with("momentum", json!({})),
                "field `momentum.condition`",
                "a condition is an object of parents",
            ),
            (
                with("momentum", json!(["sgd"])),
                "field `momentum.condition`",
                "a condition is an object of parents",
            ),
            (
                with("momentum", json!({"optimizer": {"min": 0, "max": 1}})),
                "field `momentum.condition.optimizer`",
                "`optimizer` is categorical: list the values",
            ),
            (
                with("beta1", json!({"momentum": [0.5]})),
                "field `beta1.condition.momentum`",
                "`momentum` is continuous: name a range",
            ),
            (
                with("units_3", json!({"num_layers": [4]})),
                "field `units_3.condition.num_layers`",
                "not a value of `num_layers`",
            ),
            (
                with("units_3", json!({"num_layers": {"min": 3}})),
                "field `units_3.condition.num_layers.max`",
                "a range needs \"min\" and \"max\"",
            ),
            (
                with("units_3", json!({"num_layers": {"min": 3, "max": 2}})),
                "field `units_3.condition.num_layers`",
                "min ≤ max",
            ),
            (
                with("units_3", json!({"num_layers": {"min": 5, "max": 9}})),
                "field `units_3.condition.num_layers`",
                "overlapping the domain",
            ),
            (
                with(
                    "units_3",
                    json!({"num_layers": {"min": 3, "max": 3, "step": 1}}),
                ),
                "field `units_3.condition.num_layers.step`",
                "min\" and \"max\" only",
            ),
            (
                with("units_3", json!({"dropout_3": {"min": 0.1, "max": 0.2}})),
                "field `units_3.condition`",
                "a cycle of conditions: units_3 → dropout_3 → units_3",
            ),
        ];
        for (message, field, what) in cases {
            assert!(
                message.starts_with("model_config.json: field `") && message.contains(field),
                "{field}: {message}"
            );
            assert!(message.contains(what), "{what}: {message}");
        }
    }

    #[test]
    fn malformed_forbidden_lists_are_one_line_errors_naming_the_field() {
        let with = |forbidden: Value| {
            let mut config = tree();
            config["forbidden"] = forbidden;
            error(config)
        };
        let cases = [
            (
                with(json!({"optimizer": "adam"})),
                "field `forbidden`",
                "a list of combinations",
            ),
            (
                with(json!([{}])),
                "field `forbidden[0]`",
                "a list of combinations",
            ),
            (
                with(json!([{"optimizer": "adam"}, 3])),
                "field `forbidden[1]`",
                "a list of combinations",
            ),
            (
                with(json!([{"optimiser": "adam"}])),
                "field `forbidden[0].optimiser`",
                "unknown hyperparameter",
            ),
            (
                with(json!([{"optimizer": "rmsprop"}])),
                "field `forbidden[0].optimizer`",
                "not a value of `optimizer`",
            ),
            (
                with(json!([{"momentum": 0.5}])),
                "field `forbidden[0].momentum`",
                "continuous",
            ),
        ];
        for (message, field, what) in cases {
            assert!(message.contains(field), "{field}: {message}");
            assert!(message.contains(what), "{what}: {message}");
        }
    }
}
