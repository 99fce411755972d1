//! Reading one partition of a topic from its beginning, for restore and
//! for reading back effects and ticks. Blocking: run on a blocking thread.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::config::KafkaConfig;
use super::kafka::reader;
use super::{kerr, PipelineError};

/// `(low, high)` watermarks of a partition.
pub(super) fn watermarks(
    c: &BaseConsumer,
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
    let mut idle = 0;
    loop {
        match c.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                idle = 0;
                if m.offset() >= end {
                    break;
                }
                f(&m);
                n += 1;
                if m.offset() + 1 >= end {
                    break;
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(kerr(format!("reading {topic}/{partition}"))(e)),
            None => {
                // Transaction markers occupy offsets that are never
                // delivered; without records or EOF for a while, stop.
                idle += 1;
                if idle > 20 {
                    break;
                }
            }
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
