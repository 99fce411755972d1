//! The records' queue: every assigned partition's fetch queue is forwarded
//! to one librdkafka queue, which the poll thread reads in batches.
//!
//! # Why
//! The rdkafka crate hands out one record per `poll`, and each costs a
//! queue lock and two clock reads in librdkafka and the crate, an `Arc`
//! per record, and an event set up and torn down: with protobuf input,
//! the poll thread was 18 % of the service's CPU samples, most of it that
//! per-record overhead. `rd_kafka_consume_batch_queue` takes up to a batch
//! of records under one lock and one clock read. The crate does not wrap
//! it, so this module does, and nothing else in the service touches the
//! raw queue or messages.
//!
//! # How it stays correct
//! - Forwarding is set in the pre-assign callback, before librdkafka starts
//!   fetching the partition: librdkafka then never forwards that
//!   partition to the consumer's own queue (an application forward is
//!   sticky), so a partition's records all come through here, in order.
//!   The consumer's own queue still carries rebalances and errors, and is
//!   polled after every batch; a record found there anyway is routed the
//!   same way.
//! - librdkafka drops records of an outdated fetch (a partition revoked,
//!   sought or re-assigned since) from this queue as from its own, and
//!   moves the application position as `poll` does, transaction markers
//!   included.
//! - A message is destroyed only after the caller's closure has returned,
//!   and the closure sees it only through [`Polled`], whose borrows cannot
//!   outlive the call.
//! - The queue is destroyed by [`FetchQueue::close`] (or on drop), before
//!   the consumer is closed; forwards and reads made afterwards do
//!   nothing. Its handle sits behind a mutex, so a read and a close on
//!   different threads cannot overlap (the poll thread makes both; the
//!   lock is taken once per batch).

use std::ffi::{CStr, CString};
use std::ptr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaErrorCode;

/// Most records one read takes (its buffer of pointers lives on the poll
/// thread's stack).
pub const READ_BATCH: usize = 512;

/// One record as the poll thread routes it, borrowed from librdkafka for
/// the duration of a call.
pub struct Polled<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
    pub timestamp: Option<i64>,
    /// The `content-type` header, when it was asked for (parsing headers
    /// costs librdkafka an allocation per record).
    pub content_type: Option<&'a [u8]>,
}

impl<'a> Polled<'a> {
    /// A record that came through the consumer's own queue.
    pub(super) fn from_message(
        m: &'a rdkafka::message::BorrowedMessage<'a>,
        content_type: bool,
    ) -> Self {
        Polled {
            topic: m.topic(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key(),
            value: m.payload().unwrap_or_default(),
            timestamp: m.timestamp().to_millis(),
            content_type: if content_type {
                m.headers().and_then(|h| {
                    h.iter()
                        .find(|h| h.key == "content-type")
                        .and_then(|h| h.value)
                })
            } else {
                None
            },
        }
    }
}

/// The queue the assigned partitions' records are forwarded to.
pub struct FetchQueue {
    /// `None` once closed.
    queue: Mutex<Option<Handle>>,
}

/// librdkafka's queue handle.
struct Handle(ptr::NonNull<rd::rd_kafka_queue_t>);

// SAFETY: librdkafka's queues may be used from any thread; `FetchQueue`
// serialises every use of the handle through its mutex.
unsafe impl Send for Handle {}

impl FetchQueue {
    /// A new, empty queue of `consumer`'s client.
    pub fn new<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> Self {
        // SAFETY: the client handle is valid while `consumer` lives; the
        // queue holds its own reference to the client's internals and is
        // destroyed by `close`.
        let q = unsafe { rd::rd_kafka_queue_new(consumer.client().native_ptr()) };
        FetchQueue {
            queue: Mutex::new(ptr::NonNull::new(q).map(Handle)),
        }
    }

    /// Whether records can still be read here (not closed).
    pub fn is_open(&self) -> bool {
        self.handle().is_some()
    }

