//! One task per assigned input partition, owning its engine.
//!
//! Restore, then live. Restore replays the partition from its beginning up
//! to the committed offset with the effects discarded (they were published
//! before), after installing the reassignment decisions read back from the
//! effects topic and applying the recorded wall-clock ticks at the input
//! positions where they happened: the rebuilt state is the one that was
//! live. Live, records are folded in batches; when the partition is idle
//! past `idle_timeout`, the watermark follows the wall clock (minus the
//! allowed lateness) so SLA timers fire, and each such tick is recorded.
//! Idle means *caught up*, not merely quiet: a partition whose records are
//! still on their way (a slow fetch, a poll loop held up by another
//! partition's backpressure) keeps its watermark, or its backlog would be
//! folded as late.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use super::output::{Out, OutKind, OutRecord};
use super::poll::Shared;
use super::restore;
use super::{PartitionStatus, PipelineError};
use crate::engine::{Engine, Outcome};
use crate::event::codec::{decode, decode_effect_json, encode_effect_json, DecodeError, Limits};
use crate::event::{Effect, Event, EventKind, Millis};
use crate::export::catalog;

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
struct Tick {
    /// Applied after the input record at this offset (-1: before any).
    after_offset: i64,
    watermark: Millis,
}

/// How far the poll thread has got on one partition, shared with its task
/// so the task can tell "caught up" from "quiet".
#[derive(Debug)]
pub(super) struct Progress {
    /// Offset after the last record the poll thread took for the task.
    delivered: AtomicI64,
    /// librdkafka's consumer position, which also moves past transaction
    /// markers; refreshed by the poll thread.
    position: AtomicI64,
}

impl Progress {
    pub(super) fn new() -> Self {
        Progress {
            delivered: AtomicI64::new(-1),
            position: AtomicI64::new(-1),
        }
    }

    pub(super) fn delivered(&self, next: i64) {
        self.delivered.store(next, Ordering::Release);
    }

    pub(super) fn position(&self, pos: i64) {
        self.position.fetch_max(pos, Ordering::Release);
    }

    /// The partition's effective position for a task that has folded up
    /// to `folded` (the next offset it expects): librdkafka's position once
    /// every record handed over is folded (it includes skipped transaction
    /// markers), else `folded`; never below the log start `lo`.
    fn next(&self, folded: i64, lo: i64) -> i64 {
        let base = folded.max(lo);
        if folded < self.delivered.load(Ordering::Acquire) {
            return base;
        }
        self.position.load(Ordering::Acquire).max(base)
    }

    /// Whether the task holds everything up to the partition's end `hi`
    /// (`lo`, `hi`: from librdkafka's last fetch response, read before
    /// this, so a fetch that lands meanwhile makes the answer "no").
    fn caught_up(&self, folded: i64, (lo, hi): (i64, i64)) -> bool {
        self.next(folded, lo) >= hi
    }
}

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
    metrics::counter!(catalog::DEAD_LETTERS.name, "topic" => topic.to_string(), "reason" => e.reason_code()).increment(1);
    warn!(topic, partition, offset, reason = e.reason_code(), error = %e, "record dead-lettered");
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

