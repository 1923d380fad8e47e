//! The one error type for every problem found in a user's config file.
//!
//! Each message names the file, the field, what was found and what is allowed, on one line, so that
//! the user can fix the file without reading our code.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the file: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: not valid JSON (line {line}, column {column}): {message}")]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: field `{field}`: found {found}; {allowed}")]
    Field {
        file: PathBuf,
        field: String,
        found: String,
        allowed: String,
    },
}

impl ConfigError {
    pub fn field(
        file: &std::path::Path,
        field: impl Into<String>,
        found: impl Into<String>,
        allowed: impl Into<String>,
    ) -> Self {
        ConfigError::Field {
            file: file.to_path_buf(),
            field: one_line(&field.into()),
            found: one_line(&found.into()),
            allowed: one_line(&allowed.into()),
        }
    }
}

/// Text from a user's file (a field name may hold a line break) made fit for a one-line message:
/// control characters are written as escapes (`\n`, `\u{1b}`).
pub fn one_line(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
