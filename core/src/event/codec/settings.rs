//! The `[input]` section: the limits every path in applies (Kafka, restore,
//! event files), validated into [`Limits`].

use serde::Deserialize;

use super::format::{Limits, MAX_RECORD_LEN};
use crate::settings::{Dur, Issue};

/// `[input]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSection {
    /// Longest record accepted, in bytes; longer ones are dead-lettered
    /// (truncated) unread.
    #[serde(default = "d_max_record_bytes")]
    pub max_record_bytes: usize,
    /// How far an event time may be ahead of the wall clock (and of its
    /// record's timestamp) before the event is dead-lettered instead of
    /// dragging the watermark into the future.
    #[serde(default = "d_max_future_skew")]
    pub max_future_skew: Dur,
    /// Longest identifier (ids, queue names, statuses, tenant) in bytes.
    #[serde(default = "d_max_id_length")]
    pub max_id_length: usize,
}

impl Default for InputSection {
    fn default() -> Self {
        InputSection {
            max_record_bytes: d_max_record_bytes(),
            max_future_skew: d_max_future_skew(),
            max_id_length: d_max_id_length(),
        }
    }
}

fn d_max_record_bytes() -> usize {
    MAX_RECORD_LEN
}
fn d_max_future_skew() -> Dur {
    Dur(Limits::default().max_future_skew)
}
fn d_max_id_length() -> usize {
    Limits::default().max_id_len
}

impl InputSection {
    pub fn validate(&self, issues: &mut Vec<Issue>) -> Limits {
        if !(1024..=64 << 20).contains(&self.max_record_bytes) {
            issues.push(Issue::new(
                "input.max_record_bytes",
                format!("{} is outside 1 KiB..64 MiB", self.max_record_bytes),
                "use e.g. 1048576 (1 MiB, the default); real events are well under 1 KiB",
            ));
        }
        if self.max_future_skew.0 < 1_000 {
            issues.push(Issue::new(
                "input.max_future_skew",
                format!(
                    "{} would reject events from producers whose clocks run a little ahead",
                    self.max_future_skew
                ),
                "use at least 1s; the default is 1m",
            ));
        }
        if !(16..=4096).contains(&self.max_id_length) {
            issues.push(Issue::new(
                "input.max_id_length",
                format!("{} is outside 16..4096", self.max_id_length),
                "use e.g. 256 (the default)",
            ));
        }
        Limits {
            max_record_bytes: self.max_record_bytes,
            max_future_skew: self.max_future_skew.0,
            max_id_len: self.max_id_length,
        }
    }
}
