//! The Kafka shell around the engine: `ccpulse run`.
//!
//! # Layout
//! - [`config`]: the `[kafka]` section.
//! - `poll`: one thread owns the group consumer. It routes records to
//!   partition tasks and handles rebalances: on assign it pauses the
//!   partition and starts a task; on revoke it lets the tasks drain and has
//!   the output commit before librdkafka takes the partitions away.
//! - `task`: one per assigned input partition, owning its `Engine`. It
//!   restores (replays the partition up to the committed offset, with the
//!   recorded decisions and watermark ticks; no effects), resumes the
//!   partition, then folds live records in batches. When idle it moves the
//!   watermark with the wall clock and records that tick.
//! - `output`: one task owns the producer: effects, dead letters and ticks
//!   are produced and the consumed offsets committed, either in one Kafka
//!   transaction (exactly-once) or after the broker acknowledged everything
//!   (at-least-once).
//! - `agents`: reads the whole agent topic (the replicated directory) and
//!   feeds every task.
//! - `restore`: reading a partition of a topic from the beginning.
//!
//! Every task is spawned on a `TaskTracker` and stops on a
//! `CancellationToken`; shutdown drains, commits and closes within
//! `kafka.shutdown_timeout`.

pub mod config;

pub mod feed;

mod agents;
mod kafka;
mod output;
mod poll;
mod restore;
mod task;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::engine::View;

pub use config::{Guarantee, KafkaConfig};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("Kafka {context}: {cause}")]
    Kafka { context: String, cause: KafkaError },
    #[error("cannot reach the Kafka brokers {brokers:?} within {timeout_s}s: {cause} (fix: check kafka.brokers and the network, or TLS/SASL settings in [kafka.properties])")]
    Unreachable {
        brokers: String,
        timeout_s: u64,
        cause: KafkaError,
    },
    #[error("missing topics: {} (fix: create them, or set kafka.create_topics = true)", topics.join(", "))]
    MissingTopics { topics: Vec<String> },
    #[error("topic {topic} has {has} partitions but input topic {input} has {needs}; effects and ticks go to the input's partition number (fix: give {topic} at least {needs} partitions)")]
    TooFewPartitions {
        topic: String,
        has: usize,
        input: String,
        needs: usize,
    },
    #[error("the output to Kafka failed: {0} (the process exits so that a restart restores from the last commit)")]
    Output(String),
    #[error("restoring {topic}/{partition} stalled at offset {at} of {end} (the broker stopped returning records; the process exits so a restart retries)")]
    Restore {
        topic: String,
        partition: i32,
        at: i64,
        end: i64,
    },
    #[error("kafka.processing_guarantee = \"exactly_once\" but the brokers {brokers:?} do not support transactions ({cause}) (fix: set kafka.processing_guarantee = \"auto\" or \"at_least_once\")")]
    NoTransactions { brokers: String, cause: KafkaError },
    #[error("shutdown did not finish within {0} ms")]
    ShutdownTimeout(u64),
}

pub(crate) fn kerr(context: impl Into<String>) -> impl FnOnce(KafkaError) -> PipelineError {
    let context = context.into();
    move |cause| PipelineError::Kafka { context, cause }
}

/// Where a partition task is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PartitionStatus {
    /// Replaying history: `done` of `total` records.
    Restoring { done: u64, total: u64 },
    /// Folding live records.
    Live,
}

/// What the pipeline tells the rest of the process (export, HTTP).
pub trait Observer: Send + Sync + 'static {
    fn started(&self) {}
    fn partition_status(&self, _topic: &str, _partition: i32, _status: PartitionStatus) {}
    /// The partition's latest raw view (about once per export tick).
    fn partition_view(&self, _topic: &str, _partition: i32, _view: Arc<View>) {}
    /// Counter deltas and samples since the last call, for live export;
    /// never called while restoring.
    fn partition_live(
        &self,
        _topic: &str,
        _partition: i32,
        _engine: &crate::engine::Engine,
        _samples: &[crate::engine::Sample],
    ) {
    }
    fn partition_removed(&self, _topic: &str, _partition: i32) {}
    /// Records between the high watermark and the next offset to process.
    fn partition_lag(&self, _topic: &str, _partition: i32, _lag: i64) {}
}

/// An observer that ignores everything.
pub struct NoObserver;
impl Observer for NoObserver {}

