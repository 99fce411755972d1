//! The output: one task owns the producer. Partition tasks send it what
//! they decided (effects, dead letters, ticks) and how far they got; it
//! produces and commits.
//!
//! - exactly-once: records and the consumed offsets go into one
//!   transaction, committed every `commit_interval` (and on demand before a
//!   rebalance takes partitions away). A failed commit aborts, and the
//!   pipeline stops: its partitions restore from the last commit, in a
//!   fresh pipeline when the producer survived (an abortable error, e.g.
//!   the group's generation changed under a broker restart), else in a
//!   restarted process.
//! - at-least-once: records are produced by an idempotent producer; offsets
//!   are committed only once every record before them is acknowledged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::error::PipelineError;
use super::kafka::GroupConsumer;
use super::records::{shrink_dead_letter, OutKind, OutRecord};
use super::settings::{Guarantee, KafkaConfig};
use crate::telemetry::events::{
    EffectProduced, OffsetCommitFailed, OffsetsCommitted, TransactionAborted, TransactionCommitted,
};
use crate::telemetry::InternalEvent;

/// A dead letter the producer refused as too large is cut to this.
const MIN_DEAD_LETTER: usize = 4 * 1024;

/// How long one transaction's steps may each take before it is aborted.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the last flush at shutdown may wait for acknowledgements.
const FINAL_FLUSH: Duration = Duration::from_secs(10);

/// Flushes the producer: waits (blocking) until every record produced is
/// acknowledged, or until `deadline`, sending lingering batches at once.
///
/// `commit_transaction` flushes first too, but the rdkafka crate's flush
/// asks librdkafka without waiting and then polls in 100 ms slices, each
/// waited out whole (its `poll` returns at the deadline, not at the first
/// event), so a commit with any record in flight took at least 100 ms
/// (measured under load: 100–115 ms, against 1–4 ms once idle), and the
/// output produced nothing meanwhile. librdkafka's own flush waits on a
/// condition variable for the last delivery report instead; the
/// producer's thread serves the reports (the crate's `ThreadedProducer`),
/// so nothing here needs to poll. The commit's flush then finds nothing
/// in flight and returns at once. False if records were still in flight
/// at the deadline.
fn flush_now(producer: &FutureProducer, deadline: std::time::Instant) -> bool {
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: the handle is the live producer's (borrowed for the call),
    // and librdkafka's flush may be called from any thread.
    let err = unsafe { rdkafka::bindings::rd_kafka_flush(producer.client().native_ptr(), ms) };
    err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
}

/// A message to the output.
#[derive(Debug)]
pub(super) enum Out {
    /// Records decided while processing `source` up to offset `processed`
    /// (inclusive); `None` when no input offset moved (e.g. a tick).
    Batch {
        source: (Arc<str>, i32),
        records: Vec<OutRecord>,
        processed: Option<i64>,
    },
    /// Stop tracking a revoked partition's offset after the next commit.
    Forget { source: (Arc<str>, i32) },
}

/// Asks the output to commit now and waits for the result.
#[derive(Clone)]
pub(super) struct CommitControl {
    tx: mpsc::Sender<oneshot::Sender<Result<(), String>>>,
}