    fn handle(&self) -> MutexGuard<'_, Option<Handle>> {
        // The guarded value is a pointer: a panic elsewhere cannot leave
        // it half-written.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forward `topic`/`partition`'s records here. Call it before
    /// librdkafka starts fetching the partition (the pre-assign callback).
    /// `false` if librdkafka does not know the partition or the queue is
    /// closed; its records then come through the consumer's own queue.
    pub fn forward<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        topic: &str,
        partition: i32,
    ) -> bool {
        let Ok(name) = CString::new(topic) else {
            return false;
        };
        let guard = self.handle();
        let Some(dest) = guard.as_ref().map(|h| h.0.as_ptr()) else {
            return false;
        };
        // SAFETY: the client handle is valid while `consumer` lives and
        // `name` is NUL-terminated; the partition's queue handle is only a
        // reference, released right after setting the forward (the
        // forward keeps its own reference to `dest`).
        unsafe {
            let src = rd::rd_kafka_queue_get_partition(
                consumer.client().native_ptr(),
                name.as_ptr(),
                partition,
            );
            if src.is_null() {
                return false;
            }
            rd::rd_kafka_queue_forward(src, dest);
            rd::rd_kafka_queue_destroy(src);
        }
        true
    }

    /// Wait up to `wait` for records, then hand each of at most
    /// [`READ_BATCH`] that are ready to `f`, in queue order: a record (with
    /// its content type if `content_type`), or the error librdkafka
    /// reported in its place. Returns how many were handed out (0 at once
    /// when closed). `f` must not call back into this queue.
    pub fn read(
        &self,
        wait: Duration,
        content_type: bool,
        mut f: impl FnMut(Result<Polled<'_>, KafkaError>),
    ) -> usize {
        let guard = self.handle();
        let Some(q) = guard.as_ref().map(|h| h.0.as_ptr()) else {
            return 0;
        };
        let mut buf: [*mut rd::rd_kafka_message_t; READ_BATCH] = [ptr::null_mut(); READ_BATCH];
        let wait_ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `q` stays open while the guard is held, and `buf` has
        // room for READ_BATCH pointers.
        let n =
            unsafe { rd::rd_kafka_consume_batch_queue(q, wait_ms, buf.as_mut_ptr(), READ_BATCH) };
        let n = usize::try_from(n).unwrap_or(0).min(READ_BATCH);
        for &m in &buf[..n] {
            // SAFETY: librdkafka filled the first `n` slots with valid
            // messages; each is read here and destroyed once `f` returned.
            unsafe {
                f(view(m).map(|mut p| {
                    if content_type {
                        p.content_type = header_content_type(m);
                    }
                    p
                }));
                rd::rd_kafka_message_destroy(m);
            }
        }
        n
    }

    /// Destroy the queue (once; later reads and forwards do nothing).
    pub fn close(&self) {
        if let Some(h) = self.handle().take() {
            // SAFETY: the handle came from `rd_kafka_queue_new` and, taken
            // out under the lock, is destroyed exactly once.
            unsafe { rd::rd_kafka_queue_destroy(h.0.as_ptr()) };
        }
    }
}

impl Drop for FetchQueue {
    fn drop(&mut self) {
        self.close();
    }
}

/// A message's fields as a [`Polled`], or its error.
///
/// # Safety
/// `m` must be a valid message that outlives the returned borrows.
unsafe fn view<'a>(m: *mut rd::rd_kafka_message_t) -> Result<Polled<'a>, KafkaError> {
    let r = &*m;
    if r.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Err(KafkaError::MessageConsumption(RDKafkaErrorCode::from(
            r.err,
        )));
    }
    let topic = CStr::from_ptr(rd::rd_kafka_topic_name(r.rkt))
        .to_str()
        .map_err(|_| KafkaError::MessageConsumption(RDKafkaErrorCode::InvalidTopic))?;
    let key = (!r.key.is_null()).then(|| std::slice::from_raw_parts(r.key as *const u8, r.key_len));
    let value: &[u8] = if r.payload.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(r.payload as *const u8, r.len)
    };
    let ts = rd::rd_kafka_message_timestamp(m, ptr::null_mut());
    Ok(Polled {
        topic,
        partition: r.partition,
        offset: r.offset,
        key,
        value,
        timestamp: (ts >= 0).then_some(ts),
        content_type: None,
    })
}