fn effect_record(topic: &str, partition: i32, source: &str, e: &Effect) -> OutRecord {
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

fn wall_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// Per-batch tallies, recorded once per batch (not per record).
#[derive(Default)]
struct Tally {
    consumed: u64,
    applied: u64,
    duplicate: u64,
    late: u64,
}

struct Task {
    ctx: Arc<Shared>,
    topic: Arc<str>,
    partition: i32,
    engine: Engine,
    effects: Vec<Effect>,
    limits: Limits,
    last_offset: Option<i64>,
    agent_seq: usize,
}

impl Task {
    fn decode(&self, r: &Record) -> Result<Event, DecodeError> {
        let format = self
            .ctx
            .kafka
            .format
            .pick(&r.value, r.content_type.as_deref());
        let ev = decode(&r.value, format, &self.limits, r.timestamp)?;
        if matches!(ev.kind, EventKind::Agent(_)) {
            return Err(DecodeError::Invalid {
                field: "kind".into(),
                reason: format!(
                    "agent_state_changed on an events topic; send it to {}",
                    self.ctx.kafka.topics.agents
                ),
            });
        }
        Ok(ev)
    }

    fn fold(&mut self, r: Record, outs: &mut Vec<OutRecord>, t: &mut Tally) {
        t.consumed += 1;
        self.last_offset = Some(r.offset);
        match self.decode(&r) {
            Ok(ev) => match self.engine.apply(ev, &mut self.effects) {
                Outcome::Duplicate => t.duplicate += 1,
                Outcome::Late => {
                    t.late += 1;
                    t.applied += 1;
                }
                Outcome::Buffered => t.applied += 1,
            },
            Err(e) => outs.push(dead_letter_record(
                &self.ctx.kafka.topics.dead_letter,
                &self.topic,
                self.partition,
                r.offset,
                r.key.as_deref(),
                &r.value,
                &e,
            )),
        }
    }

    /// The next offset this task expects (-1: none yet).
    fn folded(&self) -> i64 {
        self.last_offset.map_or(-1, |o| o + 1)
    }

    fn drain_effects(&mut self, outs: &mut Vec<OutRecord>) {
        for e in self.effects.drain(..) {
            outs.push(effect_record(
                &self.ctx.kafka.topics.effects,
                self.partition,
                &self.topic,
                &e,
            ));
        }
    }

    fn tick_record(&self, t: &Tick) -> OutRecord {
        OutRecord {
            topic: self.ctx.kafka.topics.ticks.clone(),
            partition: Some(self.partition),
            key: Some(self.topic.as_bytes().to_vec()),
            value: serde_json::to_vec(t).unwrap_or_default(),
            headers: vec![("content-type", b"application/json".to_vec())],
            kind: OutKind::Tick,
        }
    }

    fn feed_agents(&mut self) {
        let events: Vec<Event> = match self.ctx.agents.log.read() {
            Ok(l) if l.len() > self.agent_seq => l[self.agent_seq..].to_vec(),
            _ => return,
        };
        self.agent_seq += events.len();
        for ev in events {
            self.engine.apply(ev, &mut self.effects);
        }
    }

    async fn send(&self, records: Vec<OutRecord>, processed: Option<i64>) -> bool {
        if records.is_empty() && processed.is_none() {
            return true;
        }
        self.ctx
            .out
            .send(Out::Batch {
                source: (self.topic.clone(), self.partition),
                records,
                processed,
            })
            .await
            .is_ok()
    }
}

/// Restore the engine of `topic/partition`; returns it with the agent log
/// position it has folded up to.
fn restore_blocking(
    ctx: &Shared,
    topic: &str,
    partition: i32,
    mut engine: Engine,
) -> Result<Restored, PipelineError> {
    let k = &ctx.kafka;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let committed = ctx
        .consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .map_err(super::kerr(format!(
            "reading the committed offset of {topic}/{partition}"
        )))?;
    let until = committed.elements().first().and_then(|e| match e.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    });
    let mut agents: Vec<Event> = ctx.agents.log.read().map(|l| l.clone()).unwrap_or_default();
    let seq = agents.len();
    agents.sort_by_key(|e| e.occurred_at);
    let mut agents = agents.into_iter().peekable();
    let mut sink = Vec::new();
    let Some(until) = until else {
        for ev in agents {
            engine.apply(ev, &mut sink);
        }
        return Ok(Restored {
            engine,
            agent_seq: seq,
            until: None,
        });
    };

    // Decisions and ticks that were published for this partition.
    let mut decisions = Vec::new();
    restore::read(k, &k.topics.effects, partition, None, |m| {
        if let Ok(e) = decode_effect_json(m.payload().unwrap_or_default()) {
            decisions.push(e);
        }
    })?;
    engine.install_recorded_decisions(decisions);
    let mut ticks: Vec<Tick> = Vec::new();
    restore::read(k, &k.topics.ticks, partition, None, |m| {
        if m.key() == Some(topic.as_bytes()) {
            if let Ok(t) = serde_json::from_slice::<Tick>(m.payload().unwrap_or_default()) {
                if t.after_offset < until {
                    ticks.push(t);
                }
            }
        }
    })?;
    ticks.sort_by_key(|t| t.after_offset);
    let mut ticks = ticks.into_iter().peekable();
    while let Some(t) = ticks.next_if(|t| t.after_offset < 0) {
        engine.advance(t.watermark, &mut sink);
    }

    let c = super::kafka::reader(k, "restore-watermarks")?;
    let (low, _) = restore::watermarks(&c, topic, partition)?;
    let total = (until - low).max(0) as u64;
    let limits = Limits::default();
    let mut done = 0u64;
    let started = Instant::now();
    restore::read(k, topic, partition, Some(until), |m| {
        let value = m.payload().unwrap_or_default();
        let ct = restore::header(m, "content-type");
        if let Ok(ev) = decode(
            value,
            k.format.pick(value, ct),
            &limits,
            m.timestamp().to_millis(),
        ) {
            if !matches!(ev.kind, EventKind::Agent(_)) {
                while let Some(a) = agents.next_if(|a| a.occurred_at <= ev.occurred_at) {
                    engine.apply(a, &mut sink);
                }
                engine.apply(ev, &mut sink);
            }
        }
        while let Some(t) = ticks.next_if(|t| t.after_offset <= m.offset()) {
            engine.advance(t.watermark, &mut sink);
        }
        sink.clear();
        done += 1;
        if done % 10_000 == 0 {
            ctx.observer.partition_status(
                topic,
                partition,
                PartitionStatus::Restoring { done, total },
            );
        }
    })?;
    for a in agents {
        engine.apply(a, &mut sink);
    }
    for t in ticks {
        engine.advance(t.watermark, &mut sink);
    }
    info!(
        topic,
        partition,
        records = done,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "partition restored"
    );
    Ok(Restored {
        engine,
        agent_seq: seq,
        until: Some(until),
    })
}

