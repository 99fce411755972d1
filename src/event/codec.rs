//! Wire codecs: bytes ⇄ domain [`Event`]s and [`Effect`]s.
//!
//! This module owns the only path from untrusted bytes to the engine. Binary
//! protobuf and its proto3 JSON mapping decode into the generated [`wire`]
//! types (prost and pbjson do the parsing), and [`convert`] turns those into
//! domain values while validating them. A record either becomes a complete,
//! valid [`Event`] or a [`DecodeError`] naming the offending field; it is never
//! half-applied.
//!
//! Validation is a pure function of the bytes, the [`Limits`] and the record's
//! log timestamp: there is no wall clock, so a replay dead-letters exactly the
//! records the live run dead-lettered.
//!
//! Encoding is deterministic (same value, same bytes), which effect
//! de-duplication downstream relies on.

pub mod convert;
pub mod wire;

use std::fmt;

use prost::Message as _;

use super::{Effect, Event, Millis};

pub use convert::{from_wire, MAX_OCCURRED_AT, MIN_OCCURRED_AT};

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

/// Why a record could not become an event (or effect).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
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
        }
    }

    /// The offending field's path, for [`DecodeError::Invalid`].
    pub fn field(&self) -> Option<&str> {
        match self {
            DecodeError::Invalid { field, .. } => Some(field),
            DecodeError::Malformed { .. } => None,
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

/// Decodes and validates one event.
///
/// `reference` is the record's log timestamp (the Kafka record time) when
/// known: an event more than [`Limits::max_future_skew`] ahead of it is
/// invalid. Without one, only the absolute bounds
/// ([`MIN_OCCURRED_AT`]..[`MAX_OCCURRED_AT`]) apply.
pub fn decode(
    bytes: &[u8],
    format: Format,
    limits: &Limits,
    reference: Option<Millis>,
) -> Result<Event, DecodeError> {
    let envelope = match format {
        Format::Json => parse_json(bytes)?,
        Format::Protobuf => parse_protobuf(bytes)?,
    };
    from_wire(envelope, limits, reference)
}

/// [`decode`] for the proto3 JSON mapping.
pub fn decode_json(
    bytes: &[u8],
    limits: &Limits,
    reference: Option<Millis>,
) -> Result<Event, DecodeError> {
    decode(bytes, Format::Json, limits, reference)
}

/// [`decode`] for binary protobuf.
pub fn decode_protobuf(
    bytes: &[u8],
    limits: &Limits,
    reference: Option<Millis>,
) -> Result<Event, DecodeError> {
    decode(bytes, Format::Protobuf, limits, reference)
}

/// The event as one line of proto3 JSON (no trailing newline).
pub fn encode_json(event: &Event) -> String {
    to_json(&wire::Envelope::from(event))
}

/// The event as binary protobuf (not length-delimited).
pub fn encode_protobuf(event: &Event) -> Vec<u8> {
    wire::Envelope::from(event).encode_to_vec()
}

/// The effect as one line of proto3 JSON (no trailing newline).
pub fn encode_effect_json(effect: &Effect) -> String {
    to_json(&wire::Effect::from(effect))
}

/// The effect as binary protobuf (not length-delimited).
pub fn encode_effect_protobuf(effect: &Effect) -> Vec<u8> {
    wire::Effect::from(effect).encode_to_vec()
}

/// Decodes an effect written by [`encode_effect_json`] (or any producer of
/// the schema), checking the fields the domain type requires.
pub fn decode_effect_json(bytes: &[u8]) -> Result<Effect, DecodeError> {
    let effect: wire::Effect = serde_json::from_slice(bytes).map_err(|e| malformed_json(&e))?;
    Effect::try_from(effect)
}

/// Decodes an effect written by [`encode_effect_protobuf`].
pub fn decode_effect_protobuf(bytes: &[u8]) -> Result<Effect, DecodeError> {
    let effect = wire::Effect::decode(bytes).map_err(|e| malformed_protobuf(&e))?;
    Effect::try_from(effect)
}

fn parse_json(bytes: &[u8]) -> Result<wire::Envelope, DecodeError> {
    serde_json::from_slice(bytes).map_err(|e| malformed_json(&e))
}

fn parse_protobuf(bytes: &[u8]) -> Result<wire::Envelope, DecodeError> {
    wire::Envelope::decode(bytes).map_err(|e| malformed_protobuf(&e))
}

fn malformed_json(e: &serde_json::Error) -> DecodeError {
    DecodeError::Malformed {
        format: Format::Json,
        reason: e.to_string(),
    }
}

fn malformed_protobuf(e: &prost::DecodeError) -> DecodeError {
    DecodeError::Malformed {
        format: Format::Protobuf,
        reason: e.to_string(),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Wire values built from domain values always serialize: their enums are
    // known variants and their timestamps are clamped to the proto3 range
    // (see `convert::timestamp`), so an error here is a bug in this module.
    serde_json::to_string(value).expect("wire values built from domain values serialize")
}
