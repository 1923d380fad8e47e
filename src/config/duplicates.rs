//! Finds a key written twice in one JSON object.
//!
//! serde_json keeps the last of two equal keys without a word, so a duplicated hyperparameter
//! name would silently change its type or domain. This walks the text once more, before the
//! config is read, and names the first key that appears twice with its dotted path and line.

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

/// The first duplicated key: its dotted path (`bopt_config.kernel`, `lr`) and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    pub path: String,
    pub line: usize,
}

/// The first key that appears twice in one object of `text`, if any. Text that is not valid
/// JSON has no duplicates here: the ordinary parse reports its syntax error.
pub fn first_duplicate(text: &str) -> Option<DuplicateKey> {
    let found = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    // Nesting deeper than serde_json's recursion limit is a syntax error reported elsewhere.
    let result = Walk {
        path: String::new(),
        found: &found,
    }
    .deserialize(&mut deserializer);
    match result {
        Ok(()) => None,
        Err(error) => found.into_inner().map(|path| DuplicateKey {
            path,
            line: error.line(),
        }),
    }
}

/// Visits one JSON value at `path`, recording the first duplicated key in `found`.
struct Walk<'f> {
    path: String,
    found: &'f RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        while seq
            .next_element_seed(Walk {
                path: format!("{}[{index}]", self.path),
                found: self.found,
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key) {
                *self.found.borrow_mut() = Some(path);
                return Err(A::Error::custom("duplicate key"));
            }
            map.next_value_seed(Walk {
                path,
                found: self.found,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_nested_duplicate_with_its_line() {
        let text = "{\n \"a\": 1,\n \"b\": {\"k\": 1,\n  \"k\": 2}\n}";
        assert_eq!(
            first_duplicate(text),
            Some(DuplicateKey {
                path: "b.k".into(),
                line: 4
            })
        );
    }

    #[test]
    fn equal_keys_in_different_objects_are_fine() {
        assert_eq!(
            first_duplicate(r#"{"a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 1}, {"x": 2}]}"#),
            None
        );
        assert_eq!(first_duplicate("{not json"), None);
    }
}
