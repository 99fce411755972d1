//! Reading one partition of a topic from its beginning (restore, reading
//! back effects, ticks and skips), retrying what a slow or briefly absent
//! broker fails. Blocking: run on a blocking thread.

use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::error::{kerr, PipelineError};
use super::kafka::{reader, Reader};
use super::retry::{blocking, per_call, Retry};
use super::settings::KafkaConfig;

/// Reads for one restore: the settings, how long a failing call or a read
/// that makes no progress is retried, and the token that ends it early.
pub(super) struct Reads<'a> {
    pub kafka: &'a KafkaConfig,
    pub budget: Duration,
    pub stop: &'a CancellationToken,
}

impl Reads<'_> {
    /// `(low, high)` watermarks of a partition.
    pub(super) fn watermarks(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<(i64, i64), PipelineError> {
        let c = reader(self.kafka, "restore-watermarks")?;
        self.watermarks_with(&c, topic, partition)
    }

    fn watermarks_with(
        &self,
        c: &Reader,
        topic: &str,
        partition: i32,
    ) -> Result<(i64, i64), PipelineError> {
        let what = format!("fetching the watermarks of {topic}/{partition}");
        blocking(&what, self.budget, self.stop, || {
            c.fetch_watermarks(topic, partition, per_call(self.budget))
        })
    }

    /// The first offset of `topic/partition` with a record timestamp at or
    /// after `at_ms` (the end if there is none).
    pub(super) fn offset_at(
        &self,
        topic: &str,
        partition: i32,
        at_ms: i64,
    ) -> Result<i64, PipelineError> {
        let c = reader(self.kafka, "restore-times")?;
        let what = format!("finding the offset of {topic}/{partition} at a time");
        let tpl = blocking(&what, self.budget, self.stop, || {
            let mut q = TopicPartitionList::new();
            q.add_partition_offset(topic, partition, Offset::Offset(at_ms))?;
            c.offsets_for_times(q, per_call(self.budget))
        })?;
        let found = tpl.elements().first().map(|e| e.offset());
        match found {
            Some(Offset::Offset(o)) => Ok(o),
            // No record that late: start at the end.
            _ => Ok(self.watermarks_with(&c, topic, partition)?.1),
        }
    }

    /// Call `f` for every record of `topic/partition` from offset `from`
    /// (the beginning when `None`) up to (excluding) offset `until`, or to
    /// the end when `until` is `None`. Returns the number of records read.
    /// Read errors are retried, and so is a read that makes no progress,
    /// for the retry budget each time.
    pub(super) fn read(
        &self,
        topic: &str,
        partition: i32,
        from: Option<i64>,
        until: Option<i64>,
        mut f: impl FnMut(&BorrowedMessage<'_>),
    ) -> Result<u64, PipelineError> {
        let c = reader(self.kafka, "restore")?;
        let (low, high) = self.watermarks_with(&c, topic, partition)?;
        let end = until.map_or(high, |u| u.min(high));
        let start = from.map_or(low, |f| f.max(low));
        if end <= start {
            return Ok(0);
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(start))
            .map_err(kerr("building an assignment"))?;
        c.assign(&tpl)
            .map_err(kerr(format!("assigning {topic}/{partition}")))?;
        let what = format!("reading {topic}/{partition}");
        let mut retry = Retry::new(&what, self.budget);
        let mut n = 0;
        let mut progress_at = Instant::now();
        // End-of-partition only means "caught up with the last fetch": the
        // reader is done when its position reaches `end`. (Transaction
        // markers occupy offsets but are never delivered, so a record at
        // `end - 1` may never come; the position still moves past them.)
        let position = |c: &Reader| -> Option<i64> {
            c.position()
                .ok()?
                .elements()
                .iter()
                .find_map(|e| match e.offset() {
                    Offset::Offset(o) if e.topic() == topic && e.partition() == partition => {
                        Some(o)
                    }
                    _ => None,
                })
        };
        loop {
            if self.stop.is_cancelled() {
                return Err(PipelineError::Stopped);
            }
            match c.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    progress_at = Instant::now();
                    retry = Retry::new(&what, self.budget);
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
                    if progress_at.elapsed() > self.budget {
                        return Err(PipelineError::Restore {
                            topic: topic.to_string(),
                            partition,
                            at: position(&c).unwrap_or(start),
                            end,
                            stalled_s: self.budget.as_secs(),
                        });
                    }
                }
                // librdkafka retries fetches itself; an error surfacing
                // here is counted against the budget like a failed call.
                Some(Err(e)) => retry.failed_blocking(e, self.stop)?,
            }
        }
        Ok(n)
    }
}

/// A header's value, if present.
pub(super) fn header<'a>(m: &'a BorrowedMessage<'_>, key: &str) -> Option<&'a [u8]> {
    m.headers()?
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
}
