//! Typed, checked access to the fields of a JSON object read from a config file.
//!
//! serde's derive gives messages about Rust types; these helpers give messages about the user's file:
//! which field, what was there, what is allowed. `Fields::finish` rejects every field nobody asked
//! for, with a suggestion when the name is close to a known one.

use super::error::ConfigError;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::path::Path;

/// Describes a JSON value as the user wrote it, short enough for a one-line message.
pub fn describe(value: &Value) -> String {
    let text = value.to_string();
    let text = if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    if matches!(value, Value::Null) {
        "null".to_string()
    } else {
        format!("{text} ({kind})")
    }
}

/// The fields of one JSON object, with the names already taken remembered.
pub struct Fields<'a> {
    file: &'a Path,
    prefix: String,
    map: &'a Map<String, Value>,
    taken: BTreeSet<String>,
}

impl<'a> Fields<'a> {
    pub fn new(file: &'a Path, prefix: &str, map: &'a Map<String, Value>) -> Self {
        Fields {
            file,
            prefix: prefix.to_string(),
            map,
            taken: BTreeSet::new(),
        }
    }

    pub fn file(&self) -> &'a Path {
        self.file
    }

    /// The dotted name of a field as the user sees it, e.g. `bopt_config.kernel`.
    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub fn error(
        &self,
        name: &str,
        found: impl Into<String>,
        allowed: impl Into<String>,
    ) -> ConfigError {
        ConfigError::field(self.file, self.path(name), found, allowed)
    }

    /// The raw value of a field, marking it as known.
    pub fn get(&mut self, name: &str) -> Option<&'a Value> {
        self.taken.insert(name.to_string());
        self.map.get(name)
    }

    pub fn require(&mut self, name: &str, allowed: &str) -> Result<&'a Value, ConfigError> {
        if let Some(value) = self.get(name) {
            return Ok(value);
        }
        // A misspelt required field is missing and unknown at once: name the likely typo.
        let typo = self
            .map
            .keys()
            .filter(|k| !self.taken.contains(*k))
            .find(|k| closest(k, &[name]).is_some());
        Err(match typo {
            Some(typo) => self.error(
                name,
                format!("nothing, but there is an unknown field `{typo}`"),
                format!("did you mean `{name}`? {allowed}"),
            ),
            None => self.error(name, "nothing (the field is missing)", allowed.to_string()),
        })
    }

    pub fn number(
        &mut self,
        name: &str,
        default: f64,
        allowed: &str,
        ok: impl Fn(f64) -> bool,
    ) -> Result<f64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => self.number_value(name, value, allowed, ok),
        }
    }

    pub fn number_value(
        &self,
        name: &str,
        value: &Value,
        allowed: &str,
        ok: impl Fn(f64) -> bool,
    ) -> Result<f64, ConfigError> {
        match value.as_f64() {
            Some(x) if x.is_finite() && ok(x) => Ok(x),
            _ => Err(self.error(name, describe(value), allowed)),
        }
    }

    /// A whole number within `range`; `allowed` should say what the range is and why.
    pub fn integer(
        &mut self,
        name: &str,
        default: u64,
        range: RangeInclusive<u64>,
        allowed: &str,
    ) -> Result<u64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => self.integer_value(name, value, range, allowed),
        }
    }

    pub fn integer_value(
        &self,
        name: &str,
        value: &Value,
        range: RangeInclusive<u64>,
        allowed: &str,
    ) -> Result<u64, ConfigError> {
        let whole = match value {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|x| x.fract() == 0.0 && *x >= 0.0 && *x < 9.0e15)
                    .map(|x| x as u64)
            }),
            _ => None,
        };
        match whole {
            Some(n) if range.contains(&n) => Ok(n),
            _ => Err(self.error(name, describe(value), allowed)),
        }
    }

    pub fn boolean(&mut self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.error(name, describe(other), "allowed: true or false")),
        }
    }

    pub fn string(&mut self, name: &str) -> Result<Option<&'a str>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(self.error(name, describe(other), "allowed: a string")),
        }
    }

    /// A string that must be one of `choices` (compared case-insensitively); returns the index.
    pub fn choice(&mut self, name: &str, choices: &[&str]) -> Result<Option<usize>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => self.choice_value(name, value, choices).map(Some),
        }
    }

    pub fn choice_value(
        &self,
        name: &str,
        value: &Value,
        choices: &[&str],
    ) -> Result<usize, ConfigError> {
        let allowed = format!("allowed: {}", quoted_list(choices));
        match value {
            Value::String(s) => choices
                .iter()
                .position(|c| c.eq_ignore_ascii_case(s.trim()))
                .ok_or_else(|| self.error(name, describe(value), allowed)),
            _ => Err(self.error(name, describe(value), allowed)),
        }
    }

    /// A string choice or a non-empty list of distinct choices (the seed's "str or list" fields).
    pub fn choice_list(
        &mut self,
        name: &str,
        choices: &[&str],
        default: &[usize],
    ) -> Result<Vec<usize>, ConfigError> {
        let allowed = format!(
            "allowed: one of {} or a non-empty list of them",
            quoted_list(choices)
        );
        match self.get(name) {
            None => Ok(default.to_vec()),
            Some(Value::String(_)) => {
                let value = &self.map[name];
                Ok(vec![self.choice_value(name, value, choices).map_err(
                    |_| self.error(name, describe(value), allowed.clone()),
                )?])
            }
            Some(Value::Array(items)) if !items.is_empty() => {
                let mut picked: Vec<usize> = Vec::new();
                for item in items {
                    let index = self.choice_value(name, item, choices).map_err(|_| {
                        self.error(
                            name,
                            format!("{} in the list", describe(item)),
                            allowed.clone(),
                        )
                    })?;
                    if picked.contains(&index) {
                        return Err(self.error(
                            name,
                            format!("{} twice in the list", describe(item)),
                            "each choice may appear once",
                        ));
                    }
                    picked.push(index);
                }
                Ok(picked)
            }
            Some(other) => Err(self.error(name, describe(other), allowed)),
        }
    }

    /// Rejects every field that no `get` asked for: a misspelt field must not be silently ignored.
    pub fn finish(self) -> Result<(), ConfigError> {
        for key in self.map.keys() {
            if !self.taken.contains(key) {
                let known: Vec<&str> = self.taken.iter().map(String::as_str).collect();
                let hint = match closest(key, &known) {
                    Some(near) => {
                        format!("did you mean `{near}`? known fields: {}", known.join(", "))
                    }
                    None => format!("known fields: {}", known.join(", ")),
                };
                return Err(ConfigError::field(
                    self.file,
                    self.path(key),
                    "an unknown field",
                    format!("remove it or fix its name; {hint}"),
                ));
            }
        }
        Ok(())
    }
}

