//! Export: everything that leaves the process over HTTP.
//!
//! - [`catalog`]: the metric catalogue, the only place names, labels and
//!   help texts live.
//! - [`recorder`]: the Prometheus recorder configured from the catalogue
//!   (buckets, series lifetime), and the `/metrics` rendering.
//! - [`publish`]: engine state to metric updates: per-partition counter
//!   deltas and histogram samples, and the instance-wide gauge tick.
//! - [`shared`]: the state the pipeline, the tick and HTTP share (latest
//!   view and status per partition, leader flag, readiness inputs).
//! - [`http`]: the axum server (`/metrics`, `/healthz`, `/readyz`,
//!   `/api/v1/snapshot`).
//! - [`wallboard`]: the live wallboard page at `/` and its SSE feed
//!   `/api/v1/stream`, plugged into [`http::router_with`] by [`run`].
//! - [`observer`]: the pipeline's [`Observer`](crate::pipeline::Observer)
//!   on top of the above.
//!
//! # How a process uses it
//! ```text
//! startup:   let metrics = MetricsExporter::new(&cfg.export)?.install_global()?;
//!            let state = Arc::new(ExportState::new(cfg.export.ready_max_lag));
//!            spawn export::run(listener, state.clone(), metrics, .., InstancePublisher::new(), stop)
//! pipeline:  ExportObserver::new(state, first events topic) as its Observer, or by hand:
//!   assigned:  state.set_status(&key, Restoring { done, total }); set_leader(owns partition 0)
//!   live:      let mut p = PartitionPublisher::go_live(&mut engine); state.set_status(&key, Live)
//!   each tick: p.publish_to(&mut engine, &state, &key); state.set_lag(&key, lag)
//!   revoked:   state.remove_partition(&key)
//! ```
//! The export tick owns every gauge, including the per-partition processor
//! gauges (lag, restore progress, watermark lag, last event time), which it
//! sets from [`ExportState`] and zeroes when a partition leaves.

pub mod catalog;
pub mod http;
pub mod observer;
pub mod publish;
pub mod recorder;
pub mod shared;
pub mod wallboard;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use observer::ExportObserver;
pub use publish::{InstancePublisher, PartitionPublisher};
pub use recorder::{MetricsExporter, MetricsHandle};
pub use shared::{ExportState, PartitionKey, PartitionStatus, Readiness};

use crate::config::{ExportConfig, HttpConfig};

/// Errors of the export layer.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("invalid histogram buckets: {0}")]
    Buckets(#[from] metrics_exporter_prometheus::BuildError),
    #[error("a metrics recorder is already installed in this process")]
    RecorderInstalled,
    #[error("cannot listen on {addr}: {source} (fix: pick a free port in http.listen or --serve, or stop what uses it)")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("http server failed: {0}")]
    Serve(io::Error),
}

/// Run the export tick and the HTTP server (with the wallboard) on
/// `listener` until `shutdown` fires. Returns once both stopped.
pub async fn run(
    listener: TcpListener,
    state: Arc<ExportState>,
    metrics: MetricsHandle,
    http_cfg: &HttpConfig,
    export_cfg: &ExportConfig,
    publisher: InstancePublisher,
    shutdown: CancellationToken,
) -> Result<(), ExportError> {
    let ticks = tokio::spawn(publish::run_ticks(
        state.clone(),
        metrics.clone(),
        export_cfg.tick_interval,
        publisher,
        shutdown.clone(),
    ));
    let (public, api) = wallboard::wallboard_routes(shutdown.clone());
    let app = http::router_with(
        http::AppState::new(state, metrics, http_cfg.api_token.clone()),
        public,
        api,
    );
    let served = http::serve(listener, app, shutdown.clone()).await;
    // A failed server takes the tick down with it.
    shutdown.cancel();
    if let Err(e) = ticks.await {
        tracing::error!(error = %e, "export tick task failed");
    }
    served
}