impl CommitControl {
    /// Blocking: for the poll thread (rebalance callbacks).
    pub(super) fn commit_blocking(&self, timeout: Duration) -> Result<(), String> {
        let (ack, rx) = oneshot::channel();
        self.tx
            .blocking_send(ack)
            .map_err(|_| "output stopped".to_string())?;
        let deadline = std::time::Instant::now() + timeout;
        let mut rx = rx;
        loop {
            match rx.try_recv() {
                Ok(r) => return r,
                Err(oneshot::error::TryRecvError::Closed) => return Err("output stopped".into()),
                Err(oneshot::error::TryRecvError::Empty) => {
                    if std::time::Instant::now() > deadline {
                        return Err("commit timed out".into());
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    }
}

pub(super) struct Output {
    cfg: Arc<KafkaConfig>,
    producer: Arc<FutureProducer>,
    consumer: Arc<GroupConsumer>,
    ctl_tx: mpsc::Sender<oneshot::Sender<Result<(), String>>>,
    ctl_rx: mpsc::Receiver<oneshot::Sender<Result<(), String>>>,
    /// Highest processed offset per source partition, not yet committed.
    offsets: HashMap<(Arc<str>, i32), i64>,
    forget: Vec<(Arc<str>, i32)>,
    in_tx: bool,
    pending: Vec<DeliveryFuture>,
}

impl Output {
    pub(super) fn new(
        cfg: Arc<KafkaConfig>,
        producer: Arc<FutureProducer>,
        consumer: Arc<GroupConsumer>,
    ) -> Result<Self, PipelineError> {
        let (ctl_tx, ctl_rx) = mpsc::channel(16);
        Ok(Output {
            cfg,
            producer,
            consumer,
            ctl_tx,
            ctl_rx,
            offsets: HashMap::new(),
            forget: Vec::new(),
            in_tx: false,
            pending: Vec::new(),
        })
    }

    pub(super) fn control(&self) -> CommitControl {
        CommitControl {
            tx: self.ctl_tx.clone(),
        }
    }

    fn eos(&self) -> bool {
        self.cfg.guarantee == Guarantee::ExactlyOnce
    }

    pub(super) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Out>,
        stop: CancellationToken,
    ) -> Result<(), PipelineError> {
        let mut tick = tokio::time::interval(Duration::from_millis(
            self.cfg.commit_interval.max(10) as u64,
        ));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(m) => self.handle(m).await?,
                    None => break,
                },
                _ = tick.tick() => {
                    // What the tasks handed over meanwhile goes into this
                    // commit. A commit takes as long as the broker needs
                    // (about 100 ms in the throughput bench, so the next
                    // tick is due when it ends), and with the queue left
                    // for the next loop the output committed again after
                    // a message or two: its backlog, and the input
                    // offsets behind it, then trailed the tasks by a
                    // second. Bounded by what is queued now, so a busy
                    // queue cannot postpone the commit.
                    for _ in 0..rx.len() {
                        match rx.try_recv() {
                            Ok(m) => self.handle(m).await?,
                            Err(_) => break,
                        }
                    }
                    self.commit().await?;
                    // A whole interval of producing before the next one.
                    tick.reset();
                }
                Some(ack) = self.ctl_rx.recv() => {
                    while let Ok(m) = rx.try_recv() {
                        self.handle(m).await?;
                    }
                    let r = self.commit().await;
                    let _ = ack.send(r.as_ref().map(|_| ()).map_err(|e| e.to_string()));
                    r?;
                }
                _ = stop.cancelled() => {
                    while let Ok(m) = rx.try_recv() {
                        self.handle(m).await?;
                    }
                    break;
                }
            }
        }
        self.commit().await?;
        let p = self.producer.clone();
        let deadline = std::time::Instant::now() + FINAL_FLUSH;
        let flushed = tokio::task::spawn_blocking(move || flush_now(&p, deadline))
            .await
            .map_err(|e| PipelineError::Output(e.to_string()))?;
        if !flushed {
            return Err(PipelineError::Output(format!(
                "final flush: records still unacknowledged after {FINAL_FLUSH:?}"
            )));
        }
        Ok(())
    }

    async fn handle(&mut self, m: Out) -> Result<(), PipelineError> {
        match m {
            Out::Batch {
                source,
                records,
                processed,
            } => {
                for r in records {
                    self.produce(r).await?;
                }
                if let Some(o) = processed {
                    let e = self.offsets.entry(source).or_insert(o);
                    *e = (*e).max(o);
                }
            }
            Out::Forget { source } => self.forget.push(source),
        }
        Ok(())
    }

