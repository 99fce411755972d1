//! Engine checkpoints on the compacted checkpoints topic: how a partition's
//! checkpoint (the core's bytes, `ccpulse_core::engine::checkpoint`) is
//! written as records and found again.
//!
//! # Records
//! One checkpoint of input `topic/partition` is written to the checkpoints
//! topic's partition of the same number as `chunks` records (each at most a
//! producer message's size) and then a manifest, all in one output batch
//! (in one transaction under exactly-once, with the offsets it covers):
//!
//! - chunk `i`: key `ckpt/{topic}/{partition}/{slot}/{i}`, value the bytes,
//!   header `ccpulse-checkpoint-id`;
//! - manifest: key `ckpt/{topic}/{partition}/{slot}`, value JSON
//!   ([`Manifest`]): id, the input offset it covers, chunk count, length,
//!   hash, when it was written.
//!
//! `slot` alternates (`id % 2`): compaction keeps the latest value per key,
//! so a checkpoint being written (or half written when the process died)
//! only ever replaces the older of the two, and the newer complete one
//! stays readable.

use std::collections::BTreeMap;

use rdkafka::consumer::Consumer;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use serde::{Deserialize, Serialize};

use super::error::PipelineError;
use super::records::{OutKind, OutRecord};
use super::settings::KafkaConfig;
use super::topic::Reads;

const ID_HEADER: &str = "ccpulse-checkpoint-id";

/// Room kept below the producer's `message.max.bytes` for key, headers
/// and framing.
const HEADROOM: usize = 64 * 1024;

/// What a checkpoint is, as its manifest says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Increases with every checkpoint of the partition.
    pub id: u64,
    pub input: String,
    pub partition: i32,
    /// The last input offset folded into it (-1: none).
    pub offset: i64,
    pub chunks: u32,
    pub bytes: u64,
    /// xxh3-64 of the whole checkpoint.
    pub xxh3: u64,
    /// Wall clock when it was taken: effects and ticks decided after it
    /// were produced after this.
    pub written_at_ms: i64,
    /// The engine's watermark in it (`None` before the first event).
    pub watermark: Option<i64>,
}

/// The records that write `bytes` as checkpoint `m.id`: chunks, then the
/// manifest. `m.chunks`, `m.bytes` and `m.xxh3` are filled in here.
pub(super) fn records(k: &KafkaConfig, mut m: Manifest, bytes: &[u8]) -> Vec<OutRecord> {
    let chunk = k.max_message_bytes().saturating_sub(HEADROOM).max(4 * 1024);
    let slot = m.id % 2;
    let base = format!("ckpt/{}/{}/{slot}", m.input, m.partition);
    let mut out: Vec<OutRecord> = bytes
        .chunks(chunk)
        .enumerate()
        .map(|(i, c)| OutRecord {
            topic: k.topics.checkpoints.clone(),
            partition: Some(m.partition),
            key: Some(format!("{base}/{i}").into_bytes()),
            value: c.to_vec(),
            headers: vec![(ID_HEADER, m.id.to_string().into_bytes())],
            kind: OutKind::Checkpoint,
        })
        .collect();
    m.chunks = out.len() as u32;
    m.bytes = bytes.len() as u64;
    m.xxh3 = xxhash_rust::xxh3::xxh3_64(bytes);
    out.push(OutRecord {
        topic: k.topics.checkpoints.clone(),
        partition: Some(m.partition),
        key: Some(base.into_bytes()),
        value: serde_json::to_vec(&m).unwrap_or_default(),
        headers: vec![("content-type", b"application/json".to_vec())],
        kind: OutKind::Checkpoint,
    });
    out
}

/// A checkpoint read back, whole and matching its manifest's hash.
#[derive(Debug)]
pub struct Found {
    pub manifest: Manifest,
    pub bytes: Vec<u8>,
}

/// What one slot holds while reading: its latest manifest and chunks.
#[derive(Default)]
struct Slot {
    manifest: Option<Manifest>,
    chunks: BTreeMap<u32, (u64, Vec<u8>)>,
}

impl Slot {
    /// The checkpoint, if the manifest's chunks are all there, all of its
    /// id, and hash to what it says.
    fn assemble(&self) -> Option<Found> {
        let m = self.manifest.clone()?;
        let mut bytes = Vec::with_capacity(m.bytes as usize);
        for i in 0..m.chunks {
            match self.chunks.get(&i) {
                Some((id, c)) if *id == m.id => bytes.extend_from_slice(c),
                _ => return None,
            }
        }
        (bytes.len() as u64 == m.bytes && xxhash_rust::xxh3::xxh3_64(&bytes) == m.xxh3)
            .then_some(Found { manifest: m, bytes })
    }
}

/// Every complete checkpoint of `input/partition` on the checkpoints
/// topic, newest first (at most two: the slots).
pub(super) fn find(
    reads: &Reads<'_>,
    input: &str,
    partition: i32,
) -> Result<Vec<Found>, PipelineError> {
    let k = reads.kafka;
    let mut slots: BTreeMap<String, Slot> = BTreeMap::new();
    reads.read(&k.topics.checkpoints, partition, None, None, |m| {
        take(m, Some((input, partition)), &mut slots)
    })?;
    let mut found: Vec<Found> = slots.values().filter_map(Slot::assemble).collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.manifest.id));
    Ok(found)
}

