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

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ccpulse_core::engine::{CustomerFact, Engine, OrphanedEvent, Outcome};
use ccpulse_core::event::codec::{decode, DecodeError, Limits};
use ccpulse_core::event::{Effect, Event, EventKind, Millis};
use rdkafka::consumer::Consumer;
use rdkafka::TopicPartitionList;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::checkpoints::{self, Manifest};
use super::context::Shared;
use super::error::PipelineError;
use super::kafka::cached_watermarks;
use super::output::Out;
use super::progress::Progress;
use super::records::{
    dead_letter_cap, dead_letter_record, decode_facts, effect_record, fact_records, orphan_record,
    Batch, OutKind, OutRecord, Record, Skip, Source, Tick,
};
use super::restore::{self, Restored};
use crate::telemetry::events::{BatchFolded, CheckpointWritten};
use crate::telemetry::InternalEvent;
use crate::telemetry::PartitionStatus;

/// A partition this many records behind its log's end is catching up (a
/// restart, a rebalance, an outage of the producers' side made good).
const CATCHING_UP: i64 = 10_000;

/// While catching up, a partition publishes its figures every this many
/// publish ticks instead of every tick. A publication copies the
/// partition's state for the provisional view (about 9 ms per partition
/// while a backlog is folded, a fifth of the service's CPU in the
/// throughput bench at one per tick), and figures that trail their log by
/// thousands of records gain little from being handed out more often; the
/// lag is still reported every tick, and the first tick after the backlog
/// is folded publishes.
const CATCHING_UP_TICKS: u32 = 4;

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
    dead_letter_cap: usize,
    last_offset: Option<i64>,
    agent_seq: usize,
    /// A customer-stage partition: its records are customer facts.
    stage: bool,
    /// Customer facts stated by the engine, to send (event partitions
    /// when the customer stage is on).
    facts: Vec<CustomerFact>,
    /// Events the engine gave up, to dead-letter.
    orphans: Vec<OrphanedEvent>,
}

