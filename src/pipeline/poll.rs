//! The poll thread: owns the group consumer's poll loop, routes records to
//! partition tasks in batches, and runs the rebalance protocol (which may
//! block: it waits for tasks to drain and for the output to commit).
//!
//! Records are handed over per partition in batches of what librdkafka has
//! ready (up to `kafka.batch_size`): one channel send and at most one task
//! wake-up per batch instead of per record. A batch is sent when it is
//! full, when the consumer has nothing more ready, and before a partition
//! is revoked (the rebalance callback runs inside `poll`). A batch holds
//! its records' bytes in one buffer (`records::Batch`): no allocation per
//! record, and a task hands a folded batch back (`records::BatchPool`) for
//! the poll thread to refill, so buffers are not allocated per batch either.
//!
//! Records are read from librdkafka in batches too (`fetchq`): the
//! partitions' records are forwarded to one queue read up to
//! `fetchq::READ_BATCH` at a time; the consumer's own queue, polled after
//! each read without waiting, carries rebalances and errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::TopicPartitionList;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::context::Shared;
use super::error::{kerr, PipelineError};
use super::fetchq::{FetchQueue, Polled, READ_BATCH};
use super::kafka::{GroupConsumer, GroupCtx, RebalanceHandler};
use super::output::Out;
use super::progress::Progress;
use super::records::{Batch, BatchPool, Record};
use super::settings::InputFormat;
use super::task;
use crate::telemetry::events::PartitionsChanged;
use crate::telemetry::InternalEvent;

/// How often the poll thread reads librdkafka's positions for the tasks'
/// idle check (far below any sensible `idle_timeout`).
const POSITION_REFRESH: Duration = Duration::from_millis(100);

/// Batches that may wait for a partition task. Deep enough that a task
/// keeps folding while the poll thread waits for a fetch or for a core,
/// and that one partition's full queue rarely holds the others' records
/// back (64 instead of 8: 1.13× the events/s in the throughput bench on 2
/// shared cores, protobuf, median of 3 rounds side by side).
const TASK_QUEUE: usize = 64;

/// A partition's batch is sent once it holds this many bytes, whatever
/// `kafka.batch_size` says, so the records waiting for a task stay within
/// about `TASK_QUEUE` MiB (plus one record per batch) however large they
/// are.
const BATCH_BYTES: usize = 1 << 20;

struct TaskHandle {
    tx: mpsc::Sender<Batch>,
    done: oneshot::Receiver<()>,
    /// Polled, not yet sent.
    pending: Batch,
    progress: Arc<Progress>,
}

impl TaskHandle {
    /// Send the pending batch; blocks while the task's queue is full
    /// (backpressure on the poll loop).
    fn flush(&mut self, pool: &BatchPool, topic: &str, partition: i32) {
        if self.pending.is_empty() {
            return;
        }
        // The next batch starts with the room the last one needed, in one
        // a task has folded if there is one (`BatchPool`).
        let room = pool.take(self.pending.len(), self.pending.bytes());
        let batch = std::mem::replace(&mut self.pending, room);
        if self.tx.blocking_send(batch).is_err() {
            warn!(
                topic,
                partition, "task gone; records dropped (they will be re-read after restart)"
            );
        }
    }
}

struct Handler {
    ctx: Arc<Shared>,
    tasks: Mutex<HashMap<(String, i32), TaskHandle>>,
    /// Where the assigned partitions' records are read from.
    fetch: FetchQueue,
}

impl Handler {
    fn flush_all(&self) {
        if let Ok(mut tasks) = self.tasks.lock() {
            for ((t, p), h) in tasks.iter_mut() {
                h.flush(&self.ctx.batches, t, *p);
            }
        }
    }

    /// Tell each task where librdkafka's position is (it moves past
    /// transaction markers, which are never handed out as records).
    fn refresh_positions(&self, c: &GroupConsumer) {
        let Ok(positions) = c.position() else { return };
        let Ok(tasks) = self.tasks.lock() else { return };
        for e in positions.elements() {
            if let rdkafka::Offset::Offset(o) = e.offset() {
                if let Some(h) = tasks.get(&(e.topic().to_string(), e.partition())) {
                    h.progress.position(o);
                }
            }
        }
    }

