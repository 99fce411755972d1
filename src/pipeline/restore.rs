//! Restoring a partition's engine on assignment: replay the partition up
//! to its committed offset with the agent directory merged in by event
//! time, the recorded reassignment decisions installed, and the recorded
//! watermark ticks applied where they were live (see ARCHITECTURE.md,
//! decision 1). No effects leave a restore. Blocking: run on a blocking
//! thread.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ccpulse_core::engine::Engine;
use ccpulse_core::event::codec::{decode, decode_effect_json};
use ccpulse_core::event::{Event, EventKind};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tracing::{info, warn};

use super::checkpoints;
use super::context::Shared;
use super::error::PipelineError;
use super::records::{decode_facts, Recorded, Tick};
use super::retry::{per_call, Retry};
use super::topic;
use crate::telemetry::{PartitionStatus, RestorePath, RestoreReport};

/// Restore the engine of `topic/partition`; returns it with the agent log
/// position it has folded up to. Every broker call is retried within
/// `kafka.retry_budget` (waits end at once when the pipeline stops).
pub(super) fn restore(
    ctx: &Shared,
    topic: &str,
    partition: i32,
    mut engine: Engine,
) -> Result<Restored, PipelineError> {
    // Timed whole: finding and loading the checkpoint, then the replay.
    let started = Instant::now();
    let k = &ctx.kafka;
    // A customer-stage partition decides facts; an events partition states
    // them (when the stage is on), and a restore discards them: they were
    // sent when they were live.
    let stage = k.is_stage(topic);
    let route = k.customer_stage && !stage;
    if route {
        engine.route_customer_facts();
    }
    let mut facts = Vec::new();
    let budget = Duration::from_millis(k.retry_budget.max(0) as u64);
    let what = format!("reading the committed offset of {topic}/{partition}");
    let mut retry = Retry::new(&what, budget);
    let committed = loop {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        match ctx.consumer.committed_offsets(tpl, per_call(budget)) {
            Ok(c) => break c,
            Err(e) => {
                retry.failed_blocking(e, &ctx.stop)?;
                ctx.observer
                    .partition_retrying(topic, partition, &what, retry.attempts());
            }
        }
    };
    let until = committed.elements().first().and_then(|e| match e.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    });
    let mut agents: Vec<Event> = ctx.agents.log.read().map(|l| l.clone()).unwrap_or_default();
    let seq = agents.len();
    if stage {
        agents.clear();
    }
    agents.sort_by_key(|e| e.occurred_at);
    let mut sink = Vec::new();
    let Some(until) = until else {
        for ev in agents {
            engine.apply(ev, &mut sink);
        }
        ctx.observer.partition_restored(
            topic,
            partition,
            &RestoreReport {
                path: RestorePath::Replay,
                records: 0,
                millis: started.elapsed().as_millis() as u64,
            },
        );
        return Ok(Restored {
            engine,
            agent_seq: seq,
            until: None,
            checkpoint_id: None,
        });
    };
    let reads = topic::Reads {
        kafka: k,
        budget,
        stop: &ctx.stop,
    };

    // The newest usable checkpoint: replay only what came after it.
    let mut from: Option<Checkpointed> = None;
    if k.checkpoint_interval > 0 {
        for found in checkpoints::find(&reads, topic, partition)? {
            let m = found.manifest;
            // Only a checkpoint within the committed offsets counts: under
            // exactly-once every committed one is (same transaction); under
            // at-least-once offsets are committed once every record before
            // them, the checkpoint's and its effects', was acknowledged, so
            // a checkpoint beyond the commit may cover effects that never
            // arrived.
            if m.offset >= until {
                info!(
                    topic,
                    partition,
                    checkpoint = m.id,
                    covers = m.offset,
                    committed = until,
                    "checkpoint beyond the committed offset: trying an older one"
                );
                continue;
            }
            match Engine::restore((*ctx.engine).clone(), &found.bytes) {
                Ok(e) => {
                    engine = e;
                    if route {
                        engine.route_customer_facts();
                    }
                    from = Some(Checkpointed {
                        next: m.offset + 1,
                        id: m.id,
                        bytes: m.bytes,
                        written_at_ms: m.written_at_ms,
                    });
                    break;
                }
                Err(error) => warn!(
                    topic,
                    partition,
                    checkpoint = m.id,
                    %error,
                    "checkpoint unusable: trying an older one, else replaying the log"
                ),
            }
        }
    }
    let start = from.as_ref().map(|c| c.next);
    // Effects and ticks decided after the checkpoint were produced after it
    // was taken; a minute of margin for the clock.
    let since = |t: &str| -> Result<Option<i64>, PipelineError> {
        match &from {
            Some(c) => Ok(Some(reads.offset_at(
                t,
                partition,
                c.written_at_ms - 60_000,
            )?)),
            None => Ok(None),
        }
    };

    // Decisions, ticks and skips that were published for this partition.
    // (None for the customer stage, which has no SLA clocks.)
    let mut decisions = Vec::new();
    if !stage {
        reads.read(
            &k.topics.effects,
            partition,
            since(&k.topics.effects)?,
            None,
            |m| {
                if let Ok(e) = decode_effect_json(m.payload().unwrap_or_default()) {
                    decisions.push(e);
                }
            },
        )?;
    }
    engine.install_recorded_decisions(decisions);
    let mut ticks: Vec<Tick> = Vec::new();
    let mut skips: HashSet<i64> = HashSet::new();
    // Ticks after the checkpoint: those recorded at its own offset may
    // have come after it was taken (an earlier one is a no-op: the
    // watermark only moves forward).
    let after = |o: i64| start.is_none_or(|s| o >= s - 1);
    reads.read(
        &k.topics.ticks,
        partition,
        since(&k.topics.ticks)?,
        None,
        |m| {
            if m.key() != Some(topic.as_bytes()) {
                return;
            }
            match serde_json::from_slice::<Recorded>(m.payload().unwrap_or_default()) {
                Ok(Recorded::Tick(t)) if t.after_offset < until && after(t.after_offset) => {
                    ticks.push(t)
                }
                Ok(Recorded::Skip(s)) if s.skip_offset < until => {
                    skips.insert(s.skip_offset);
                }
                _ => {}
            }
        },
    )?;
    ticks.sort_by_key(|t| t.after_offset);
    let mut ticks = ticks.into_iter().peekable();
    while let Some(t) = ticks.next_if(|t| t.after_offset < 0) {
        engine.advance(t.watermark, &mut sink);
    }
    // Agent events a checkpoint already holds are older than their
    // tenant's watermark (agent events arrive at wall-clock-dependent
    // points, so this is as exact as the directory itself; ARCHITECTURE.md).
    let agent_floor = |a: &Event| match from {
        Some(_) => engine
            .tenant_watermark(a.tenant.as_deref())
            .unwrap_or(i64::MIN),
        None => i64::MIN,
    };
    let agents: Vec<Event> = agents
        .into_iter()
        .filter(|a| a.occurred_at >= agent_floor(a))
        .collect();
    let mut agents = agents.into_iter().peekable();

    let (low, _) = reads.watermarks(topic, partition)?;
    let first = start.unwrap_or(low).max(low);
    let total = (until - first).max(0) as u64;
    let mut done = 0u64;
    reads.read(topic, partition, start, Some(until), |m| {
        let value = m.payload().unwrap_or_default();
        let ct = topic::header(m, "content-type");
        // The same validation as live, against the record's own timestamp;
        // what live rejected against its clock is in `skips`.
        let decoded = if stage {
            for f in decode_facts(value).unwrap_or_default() {
                engine.apply_customer_fact(&f);
            }
            None
        } else {
            decode(
                value,
                k.format.pick(value, ct),
                &ctx.limits,
                m.timestamp().to_millis(),
            )
            .ok()
        };
        if let Some(ev) = decoded {
            if !matches!(ev.kind, EventKind::Agent(_)) && !skips.contains(&m.offset()) {
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
        engine.drain_customer_facts(&mut facts);
        facts.clear();
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
    engine.drain_customer_facts(&mut facts);
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let path = match &from {
        Some(c) => RestorePath::Checkpoint {
            id: c.id,
            bytes: c.bytes,
        },
        None => RestorePath::Replay,
    };
    info!(
        topic,
        partition,
        path = %path,
        records = done,
        skipped_future = skips.len(),
        elapsed_ms,
        "partition restored"
    );
    ctx.observer.partition_restored(
        topic,
        partition,
        &RestoreReport {
            path: path.clone(),
            records: done,
            millis: elapsed_ms,
        },
    );
    Ok(Restored {
        engine,
        agent_seq: seq,
        until: Some(until),
        checkpoint_id: from.map(|c| c.id),
    })
}

/// A partition's state rebuilt from the log.
pub(super) struct Restored {
    pub(super) engine: Engine,
    /// Agent-directory entries already merged in.
    pub(super) agent_seq: usize,
    /// The offset live input resumes at: the committed offset (`None`:
    /// nothing committed yet).
    pub(super) until: Option<i64>,
    /// The checkpoint restored from: the next one gets a higher id.
    pub(super) checkpoint_id: Option<u64>,
}

/// The checkpoint a restore started from.
struct Checkpointed {
    /// First input offset after it.
    next: i64,
    id: u64,
    bytes: u64,
    written_at_ms: i64,
}
