//! The one interface from the pipeline to export: partitions' status, their
//! raw views and the samples folded live. Export implements [`Observer`];
//! the pipeline calls it and knows nothing else of export.

use std::sync::Arc;

use ccpulse_core::engine::{LabelledSeries, View};
use ccpulse_core::event::Millis;
use serde::Serialize;

/// Where an assigned partition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PartitionStatus {
    /// Replaying history into a fresh engine: `done` of `total` records.
    Restoring { done: u64, total: u64 },
    /// Restored; its figures are published.
    Live,
}

impl PartitionStatus {
    /// 0..1, for `ccpulse_restore_progress_ratio`.
    pub fn progress(&self) -> f64 {
        match *self {
            PartitionStatus::Live => 1.0,
            PartitionStatus::Restoring { done, total } if total > 0 => {
                (done as f64 / total as f64).clamp(0.0, 1.0)
            }
            PartitionStatus::Restoring { .. } => 0.0,
        }
    }
}

/// How a partition was restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum RestorePath {
    /// From a checkpoint, then the records after it.
    Checkpoint { id: u64, bytes: u64 },
    /// From the start of the partition's retained log.
    Replay,
}

impl std::fmt::Display for RestorePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestorePath::Checkpoint { id, bytes } => write!(f, "checkpoint {id} ({bytes} bytes)"),
            RestorePath::Replay => f.write_str("replay of the log"),
        }
    }
}

/// What a restore did: which path, how many records it replayed, how
/// long it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    pub path: RestorePath,
    pub records: u64,
    pub millis: u64,
}

/// What the pipeline tells the rest of the process (export, HTTP).
pub trait Observer: Send + Sync + 'static {
    fn started(&self) {}
    fn partition_status(&self, _topic: &str, _partition: i32, _status: PartitionStatus) {}
    /// The partition's latest raw view (about once per export tick).
    fn partition_view(&self, _topic: &str, _partition: i32, _view: Arc<View>) {}
    /// Duration samples folded live since the last call, with their labels,
    /// and the newest event time folded; never called while restoring.
    fn partition_live(
        &self,
        _topic: &str,
        _partition: i32,
        _samples: &[LabelledSeries],
        _last_event_ms: Option<Millis>,
    ) {
    }
    fn partition_removed(&self, _topic: &str, _partition: i32) {}
    /// The partition's restore finished (it goes live next).
    fn partition_restored(&self, _topic: &str, _partition: i32, _report: &RestoreReport) {}
    /// A broker call of the partition's restore failed and is being
    /// retried (`what`, attempts so far).
    fn partition_retrying(&self, _topic: &str, _partition: i32, _what: &str, _attempts: u32) {}
    /// Records between the high watermark and the next offset to process.
    fn partition_lag(&self, _topic: &str, _partition: i32, _lag: i64) {}
}

/// An observer that ignores everything.
pub struct NoObserver;
impl Observer for NoObserver {}
