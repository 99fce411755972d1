//! Export's side of the pipeline's reports: implements [`Observer`] on top
//! of [`ExportState`] and one [`PartitionPublisher`] per live partition.
//!
//! Counters are exact across partition moves when the pipeline publishes
//! the restored view before reporting `Live` (that view is the baseline),
//! and a last view before `partition_removed`. Without the first, the
//! baseline is the first live view, so events folded before it are not
//! exported.
//!
//! `partition_removed` drops the partition's publisher (no counter of it is
//! exported any more) and hands the partition to
//! [`ExportState::remove_partition`], which keeps its last figures, stale,
//! for the views and gauges only (see [`super::shared`]). `partition_lag`
//! is the only source of a partition's lag: until its first call the lag
//! is unknown and the partition not ready.

use std::sync::{Arc, Mutex, PoisonError};

use dashmap::DashMap;

use super::publish::PartitionPublisher;
use super::shared::{ExportState, PartitionKey};
use crate::telemetry::{Observer, PartitionStatus, RestoreReport};
use ccpulse_core::engine::{LabelledSeries, View};
use ccpulse_core::event::Millis;

#[derive(Debug, Default)]
struct Slot {
    /// Created when the partition goes live.
    publisher: Option<PartitionPublisher>,
    /// The latest view published while restoring: the baseline.
    restored: Option<Arc<View>>,
    live: bool,
    last_event_ms: Option<Millis>,
}

/// Feeds [`ExportState`] and the metric publishers from the pipeline.
#[derive(Debug)]
pub struct ExportObserver {
    state: Arc<ExportState>,
    /// Whoever owns partition 0 of this topic exports the agent directory.
    leader_topic: String,
    slots: DashMap<PartitionKey, Arc<Mutex<Slot>>>,
}

impl ExportObserver {
    /// `leader_topic`: the first input (events) topic.
    pub fn new(state: Arc<ExportState>, leader_topic: impl Into<String>) -> Self {
        ExportObserver {
            state,
            leader_topic: leader_topic.into(),
            slots: DashMap::new(),
        }
    }

    /// The partition's slot; the map's shard lock is released before the
    /// slot is locked, so partitions do not wait on each other.
    fn slot(&self, key: &PartitionKey) -> Arc<Mutex<Slot>> {
        self.slots.entry(key.clone()).or_default().clone()
    }

    fn with_slot<R>(&self, key: &PartitionKey, f: impl FnOnce(&mut Slot) -> R) -> R {
        let slot = self.slot(key);
        let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    fn is_leader_partition(&self, key: &PartitionKey) -> bool {
        key.partition == 0 && key.topic == self.leader_topic
    }
}

impl Observer for ExportObserver {
    fn started(&self) {
        self.state.set_started(true);
    }

    fn partition_status(&self, topic: &str, partition: i32, status: PartitionStatus) {
        let key = PartitionKey::new(topic, partition);
        self.with_slot(&key, |s| {
            s.live = status == PartitionStatus::Live;
            if s.live && s.publisher.is_none() {
                if let Some(v) = s.restored.take() {
                    s.publisher = Some(PartitionPublisher::with_baseline(&v));
                }
            }
        });
        self.state.set_status(&key, status);
        if self.is_leader_partition(&key) {
            self.state.set_leader(true);
        }
    }

    fn partition_restored(&self, topic: &str, partition: i32, report: &RestoreReport) {
        self.state
            .set_restored(&PartitionKey::new(topic, partition), report.clone());
    }

    fn partition_view(&self, topic: &str, partition: i32, view: Arc<View>) {
        let key = PartitionKey::new(topic, partition);
        let last_event_ms = self.with_slot(&key, |s| {
            if !s.live {
                s.restored = Some(view.clone());
                return None;
            }
            let p = s
                .publisher
                .get_or_insert_with(|| PartitionPublisher::with_baseline(&view));
            p.publish_counters(&view);
            p.publish_processing(topic, &view.processing());
            Some(s.last_event_ms)
        });
        if let Some(t) = last_event_ms {
            self.state.publish_view(&key, view, t);
        }
    }

    fn partition_live(
        &self,
        topic: &str,
        partition: i32,
        samples: &[LabelledSeries],
        last_event_ms: Option<Millis>,
    ) {
        let key = PartitionKey::new(topic, partition);
        self.with_slot(&key, |s| {
            s.live = true;
            s.last_event_ms = last_event_ms;
            if s.publisher.is_none() {
                match s.restored.take() {
                    Some(v) => s.publisher = Some(PartitionPublisher::with_baseline(&v)),
                    // No restored view was published: the next view is the
                    // baseline, and this tick's samples are dropped so
                    // histograms and counters start at the same point.
                    None => return,
                }
            }
            if let Some(p) = s.publisher.as_mut() {
                p.publish_samples(samples);
            }
        });
    }

    fn partition_removed(&self, topic: &str, partition: i32) {
        let key = PartitionKey::new(topic, partition);
        self.slots.remove(&key);
        self.state.remove_partition(&key);
        if self.is_leader_partition(&key) {
            self.state.set_leader(false);
        }
    }

    fn partition_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.state
            .set_lag(&PartitionKey::new(topic, partition), lag.max(0) as u64);
    }
}
