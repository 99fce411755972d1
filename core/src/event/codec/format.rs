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

/// The default of [`Limits::max_record_bytes`]: 1 MiB. Real events are well
/// under a kilobyte.
pub const MAX_RECORD_LEN: usize = 1 << 20;

/// Bounds applied by validation, beyond the schema's own rules. The same
/// limits apply to every path in (Kafka, restore, event files), so a replay
/// rejects exactly what the live service rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest record accepted, in bytes (a JSON line or a protobuf
    /// message). Larger ones are rejected before parsing: a corrupt or
    /// hostile record must not cost memory or time.
    pub max_record_bytes: usize,
    /// How far `occurred_at` may be ahead of the reference time (the record's
    /// log timestamp, and live also the wall clock) before the event is
    /// rejected. An event in the future would drag the partition's
    /// watermark ahead and make every real event after it late.
    pub max_future_skew: Millis,
    /// Longest identifier (ids, queue names, statuses, tenant) in bytes. Ids
    /// become map keys and log fields, so they must stay small.
    pub max_id_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record_bytes: MAX_RECORD_LEN,
            max_future_skew: 60_000,
            max_id_len: 256,
        }
    }
}