/// The `content-type` header of message `m`.
///
/// # Safety
/// `m` must be a valid message that outlives the returned borrow.
unsafe fn header_content_type<'a>(m: *mut rd::rd_kafka_message_t) -> Option<&'a [u8]> {
    let mut hdrs: *mut rd::rd_kafka_headers_t = ptr::null_mut();
    if rd::rd_kafka_message_headers(m, &mut hdrs)
        != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
    {
        return None;
    }
    let mut value: *const std::ffi::c_void = ptr::null();
    let mut size = 0usize;
    let err = rd::rd_kafka_header_get_last(hdrs, c"content-type".as_ptr(), &mut value, &mut size);
    if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || value.is_null() {
        return None;
    }
    Some(std::slice::from_raw_parts(value as *const u8, size))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, OnceLock};
    use std::time::Instant;

    use rdkafka::consumer::Rebalance;
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::ClientConfig;

    use super::*;

    /// Forwards each assigned partition before librdkafka fetches it, as
    /// the poll thread's rebalance handler does.
    #[derive(Default)]
    struct Forwarding {
        queue: OnceLock<Arc<FetchQueue>>,
    }

    impl rdkafka::ClientContext for Forwarding {}

    impl ConsumerContext for Forwarding {
        fn pre_rebalance(&self, c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
            if let (Rebalance::Assign(tpl), Some(q)) = (r, self.queue.get()) {
                for e in tpl.elements() {
                    assert!(q.forward(c, e.topic(), e.partition()), "forwarded");
                }
            }
        }
    }

    const RECORDS: usize = 300;

    /// A record as read: offset, key, value, content type.
    type Read = (i64, String, String, Vec<u8>);

    #[test]
    fn every_record_of_the_assigned_partitions_comes_through_the_batch_queue_in_order() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic("in", 2, 1).expect("topic");
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .expect("producer");
        for i in 0..RECORDS {
            let (key, value) = (format!("k{i}"), format!("v{i}"));
            producer
                .send(
                    BaseRecord::to("in")
                        .partition((i % 2) as i32)
                        .key(&key)
                        .payload(&value)
                        .headers(OwnedHeaders::new().insert(Header {
                            key: "content-type",
                            value: Some("application/x-protobuf"),
                        })),
                )
                .map_err(|(e, _)| e)
                .expect("queued");
        }
        producer.flush(Duration::from_secs(10)).expect("flushed");

        let consumer: BaseConsumer<Forwarding> = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .set("group.id", "g")
            .set("auto.offset.reset", "earliest")
            .create_with_context(Forwarding::default())
            .expect("consumer");
        let queue = Arc::new(FetchQueue::new(&consumer));
        let _ = consumer.context().queue.set(queue.clone());
        consumer.subscribe(&["in"]).expect("subscribed");

        // Per partition, in arrival order.
        let mut got: BTreeMap<i32, Vec<Read>> = BTreeMap::new();
        let mut one_by_one = 0;
        let mut largest_read = 0;
        let until = Instant::now() + Duration::from_secs(30);
        while got.values().map(Vec::len).sum::<usize>() < RECORDS && Instant::now() < until {
            let n = queue.read(Duration::from_millis(100), true, |r| {
                let m = r.expect("no consumer error");
                let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("utf-8");
                got.entry(m.partition).or_default().push((
                    m.offset,
                    text(m.key.expect("a key")),
                    text(m.value),
                    m.content_type.expect("the content type").to_vec(),
                ));
            });
            largest_read = largest_read.max(n);
            if let Some(Ok(_)) = consumer.poll(Duration::ZERO) {
                one_by_one += 1;
            }
        }

        assert_eq!(
            one_by_one, 0,
            "no record came through the consumer's own queue"
        );
        assert!(
            largest_read > 1,
            "records were read in batches, not one by one"
        );
        for p in 0..2i32 {
            let want: Vec<Read> = (0..RECORDS)
                .filter(|i| i % 2 == p as usize)
                .enumerate()
                .map(|(offset, i)| {
                    (
                        offset as i64,
                        format!("k{i}"),
                        format!("v{i}"),
                        b"application/x-protobuf".to_vec(),
                    )
                })
                .collect();
            assert_eq!(got.get(&p), Some(&want), "partition {p}, in order");
        }

        assert!(queue.is_open());
        queue.close();
        assert!(!queue.is_open());
        let asked = Instant::now();
        assert_eq!(
            queue.read(Duration::from_secs(5), false, |_| {}),
            0,
            "a closed queue reads nothing"
        );
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "without waiting for records"
        );
        assert!(!queue.forward(&consumer, "in", 0), "nor forwards");
    }
}