impl Task {
    /// Decode and validate `r`. Events may not be in the future of its
    /// record timestamp nor of the wall clock (`now`).
    fn decode(&self, r: &Record<'_>, now: Millis) -> Result<Event, DecodeError> {
        let format = self.ctx.kafka.format.pick(r.value, r.content_type);
        let reference = r.timestamp.map_or(now, |t| t.min(now));
        let ev = decode(r.value, format, &self.limits, Some(reference))?;
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

    fn fold(&mut self, r: Record<'_>, now: Millis, outs: &mut Vec<OutRecord>, t: &mut Tally) {
        t.consumed += 1;
        self.last_offset = Some(r.offset);
        if self.stage {
            return self.decide(r, outs, t);
        }
        match self.decode(&r, now) {
            Ok(ev) => match self.engine.apply(ev, &mut self.effects) {
                Outcome::Duplicate => t.duplicate += 1,
                Outcome::Late => {
                    t.late += 1;
                    t.applied += 1;
                }
                Outcome::Buffered => t.applied += 1,
            },
            Err(e) => {
                // Rejected against the wall clock (not the record's own
                // timestamp): the log alone cannot tell a restore, so the
                // decision is recorded with the dead letter.
                let by_clock = r.timestamp.is_none_or(|ts| now < ts);
                if matches!(e, DecodeError::Future { .. }) && by_clock {
                    outs.push(self.recorded(&Skip {
                        skip_offset: r.offset,
                    }));
                }
                outs.push(self.dead_letter(&r, &e));
            }
        }
    }

    /// `r` for the dead-letter topic, with why it was refused.
    fn dead_letter(&self, r: &Record<'_>, e: &DecodeError) -> OutRecord {
        dead_letter_record(
            &self.ctx.kafka.topics.dead_letter,
            self.dead_letter_cap,
            Source {
                topic: &self.topic,
                partition: self.partition,
                offset: r.offset,
                key: r.key,
                value: r.value,
            },
            e,
        )
    }

    /// A customer-stage record: facts to decide, or a dead letter.
    fn decide(&mut self, r: Record<'_>, outs: &mut Vec<OutRecord>, t: &mut Tally) {
        match decode_facts(r.value) {
            Ok(fs) => {
                for f in &fs {
                    self.engine.apply_customer_fact(f);
                }
                t.applied += 1;
            }
            Err(e) => outs.push(self.dead_letter(&r, &e)),
        }
    }

    /// The next offset this task expects (-1: none yet).
    fn folded(&self) -> i64 {
        self.last_offset.map_or(-1, |o| o + 1)
    }

    /// Effects, and customer facts, decided since the last call.
    fn drain_effects(&mut self, outs: &mut Vec<OutRecord>) {
        self.engine.drain_orphans(&mut self.orphans);
        for o in self.orphans.drain(..) {
            outs.push(orphan_record(
                &self.ctx.kafka.topics.dead_letter,
                self.dead_letter_cap,
                &self.topic,
                self.partition,
                &o,
            ));
        }
        self.engine.drain_customer_facts(&mut self.facts);
        if !self.facts.is_empty() {
            outs.extend(fact_records(
                &self.ctx.kafka.topics.customers,
                self.ctx.customer_partitions,
                &self.facts,
            ));
            self.facts.clear();
        }
        for e in self.effects.drain(..) {
            outs.push(effect_record(
                &self.ctx.kafka.topics.effects,
                self.partition,
                &self.topic,
                &e,
            ));
        }
    }

    /// A record for the ticks topic (a tick or a skip), keyed by the input
    /// topic on the input's partition number.
    fn recorded(&self, t: &impl serde::Serialize) -> OutRecord {
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
        // The directory is the event partitions' (the stage has none).
        if self.stage {
            return;
        }
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

/// A partition task: restore, then fold live until the poll thread closes
/// the channel (revoke or shutdown), then flush and let go. A restore that
/// fails is fatal for the process (a restart retries it).
pub(super) async fn run(
    ctx: Arc<Shared>,
    topic: Arc<str>,
    partition: i32,
    mut rx: mpsc::Receiver<Batch>,
    progress: Arc<Progress>,
    done: oneshot::Sender<()>,
) {
    let (task, checkpointed) = match start(&ctx, &topic, partition).await {
        Ok(t) => t,
        Err(e) => {
            ctx.fatal.raise("partition", e);
            let _ = done.send(());
            return;
        }
    };
    let every = Duration::from_millis(ctx.kafka.checkpoint_interval.max(0) as u64);
    let mut live = Live {
        idle: Duration::from_millis(ctx.kafka.idle_timeout.max(0) as u64),
        batch: ctx.kafka.batch_size as u64,
        task,
        progress,
        pending_tick: None,
        last_record: Instant::now(),
        skipped_publishes: 0,
        checkpoint: Checkpointing {
            every,
            // A restore that replayed the log is checkpointed at the first
            // tick, so the next restore need not replay it again.
            last: Instant::now()
                .checked_sub(every)
                .unwrap_or_else(Instant::now),
            next_id: checkpointed.map_or(0, |id| id + 1),
            changed: checkpointed.is_none(),
        },
    };
    let mut agents_rx = ctx.agents.len.clone();
    let mut tick = tokio::time::interval(ctx.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Figures are published when they changed, at most about once per
    // tick: records after a quiet spell publish at once (and restart the
    // tick), so a wallboard does not wait up to a tick for them.
    let mut published = Instant::now();
    loop {
        let go_on = tokio::select! {
            r = rx.recv() => match r {
                Some(first) => {
                    let go_on = live.on_records(first, &mut rx).await;
                    if go_on && published.elapsed() >= ctx.tick {
                        tick.reset();
                        published = Instant::now();
                        live.on_tick().await
                    } else {
                        go_on
                    }
                }
                None => false,
            },
            Ok(()) = agents_rx.changed() => live.on_agents().await,
            _ = tick.tick() => {
                published = Instant::now();
                live.on_tick().await
            }
        };
        if !go_on {
            break;
        }
    }
    live.finish().await;
    let _ = done.send(());
}

/// Restore the partition, publish the restored view as the export baseline
/// (only growth beyond it is exported, so the replayed history is not
/// counted twice), resume the partition and report it live.
async fn start(
    ctx: &Arc<Shared>,
    topic: &Arc<str>,
    partition: i32,
) -> Result<(Task, Option<u64>), PipelineError> {
    ctx.observer.partition_status(
        topic,
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
    let stage = ctx.kafka.is_stage(topic);
    let engine = Engine::new((*ctx.engine).clone());
    let (c2, t2) = (ctx.clone(), topic.clone());
    let restored =
        tokio::task::spawn_blocking(move || restore::restore(&c2, &t2, partition, engine)).await;
    let Restored {
        engine,
        agent_seq,
        until,
        checkpoint_id,
    } = restored.map_err(|_| PipelineError::Panicked { task: "restore" })??;
    let mut task = Task {
        ctx: ctx.clone(),
        topic: topic.clone(),
        partition,
        engine,
        effects: Vec::new(),
        limits: ctx.limits.clone(),
        dead_letter_cap: dead_letter_cap(&ctx.kafka),
        // Restored up to `until`: a tick recorded before the next record
        // comes after the restored history, not before offset 0.
        last_offset: until.map(|u| u - 1),
        agent_seq,
        stage,
        facts: Vec::new(),
        orphans: Vec::new(),
    };
    task.engine.set_sample_tap(true);
    // Live from here: what the restore gave up was dead-lettered when it
    // was live.
    task.engine.collect_orphans();
    ctx.observer
        .partition_view(topic, partition, Arc::new(task.engine.view()));
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    if let Err(e) = ctx.consumer.resume(&tpl) {
        warn!(error = %e, topic = %topic, partition, "resume failed (partition revoked meanwhile?)");
    }
    ctx.observer
        .partition_status(topic, partition, PartitionStatus::Live);
    info!(topic = %topic, partition, "partition live");
    Ok((task, checkpoint_id))
}

/// When a partition writes its next checkpoint.
struct Checkpointing {
    /// `kafka.checkpoint_interval`; zero: never.
    every: Duration,
    last: Instant,
    next_id: u64,
    /// Folded something since the last checkpoint.
    changed: bool,
}

/// A live partition: its task and the state of the live loop. Each handler
/// returns `false` when the output is gone (shutting down).
struct Live {
    task: Task,
    progress: Arc<Progress>,
    /// An idle tick that emitted nothing: superseded by the next one, and
    /// written only before the next batch or at the end (see `Tick`).
    pending_tick: Option<Tick>,
    last_record: Instant,
    /// Ticks since the figures were last handed to the observer (only
    /// while catching up).
    skipped_publishes: u32,
    idle: Duration,
    batch: u64,
    checkpoint: Checkpointing,
}

impl Live {
    /// Fold a batch (and whatever else is ready, up to `batch_size`
    /// records), then hand its dead letters, effects and offset over.
    async fn on_records(&mut self, first: Batch, rx: &mut mpsc::Receiver<Batch>) -> bool {
        let task = &mut self.task;
        let mut outs = Vec::new();
        let mut tally = Tally::default();
        let orphaned_before = task.engine.processing().orphaned;
        // The watermark this batch is folded against must be on record
        // before the batch is.
        if let Some(t) = self.pending_tick.take() {
            outs.push(task.recorded(&t));
        }
        // One clock read per batch, for the future-skew bound.
        let now = wall_ms();
        for r in first.iter() {
            task.fold(r, now, &mut outs, &mut tally);
        }
        task.ctx.batches.give(first);
        while tally.consumed < self.batch {
            match rx.try_recv() {
                Ok(rs) => {
                    for r in rs.iter() {
                        task.fold(r, now, &mut outs, &mut tally);
                    }
                    task.ctx.batches.give(rs);
                }
                Err(_) => break,
            }
        }
        task.drain_effects(&mut outs);
        BatchFolded {
            topic: &task.topic,
            consumed: tally.consumed,
            applied: tally.applied,
            duplicate: tally.duplicate,
            late: tally.late,
            orphaned: task
                .engine
                .processing()
                .orphaned
                .saturating_sub(orphaned_before),
        }
        .emit();
        let sent = task.send(outs, task.last_offset).await;
        self.last_record = Instant::now();
        self.checkpoint.changed = true;
        sent
    }

    /// New agent-directory entries: fold them (they may decide picks).
    async fn on_agents(&mut self) -> bool {
        self.task.feed_agents();
        self.checkpoint.changed = true;
        let mut outs = Vec::new();
        self.task.drain_effects(&mut outs);
        self.task.send(outs, None).await
    }

    /// The publish tick: lag, the idle watermark when caught up, then the
    /// figures (every [`CATCHING_UP_TICKS`] ticks while catching up).
    async fn on_tick(&mut self) -> bool {
        let task = &mut self.task;
        let (ctx, topic, partition) = (task.ctx.clone(), task.topic.clone(), task.partition);
        // librdkafka's last view of the partition's end (no request;
        // unknown until its first fetch response).
        let end = cached_watermarks(&ctx.consumer, &topic, partition);
        let mut lag = 0;
        if let Some((lo, hi)) = end {
            lag = (hi - self.progress.next(task.folded(), lo)).max(0);
            ctx.observer.partition_lag(&topic, partition, lag);
        }
        let caught_up = end.is_some_and(|e| self.progress.caught_up(task.folded(), e));
        if caught_up && self.last_record.elapsed() >= self.idle {
            let wm = wall_ms() - task.engine.config().allowed_lateness;
            if wm > task.engine.watermark() {
                task.engine.advance(wm, &mut task.effects);
                task.engine.drain_customer_facts(&mut task.facts);
                task.engine.drain_orphans(&mut task.orphans);
                let t = Tick {
                    after_offset: task.last_offset.unwrap_or(-1),
                    watermark: wm,
                };
                // Held back unless it decided something to send.
                if task.effects.is_empty() && task.facts.is_empty() && task.orphans.is_empty() {
                    self.pending_tick = Some(t);
                } else {
                    self.pending_tick = None;
                    let mut outs = Vec::new();
                    task.drain_effects(&mut outs);
                    outs.push(task.recorded(&t));
                    if !task.send(outs, None).await {
                        return false;
                    }
                }
            }
        }
        if lag < CATCHING_UP || self.skipped_publishes + 1 >= CATCHING_UP_TICKS {
            publish(&ctx, &topic, partition, &mut task.engine);
            self.skipped_publishes = 0;
        } else {
            self.skipped_publishes += 1;
        }
        self.maybe_checkpoint().await
    }

    /// Every `kafka.checkpoint_interval`, when something changed: the
    /// engine's checkpoint, with the held-back tick (so the ticks topic
    /// and the checkpoint agree), in one output batch.
    async fn maybe_checkpoint(&mut self) -> bool {
        let c = &mut self.checkpoint;
        if c.every.is_zero() || !c.changed || c.last.elapsed() < c.every {
            return true;
        }
        let task = &mut self.task;
        let mut outs = Vec::new();
        if let Some(t) = self.pending_tick.take() {
            outs.push(task.recorded(&t));
        }
        task.drain_effects(&mut outs);
        let started = Instant::now();
        let bytes = task.engine.checkpoint();
        let now = wall_ms();
        let watermark = task.engine.watermark();
        let manifest = Manifest {
            id: c.next_id,
            input: task.topic.to_string(),
            partition: task.partition,
            offset: task.last_offset.unwrap_or(-1),
            chunks: 0,
            bytes: 0,
            xxh3: 0,
            written_at_ms: now,
            watermark: (watermark != Millis::MIN).then_some(watermark),
        };
        outs.extend(checkpoints::records(&task.ctx.kafka, manifest, &bytes));
        CheckpointWritten {
            topic: &task.topic,
            partition: task.partition,
            id: c.next_id,
            bytes: bytes.len(),
            offset: task.last_offset.unwrap_or(-1),
            seconds: started.elapsed().as_secs_f64(),
            at_seconds: now as f64 / 1000.0,
        }
        .emit();
        c.next_id += 1;
        c.changed = false;
        c.last = Instant::now();
        task.send(outs, task.last_offset).await
    }

    /// Revoked or shutting down (the channel is closed and drained): write
    /// what is left, export what was folded since the last tick, let go.
    async fn finish(mut self) {
        let task = &mut self.task;
        let mut outs = Vec::new();
        task.drain_effects(&mut outs);
        if let Some(t) = self.pending_tick.take() {
            outs.push(task.recorded(&t));
        }
        let _ = task.send(outs, task.last_offset).await;
        let (ctx, topic, partition) = (task.ctx.clone(), task.topic.clone(), task.partition);
        publish(&ctx, &topic, partition, &mut task.engine);
        ctx.observer.partition_removed(&topic, partition);
    }
}

/// Hand this tick's samples and view to the observer.
fn publish(ctx: &Shared, topic: &str, partition: i32, engine: &mut Engine) {
    let p = engine.publication();
    ctx.observer
        .partition_live(topic, partition, &p.samples, p.last_event_ms);
    ctx.observer
        .partition_view(topic, partition, Arc::new(p.view));
    engine.recycle_samples(p.samples);
}