    /// Queue a polled record for its partition's task.
    fn route(&self, m: &Polled<'_>) {
        let Ok(mut tasks) = self.tasks.lock() else {
            return;
        };
        // Look up without allocating a key per record.
        let found = tasks
            .iter_mut()
            .find(|((t, p), _)| *p == m.partition && t == m.topic);
        let Some((_, h)) = found else {
            warn!(
                topic = m.topic,
                partition = m.partition,
                "record for an unassigned partition"
            );
            return;
        };
        h.progress.delivered(m.offset + 1);
        h.pending.push(Record {
            offset: m.offset,
            key: m.key,
            value: m.value,
            content_type: m.content_type,
            timestamp: m.timestamp,
        });
        if h.pending.bytes() >= BATCH_BYTES {
            h.flush(&self.ctx.batches, m.topic, m.partition);
        }
    }

    /// Only `format = "auto"` looks at the content type.
    fn wants_content_type(&self) -> bool {
        self.ctx.kafka.format == InputFormat::Auto
    }
}

/// A consumer error: fatal (the process stops) or logged.
fn consumer_error(ctx: &Shared, consumer: &GroupConsumer, e: &KafkaError) {
    match consumer.client().fatal_error() {
        // E.g. a static member fenced by a newer instance with the same
        // group.instance.id: this consumer can never poll again.
        Some((code, reason)) => ctx.fatal.raise(
            "poll",
            PipelineError::FatalConsumer(format!("{code:?}: {reason}")),
        ),
        None => warn!(error = %e, "consumer error"),
    }
}

impl RebalanceHandler for Handler {
    fn pre_assign(&self, c: &BaseConsumer<GroupCtx>, parts: &[(String, i32)]) {
        for (t, p) in parts {
            if !self.fetch.forward(c, t, *p) {
                warn!(topic = %t, partition = p, "records of this partition are read one by one");
            }
        }
    }

    fn assign(&self, c: &BaseConsumer<GroupCtx>, parts: &[(String, i32)]) {
        let mut tpl = TopicPartitionList::new();
        for (t, p) in parts {
            tpl.add_partition(t, *p);
        }
        // Held back until the task has restored.
        if let Err(e) = c.pause(&tpl) {
            warn!(error = %e, "pausing newly assigned partitions failed");
        }
        let Ok(mut tasks) = self.tasks.lock() else {
            return;
        };
        for (t, p) in parts {
            if tasks.contains_key(&(t.clone(), *p)) {
                continue;
            }
            // Up to TASK_QUEUE batches wait per partition.
            let (tx, rx) = mpsc::channel(TASK_QUEUE);
            let (done_tx, done) = oneshot::channel();
            let topic: Arc<str> = Arc::from(t.as_str());
            let progress = Arc::new(Progress::new());
            self.ctx.tracker.spawn_on(
                task::run(self.ctx.clone(), topic, *p, rx, progress.clone(), done_tx),
                &self.ctx.runtime,
            );
            tasks.insert(
                (t.clone(), *p),
                TaskHandle {
                    tx,
                    done,
                    pending: Batch::default(),
                    progress,
                },
            );
            PartitionsChanged {
                topic: t,
                partition: *p,
                assigned: true,
                owned: tasks.len(),
            }
            .emit();
        }
    }