/// Processor counters exist (at 0) from the start, so rates and "appearing"
/// alerts see a series before the first dead letter or transaction.
fn register_processor_series(k: &KafkaConfig) {
    use crate::export::catalog;
    for topic in k.topics.events.iter().chain([&k.topics.agents]) {
        for reason in ["malformed_json", "malformed_protobuf", "invalid_field"] {
            metrics::counter!(catalog::DEAD_LETTERS.name, "topic" => topic.clone(), "reason" => reason).increment(0);
        }
        for f in [
            catalog::EVENTS_CONSUMED,
            catalog::EVENTS_APPLIED,
            catalog::EVENTS_DUPLICATE,
            catalog::EVENTS_LATE,
            catalog::EVENTS_ORPHANED,
        ] {
            metrics::counter!(f.name, "topic" => topic.clone()).increment(0);
        }
    }
    for outcome in ["commit", "abort"] {
        metrics::counter!(catalog::TRANSACTIONS.name, "outcome" => outcome).increment(0);
    }
    for outcome in ["ok", "error"] {
        metrics::counter!(catalog::COMMITS.name, "outcome" => outcome).increment(0);
    }
    for kind in ["sla_breached", "reassignment_requested"] {
        metrics::counter!(catalog::EFFECTS_EMITTED.name, "kind" => kind).increment(0);
    }
}

/// Run until `shutdown` fires (or a fatal error), then drain, commit and
/// close within `kafka.shutdown_timeout`.
pub async fn run(
    cfg: Config,
    observer: Arc<dyn Observer>,
    shutdown: CancellationToken,
) -> Result<(), PipelineError> {
    let kcfg = Arc::new(cfg.kafka.clone());
    let engine_cfg = Arc::new(cfg.engine.clone());
    kafka::check_cluster(&kcfg).await?;
    let (producer, guarantee) = kafka::producer(&kcfg).await?;
    let kcfg = Arc::new(KafkaConfig {
        guarantee,
        ..(*kcfg).clone()
    });

    let tracker = TaskTracker::new();
    let fatal = CancellationToken::new();
    let (out_tx, out_rx) = tokio::sync::mpsc::channel(1024);

    let consumer = kafka::group_consumer(&kcfg)?;
    let output = output::Output::new(kcfg.clone(), producer.clone(), consumer.clone())?;
    let commit_ctl = output.control();
    let out_stop = CancellationToken::new();
    {
        let fatal = fatal.clone();
        let stop = out_stop.clone();
        tracker.spawn(async move {
            if let Err(e) = output.run(out_rx, stop).await {
                error!(%e, "output failed");
                fatal.cancel();
            }
        });
    }

    let agents = agents::AgentFeed::start(&kcfg, &tracker, shutdown.clone(), out_tx.clone())?;
    let ctx = poll::Shared {
        kafka: kcfg.clone(),
        engine: engine_cfg,
        tick: cfg.export.tick_interval,
        consumer: consumer.clone(),
        out: out_tx.clone(),
        agents,
        observer: observer.clone(),
        tracker: tracker.clone(),
        runtime: tokio::runtime::Handle::current(),
        commit: commit_ctl,
        fatal: fatal.clone(),
    };
    let poll_stop = CancellationToken::new();
    let poll_thread = poll::spawn(ctx, consumer.clone(), poll_stop.clone())?;
    register_processor_series(&kcfg);
    observer.started();
    info!(brokers = %kcfg.brokers, group = %kcfg.group_id, guarantee = ?kcfg.guarantee, "pipeline started");

    tokio::select! {
        _ = shutdown.cancelled() => info!("shutdown requested: draining"),
        _ = fatal.cancelled() => warn!("fatal error: shutting down"),
    }
    let deadline = Duration::from_millis(kcfg.shutdown_timeout.max(1) as u64);
    let drained = tokio::time::timeout(deadline, async {
        // Stop polling; the poll thread revokes its partitions (tasks drain
        // and the output commits), then leaves the group.
        poll_stop.cancel();
        let _ = tokio::task::spawn_blocking(move || poll_thread.join()).await;
        drop(out_tx);
        out_stop.cancel();
        tracker.close();
        tracker.wait().await;
    })
    .await;
    if drained.is_err() {
        return Err(PipelineError::ShutdownTimeout(kcfg.shutdown_timeout as u64));
    }
    if fatal.is_cancelled() {
        return Err(PipelineError::Output("see the log above".into()));
    }
    info!("pipeline stopped cleanly");
    Ok(())
}