pub fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The known name nearest to a misspelt one, if it is close enough to be a likely typo.
pub(crate) fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let name = name.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&name, &k.to_ascii_lowercase()), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// Reads a config file as a JSON object.
pub fn read_object(file: &Path) -> Result<Map<String, Value>, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse_object(file, &text)
}

pub fn parse_object(file: &Path, text: &str) -> Result<Map<String, Value>, ConfigError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::Syntax {
        file: file.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e
            .to_string()
            .split(" at line")
            .next()
            .unwrap_or_default()
            .to_string(),
    })?;
    if let Some(duplicate) = super::duplicates::first_duplicate(text) {
        return Err(ConfigError::field(
            file,
            duplicate.path,
            format!(
                "the field twice in one object (the second on line {})",
                duplicate.line
            ),
            "keep one of them: JSON readers silently keep only the last",
        ));
    }
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ConfigError::field(
            file,
            "(top level)",
            describe(&other),
            "the file must hold one JSON object: { \"field\": value, ... }",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_known_field_for_a_typo() {
        assert_eq!(
            closest("max_sugestions", &["max_suggestions", "search_type"]),
            Some("max_suggestions")
        );
        assert_eq!(
            closest("completely_else", &["max_suggestions", "search_type"]),
            None
        );
    }
}
