//! `ccpulse run`: the pipeline, with the export tick and the HTTP server
//! beside it. The server binds first (a taken port fails before Kafka is
//! touched) and stops after the pipeline drained, so probes and a last
//! scrape still work during shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::AppError;
use super::lifecycle::cancel_on;
use crate::config::Config;
use crate::export::{self, ExportObserver, ExportState, InstancePublisher};
use crate::pipeline;

/// Run the service until `shutdown` resolves (or a fatal error), then
/// drain, commit and stop the server.
pub async fn serve(
    cfg: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let metrics = export::MetricsExporter::new(&cfg.export)?.install_global()?;
    let state = Arc::new(ExportState::new(cfg.export.ready_max_lag));
    let leader_topic = cfg.kafka.topics.events.first().cloned().unwrap_or_default();
    let observer = Arc::new(ExportObserver::new(state.clone(), leader_topic));
    let listener = export::http::bind(cfg.http.listen).await?;

    let tracker = TaskTracker::new();
    let pipeline_stop = CancellationToken::new();
    let export_stop = CancellationToken::new();
    cancel_on(&tracker, &pipeline_stop, shutdown);
    let server = tracker.spawn({
        let (stop, pipeline_stop) = (export_stop.clone(), pipeline_stop.clone());
        let (http_cfg, export_cfg) = (cfg.http.clone(), cfg.export.clone());
        async move {
            let r = export::run(
                listener,
                state,
                metrics,
                &http_cfg,
                &export_cfg,
                InstancePublisher::new(),
                stop,
            )
            .await;
            if r.is_err() {
                // Without its probes the instance cannot be supervised.
                pipeline_stop.cancel();
            }
            r
        }
    });
    let piped = pipeline::run(
        cfg.kafka,
        cfg.engine,
        cfg.export.tick_interval,
        observer,
        pipeline_stop.clone(),
    )
    .await;
    pipeline_stop.cancel();
    export_stop.cancel();
    tracker.close();
    let served = server
        .await
        .map_err(|_| AppError::TaskPanicked("HTTP server"))?;
    tracker.wait().await;
    piped?;
    served?;
    Ok(())
}
