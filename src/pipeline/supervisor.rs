//! Starting the pipeline and bringing it down: checks the cluster, chooses
//! the delivery guarantee, starts the output, the agent feed and the poll
//! thread, then waits for shutdown or a fatal error and drains, commits and
//! closes within `kafka.shutdown_timeout`.

use std::sync::Arc;
use std::time::Duration;

use ccpulse_core::engine::settings::EngineConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use super::agents::AgentFeed;
use super::context::Shared;
use super::error::PipelineError;
use super::output::Output;
use super::settings::KafkaConfig;
use super::{kafka, poll};
use crate::telemetry::events::ProcessorSeriesRegistered;
use crate::telemetry::{InternalEvent, Observer};

/// Run until `shutdown` fires (or a fatal error), then drain, commit and
/// close within `kafka.shutdown_timeout`. Partition tasks fold with
/// `engine` settings and publish to `observer` every `publish_every`.
pub async fn run(
    kafka: KafkaConfig,
    engine: EngineConfig,
    publish_every: Duration,
    observer: Arc<dyn Observer>,
    shutdown: CancellationToken,
) -> Result<(), PipelineError> {
    let kcfg = Arc::new(kafka);
    let engine_cfg = Arc::new(engine);
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
    let output = Output::new(kcfg.clone(), producer.clone(), consumer.clone())?;
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

    let agents = AgentFeed::start(&kcfg, &tracker, shutdown.clone(), out_tx.clone())?;
    let ctx = Shared {
        kafka: kcfg.clone(),
        engine: engine_cfg,
        tick: publish_every,
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
    let inputs: Vec<String> = kcfg
        .topics
        .events
        .iter()
        .chain([&kcfg.topics.agents])
        .cloned()
        .collect();
    ProcessorSeriesRegistered { topics: &inputs }.emit();
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
