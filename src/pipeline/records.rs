//! What the pipeline reads and writes besides the fold: an input record as
//! the poll thread hands it over, the tick records that make wall-clock
//! watermark advances replayable, and the output records for effects and
//! dead letters (with the reason in headers).

use ccpulse_core::event::codec::{encode_effect_json, DecodeError};
use ccpulse_core::event::{Effect, Millis};
use rdkafka::message::Message;
use serde::{Deserialize, Serialize};

use super::output::{OutKind, OutRecord};
use crate::telemetry::events::RecordDeadLettered;
use crate::telemetry::InternalEvent;

/// An input record, owned.
#[derive(Debug)]
pub(super) struct Record {
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub content_type: Option<Vec<u8>>,
    pub timestamp: Option<i64>,
}

/// A wall-clock watermark advance, recorded so restore can replay it.
///
/// Not every advance is written: one that emitted effects is (in the same
/// output batch, so in EOS the same transaction); one that emitted nothing
/// is held back and superseded by the next, and written only before the
/// next input record is folded or when the task ends. Advancing the engine
/// from `a` to `c` with no events between equals advancing `a → b → c`, so
/// the skipped steps change nothing; and if the process dies with a tick
/// held back, restore ends at an earlier watermark that emitted nothing
/// since, which the restarted task's own idle ticks then pass again.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Tick {
    /// Applied after the input record at this offset (-1: before any).
    pub(super) after_offset: i64,
    pub(super) watermark: Millis,
}

/// A dead letter for an input record: the original key and value, and
/// where it came from and why it failed in headers.
pub(super) fn dead_letter_record(
    dlq: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    key: Option<&[u8]>,
    value: &[u8],
    e: &DecodeError,
) -> OutRecord {
    let mut headers = vec![
        ("ccpulse-source-topic", topic.as_bytes().to_vec()),
        (
            "ccpulse-source-partition",
            partition.to_string().into_bytes(),
        ),
        ("ccpulse-source-offset", offset.to_string().into_bytes()),
        ("ccpulse-reason", e.reason_code().as_bytes().to_vec()),
        ("ccpulse-error", e.to_string().into_bytes()),
    ];
    if let Some(f) = e.field() {
        headers.push(("ccpulse-field", f.as_bytes().to_vec()));
    }
    RecordDeadLettered {
        topic,
        partition,
        offset,
        reason: e.reason_code(),
        error: e,
    }
    .emit();
    OutRecord {
        topic: dlq.to_string(),
        partition: None,
        key: key.map(<[u8]>::to_vec),
        value: value.to_vec(),
        headers,
        kind: OutKind::DeadLetter,
    }
}

/// A dead letter for a record read by a plain consumer (the agent topic).
pub(super) fn dead_letter(
    dlq: &str,
    m: &rdkafka::message::BorrowedMessage<'_>,
    e: &DecodeError,
) -> OutRecord {
    dead_letter_record(
        dlq,
        m.topic(),
        m.partition(),
        m.offset(),
        m.key(),
        m.payload().unwrap_or_default(),
        e,
    )
}

pub(super) fn effect_record(topic: &str, partition: i32, source: &str, e: &Effect) -> OutRecord {
    let kind = match e {
        Effect::SlaBreached(_) => "sla_breached",
        Effect::ReassignmentRequested(_) => "reassignment_requested",
    };
    OutRecord {
        topic: topic.to_string(),
        partition: Some(partition),
        key: Some(e.key().as_bytes().to_vec()),
        value: encode_effect_json(e).into_bytes(),
        headers: vec![
            ("content-type", b"application/json".to_vec()),
            ("ccpulse-effect-id", e.effect_id().as_bytes().to_vec()),
            ("ccpulse-source-topic", source.as_bytes().to_vec()),
        ],
        kind: OutKind::Effect(kind),
    }
}
