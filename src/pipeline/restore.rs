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
use tracing::info;

use super::context::Shared;
use super::error::PipelineError;
use super::records::{Recorded, Tick};
use super::retry::{per_call, Retry};
use super::topic;
use crate::telemetry::PartitionStatus;

/// Restore the engine of `topic/partition`; returns it with the agent log
/// position it has folded up to. Every broker call is retried within
/// `kafka.retry_budget` (waits end at once when the pipeline stops).
pub(super) fn restore(
    ctx: &Shared,
    topic: &str,
    partition: i32,
    mut engine: Engine,
) -> Result<Restored, PipelineError> {
    let k = &ctx.kafka;
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
    let reads = topic::Reads {
        kafka: k,
        budget,
        stop: &ctx.stop,
    };

    // Decisions, ticks and skips that were published for this partition.
    let mut decisions = Vec::new();
    reads.read(&k.topics.effects, partition, None, |m| {
        if let Ok(e) = decode_effect_json(m.payload().unwrap_or_default()) {
            decisions.push(e);
        }
    })?;
    engine.install_recorded_decisions(decisions);
    let mut ticks: Vec<Tick> = Vec::new();
    let mut skips: HashSet<i64> = HashSet::new();
    reads.read(&k.topics.ticks, partition, None, |m| {
        if m.key() != Some(topic.as_bytes()) {
            return;
        }
        match serde_json::from_slice::<Recorded>(m.payload().unwrap_or_default()) {
            Ok(Recorded::Tick(t)) if t.after_offset < until => ticks.push(t),
            Ok(Recorded::Skip(s)) if s.skip_offset < until => {
                skips.insert(s.skip_offset);
            }
            _ => {}
        }
    })?;
    ticks.sort_by_key(|t| t.after_offset);
    let mut ticks = ticks.into_iter().peekable();
    while let Some(t) = ticks.next_if(|t| t.after_offset < 0) {
        engine.advance(t.watermark, &mut sink);
    }

    let (low, _) = reads.watermarks(topic, partition)?;
    let total = (until - low).max(0) as u64;
    let mut done = 0u64;
    let started = Instant::now();
    reads.read(topic, partition, Some(until), |m| {
        let value = m.payload().unwrap_or_default();
        let ct = topic::header(m, "content-type");
        // The same validation as live, against the record's own timestamp;
        // what live rejected against its clock is in `skips`.
        let decoded = decode(
            value,
            k.format.pick(value, ct),
            &ctx.limits,
            m.timestamp().to_millis(),
        );
        if let Ok(ev) = decoded {
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
        skipped_future = skips.len(),
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
