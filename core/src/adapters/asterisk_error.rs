//! Why a queue_log line could not be mapped: the line number and the
//! reason, for the report (`ccpulse replay`) and the follower's log.
//!
//! A leaf: it imports nothing from its siblings.

use crate::event::codec::DecodeError;

/// A queue_log line that could not become events. Never silently skipped:
/// the shells count and report every one with its line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct QueueLogError {
    /// 1-based line number in the file being read.
    pub line: u64,
    pub problem: LineProblem,
}

impl QueueLogError {
    /// Short, bounded reason code for logs and counters.
    pub fn reason_code(&self) -> &'static str {
        match self.problem {
            LineProblem::Fields { .. } => "fields",
            LineProblem::Time(_) => "time",
            LineProblem::Field { .. } => "field",
            LineProblem::UnknownEvent(_) => "unknown_event",
            LineProblem::NoCall(_) => "no_call_id",
            LineProblem::NoAgent(_) => "no_agent",
            LineProblem::NoQueue(_) => "no_queue",
            LineProblem::Invalid(_) => "invalid_event",
        }
    }
}

/// What is wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// Fewer than the five fixed fields, or an event's data with a field
    /// count no Asterisk version writes.
    #[error("{event}: expected {expected} pipe-separated fields, found {found}")]
    Fields {
        event: String,
        expected: &'static str,
        found: usize,
    },
    /// The first field is not whole seconds since the Unix epoch.
    #[error("time {0:?} is not whole seconds since the Unix epoch")]
    Time(String),
    /// A data field that must be a number is not.
    #[error("{event}: {field} {value:?} is not a whole number")]
    Field {
        event: String,
        field: &'static str,
        value: String,
    },
    /// An event app_queue does not write (and no known add-on does).
    #[error("unknown event {0:?}")]
    UnknownEvent(String),
    /// A call event whose call id is empty or NONE.
    #[error("{0}: no call id")]
    NoCall(String),
    /// A member event whose agent field is empty or NONE.
    #[error("{0}: no agent (member name)")]
    NoAgent(String),
    /// A call event whose queue field is empty or NONE.
    #[error("{0}: no queue name")]
    NoQueue(String),
    /// The mapped event fails the same validation the live path applies
    /// (id length, time bounds, future skew).
    #[error("mapped event rejected: {0}")]
    Invalid(DecodeError),
}
