//! Why a record could not be mapped: each error names the rule and the
//! path (or the event field) that failed, for the dead letter.
//!
//! A leaf: it imports nothing from its siblings.

use crate::event::codec::DecodeError;

/// Why a record did not become events. A record that no rule matches is
/// not an error (it maps to no events).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The record is not JSON at all (the shell's parse).
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// A required field's path(s) found nothing (absent or null).
    #[error("rule {rule:?}: {field}: nothing at {path}")]
    Missing {
        rule: String,
        field: &'static str,
        path: String,
    },
    /// The value found is of the wrong kind (an object where text was
    /// needed, a number that is not a number…).
    #[error("rule {rule:?}: {field}: {reason} at {path}")]
    Value {
        rule: String,
        field: &'static str,
        path: String,
        reason: String,
    },
    /// A value not in the field's value map, which has no default.
    #[error("rule {rule:?}: {field}: {value:?} at {path} is not in [maps.{map}] (fix: add it to the map's values, or give the map a default)")]
    Unmapped {
        rule: String,
        field: &'static str,
        path: String,
        value: String,
        map: String,
    },
    /// A string listed in `json_strings` that does not parse.
    #[error("rule {rule:?}: {field}: {reason}")]
    NestedJson {
        rule: String,
        field: &'static str,
        reason: String,
    },
    /// The event built fails the codec's validation (the same rules as
    /// JSON input), e.g. an empty queue name.
    #[error("rule {rule:?}: the {emit} event is invalid: {error}")]
    Invalid {
        rule: String,
        emit: &'static str,
        error: DecodeError,
    },
}

impl MapError {
    /// Bounded code for metric labels and the dead-letter reason.
    pub fn reason_code(&self) -> &'static str {
        match self {
            MapError::Malformed(_) => "malformed_json",
            MapError::Missing { .. } => "mapping_missing_field",
            MapError::Value { .. } => "mapping_bad_value",
            MapError::Unmapped { .. } => "mapping_unmapped_value",
            MapError::NestedJson { .. } => "mapping_nested_json",
            MapError::Invalid { .. } => "invalid_field",
        }
    }

    /// The rule that failed, if one was reached.
    pub fn rule(&self) -> Option<&str> {
        match self {
            MapError::Malformed(_) => None,
            MapError::Missing { rule, .. }
            | MapError::Value { rule, .. }
            | MapError::Unmapped { rule, .. }
            | MapError::NestedJson { rule, .. }
            | MapError::Invalid { rule, .. } => Some(rule),
        }
    }

    /// The record path (or, for an invalid event, the event field) that
    /// failed.
    pub fn path(&self) -> Option<&str> {
        match self {
            MapError::Malformed(_) | MapError::NestedJson { .. } => None,
            MapError::Missing { path, .. }
            | MapError::Value { path, .. }
            | MapError::Unmapped { path, .. } => Some(path),
            MapError::Invalid { error, .. } => error.field(),
        }
    }
}
