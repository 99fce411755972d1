//! Checkpoint format 1, read only: the state types whose form changed since
//! (the processing counters gained fields; fixed-bucket histograms gained
//! their extremes), as they were written then, and their conversion into
//! today's. Everything else reads as in the current format. A leaf: the
//! checkpoint module picks these by the header's version.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::hist::{Buckets, Hdr, NB};
use super::settings::QueueSettings;
use super::stats::{
    waiting_set, AgentCounters, AgentPane, AgentStats, QueueCounters, QueuePane, QueueStats, Volume,
};
use super::types::ProcessingStats;
use super::window::Ring;
use crate::event::Millis;

/// `ProcessingStats` of format 1.
#[derive(Debug, Deserialize)]
pub(super) struct ProcessingV1 {
    events_received: u64,
    events_applied: u64,
    duplicates: u64,
    late: u64,
    late_beyond_window: u64,
    orphaned: u64,
    ignored_transitions: u64,
    stale_agent_events: u64,
    expired_interactions: u64,
    tracking_overflow: u64,
}

impl From<ProcessingV1> for ProcessingStats {
    /// Format 1 counted FCR retractions beyond a window in
    /// `late_beyond_window`; which of its count they were is not known, so
    /// the count stays there.
    fn from(p: ProcessingV1) -> Self {
        ProcessingStats {
            events_received: p.events_received,
            events_applied: p.events_applied,
            duplicates: p.duplicates,
            late: p.late,
            late_beyond_window: p.late_beyond_window,
            orphaned: p.orphaned,
            ignored_transitions: p.ignored_transitions,
            stale_agent_events: p.stale_agent_events,
            expired_interactions: p.expired_interactions,
            tracking_overflow: p.tracking_overflow,
            ..ProcessingStats::default()
        }
    }
}

/// `Buckets` of format 1: no extremes.
#[derive(Debug, Deserialize)]
struct BucketsV1 {
    counts: [u32; NB],
    sum_ms: u64,
}

impl From<BucketsV1> for Buckets {
    fn from(b: BucketsV1) -> Self {
        Buckets::without_extremes(b.counts, b.sum_ms)
    }
}

#[derive(Debug, Deserialize)]
struct QueuePaneV1 {
    c: QueueCounters,
    h: [BucketsV1; 5],
    peak_concurrent: u64,
}

impl From<QueuePaneV1> for QueuePane {
    fn from(p: QueuePaneV1) -> Self {
        QueuePane {
            c: p.c,
            h: p.h.map(Buckets::from),
            peak_concurrent: p.peak_concurrent,
        }
    }
}

#[derive(Debug, Deserialize)]
struct AgentPaneV1 {
    c: AgentCounters,
    handle: BucketsV1,
}

impl From<AgentPaneV1> for AgentPane {
    fn from(p: AgentPaneV1) -> Self {
        AgentPane {
            c: p.c,
            handle: p.handle.into(),
        }
    }
}

/// `QueueStats` of format 1.
#[derive(Debug, Deserialize)]
pub(super) struct QueueStatsV1 {
    settings: QueueSettings,
    total: QueuePaneV1,
    hdr: [Hdr; 5],
    tiers: Vec<Ring<QueuePaneV1>>,
    #[serde(with = "waiting_set")]
    waiting: BTreeSet<(Millis, u32)>,
    concurrent: u64,
    volume: Volume,
}

impl From<QueueStatsV1> for QueueStats {
    fn from(q: QueueStatsV1) -> Self {
        QueueStats {
            settings: q.settings,
            total: q.total.into(),
            hdr: q.hdr,
            tiers: q
                .tiers
                .into_iter()
                .map(|r| r.map(QueuePane::from))
                .collect(),
            waiting: q.waiting,
            concurrent: q.concurrent,
            volume: q.volume,
        }
    }
}

/// `AgentStats` of format 1.
#[derive(Debug, Deserialize)]
pub(super) struct AgentStatsV1 {
    total: AgentPaneV1,
    tiers: Vec<Ring<AgentPaneV1>>,
}

impl From<AgentStatsV1> for AgentStats {
    fn from(a: AgentStatsV1) -> Self {
        AgentStats {
            total: a.total.into(),
            tiers: a
                .tiers
                .into_iter()
                .map(|r| r.map(AgentPane::from))
                .collect(),
        }
    }
}
