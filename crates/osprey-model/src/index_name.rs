//! Index names, validated with Elasticsearch's rules so that a name accepted by Osprey is one
//! Elasticsearch would accept too, and no name can escape the data directory.

use std::fmt;

/// The index a pattern names for a date: `%Y`, `%m` and `%d` become the year and the
/// zero-padded month and day (`logstash-%Y.%m.%d` → `logstash-2026.11.25`), as the
/// `logstash_format` of Fluentd's Elasticsearch output names them.
pub fn dated_index(pattern: &str, year: i16, month: i8, day: i8) -> String {
    pattern
        .replace("%Y", &format!("{year:04}"))
        .replace("%m", &format!("{month:02}"))
        .replace("%d", &format!("{day:02}"))
}

/// A validated index name (e.g. `logstash-2026.11.25`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct IndexName(String);

/// Why a string is not a valid index name; the message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexNameError {
    /// The name is empty.
    #[error("index name must not be empty")]
    Empty,
    /// The name has upper-case letters.
    #[error("invalid index name [{0}], must be lowercase")]
    NotLowercase(String),
    /// The name contains a forbidden character.
    #[error("invalid index name [{name}], must not contain {character:?}")]
    ForbiddenCharacter {
        /// The offending name.
        name: String,
        /// The first forbidden character found.
        character: char,
    },
    /// The name starts with a forbidden character.
    #[error("invalid index name [{0}], must not start with '_', '-', or '+'")]
    BadStart(String),
    /// `.` and `..` are reserved.
    #[error("invalid index name [{0}], must not be '.' or '..'")]
    DotName(String),
    /// Longer than 255 bytes.
    #[error("invalid index name [{name}], index name is too long, ({len} > 255)")]
    TooLong {
        /// The offending name (truncated for display).
        name: String,
        /// Its length in bytes.
        len: usize,
    },
}

/// Characters Elasticsearch forbids in index names (`Strings.INVALID_FILENAME_CHARS` plus `:`
/// and `#`). `/` and `\` matter most to us: they would let a name escape the data directory.
const FORBIDDEN: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];

impl IndexName {
    /// Validates `name` with Elasticsearch's rules.
    pub fn new(name: &str) -> Result<IndexName, IndexNameError> {
        if name.is_empty() {
            return Err(IndexNameError::Empty);
        }
        if name.len() > 255 {
            let shown: String = name.chars().take(64).collect();
            return Err(IndexNameError::TooLong {
                name: format!("{shown}…"),
                len: name.len(),
            });
        }
        if name == "." || name == ".." {
            return Err(IndexNameError::DotName(name.to_string()));
        }
        if let Some(character) = name
            .chars()
            .find(|c| FORBIDDEN.contains(c) || c.is_control())
        {
            return Err(IndexNameError::ForbiddenCharacter {
                name: name.to_string(),
                character,
            });
        }
        if name.starts_with(['_', '-', '+']) {
            return Err(IndexNameError::BadStart(name.to_string()));
        }
        if name.chars().any(|c| c.is_uppercase()) {
            return Err(IndexNameError::NotLowercase(name.to_string()));
        }
        Ok(IndexName(name.to_string()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IndexName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for IndexName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_indexes() {
        assert_eq!(
            dated_index("logstash-%Y.%m.%d", 2026, 1, 5),
            "logstash-2026.01.05"
        );
        assert_eq!(dated_index("logs-%Y%m", 2026, 11, 25), "logs-202611");
        assert_eq!(dated_index("static", 2026, 11, 25), "static");
    }

    #[test]
    fn accepts_daily_names() {
        for name in [
            "logstash-2026.11.25",
            "logs",
            ".kibana",
            "a_b",
            "ünïcode",
            "x+y",
        ] {
            assert_eq!(IndexName::new(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn rejects_names_that_escape_or_break_rules() {
        let cases = [
            ("", "must not be empty"),
            ("../x", "must not contain '/'"),
            ("a\\b", "must not contain '\\\\'"),
            ("Logs", "must be lowercase"),
            ("_x", "must not start with"),
            ("-x", "must not start with"),
            ("..", "must not be '.' or '..'"),
            ("a b", "must not contain ' '"),
            ("a,b", "must not contain ','"),
            ("a*", "must not contain '*'"),
            ("a:b", "must not contain ':'"),
            ("a\u{0}b", "must not contain '\\0'"),
        ];
        for (name, expected) in cases {
            let error = IndexName::new(name).unwrap_err().to_string();
            assert!(error.contains(expected), "{name:?}: {error}");
        }
        let long = "a".repeat(256);
        assert!(
            IndexName::new(&long)
                .unwrap_err()
                .to_string()
                .contains("too long")
        );
    }
}
