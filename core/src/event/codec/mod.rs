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

mod error;
mod format;
mod settings;

use prost::Message as _;

use crate::event::{Effect, Event, Millis};

pub use convert::{from_wire, MAX_OCCURRED_AT, MIN_OCCURRED_AT};
pub use error::DecodeError;
pub use format::{Format, Limits, MAX_RECORD_LEN};
pub use settings::InputSection;

/// Decodes and validates one event.
///
/// A record longer than [`Limits::max_record_bytes`] is rejected unread.
/// `reference` is the time the event may not be in the future of (the
/// Kafka record time, and live the earlier of that and the wall clock)
/// when known: an event more than [`Limits::max_future_skew`] ahead of it
/// is invalid. Without one, only the absolute bounds
/// ([`MIN_OCCURRED_AT`]..[`MAX_OCCURRED_AT`]) apply.
pub fn decode(
    bytes: &[u8],
    format: Format,
    limits: &Limits,
    reference: Option<Millis>,
) -> Result<Event, DecodeError> {
    if bytes.len() > limits.max_record_bytes {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: limits.max_record_bytes,
        });
    }
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
    // UTF-8 checked once for the whole record (std's check is quick on
    // ASCII) spares serde_json checking every string it reads. Invalid
    // UTF-8 goes the byte path, which reports it as it always did.
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
    .map_err(|e| malformed_json(&e))
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
