//! Why a record did not decode: malformed bytes, or a field that fails
//! validation (named, for the dead letter).

use super::format::Format;
use super::wire;
use crate::event::Millis;

/// Why a record could not become an event (or effect).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Longer than [`Limits::max_record_bytes`](super::Limits): rejected
    /// unread.
    #[error("record of {len} bytes exceeds the limit of {max} bytes (input.max_record_bytes)")]
    TooLarge { len: usize, max: usize },
    /// `occurred_at` too far ahead of the reference time: an event from the
    /// future would drag the watermark ahead of every real event.
    #[error(
        "occurred_at: {ahead} ms in the future (at most {max} ms allowed: input.max_future_skew)"
    )]
    Future { ahead: Millis, max: Millis },
    /// The bytes are not a message of the schema at all.
    #[error("malformed {format}: {reason}")]
    Malformed { format: Format, reason: String },
    /// A well-formed message broke a validation rule.
    #[error("{field}: {reason}")]
    Invalid {
        /// Path of the offending field in proto field names, e.g.
        /// `interaction.queued.queue`.
        field: String,
        reason: String,
    },
}

impl DecodeError {
    /// Bounded code for metric labels and the dead-letter `reason`.
    pub fn reason_code(&self) -> &'static str {
        match self {
            DecodeError::Malformed {
                format: Format::Json,
                ..
            } => "malformed_json",
            DecodeError::Malformed {
                format: Format::Protobuf,
                ..
            } => "malformed_protobuf",
            DecodeError::Invalid { .. } => "invalid_field",
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::Future { .. } => "future_event",
        }
    }

    /// Every [`reason_code`](Self::reason_code), for series that exist at 0.
    pub const REASON_CODES: [&'static str; 5] = [
        "malformed_json",
        "malformed_protobuf",
        "invalid_field",
        "too_large",
        "future_event",
    ];

    /// The offending field's path, for [`DecodeError::Invalid`].
    pub fn field(&self) -> Option<&str> {
        match self {
            DecodeError::Invalid { field, .. } => Some(field),
            DecodeError::Future { .. } => Some("occurred_at"),
            DecodeError::Malformed { .. } | DecodeError::TooLarge { .. } => None,
        }
    }

    /// A dead-letter record for `original_value` with the error filled in.
    /// The caller adds where the record came from (topic, partition, offset,
    /// key, timestamp) with struct update syntax.
    pub fn to_dead_letter(&self, original_value: Vec<u8>) -> wire::DeadLetter {
        wire::DeadLetter {
            original_value,
            reason: self.reason_code().to_owned(),
            error_field: self.field().unwrap_or_default().to_owned(),
            error: self.to_string(),
            ..Default::default()
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DecodeError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