/// A partition's state rebuilt from the log.
struct Restored {
    engine: Engine,
    /// Agent-directory entries already merged in.
    agent_seq: usize,
    /// The committed offset the replay stopped at, where live input resumes
    /// (`None`: nothing committed yet).
    until: Option<i64>,
}

pub(super) async fn run(
    ctx: Arc<Shared>,
    topic: Arc<str>,
    partition: i32,
    mut rx: mpsc::Receiver<Vec<Record>>,
    progress: Arc<Progress>,
    done: oneshot::Sender<()>,
) {
    let label = topic.to_string();
    ctx.observer.partition_status(
        &topic,
        partition,
        PartitionStatus::Restoring { done: 0, total: 0 },
    );
    // The agent directory must be loaded before it is merged into a replay.
    let mut cu = ctx.agents.caught_up.clone();
    if tokio::time::timeout(Duration::from_secs(60), cu.wait_for(|c| *c))
        .await
        .is_err()
    {
        warn!(topic = %topic, partition, "agent directory not loaded after 60s; restoring anyway");
    }
    let engine = Engine::new((*ctx.engine).clone());
    let c2 = ctx.clone();
    let t2 = topic.clone();
    let restored =
        tokio::task::spawn_blocking(move || restore_blocking(&c2, &t2, partition, engine)).await;
    let Restored {
        engine,
        agent_seq,
        until,
    } = match restored {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            error!(error = %e, topic = %topic, partition, "restore failed");
            ctx.fatal.cancel();
            let _ = done.send(());
            return;
        }
        Err(e) => {
            error!(error = %e, topic = %topic, partition, "restore task failed");
            ctx.fatal.cancel();
            let _ = done.send(());
            return;
        }
    };
    let mut task = Task {
        ctx: ctx.clone(),
        topic: topic.clone(),
        partition,
        engine,
        effects: Vec::new(),
        limits: Limits::default(),
        // Restored up to `until`: a tick recorded before the next record
        // comes after the restored history, not before offset 0.
        last_offset: until.map(|u| u - 1),
        agent_seq,
    };
    task.engine.set_sample_tap(true);
    // The restored state is the export baseline: only growth beyond it is
    // exported, so the history just replayed is not counted twice.
    ctx.observer
        .partition_view(&topic, partition, Arc::new(task.engine.view()));
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&topic, partition);
    if let Err(e) = ctx.consumer.resume(&tpl) {
        warn!(error = %e, topic = %topic, partition, "resume failed (partition revoked meanwhile?)");
    }
    ctx.observer
        .partition_status(&topic, partition, PartitionStatus::Live);
    info!(topic = %topic, partition, "partition live");

    let mut agents_rx = ctx.agents.len.clone();
    let mut tick = tokio::time::interval(ctx.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_record = Instant::now();
    let mut samples = Vec::new();
    let mut pending_tick: Option<Tick> = None;
    let idle = Duration::from_millis(ctx.kafka.idle_timeout.max(0) as u64);
    let batch = ctx.kafka.batch_size;
    loop {
        tokio::select! {
            r = rx.recv() => {
                let Some(first) = r else { break };
                let mut outs = Vec::new();
                let mut tally = Tally::default();
                let orphaned_before = task.engine.processing().orphaned;
                // The watermark this batch is folded against must be on
                // record before the batch is.
                if let Some(t) = pending_tick.take() {
                    outs.push(task.tick_record(&t));
                }
                for r in first {
                    task.fold(r, &mut outs, &mut tally);
                }
                while tally.consumed < batch as u64 {
                    match rx.try_recv() {
                        Ok(rs) => {
                            for r in rs {
                                task.fold(r, &mut outs, &mut tally);
                            }
                        }
                        Err(_) => break,
                    }
                }
                task.drain_effects(&mut outs);
                metrics::counter!(catalog::EVENTS_CONSUMED.name, "topic" => label.clone()).increment(tally.consumed);
                metrics::counter!(catalog::EVENTS_APPLIED.name, "topic" => label.clone()).increment(tally.applied);
                metrics::counter!(catalog::EVENTS_DUPLICATE.name, "topic" => label.clone()).increment(tally.duplicate);
                metrics::counter!(catalog::EVENTS_LATE.name, "topic" => label.clone()).increment(tally.late);
                let orphaned = task.engine.processing().orphaned.saturating_sub(orphaned_before);
                metrics::counter!(catalog::EVENTS_ORPHANED.name, "topic" => label.clone()).increment(orphaned);
                if !task.send(outs, task.last_offset).await {
                    break;
                }
                last_record = Instant::now();
            }
            Ok(()) = agents_rx.changed() => {
                task.feed_agents();
                let mut outs = Vec::new();
                task.drain_effects(&mut outs);
                if !task.send(outs, None).await {
                    break;
                }
            }
            _ = tick.tick() => {
                // librdkafka's last view of the partition's end (no request;
                // unknown until its first fetch response).
                let end = super::kafka::cached_watermarks(&ctx.consumer, &topic, partition);
                if let Some((lo, hi)) = end {
                    let lag = hi - progress.next(task.folded(), lo);
                    ctx.observer.partition_lag(&topic, partition, lag.max(0));
                }
                let caught_up = end.is_some_and(|e| progress.caught_up(task.folded(), e));
                if caught_up && last_record.elapsed() >= idle {
                    let wm = wall_ms() - task.engine.config().allowed_lateness;
                    if wm > task.engine.watermark() {
                        task.engine.advance(wm, &mut task.effects);
                        let t = Tick { after_offset: task.last_offset.unwrap_or(-1), watermark: wm };
                        if task.effects.is_empty() {
                            // Superseded by the next tick unless a record
                            // or the end comes first (see `Tick`).
                            pending_tick = Some(t);
                        } else {
                            pending_tick = None;
                            let mut outs = Vec::new();
                            task.drain_effects(&mut outs);
                            outs.push(task.tick_record(&t));
                            if !task.send(outs, None).await {
                                break;
                            }
                        }
                    }
                }
                task.engine.drain_samples(&mut samples);
                ctx.observer.partition_live(&topic, partition, &task.engine, &samples);
                samples.clear();
                ctx.observer.partition_view(&topic, partition, Arc::new(task.engine.view()));
            }
        }
    }
    // Revoked or shutting down: the channel is closed and drained.
    let mut outs = Vec::new();
    task.drain_effects(&mut outs);
    if let Some(t) = pending_tick.take() {
        outs.push(task.tick_record(&t));
    }
    let _ = task.send(outs, task.last_offset).await;
    // Export what was folded since the last tick before letting go.
    task.engine.drain_samples(&mut samples);
    ctx.observer
        .partition_live(&topic, partition, &task.engine, &samples);
    ctx.observer
        .partition_view(&topic, partition, Arc::new(task.engine.view()));
    ctx.observer.partition_removed(&topic, partition);
    let _ = done.send(());
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn a_partition_is_caught_up_only_when_everything_up_to_the_end_is_folded() {
        // Ten records (offsets 0..=9), end 10.
        let p = Progress::new();
        assert!(!p.caught_up(-1, (0, 10)), "nothing fetched yet");
        p.delivered(6);
        p.position(6);
        assert!(!p.caught_up(6, (0, 10)), "records 6..=9 not fetched yet");
        p.delivered(10);
        assert!(
            !p.caught_up(6, (0, 10)),
            "records 6..=9 handed over, not folded"
        );
        p.position(10);
        assert!(p.caught_up(10, (0, 10)));
    }

    #[test]
    fn transaction_markers_and_empty_logs_do_not_hold_a_partition_back() {
        // Records 0..=4, then a commit marker at 5: the end is 6, and the
        // last record the task can fold is 4.
        let p = Progress::new();
        p.delivered(5);
        p.position(6);
        assert!(p.caught_up(5, (0, 6)));
        // Restored up to the end of a log whose start was deleted, or an
        // empty log: nothing is delivered and the position is unknown.
        let q = Progress::new();
        assert!(q.caught_up(40, (30, 40)));
        assert!(q.caught_up(-1, (0, 0)));
        assert!(!q.caught_up(-1, (30, 40)), "records 30..=39 to come");
    }
}