    async fn produce(&mut self, mut r: OutRecord) -> Result<(), PipelineError> {
        if self.eos() && !self.in_tx {
            self.producer
                .begin_transaction()
                .map_err(|e| PipelineError::Output(format!("begin transaction: {e}")))?;
            self.in_tx = true;
        }
        let headers = |r: &OutRecord| {
            r.headers.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
                h.insert(Header {
                    key: k,
                    value: Some(v),
                })
            })
        };
        loop {
            // Built per attempt (normally one): cheaper than a copy.
            let mut rec = FutureRecord::to(&r.topic)
                .payload(&r.value)
                .headers(headers(&r));
            if let Some(k) = &r.key {
                rec = rec.key(k);
            }
            if let Some(p) = r.partition {
                rec = rec.partition(p);
            }
            // The refused record (which borrows `r`) is dropped here.
            let sent = self.producer.send_result(rec).map_err(|(e, _)| e);
            match sent {
                Ok(f) => {
                    if !self.eos() {
                        self.pending.push(f);
                    }
                    break;
                }
                Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                // A dead letter over the size limit (the original record
                // was): cut it further rather than block the partition.
                Err(KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge))
                    if matches!(r.kind, OutKind::DeadLetter) && r.value.len() > MIN_DEAD_LETTER =>
                {
                    shrink_dead_letter(&mut r, MIN_DEAD_LETTER);
                }
                Err(e) => {
                    return Err(PipelineError::Output(format!(
                        "produce to {}: {e}",
                        r.topic
                    )))
                }
            }
        }
        match r.kind {
            OutKind::Effect(kind) => EffectProduced { kind }.emit(),
            OutKind::DeadLetter | OutKind::Tick | OutKind::Checkpoint | OutKind::Fact => {}
        }
        Ok(())
    }

    fn offsets_tpl(&self) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in &self.offsets {
            let _ = tpl.add_partition_offset(t, *p, Offset::Offset(o + 1));
        }
        tpl
    }

    async fn commit(&mut self) -> Result<(), PipelineError> {
        if self.offsets.is_empty() && !self.in_tx && self.pending.is_empty() {
            self.forget_now();
            return Ok(());
        }
        let tpl = self.offsets_tpl();
        let started = std::time::Instant::now();
        if self.eos() {
            let producer = self.producer.clone();
            let consumer = self.consumer.clone();
            let in_tx = self.in_tx;
            // Err: what failed, and whether the producer survived it (an
            // abortable, not fatal, error: a fresh start recovers).
            let r = tokio::task::spawn_blocking(move || -> Result<(), (String, bool)> {
                let t = Timeout::After(COMMIT_TIMEOUT);
                let failed = |what: &str, e: KafkaError| {
                    let abortable = match &e {
                        KafkaError::Transaction(r) => !r.is_fatal(),
                        _ => false,
                    };
                    (format!("{what}: {e}"), abortable)
                };
                if !in_tx {
                    producer
                        .begin_transaction()
                        .map_err(|e| failed("begin transaction", e))?;
                }
                if tpl.count() > 0 {
                    let meta = consumer
                        .group_metadata()
                        .ok_or(("no consumer group metadata".to_string(), false))?;
                    producer
                        .send_offsets_to_transaction(&tpl, &meta, t)
                        .map_err(|e| failed("send offsets to transaction", e))?;
                }
                // Its outcome is the commit's to find and report.
                let _ = flush_now(&producer, started + COMMIT_TIMEOUT);
                producer
                    .commit_transaction(t)
                    .map_err(|e| failed("commit transaction", e))
            })
            .await
            .map_err(|e| PipelineError::Output(e.to_string()))?;
            self.in_tx = false;
            match r {
                Ok(()) => TransactionCommitted {
                    partitions: self.offsets.len(),
                    seconds: started.elapsed().as_secs_f64(),
                }
                .emit(),
                Err((e, abortable)) => {
                    TransactionAborted { error: &e }.emit();
                    let p = self.producer.clone();
                    let aborted =
                        tokio::task::spawn_blocking(move || p.abort_transaction(COMMIT_TIMEOUT))
                            .await;
                    // A failed abort (the broker still away) does not
                    // change what a restart does: the new producer's
                    // InitProducerId with the same transactional id aborts
                    // whatever is left open. Only a fatal error ends the
                    // process.
                    match aborted {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => {
                            tracing::warn!(%error, "abort transaction failed; the restart's producer aborts it")
                        }
                        Err(error) => {
                            tracing::warn!(%error, "abort transaction did not run; the restart's producer aborts it")
                        }
                    }
                    return Err(PipelineError::TransactionAborted {
                        reason: e,
                        restartable: abortable,
                    });
                }
            }
        } else {
            for f in std::mem::take(&mut self.pending) {
                match f.await {
                    Ok(Ok(_)) => {}
                    Ok(Err((e, _))) => {
                        return Err(PipelineError::Output(format!("delivery failed: {e}")))
                    }
                    Err(_) => return Err(PipelineError::Output("delivery cancelled".into())),
                }
            }
            if tpl.count() > 0 {
                let consumer = self.consumer.clone();
                let r =
                    tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync))
                        .await
                        .map_err(|e| PipelineError::Output(e.to_string()))?;
                match r {
                    Ok(()) => OffsetsCommitted {
                        seconds: started.elapsed().as_secs_f64(),
                    }
                    .emit(),
                    Err(e) => {
                        OffsetCommitFailed { error: &e }.emit();
                        self.forget_now();
                        return Ok(());
                    }
                }
            }
        }
        self.offsets.clear();
        self.forget_now();
        Ok(())
    }

    fn forget_now(&mut self) {
        for f in self.forget.drain(..) {
            self.offsets.remove(&f);
        }
    }
}
