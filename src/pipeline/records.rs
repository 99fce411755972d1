//! What the pipeline reads and writes besides the fold: an input record as
//! the poll thread hands it over, the records on the ticks topic that make
//! wall-clock decisions replayable (watermark advances, records skipped for
//! being in the future), and the output records for effects and dead
//! letters (with the reason in headers, cut to fit).

use std::collections::BTreeMap;

use ccpulse_core::engine::{CustomerFact, Orphaned, OrphanedEvent};
use ccpulse_core::event::codec::{encode_effect_json, encode_json, DecodeError};
use ccpulse_core::event::{Effect, Millis};
use rdkafka::message::Message;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::settings::KafkaConfig;
use crate::telemetry::events::RecordDeadLettered;
use crate::telemetry::InternalEvent;

/// One record to produce.
#[derive(Debug, Clone)]
pub(super) struct OutRecord {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(&'static str, Vec<u8>)>,
    pub kind: OutKind,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum OutKind {
    Effect(&'static str),
    /// A customer fact for the customer stage.
    Fact,
    DeadLetter,
    Tick,
    Checkpoint,
}

/// An input record, borrowed from its [`Batch`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Record<'a> {
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
    pub content_type: Option<&'a [u8]>,
    pub timestamp: Option<i64>,
}

/// Input records as the poll thread hands them to a partition task: the
/// bytes of all of them (keys, values, content types) in one buffer and a
/// small entry per record, so a batch costs a few allocations (made on the
/// poll thread, freed on a worker) instead of two per record.
#[derive(Debug, Default)]
pub(super) struct Batch {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    offset: i64,
    timestamp: Option<i64>,
    /// Where the key, value and content type end in `bytes` (each starts
    /// where the one before ends); `None` for an absent key or type.
    key_end: Option<usize>,
    value_end: usize,
    content_type_end: Option<usize>,
}

/// Emptied batches handed back by the partition tasks for the poll thread
/// to fill again. A fresh buffer costs the kernel zeroing its pages on
/// first touch, and the allocator returns a freed one's pages soon after:
/// that was a third of the poll thread's CPU (perf, throughput bench) for
/// ~1 MiB batches, and still 3–4 % of the service's for the usual few-KiB
/// ones. Large buffers only go to a partition whose last batch was large,
/// so a quiet partition's batches stay small and no 1 MiB buffer waits on
/// every partition. At most [`BatchPool::KEEP_SMALL`] small (under
/// [`BatchPool::LARGE`]) and [`BatchPool::KEEP`] large batches are kept:
/// under 16 + 16 MiB, usually far less.
#[derive(Debug, Default)]
pub(super) struct BatchPool(std::sync::Mutex<Kept>);

#[derive(Debug, Default)]
struct Kept {
    small: Vec<Batch>,
    large: Vec<Batch>,
}

impl BatchPool {
    /// Large batches kept at most.
    const KEEP: usize = 16;
    /// Small batches kept at most (about what the tasks' queues hold).
    const KEEP_SMALL: usize = 64;
    /// Room from which a batch is large.
    const LARGE: usize = 256 * 1024;

    /// A batch for a partition whose last batch held `records` records of
    /// `bytes` bytes: a recycled one of its size class if there is one,
    /// else a fresh one with that room.
    pub(super) fn take(&self, records: usize, bytes: usize) -> Batch {
        let kept = self.0.lock().ok().and_then(|mut k| k.class(bytes).0.pop());
        match kept {
            Some(mut b) => {
                b.bytes.reserve(bytes);
                b.entries.reserve(records);
                b
            }
            None => Batch::with_capacity(records, bytes),
        }
    }

    /// Hand a batch back once its records are folded.
    pub(super) fn give(&self, mut batch: Batch) {
        batch.clear();
        if let Ok(mut k) = self.0.lock() {
            let (kept, keep) = k.class(batch.bytes.capacity());
            if kept.len() < keep {
                kept.push(batch);
            }
        }
    }
}

impl Kept {
    /// The size class of a batch with `room` bytes, and how many of it
    /// are kept at most.
    fn class(&mut self, room: usize) -> (&mut Vec<Batch>, usize) {
        if room < BatchPool::LARGE {
            (&mut self.small, BatchPool::KEEP_SMALL)
        } else {
            (&mut self.large, BatchPool::KEEP)
        }
    }
}

impl Batch {
    /// An empty batch with room for `records` records of `bytes` bytes.
    pub(super) fn with_capacity(records: usize, bytes: usize) -> Self {
        Batch {
            bytes: Vec::with_capacity(bytes),
            entries: Vec::with_capacity(records),
        }
    }

    pub(super) fn push(&mut self, r: Record<'_>) {
        let mut put = |b: &[u8]| {
            self.bytes.extend_from_slice(b);
            self.bytes.len()
        };
        let key_end = r.key.map(&mut put);
        let value_end = put(r.value);
        let content_type_end = r.content_type.map(&mut put);
        self.entries.push(Entry {
            offset: r.offset,
            timestamp: r.timestamp,
            key_end,
            value_end,
            content_type_end,
        });
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Empty, keeping its room.
    fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held (keys, values and content types).
    pub(super) fn bytes(&self) -> usize {
        self.bytes.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = Record<'_>> + '_ {
        let mut start = 0;
        self.entries.iter().map(move |e| {
            let mut take = |end: usize| {
                let s = &self.bytes[start..end];
                start = end;
                s
            };
            let key = e.key_end.map(&mut take);
            let value = take(e.value_end);
            let content_type = e.content_type_end.map(&mut take);
            Record {
                offset: e.offset,
                key,
                value,
                content_type,
                timestamp: e.timestamp,
            }
        })
    }
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
#[serde(deny_unknown_fields)]
pub(super) struct Tick {
    /// Applied after the input record at this offset (-1: before any).
    pub(super) after_offset: i64,
    pub(super) watermark: Millis,
}

/// A decision about an input record that its log cannot reproduce: the
/// record was rejected against the wall clock (an event too far in the
/// future, see `input.max_future_skew`). Written on the ticks topic with
/// the dead letter, so a restore skips the record as the live run did.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Skip {
    pub(super) skip_offset: i64,
}

/// What the ticks topic holds for an input partition.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Recorded {
    Tick(Tick),
    Skip(Skip),
}

/// Room kept for a dead letter's key, headers and framing below the
/// producer's `message.max.bytes`.
const DEAD_LETTER_HEADROOM: usize = 64 * 1024;

/// Longest dead-letter value the producer can send.
pub(super) fn dead_letter_cap(k: &KafkaConfig) -> usize {
    k.max_message_bytes()
        .saturating_sub(DEAD_LETTER_HEADROOM)
        .max(4 * 1024)
}

/// Longest key a dead letter carries; longer ones are cut (with their size
/// in a header).
const DEAD_LETTER_MAX_KEY: usize = 1024;

/// The input record a dead letter is about.
pub(super) struct Source<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
}

/// A dead letter for an input record: the original key and value, and
/// where it came from and why it failed in headers. A value longer than
/// `max_value` is cut to it, with the original size and hash in headers
/// (`ccpulse-original-size`, `ccpulse-original-xxh3`), so a dead letter
/// always fits the producer's `message.max.bytes`: a record is never both
/// undeliverable and uncommittable.
pub(super) fn dead_letter_record(
    dlq: &str,
    max_value: usize,
    src: Source<'_>,
    e: &DecodeError,
) -> OutRecord {
    dead_letter_with(dlq, max_value, src, e.reason_code(), e, e.field())
}

/// An event the engine gave up for good (parked past `engine.parking_ttl`,
/// or finding the parking area full), for the dead-letter topic: the
/// event as JSON, keyed by its interaction, with the reason
/// (`parked_expired`, `parked_overflow`). Its own offset is not kept by the
/// parking area: `ccpulse-source-offset` is -1.
pub(super) fn orphan_record(
    dlq: &str,
    max_value: usize,
    topic: &str,
    partition: i32,
    o: &OrphanedEvent,
) -> OutRecord {
    let value = encode_json(&o.event);
    let error = match o.reason {
        Orphaned::Expired => {
            "its interaction did not appear within engine.parking_ttl (parked, then expired)"
        }
        Orphaned::Overflow => {
            "its interaction was not known and the parking area was full (limits.max_parked_events)"
        }
    };
    dead_letter_with(
        dlq,
        max_value,
        Source {
            topic,
            partition,
            offset: -1,
            key: Some(o.event.key().as_bytes()),
            value: value.as_bytes(),
        },
        o.reason.code(),
        &error,
        None,
    )
}

fn dead_letter_with(
    dlq: &str,
    max_value: usize,
    src: Source<'_>,
    reason: &'static str,
    error: &dyn std::fmt::Display,
    field: Option<&str>,
) -> OutRecord {
    let Source {
        topic,
        partition,
        offset,
        key,
        value,
    } = src;
    let mut headers = vec![
        ("ccpulse-source-topic", topic.as_bytes().to_vec()),
        (
            "ccpulse-source-partition",
            partition.to_string().into_bytes(),
        ),
        ("ccpulse-source-offset", offset.to_string().into_bytes()),
        ("ccpulse-reason", reason.as_bytes().to_vec()),
        ("ccpulse-error", error.to_string().into_bytes()),
    ];
    if let Some(f) = field {
        headers.push(("ccpulse-field", f.as_bytes().to_vec()));
    }
    RecordDeadLettered {
        topic,
        partition,
        offset,
        reason,
        error,
    }
    .emit();
    let key = key.map(|k| {
        if k.len() > DEAD_LETTER_MAX_KEY {
            headers.push((
                "ccpulse-original-key-size",
                k.len().to_string().into_bytes(),
            ));
            k[..DEAD_LETTER_MAX_KEY].to_vec()
        } else {
            k.to_vec()
        }
    });
    let mut rec = OutRecord {
        topic: dlq.to_string(),
        partition: None,
        key,
        value: value.to_vec(),
        headers,
        kind: OutKind::DeadLetter,
    };
    shrink_dead_letter(&mut rec, max_value);
    rec
}

/// Cut a dead letter's value to `max` bytes, recording the original's size
/// and hash (once: a second cut keeps the first one's headers).
pub(super) fn shrink_dead_letter(rec: &mut OutRecord, max: usize) {
    if rec.value.len() <= max {
        return;
    }
    if !rec
        .headers
        .iter()
        .any(|(k, _)| *k == "ccpulse-original-size")
    {
        let hash = xxhash_rust::xxh3::xxh3_128(&rec.value);
        rec.headers.extend([
            ("ccpulse-truncated", b"true".to_vec()),
            (
                "ccpulse-original-size",
                rec.value.len().to_string().into_bytes(),
            ),
            ("ccpulse-original-xxh3", format!("{hash:032x}").into_bytes()),
        ]);
    }
    rec.value.truncate(max);
}

/// A dead letter for a record read by a plain consumer (the agent topic).
pub(super) fn dead_letter(
    dlq: &str,
    max_value: usize,
    m: &rdkafka::message::BorrowedMessage<'_>,
    e: &DecodeError,
) -> OutRecord {
    dead_letter_record(
        dlq,
        max_value,
        Source {
            topic: m.topic(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key(),
            value: m.payload().unwrap_or_default(),
        },
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

/// The customer-stage partition of a customer, of `partitions`: a
/// stable hash of tenant and customer (the same in every version, so an
/// upgrade never moves a customer's facts to another partition).
pub(super) fn stage_partition(f: &CustomerFact, partitions: i32) -> i32 {
    let tenant = f.tenant.as_deref().map_or(0, |t| xxh3_64(t.as_bytes()));
    ((f.customer ^ tenant) % partitions.max(1) as u64) as i32
}

/// The customer facts a task stated, as records for the customer stage's
/// topic: one per partition they go to, each a postcard-encoded list in
/// the order stated. A record per fact would cost a produce, a delivery
/// report and a fetched record each (about a third of the service's CPU
/// in the throughput bench); a list per batch costs one.
pub(super) fn fact_records(topic: &str, partitions: i32, facts: &[CustomerFact]) -> Vec<OutRecord> {
    let mut by: BTreeMap<i32, Vec<&CustomerFact>> = BTreeMap::new();
    for f in facts {
        by.entry(stage_partition(f, partitions))
            .or_default()
            .push(f);
    }
    by.into_iter()
        .map(|(p, fs)| OutRecord {
            topic: topic.to_string(),
            partition: Some(p),
            key: None,
            value: postcard::to_allocvec(&fs).unwrap_or_default(),
            headers: vec![("content-type", FACTS_CONTENT_TYPE.to_vec())],
            kind: OutKind::Fact,
        })
        .collect()
}

/// What a customer-stage record holds.
const FACTS_CONTENT_TYPE: &[u8] = b"application/vnd.ccpulse.customer-facts+postcard";

/// A customer-stage record back into its facts; a record that is not a
/// list of them is dead-lettered with the reason.
pub(super) fn decode_facts(value: &[u8]) -> Result<Vec<CustomerFact>, DecodeError> {
    postcard::from_bytes(value).map_err(|e| DecodeError::Invalid {
        field: "customer_facts".into(),
        reason: format!("not a list of customer facts: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccpulse_core::engine::FactKind;
    use ccpulse_core::event::Channel;

    fn fact(customer: u64, at: Millis) -> CustomerFact {
        CustomerFact {
            tenant: None,
            customer,
            interaction: customer * 100,
            at,
            queue: "billing".into(),
            channel: Channel::Voice,
            kind: FactKind::Contact,
        }
    }

    #[test]
    fn facts_go_one_record_per_stage_partition_in_the_order_stated() {
        // Default tenant: the partition is the customer hash modulo 4.
        let facts = [fact(10, 1), fact(11, 2), fact(14, 3)];
        let recs = fact_records("customers", 4, &facts);
        let got: Vec<(Option<i32>, Vec<CustomerFact>)> = recs
            .iter()
            .map(|r| (r.partition, decode_facts(&r.value).expect("decodes")))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(2), vec![fact(10, 1), fact(14, 3)]),
                (Some(3), vec![fact(11, 2)]),
            ]
        );
        assert!(recs.iter().all(|r| r.topic == "customers"));
    }

    #[test]
    fn a_record_that_is_not_a_list_of_facts_is_refused_with_the_reason() {
        let e = decode_facts(b"{\"not\": \"postcard\"}").expect_err("refused");
        assert_eq!(e.reason_code(), "invalid_field");
        assert!(e.to_string().contains("customer_facts"), "{e}");
    }

    #[test]
    fn an_oversized_dead_letter_is_cut_with_its_size_and_hash() {
        let value = vec![b'x'; 5_000];
        let e = DecodeError::TooLarge {
            len: 5_000,
            max: 1_000,
        };
        let src = Source {
            topic: "in",
            partition: 2,
            offset: 7,
            key: Some(b"k"),
            value: &value,
        };
        let rec = dead_letter_record("dlq", 4_096, src, &e);
        assert_eq!(rec.value.len(), 4_096);
        let header = |k: &str| {
            rec.headers
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(header("ccpulse-original-size").as_deref(), Some("5000"));
        assert_eq!(header("ccpulse-source-offset").as_deref(), Some("7"));
        assert_eq!(header("ccpulse-reason").as_deref(), Some("too_large"));
        let hash = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&value));
        assert_eq!(header("ccpulse-original-xxh3"), Some(hash));
        // A second, smaller cut keeps the original's size and hash.
        let mut rec = rec;
        shrink_dead_letter(&mut rec, 100);
        assert_eq!(rec.value.len(), 100);
        let sizes = rec
            .headers
            .iter()
            .filter(|(n, _)| *n == "ccpulse-original-size")
            .count();
        assert_eq!(sizes, 1);
    }

    #[test]
    fn a_batch_gives_back_each_record_as_pushed() {
        let records = [
            Record {
                offset: 3,
                key: Some(b"k1"),
                value: b"v1",
                content_type: None,
                timestamp: Some(7),
            },
            Record {
                offset: 4,
                key: None,
                value: b"",
                content_type: Some(b"application/json"),
                timestamp: None,
            },
            Record {
                offset: 9,
                key: Some(b""),
                value: b"value",
                content_type: Some(b""),
                timestamp: Some(-1),
            },
        ];
        let mut b = Batch::with_capacity(1, 1);
        for r in records {
            b.push(r);
        }
        assert_eq!(b.len(), 3);
        let back: Vec<_> = b.iter().collect();
        for (got, want) in back.iter().zip(&records) {
            assert_eq!(got.offset, want.offset);
            assert_eq!(got.key, want.key);
            assert_eq!(got.value, want.value);
            assert_eq!(got.content_type, want.content_type);
            assert_eq!(got.timestamp, want.timestamp);
        }
    }

    fn filled(pool: &BatchPool, bytes: usize) -> Batch {
        let mut b = pool.take(1, bytes);
        b.push(Record {
            offset: 1,
            key: None,
            value: &vec![7; bytes],
            content_type: None,
            timestamp: None,
        });
        b
    }

    fn kept(pool: &BatchPool) -> (usize, usize) {
        pool.0
            .lock()
            .map(|k| (k.small.len(), k.large.len()))
            .unwrap_or_default()
    }

    #[test]
    fn a_large_batch_given_back_is_refilled_empty_with_its_room() {
        let pool = BatchPool::default();
        let big = BatchPool::LARGE;
        pool.give(filled(&pool, big));
        let again = pool.take(1, big);
        assert!(again.is_empty());
        assert_eq!(again.iter().count(), 0);
        assert!(again.bytes.capacity() >= big, "the buffer is kept");
        // Only a few are kept: a burst does not pin its memory.
        for _ in 0..BatchPool::KEEP + 5 {
            pool.give(Batch::with_capacity(1, big));
        }
        assert_eq!(kept(&pool), (0, BatchPool::KEEP));
    }

    #[test]
    fn a_quiet_partition_gets_small_batches_never_the_large_ones() {
        let pool = BatchPool::default();
        pool.give(filled(&pool, BatchPool::LARGE));
        let small = pool.take(1, 100);
        assert!(small.bytes.capacity() < BatchPool::LARGE);
        assert_eq!(kept(&pool), (0, 1));
    }

    #[test]
    fn small_batches_are_recycled_too_with_the_room_asked_for() {
        let pool = BatchPool::default();
        pool.give(filled(&pool, 100));
        assert_eq!(kept(&pool), (1, 0));
        // Asked for more than it had: the recycled batch grows to it.
        let again = pool.take(10, 1000);
        assert!(again.is_empty());
        assert!(again.bytes.capacity() >= 1000 && again.entries.capacity() >= 10);
        assert_eq!(kept(&pool), (0, 0));
        for _ in 0..BatchPool::KEEP_SMALL + 5 {
            pool.give(Batch::with_capacity(1, 100));
        }
        assert_eq!(kept(&pool), (BatchPool::KEEP_SMALL, 0));
    }

    #[test]
    fn ticks_and_skips_share_the_ticks_topic() {
        let t: Recorded =
            serde_json::from_str(r#"{"after_offset":4,"watermark":9}"#).expect("tick");
        assert!(matches!(
            t,
            Recorded::Tick(Tick {
                after_offset: 4,
                watermark: 9
            })
        ));
        let s: Recorded = serde_json::from_str(r#"{"skip_offset":5}"#).expect("skip");
        assert!(matches!(s, Recorded::Skip(Skip { skip_offset: 5 })));
    }
}
