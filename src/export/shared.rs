//! What the pipeline, the export tick and the HTTP server share: each
//! assigned partition's latest [`View`] and status, the leader flag, and
//! the inputs of readiness.
//!
//! Partition tasks write (one entry each, so writers do not contend);
//! the tick and HTTP handlers read, and merge the live partitions' views
//! into one instance view ([`ExportState::merged_view`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use serde::Serialize;

use ccpulse_core::engine::View;

use crate::telemetry::PartitionStatus;
use ccpulse_core::event::Millis;

/// An input partition: `(topic, partition)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PartitionKey {
    pub topic: String,
    pub partition: i32,
}

impl PartitionKey {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        PartitionKey {
            topic: topic.into(),
            partition,
        }
    }
}

/// One partition's entry.
#[derive(Debug, Clone)]
pub struct PartitionEntry {
    pub status: PartitionStatus,
    /// The latest published view (`None` until the first publish).
    pub view: Option<Arc<View>>,
    /// Records between the high watermark and the next offset to process.
    pub lag: u64,
    /// Newest event time seen.
    pub last_event_ms: Option<Millis>,
}

/// Shared export state; wrap it in an `Arc`.
#[derive(Debug)]
pub struct ExportState {
    partitions: DashMap<PartitionKey, PartitionEntry>,
    leader: AtomicBool,
    started: AtomicBool,
    max_ready_lag: AtomicU64,
}

/// Readiness and why, as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// The pipeline said it started (consumer up, assignment received).
    pub started: bool,
    pub max_lag: u64,
    /// Every assigned partition, ordered by topic and partition.
    pub partitions: Vec<PartitionReadiness>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionReadiness {
    pub topic: String,
    pub partition: i32,
    #[serde(flatten)]
    pub status: PartitionStatus,
    pub progress: f64,
    pub lag: u64,
    pub ready: bool,
}

impl ExportState {
    /// `max_ready_lag`: consumer lag (records) a partition may have and
    /// still count as ready.
    pub fn new(max_ready_lag: u64) -> Self {
        ExportState {
            partitions: DashMap::new(),
            leader: AtomicBool::new(false),
            started: AtomicBool::new(false),
            max_ready_lag: AtomicU64::new(max_ready_lag),
        }
    }

    /// The pipeline is up (before this, the instance is never ready).
    pub fn set_started(&self, started: bool) {
        self.started.store(started, Ordering::Release);
    }

    /// This instance owns input partition 0, so it exports the replicated
    /// agent directory (`ccpulse_agents`, `ccpulse_agent_state_seconds_total`).
    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Release);
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }

    pub fn set_max_ready_lag(&self, lag: u64) {
        self.max_ready_lag.store(lag, Ordering::Release);
    }

    /// Register an assigned partition or change its status.
    pub fn set_status(&self, key: &PartitionKey, status: PartitionStatus) {
        self.partitions
            .entry(key.clone())
            .and_modify(|e| e.status = status)
            .or_insert_with(|| PartitionEntry {
                status,
                view: None,
                lag: 0,
                last_event_ms: None,
            });
    }

    /// Report a partition's consumer lag (records).
    pub fn set_lag(&self, key: &PartitionKey, lag: u64) {
        if let Some(mut e) = self.partitions.get_mut(key) {
            e.lag = lag;
        }
    }

    /// Publish a partition's latest view. Ignored for unassigned partitions
    /// (a task finishing after its revocation must not resurrect it).
    pub fn publish_view(&self, key: &PartitionKey, view: Arc<View>, last_event_ms: Option<Millis>) {
        if let Some(mut e) = self.partitions.get_mut(key) {
            e.view = Some(view);
            e.last_event_ms = last_event_ms.filter(|&t| t != Millis::MIN);
        }
    }

    /// The partition was revoked: its figures leave this instance.
    pub fn remove_partition(&self, key: &PartitionKey) {
        self.partitions.remove(key);
    }

    /// Every assigned partition, ordered.
    pub fn partitions(&self) -> Vec<(PartitionKey, PartitionEntry)> {
        let mut v: Vec<_> = self
            .partitions
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The live partitions' latest views merged into one (in partition
    /// order, so the result does not depend on map iteration).
    pub fn merged_view(&self) -> View {
        let mut merged = View::default();
        for (_, e) in self.partitions() {
            if let (PartitionStatus::Live, Some(v)) = (e.status, &e.view) {
                merged.merge(v);
            }
        }
        merged
    }

    /// Ready iff the pipeline started and every assigned partition is live
    /// with its lag at most the threshold.
    pub fn readiness(&self) -> Readiness {
        let max_lag = self.max_ready_lag.load(Ordering::Acquire);
        let started = self.started.load(Ordering::Acquire);
        let partitions: Vec<PartitionReadiness> = self
            .partitions()
            .into_iter()
            .map(|(k, e)| PartitionReadiness {
                topic: k.topic,
                partition: k.partition,
                status: e.status,
                progress: e.status.progress(),
                lag: e.lag,
                ready: e.status == PartitionStatus::Live && e.lag <= max_lag,
            })
            .collect();
        Readiness {
            ready: started && partitions.iter().all(|p| p.ready),
            started,
            max_lag,
            partitions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_started_and_every_partition_is_live_and_caught_up() {
        let s = ExportState::new(10);
        let (a, b) = (PartitionKey::new("t", 0), PartitionKey::new("t", 1));
        assert!(!s.readiness().ready, "not started");
        s.set_started(true);
        assert!(s.readiness().ready, "started, nothing assigned");
        s.set_status(&a, PartitionStatus::Restoring { done: 5, total: 20 });
        s.set_status(&b, PartitionStatus::Live);
        let r = s.readiness();
        assert!(!r.ready);
        assert_eq!(r.partitions[0].progress, 0.25);
        assert!(r.partitions[1].ready);
        s.set_status(&a, PartitionStatus::Live);
        assert!(s.readiness().ready);
        s.set_lag(&b, 11);
        assert!(!s.readiness().ready);
        s.set_lag(&b, 10);
        assert!(s.readiness().ready);
        s.remove_partition(&a);
        assert_eq!(s.readiness().partitions.len(), 1);
    }

    #[test]
    fn merged_view_takes_live_partitions_only() {
        let s = ExportState::new(0);
        let (a, b) = (PartitionKey::new("t", 0), PartitionKey::new("t", 1));
        let view = |open| {
            Arc::new(View {
                open_interactions: open,
                ..View::default()
            })
        };
        s.set_status(&a, PartitionStatus::Live);
        s.set_status(&b, PartitionStatus::Restoring { done: 0, total: 1 });
        s.publish_view(&a, view(2), None);
        s.publish_view(&b, view(3), None);
        assert_eq!(s.merged_view().open_interactions, 2);
        s.set_status(&b, PartitionStatus::Live);
        assert_eq!(s.merged_view().open_interactions, 5);
        s.remove_partition(&a);
        s.publish_view(&a, view(7), None);
        assert_eq!(s.merged_view().open_interactions, 3, "revoked stays out");
    }
}
