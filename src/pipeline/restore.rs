//! Restoring a partition's engine on assignment: replay the partition up
//! to its committed offset with the agent directory merged in by event
//! time, the recorded reassignment decisions installed, and the recorded
//! watermark ticks applied where they were live (see ARCHITECTURE.md,
//! decision 1). No effects leave a restore. Blocking: run on a blocking
//! thread.

use std::time::{Duration, Instant};

use ccpulse_core::engine::Engine;
use ccpulse_core::event::codec::{decode, decode_effect_json, Limits};
use ccpulse_core::event::{Event, EventKind};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tracing::info;

use super::context::Shared;
use super::error::{kerr, PipelineError};
use super::kafka::reader;
use super::records::Tick;
use super::topic;
use crate::telemetry::PartitionStatus;

/// Restore the engine of `topic/partition`; returns it with the agent log
/// position it has folded up to.
pub(super) fn restore(
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
        .map_err(kerr(format!(
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
    topic::read(k, &k.topics.effects, partition, None, |m| {
        if let Ok(e) = decode_effect_json(m.payload().unwrap_or_default()) {
            decisions.push(e);
        }
    })?;
    engine.install_recorded_decisions(decisions);
    let mut ticks: Vec<Tick> = Vec::new();
    topic::read(k, &k.topics.ticks, partition, None, |m| {
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

    let c = reader(k, "restore-watermarks")?;
    let (low, _) = topic::watermarks(&c, topic, partition)?;
    let total = (until - low).max(0) as u64;
    let limits = Limits::default();
    let mut done = 0u64;
    let started = Instant::now();
    topic::read(k, topic, partition, Some(until), |m| {
        let value = m.payload().unwrap_or_default();
        let ct = topic::header(m, "content-type");
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
pub(super) struct Restored {
    pub(super) engine: Engine,
    /// Agent-directory entries already merged in.
    pub(super) agent_seq: usize,
    /// The committed offset the replay stopped at, where live input resumes
    /// (`None`: nothing committed yet).
    pub(super) until: Option<i64>,
}