    fn revoke(&self, _c: &BaseConsumer<GroupCtx>, parts: &[(String, i32)]) {
        let handles: Vec<((String, i32), TaskHandle)> = match self.tasks.lock() {
            Ok(mut tasks) => parts
                .iter()
                .filter_map(|k| tasks.remove(k).map(|h| (k.clone(), h)))
                .collect(),
            Err(_) => return,
        };
        if handles.is_empty() {
            return;
        }
        let timeout = Duration::from_millis(self.ctx.kafka.shutdown_timeout.max(1000) as u64);
        for ((t, p), mut h) in handles {
            h.flush(&self.ctx.batches, &t, p);
            drop(h.tx); // the task drains what it has, flushes, and ends
            let deadline = std::time::Instant::now() + timeout;
            let mut done = h.done;
            while done.try_recv() == Err(oneshot::error::TryRecvError::Empty) {
                if std::time::Instant::now() > deadline {
                    warn!(topic = %t, partition = p, "task did not drain in time");
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let _ = self.ctx.out.blocking_send(Out::Forget {
                source: (Arc::from(t.as_str()), p),
            });
            let owned = self.tasks.lock().map_or(0, |t| t.len());
            PartitionsChanged {
                topic: &t,
                partition: p,
                assigned: false,
                owned,
            }
            .emit();
        }
        if let Err(e) = self.ctx.commit.commit_blocking(timeout) {
            warn!(error = %e, "commit on revoke failed");
        }
    }
}

pub(super) fn spawn(
    ctx: Shared,
    consumer: Arc<GroupConsumer>,
    stop: CancellationToken,
) -> Result<JoinHandle<()>, PipelineError> {
    let ctx = Arc::new(ctx);
    let handler = Arc::new(Handler {
        ctx: ctx.clone(),
        tasks: Mutex::new(HashMap::new()),
        fetch: FetchQueue::new(&consumer),
    });
    let weak: std::sync::Weak<Handler> = Arc::downgrade(&handler);
    let _ = consumer.context().handler.set(weak);
    let topics = ctx.kafka.inputs();
    consumer.subscribe(&topics).map_err(kerr("subscribing"))?;
    std::thread::Builder::new()
        .name("ccpulse-poll".into())
        .spawn(move || {
            // Records polled since everything was last sent. Sending all
            // every `batch_size` records keeps a quiet partition's records
            // from waiting behind a busy one that never lets `poll` run dry.
            let mut unsent = 0usize;
            let every = ctx.kafka.batch_size.max(1);
            // Positions are refreshed between batches, not per record (a
            // clock read each).
            let mut refreshed = std::time::Instant::now();
            let mut refresh = |h: &Handler| {
                if refreshed.elapsed() >= POSITION_REFRESH {
                    h.refresh_positions(&consumer);
                    refreshed = std::time::Instant::now();
                }
            };
            // Stopping is checked once per read (up to READ_BATCH
            // records), not per record: a token's check takes a lock (1 %
            // of the service's CPU when it was per record).
            loop {
                if stop.is_cancelled() || ctx.fatal.is_raised() {
                    break;
                }
                // While a batch is forming, only take what is ready now.
                let wait = if unsent > 0 {
                    Duration::ZERO
                } else {
                    Duration::from_millis(100)
                };
                let content_type = handler.wants_content_type();
                let read = handler.fetch.read(wait, content_type, |r| match r {
                    Ok(m) => handler.route(&m),
                    Err(e) => consumer_error(&ctx, &consumer, &e),
                });
                // Rebalances and errors, without waiting (a rebalance runs
                // its callbacks inside this call). Were the batch queue
                // closed, records would come here one by one: then wait.
                let main_wait = if handler.fetch.is_open() {
                    Duration::ZERO
                } else {
                    wait
                };
                let other = match consumer.poll(main_wait) {
                    None => 0,
                    Some(Err(e)) => {
                        consumer_error(&ctx, &consumer, &e);
                        0
                    }
                    Some(Ok(m)) => {
                        handler.route(&Polled::from_message(&m, content_type));
                        1
                    }
                };
                unsent += read + other;
                if read < READ_BATCH && other == 0 {
                    // Nothing more ready: send what formed.
                    if unsent > 0 {
                        handler.flush_all();
                        unsent = 0;
                    }
                    refresh(&handler);
                } else if unsent >= every {
                    handler.flush_all();
                    unsent = 0;
                    refresh(&handler);
                }
            }
            // Hand every partition back cleanly: drain, commit, leave.
            let all: Vec<(String, i32)> = handler
                .tasks
                .lock()
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default();
            handler.revoke(&consumer, &all);
            // Before the consumer closes (librdkafka's rule for queues).
            handler.fetch.close();
            consumer.unsubscribe();
            close(
                &consumer,
                Duration::from_millis(ctx.kafka.shutdown_timeout.max(1000) as u64),
            );
        })
        .map_err(|e| PipelineError::Output(format!("spawning the poll thread: {e}")))
}

/// Close the consumer here, on the poll thread, within `deadline`: leave
/// the group and let librdkafka finish what is in flight (a JoinGroup sent
/// before `unsubscribe` must not complete into a membership nobody polls,
/// which would hold partitions from the next pipeline in this process).
/// Dropping the consumer would close it too, but wherever the last
/// reference happens to go and without a deadline.
fn close(consumer: &GroupConsumer, deadline: Duration) {
    if let Err(e) = consumer.close_queue() {
        warn!(error = %e, "closing the consumer failed");
        return;
    }
    let until = std::time::Instant::now() + deadline;
    while !consumer.closed() {
        if std::time::Instant::now() > until {
            warn!(
                deadline_ms = deadline.as_millis() as u64,
                "the consumer did not close in time; the broker drops it after session.timeout.ms"
            );
            return;
        }
        let _ = consumer.poll(Duration::from_millis(100));
    }
    info!("left the consumer group");
}
