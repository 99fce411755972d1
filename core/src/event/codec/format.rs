//! Wire encodings and the limits validation applies.

use std::fmt;

use crate::event::Millis;

/// A wire encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The proto3 JSON mapping of the schema.
    Json,
    /// Binary protobuf.
    Protobuf,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Protobuf => "protobuf",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bounds applied by validation, beyond the schema's own rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How far `occurred_at` may be ahead of the record's log timestamp (when
    /// one is given) before the event is rejected. Producers' clocks drift a
    /// little; an event hours in the future would hold SLA clocks hostage.
    pub max_future_skew: Millis,
    /// Longest identifier (ids, queue names, statuses, tenant) in bytes. Ids
    /// become map keys and log fields, so they must stay small.
    pub max_id_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_future_skew: 60 * 60 * 1000,
            max_id_len: 256,
        }
    }
}
