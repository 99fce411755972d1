//! Typed telemetry events: one struct per thing worth telling an operator,
//! whose [`InternalEvent::emit`] writes its log line and its metric
//! together. Call sites build the struct and emit it; they never name a
//! metric or pick a log level themselves.
//!
//! Labels stay bounded: topics, closed reason sets and outcomes, never an
//! interaction or customer id (the dead-letter log line carries the record's
//! offset, which finds it in the topic without exposing its content).

use std::fmt::Display;

use metrics::{counter, gauge, histogram};
use tracing::{debug, info, warn};

use ccpulse_core::event::codec::DecodeError;

use super::catalog;

/// Log targets: the component that does the thing, so a filter such as
/// `CCPULSE_LOG=info,ccpulse::pipeline::output=debug` keeps working
/// whichever module writes the line.
const TASK: &str = "ccpulse::pipeline::task";
const OUTPUT: &str = "ccpulse::pipeline::output";
const GROUP: &str = "ccpulse::pipeline::poll";

/// Something that happened, told once: log line and metric together.
pub trait InternalEvent {
    fn emit(self);
}

/// Dead-letter reasons, a closed set (`DecodeError::reason_code`).
pub const DEAD_LETTER_REASONS: [&str; 5] = DecodeError::REASON_CODES;

/// Effect kinds on the effects topic, a closed set.
pub const EFFECT_KINDS: [&str; 2] = ["sla_breached", "reassignment_requested"];

/// Every processor counter exists at 0 from the start, so rates and
/// "appearing" alerts see a series before the first dead letter or
/// transaction.
pub struct ProcessorSeriesRegistered<'a> {
    /// Input topics (events and agents).
    pub topics: &'a [String],
}

impl InternalEvent for ProcessorSeriesRegistered<'_> {
    fn emit(self) {
        for topic in self.topics {
            for reason in DEAD_LETTER_REASONS {
                counter!(catalog::DEAD_LETTERS.name, "topic" => topic.clone(), "reason" => reason)
                    .increment(0);
            }
            for f in [
                catalog::EVENTS_CONSUMED,
                catalog::EVENTS_APPLIED,
                catalog::EVENTS_DUPLICATE,
                catalog::EVENTS_LATE,
                catalog::EVENTS_ORPHANED,
                catalog::EVENTS_LATE_BEYOND_WINDOW,
                catalog::FCR_RETRACTIONS_BEYOND_WINDOW,
                catalog::EVENTS_PARKED_EXPIRED,
                catalog::EVENTS_PARKED_OVERFLOW,
            ] {
                counter!(f.name, "topic" => topic.clone()).increment(0);
            }
        }
        for outcome in ["commit", "abort"] {
            counter!(catalog::TRANSACTIONS.name, "outcome" => outcome).increment(0);
        }
        for outcome in ["ok", "error"] {
            counter!(catalog::COMMITS.name, "outcome" => outcome).increment(0);
        }
        counter!(catalog::PIPELINE_RESTARTS.name).increment(0);
        for kind in EFFECT_KINDS {
            counter!(catalog::EFFECTS_EMITTED.name, "kind" => kind).increment(0);
        }
    }
}

/// A record that could not be decoded or validated went to the dead-letter
/// topic.
pub struct RecordDeadLettered<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub reason: &'static str,
    pub error: &'a dyn Display,
}

impl InternalEvent for RecordDeadLettered<'_> {
    fn emit(self) {
        let RecordDeadLettered {
            topic,
            partition,
            offset,
            reason,
            error,
        } = self;
        counter!(catalog::DEAD_LETTERS.name, "topic" => topic.to_string(), "reason" => reason)
            .increment(1);
        warn!(target: TASK, topic, partition, offset, reason, %error, "record dead-lettered");
    }
}

/// A batch of one input partition's records went through the fold.
pub struct BatchFolded<'a> {
    pub topic: &'a str,
    pub consumed: u64,
    pub applied: u64,
    pub duplicate: u64,
    pub late: u64,
    pub orphaned: u64,
}

impl InternalEvent for BatchFolded<'_> {
    fn emit(self) {
        let t = || self.topic.to_string();
        counter!(catalog::EVENTS_CONSUMED.name, "topic" => t()).increment(self.consumed);
        counter!(catalog::EVENTS_APPLIED.name, "topic" => t()).increment(self.applied);
        counter!(catalog::EVENTS_DUPLICATE.name, "topic" => t()).increment(self.duplicate);
        counter!(catalog::EVENTS_LATE.name, "topic" => t()).increment(self.late);
        counter!(catalog::EVENTS_ORPHANED.name, "topic" => t()).increment(self.orphaned);
    }
}

/// An SLA effect was handed to the producer.
pub struct EffectProduced {
    /// One of [`EFFECT_KINDS`].
    pub kind: &'static str,
}

