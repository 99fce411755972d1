//! The vocabulary every settings section shares: durations written with
//! units, and the problem report a validator returns.
//!
//! A leaf: it imports nothing from the crate, so every module (core or
//! shell) can own its section and its validation without importing the file
//! that composes them.

use std::fmt;

use serde::Deserialize;

use crate::event::Millis;

/// A duration written with units, e.g. `"20s"`, `"1h 30m"`, `"7d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Dur(pub Millis);

impl Dur {
    /// As a std duration (negative values cannot be written, but clamp).
    pub fn std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.max(0) as u64)
    }
}

impl TryFrom<String> for Dur {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            format!("invalid duration {s:?} ({e}); write a number with a unit, e.g. \"20s\", \"5m\", \"1h\", \"7d\"")
        })?;
        Millis::try_from(d.as_millis())
            .map(Dur)
            .map_err(|_| format!("duration {s:?} is too large"))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.std()))
    }
}

/// One problem in a settings file: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub field: String,
    pub problem: String,
    pub fix: String,
}

impl Issue {
    pub fn new(
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Issue {
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (fix: {})", self.field, self.problem, self.fix)
    }
}