/// Every complete checkpoint on the checkpoints topic, of every input
/// partition, newest first per partition (for `ccpulse checkpoint
/// inspect`). Blocking.
pub fn stored(k: &KafkaConfig) -> Result<Vec<Found>, PipelineError> {
    let stop = tokio_util::sync::CancellationToken::new();
    let reads = Reads {
        kafka: k,
        budget: std::time::Duration::from_millis(k.retry_budget.max(0) as u64),
        stop: &stop,
    };
    let c = super::kafka::reader(k, "inspect")?;
    let md = super::retry::blocking(
        "reading the checkpoints topic's metadata",
        reads.budget,
        &stop,
        || {
            c.fetch_metadata(
                Some(&k.topics.checkpoints),
                std::time::Duration::from_secs(10),
            )
        },
    )?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut all = Vec::new();
    for p in partitions {
        let mut slots: BTreeMap<String, Slot> = BTreeMap::new();
        reads.read(&k.topics.checkpoints, p, None, None, |m| {
            take(m, None, &mut slots)
        })?;
        let mut found: Vec<Found> = slots.values().filter_map(Slot::assemble).collect();
        found.sort_by_key(|f| (f.manifest.input.clone(), std::cmp::Reverse(f.manifest.id)));
        all.extend(found);
    }
    Ok(all)
}

/// One record of the checkpoints topic into `slots` (grouped by
/// `{input}/{partition}/{slot}`), if it belongs to `only` (input,
/// partition) or `only` is `None`.
fn take(m: &BorrowedMessage<'_>, only: Option<(&str, i32)>, slots: &mut BTreeMap<String, Slot>) {
    let Some(key) = m.key().and_then(|k| std::str::from_utf8(k).ok()) else {
        return;
    };
    let id = m.headers().and_then(|h| {
        h.iter()
            .find(|h| h.key == ID_HEADER)
            .and_then(|h| std::str::from_utf8(h.value?).ok()?.parse::<u64>().ok())
    });
    put(key, id, m.payload().unwrap_or_default(), only, slots);
}

/// [`take`] on the parts of a record. Keys are
/// `ckpt/{input}/{partition}/{slot}` (manifest) and `…/{slot}/{chunk}`;
/// topic names cannot hold a `/`.
fn put(
    key: &str,
    id: Option<u64>,
    value: &[u8],
    only: Option<(&str, i32)>,
    slots: &mut BTreeMap<String, Slot>,
) {
    let parts: Vec<&str> = key.split('/').collect();
    let ["ckpt", input, partition, slot, rest @ ..] = parts.as_slice() else {
        return;
    };
    let Ok(partition) = partition.parse::<i32>() else {
        return;
    };
    if only.is_some_and(|(i, p)| i != *input || p != partition) {
        return;
    }
    let entry = slots
        .entry(format!("{input}/{partition}/{slot}"))
        .or_default();
    match rest {
        [] => {
            if let Ok(man) = serde_json::from_slice::<Manifest>(value) {
                entry.manifest = Some(man);
            }
        }
        [i] => {
            if let (Ok(i), Some(id)) = (i.parse::<u32>(), id) {
                entry.chunks.insert(i, (id, value.to_vec()));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(id: u64) -> Manifest {
        Manifest {
            id,
            input: "in".into(),
            partition: 3,
            offset: 41,
            chunks: 0,
            bytes: 0,
            xxh3: 0,
            written_at_ms: 5,
            watermark: Some(7),
        }
    }

    /// Feed the records `records` wrote into slots, as `find` does.
    fn slots_of(records: &[OutRecord]) -> BTreeMap<String, Slot> {
        let mut slots: BTreeMap<String, Slot> = BTreeMap::new();
        for r in records {
            let key = String::from_utf8(r.key.clone().unwrap_or_default()).unwrap_or_default();
            let id = r
                .headers
                .iter()
                .find(|(k, _)| *k == ID_HEADER)
                .and_then(|(_, v)| String::from_utf8_lossy(v).parse().ok());
            put(&key, id, &r.value, Some(("in", 3)), &mut slots);
        }
        slots
    }

    #[test]
    fn a_checkpoint_larger_than_a_message_is_chunked_and_reassembled() {
        let mut k = KafkaConfig::default();
        k.properties
            .insert("message.max.bytes".into(), "100000".into());
        let bytes: Vec<u8> = (0..250_000u32).map(|i| (i % 251) as u8).collect();
        let recs = records(&k, manifest(4), &bytes);
        // 100,000 - 65,536 = 34,464 bytes a chunk: 8 chunks and a manifest.
        assert_eq!(recs.len(), 8 + 1);
        assert!(recs.iter().all(|r| r.value.len() <= 100_000 - 64 * 1024));
        let found = slots_of(&recs)["in/3/0"].assemble().expect("complete");
        assert_eq!(found.bytes, bytes);
        assert_eq!(found.manifest.chunks, 8);
        assert_eq!(found.manifest.offset, 41);
    }

    #[test]
    fn a_half_written_checkpoint_leaves_the_previous_one_readable() {
        let k = KafkaConfig::default();
        let old = records(&k, manifest(4), b"old state");
        let mut new = records(&k, manifest(5), b"new state");
        new.pop(); // died before the manifest
        let mut all = old.clone();
        all.extend(new);
        let slots = slots_of(&all);
        // Slot 1 (id 5) has chunks but no manifest; slot 0 (id 4) is whole.
        assert!(slots["in/3/1"].assemble().is_none());
        assert_eq!(
            slots["in/3/0"].assemble().expect("old one").bytes,
            b"old state"
        );
    }

    #[test]
    fn chunks_of_another_id_do_not_complete_a_manifest() {
        let k = KafkaConfig::default();
        let first = records(&k, manifest(2), b"aaaa");
        let mut second = records(&k, manifest(4), b"bbbb");
        // The manifest of id 2 survives, its chunk was overwritten by id 4.
        let manifest_2 = first.last().cloned().expect("manifest");
        second.pop();
        second.push(manifest_2);
        let slots = slots_of(&second);
        assert!(slots["in/3/0"].assemble().is_none());
    }
}
