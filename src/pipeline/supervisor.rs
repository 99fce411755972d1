//! Starting the pipeline and bringing it down: checks the cluster, chooses
//! the delivery guarantee, starts the output, the agent feed and the poll
//! thread, then waits for shutdown or a fatal error and drains, commits and
//! closes within `kafka.shutdown_timeout`.

use std::sync::Arc;
use std::time::Duration;

use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::event::codec::Limits;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::agents::AgentFeed;
use super::context::Shared;
use super::error::PipelineError;
use super::fatal::Fatal;
use super::output::Output;
use super::records::BatchPool;
use super::settings::KafkaConfig;
use super::{kafka, poll};
use crate::telemetry::events::ProcessorSeriesRegistered;
use crate::telemetry::{InternalEvent, Observer};

/// Messages that may wait for the output: one per folded batch (its
/// offset, and the effects, facts and dead letters it made, usually none
/// or a few). The output produces nothing while it commits (a transaction
/// took about 100 ms in the throughput bench, back to back), so partition
/// tasks keep folding through a commit only if this holds what they fold
/// meanwhile; with 1,024, exactly-once ran at half the events/s of
/// at-least-once, all tasks waiting on this queue during every commit.
const OUT_QUEUE: usize = 65_536;

/// What the pipeline runs with: its own section, the engine's settings,
/// the input limits (the same as replay's) and how often partitions
/// publish their figures (`export.tick_interval`).
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub kafka: KafkaConfig,
    pub engine: EngineConfig,
    pub input: Limits,
    pub publish_every: Duration,
}

/// Run until `shutdown` fires or a task fails for good, then drain, commit
/// and close within `kafka.shutdown_timeout`. On a fatal error it returns
/// that error (the process then exits non-zero for its supervisor to
/// restart it); every task, blocking threads included, has stopped or been
/// abandoned by then.
pub async fn run(
    settings: PipelineSettings,
    observer: Arc<dyn Observer>,
    shutdown: CancellationToken,
) -> Result<(), PipelineError> {
    let PipelineSettings {
        kafka,
        engine,
        input,
        publish_every,
    } = settings;
    let kcfg = Arc::new(kafka);
    let engine_cfg = Arc::new(engine);
    // Start-up checks retry a slow or unreachable broker within
    // `retry_budget`, and end early on shutdown.
    let cluster = tokio::select! {
        r = kafka::check_cluster(&kcfg, &shutdown) => r?,
        _ = shutdown.cancelled() => return Ok(()),
    };
    let (producer, guarantee) = tokio::select! {
        r = kafka::producer(&kcfg, &shutdown) => r?,
        _ = shutdown.cancelled() => return Ok(()),
    };
    let kcfg = Arc::new(KafkaConfig {
        guarantee,
        ..(*kcfg).clone()
    });

    let tracker = TaskTracker::new();
    let fatal = Fatal::default();
    let (out_tx, out_rx) = tokio::sync::mpsc::channel(OUT_QUEUE);

    let consumer = kafka::group_consumer(&kcfg)?;
    let output = Output::new(kcfg.clone(), producer.clone(), consumer.clone())?;
    let commit_ctl = output.control();
    let out_stop = CancellationToken::new();
    {
        let fatal = fatal.clone();
        let stop = out_stop.clone();
        tracker.spawn(async move {
            if let Err(e) = output.run(out_rx, stop).await {
                fatal.raise("output", e);
            }
        });
    }

    let agents_stop = CancellationToken::new();
    let stop_all = CancellationToken::new();
    let agents = AgentFeed::start(
        &kcfg,
        &input,
        &tracker,
        agents_stop.clone(),
        fatal.clone(),
        out_tx.clone(),
    )?;
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
        stop: stop_all.clone(),
        limits: input,
        customer_partitions: cluster.customer_partitions,
        batches: BatchPool::default(),
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
        _ = fatal.raised() => warn!("fatal error: draining what can be drained, then exiting"),
    }
    let deadline = Duration::from_millis(kcfg.shutdown_timeout.max(1) as u64);
    let drained = tokio::time::timeout(deadline, async {
        // Stop polling; the poll thread revokes its partitions (tasks drain
        // and the output commits), then leaves the group.
        stop_all.cancel();
        poll_stop.cancel();
        agents_stop.cancel();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        // A plain thread, not the runtime's blocking pool: if the poll
        // thread never returns, nothing waits for this one at exit.
        let joiner = std::thread::Builder::new()
            .name("ccpulse-poll-join".into())
            .spawn(move || {
                let _ = done_tx.send(poll_thread.join().is_ok());
            });
        if joiner.is_ok() && done_rx.await == Ok(false) {
            fatal.raise("poll", PipelineError::Panicked { task: "poll" });
        }
        drop(out_tx);
        out_stop.cancel();
        tracker.close();
        tracker.wait().await;
    })
    .await;
    if let Some(e) = fatal.take() {
        if drained.is_err() {
            warn!(
                deadline_ms = kcfg.shutdown_timeout,
                "tasks still running at the shutdown deadline: abandoned"
            );
            return Err(PipelineError::Abandoned(Box::new(e)));
        }
        return Err(e);
    }
    if drained.is_err() {
        return Err(PipelineError::ShutdownTimeout(kcfg.shutdown_timeout as u64));
    }
    info!("pipeline stopped cleanly");
    Ok(())
}
