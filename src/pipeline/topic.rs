//! Reading one partition of a topic from its beginning (restore, reading
//! back effects and ticks, the agent topic's headers). Blocking: run on a
//! blocking thread.

use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::error::{kerr, PipelineError};
use super::kafka::{reader, Reader};
use super::settings::KafkaConfig;

/// How long a read may make no progress before restore gives up.
const STALL: Duration = Duration::from_secs(60);

/// `(low, high)` watermarks of a partition.
pub(super) fn watermarks(
    c: &Reader,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), PipelineError> {
    c.fetch_watermarks(topic, partition, Duration::from_secs(10))
        .map_err(kerr(format!("fetching watermarks of {topic}/{partition}")))
}

/// Call `f` for every record of `topic/partition` from the beginning up to
/// (excluding) offset `until`, or to the end when `until` is `None`.
/// Returns the number of records read.
pub(super) fn read(
    k: &KafkaConfig,
    topic: &str,
    partition: i32,
    until: Option<i64>,
    mut f: impl FnMut(&BorrowedMessage<'_>),
) -> Result<u64, PipelineError> {
    let c = reader(k, "restore")?;
    let (low, high) = watermarks(&c, topic, partition)?;
    let end = until.map_or(high, |u| u.min(high));
    if end <= low {
        return Ok(0);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)
        .map_err(kerr("building an assignment"))?;
    c.assign(&tpl)
        .map_err(kerr(format!("assigning {topic}/{partition}")))?;
    let mut n = 0;
    let mut stalled_since = std::time::Instant::now();
    // End-of-partition only means "caught up with the last fetch": the
    // reader is done when its position reaches `end`. (Transaction markers
    // occupy offsets but are never delivered, so a record at `end - 1` may
    // never come; the position still moves past them.)
    let position = |c: &Reader| -> Option<i64> {
        c.position()
            .ok()?
            .elements()
            .iter()
            .find_map(|e| match e.offset() {
                Offset::Offset(o) if e.topic() == topic && e.partition() == partition => Some(o),
                _ => None,
            })
    };
    loop {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                stalled_since = std::time::Instant::now();
                if m.offset() >= end {
                    break;
                }
                f(&m);
                n += 1;
                if m.offset() + 1 >= end {
                    break;
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {
                if position(&c).is_some_and(|p| p >= end) {
                    break;
                }
                if stalled_since.elapsed() > STALL {
                    return Err(PipelineError::Restore {
                        topic: topic.to_string(),
                        partition,
                        at: position(&c).unwrap_or(low),
                        end,
                    });
                }
            }
            Some(Err(e)) => return Err(kerr(format!("reading {topic}/{partition}"))(e)),
        }
    }
    Ok(n)
}

/// A header's value, if present.
pub(super) fn header<'a>(m: &'a BorrowedMessage<'_>, key: &str) -> Option<&'a [u8]> {
    m.headers()?
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
}