impl InternalEvent for EffectProduced {
    fn emit(self) {
        counter!(catalog::EFFECTS_EMITTED.name, "kind" => self.kind).increment(1);
    }
}

/// Exactly-once: effects, ticks and offsets committed in one transaction.
pub struct TransactionCommitted {
    pub partitions: usize,
    pub seconds: f64,
}

impl InternalEvent for TransactionCommitted {
    fn emit(self) {
        counter!(catalog::TRANSACTIONS.name, "outcome" => "commit").increment(1);
        histogram!(catalog::COMMIT_DURATION.name).record(self.seconds);
        debug!(target: OUTPUT, partitions = self.partitions, seconds = self.seconds, "transaction committed");
    }
}

/// Exactly-once: a transaction failed and was aborted; nothing of it is
/// visible to `read_committed` readers.
pub struct TransactionAborted<'a> {
    pub error: &'a dyn Display,
}

impl InternalEvent for TransactionAborted<'_> {
    fn emit(self) {
        counter!(catalog::TRANSACTIONS.name, "outcome" => "abort").increment(1);
        warn!(target: OUTPUT, error = %self.error, "transaction aborted");
    }
}

/// The pipeline stopped on an error a fresh start recovers from and is
/// started again in this process after `in_s` seconds.
pub struct PipelineRestarting<'a> {
    pub error: &'a dyn Display,
    /// Restarts in the current run of failures, this one included.
    pub attempt: u32,
    pub in_s: f64,
}

impl InternalEvent for PipelineRestarting<'_> {
    fn emit(self) {
        counter!(catalog::PIPELINE_RESTARTS.name).increment(1);
        warn!(
            error = %self.error,
            attempt = self.attempt,
            restart_in_s = self.in_s,
            "pipeline stopped; starting it again in-process (its partitions restore from the last commit)"
        );
    }
}

/// At-least-once: consumed offsets committed after the broker acknowledged
/// every output record before them.
pub struct OffsetsCommitted {
    pub seconds: f64,
}

impl InternalEvent for OffsetsCommitted {
    fn emit(self) {
        counter!(catalog::COMMITS.name, "outcome" => "ok").increment(1);
        histogram!(catalog::COMMIT_DURATION.name).record(self.seconds);
    }
}

/// At-least-once: an offset commit failed. Not fatal: the next commit
/// covers the same offsets, and a revoked partition's next owner restores
/// from the last successful one.
pub struct OffsetCommitFailed<'a> {
    pub error: &'a dyn Display,
}

impl InternalEvent for OffsetCommitFailed<'_> {
    fn emit(self) {
        counter!(catalog::COMMITS.name, "outcome" => "error").increment(1);
        warn!(target: OUTPUT, error = %self.error, "offset commit failed; retrying at the next interval");
    }
}

/// The consumer group changed what this instance owns.
pub struct PartitionsChanged<'a> {
    pub topic: &'a str,
    pub partition: i32,
    /// `true` when assigned, `false` when revoked.
    pub assigned: bool,
    /// Input partitions owned after the change.
    pub owned: usize,
}

impl InternalEvent for PartitionsChanged<'_> {
    fn emit(self) {
        gauge!(catalog::PARTITIONS_ASSIGNED.name).set(self.owned as f64);
        let (topic, partition) = (self.topic, self.partition);
        if self.assigned {
            info!(target: GROUP, topic, partition, owned = self.owned, "partition assigned");
        } else {
            info!(target: GROUP, topic, partition, owned = self.owned, "partition revoked");
        }
    }
}

/// A partition's engine checkpoint was encoded and handed to the output.
pub struct CheckpointWritten<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub id: u64,
    pub bytes: usize,
    pub offset: i64,
    pub seconds: f64,
    /// Unix time it was taken.
    pub at_seconds: f64,
}

impl InternalEvent for CheckpointWritten<'_> {
    fn emit(self) {
        let labels = || {
            [
                ("topic", self.topic.to_string()),
                ("partition", self.partition.to_string()),
            ]
        };
        counter!(catalog::CHECKPOINTS_WRITTEN.name, "topic" => self.topic.to_string()).increment(1);
        gauge!(catalog::CHECKPOINT_BYTES.name, &labels()).set(self.bytes as f64);
        gauge!(catalog::CHECKPOINT_LAST_WRITTEN.name, &labels()).set(self.at_seconds);
        histogram!(catalog::CHECKPOINT_WRITE.name).record(self.seconds);
        debug!(
            target: TASK,
            topic = self.topic,
            partition = self.partition,
            id = self.id,
            bytes = self.bytes,
            offset = self.offset,
            ms = (self.seconds * 1000.0) as u64,
            "checkpoint written"
        );
    }
}
