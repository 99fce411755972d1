//! `ccpulse run`: the pipeline, with the export tick and the HTTP server
//! beside it. The server binds first (a taken port fails before Kafka is
//! touched) and stops after the pipeline drained, so probes and a last
//! scrape still work during shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::AppError;
use super::lifecycle::{cancel_on, exit_within};
use crate::config::Config;
use crate::export::settings::{ExportConfig, HttpConfig};
use crate::export::{self, ExportObserver, ExportState, InstancePublisher};
use crate::pipeline::{self, PipelineError, PipelineSettings};
use crate::telemetry::events::PipelineRestarting;
use crate::telemetry::{InternalEvent, Observer};

/// In-process restarts allowed within [`RESTART_WINDOW`] before the
/// process exits (and its supervisor restarts it).
const MAX_RESTARTS: u32 = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(600);

/// The pipeline, started again after an error a fresh start recovers from
/// (`PipelineError::restartable`: an aborted transaction, nothing left
/// running), with backoff; any other error, too many restarts in a row,
/// or `stop` ends it.
async fn run_pipeline(
    settings: PipelineSettings,
    observer: Arc<dyn Observer>,
    stop: &CancellationToken,
) -> Result<(), PipelineError> {
    let mut restarts: Vec<std::time::Instant> = Vec::new();
    loop {
        let r = pipeline::run(settings.clone(), observer.clone(), stop.clone()).await;
        let e = match r {
            Err(e) if e.restartable() && !stop.is_cancelled() => e,
            r => return r,
        };
        restarts.retain(|t| t.elapsed() < RESTART_WINDOW);
        if restarts.len() as u32 >= MAX_RESTARTS {
            return Err(e);
        }
        restarts.push(std::time::Instant::now());
        let attempt = restarts.len() as u32;
        let wait = Duration::from_secs(1 << (attempt - 1).min(4));
        PipelineRestarting {
            error: &e,
            attempt,
            in_s: wait.as_secs_f64(),
        }
        .emit();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return Ok(()),
        }
    }
}

/// The HTTP shell (probes, `/metrics`, the API, the wallboard and the
/// export tick) on its own thread and runtime. On the pipeline's runtime a
/// catching-up fold keeps every worker busy, and tokio looks for I/O only
/// every few dozen task polls: `/healthz` took 0.5–1 s then, enough for a
/// liveness probe to kill a healthy instance. Its own thread is scheduled
/// by the kernel beside the fold, so probes answer in milliseconds.
///
/// The returned receiver gets the server's result when it has stopped
/// (`export_stop`); a server that fails stops the pipeline (without its
/// probes the instance cannot be supervised).
fn spawn_http(
    listener: tokio::net::TcpListener,
    state: Arc<ExportState>,
    metrics: export::MetricsHandle,
    (http_cfg, export_cfg): (HttpConfig, ExportConfig),
    export_stop: CancellationToken,
    pipeline_stop: CancellationToken,
) -> Result<oneshot::Receiver<Result<(), export::ExportError>>, AppError> {
    // Bound on the caller's runtime (a taken port fails before Kafka is
    // touched), handed over as a plain socket.
    let listener = listener
        .into_std()
        .map_err(|e| AppError::Export(export::ExportError::Serve(e)))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AppError::Runtime)?;
    let (done, served) = oneshot::channel();
    std::thread::Builder::new()
        .name("ccpulse-http".into())
        .spawn(move || {
            let r = rt.block_on(async {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .map_err(export::ExportError::Serve)?;
                export::run(
                    listener,
                    state,
                    metrics,
                    &http_cfg,
                    &export_cfg,
                    InstancePublisher::new(),
                    export_stop,
                )
                .await
            });
            if r.is_err() {
                pipeline_stop.cancel();
            }
            rt.shutdown_timeout(HTTP_EXIT_GRACE);
            let _ = done.send(r);
        })
        .map_err(AppError::Runtime)?;
    Ok(served)
}

/// How long the HTTP runtime waits for its blocking threads (a `/metrics`
/// render) once the server has stopped.
const HTTP_EXIT_GRACE: Duration = Duration::from_secs(1);

/// Run the service until `shutdown` resolves (or a fatal error), then
/// drain, commit and stop the server.
pub async fn serve(
    cfg: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let metrics = export::MetricsExporter::new(&cfg.export).install_global()?;
    let state = Arc::new(ExportState::new());
    // Before the pipeline publishes anything: operators appear as
    // export.agent_metrics says from the first series on.
    state.configure(&cfg.export);
    let leader_topic = cfg.kafka.topics.events.first().cloned().unwrap_or_default();
    let observer = Arc::new(ExportObserver::new(state.clone(), leader_topic));
    let listener = export::http::bind(cfg.http.listen).await?;

    let tracker = TaskTracker::new();
    let pipeline_stop = CancellationToken::new();
    let export_stop = CancellationToken::new();
    cancel_on(&tracker, &pipeline_stop, shutdown);
    let server = spawn_http(
        listener,
        state,
        metrics,
        (cfg.http.clone(), cfg.export.clone()),
        export_stop.clone(),
        pipeline_stop.clone(),
    )?;
    let settings = PipelineSettings {
        kafka: cfg.kafka,
        engine: cfg.engine,
        input: cfg.input,
        publish_every: cfg.export.tick_interval,
    };
    // Stopping for any reason (signal, fatal error, the server failing):
    // the pipeline drains within kafka.shutdown_timeout; whatever still
    // hangs after that, and a moment for the server, the process exits.
    let exit_deadline = Duration::from_millis(settings.kafka.shutdown_timeout.max(0) as u64)
        + Duration::from_secs(10);
    tracker.spawn({
        let stop = pipeline_stop.clone();
        async move {
            stop.cancelled().await;
            exit_within(exit_deadline);
        }
    });
    let piped = run_pipeline(settings, observer, &pipeline_stop).await;
    if piped.is_err() {
        exit_within(exit_deadline);
    }
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
