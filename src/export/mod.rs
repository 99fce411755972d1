//! Export: everything that leaves the process over HTTP. It knows the core
//! (views, snapshots) and [`crate::telemetry`], never the pipeline.
//!
//! - [`settings`]: the `[http]` and `[export]` sections and their validation.
//! - [`recorder`]: the Prometheus recorder configured from the catalogue
//!   (buckets, series lifetime), and the `/metrics` rendering.
//! - `buckets`: the catalogue's histograms, counted into fixed buckets as
//!   samples arrive (no clock read or allocation per sample).
//! - [`publish`]: partition publications to metric updates: per-partition
//!   counter deltas and histogram samples, and the instance-wide gauge tick.
//! - [`shared`]: the state the observer, the tick and HTTP share (latest
//!   view and status per partition, revoked partitions' kept figures and
//!   their freshness, leader flag, readiness inputs).
//! - [`http`]: the axum server (`/metrics`, `/healthz`, `/readyz`,
//!   `/api/v1/snapshot`), the token check and the security headers.
//! - `conn`: the listener under it: connection cap, header-read and idle
//!   deadlines (`[http]` `max_connections`, `header_read_timeout`,
//!   `idle_timeout`).
//! - [`wallboard`]: the live wallboard page at `/` and its SSE feed
//!   `/api/v1/stream` (one snapshot serialised per tick, the same bytes sent
//!   to every client), plugged into [`http::router_with`] by [`run`].
//! - [`access`]: API keys, their roles (`viewer`, `supervisor`, `metrics`)
//!   and tenant scopes; the decision for one request, and `/metrics`
//!   narrowed to a scope.
//! - [`privacy`]: how operators appear outside the process
//!   (`export.agent_metrics`): ids, pseudonyms, per-queue distributions or
//!   nothing.
//! - [`observer`]: the pipeline's [`Observer`](crate::telemetry::Observer)
//!   on top of the above.
//!
//! # How a process uses it
//! ```text
//! startup:   let metrics = MetricsExporter::new(&cfg.export).install_global()?;
//!            let state = Arc::new(ExportState::new());
//!            spawn export::run(listener, state.clone(), metrics, .., InstancePublisher::new(), stop)
//!              (run applies the rest of [export] to the state: revoked_grace)
//! pipeline:  ExportObserver::new(state, first events topic) as its Observer, or by hand:
//!   assigned:  state.set_status(&key, Restoring { done, total }); set_leader(owns partition 0)
//!   live:      engine.set_sample_tap(true); let mut p = PartitionPublisher::with_baseline(&engine.view());
//!              state.set_status(&key, Live)
//!   each tick: p.publish_to(engine.publication(), &state, &key); state.set_lag(&key, lag)
//!              (until the first set_lag the lag is unknown and the partition not ready;
//!              a source without lag, such as a file, reports 0)
//!   revoked:   state.remove_partition(&key)   (its last figures stay served, stale,
//!              for export.revoked_grace or until it publishes here again)
//! ```
//! The export tick owns every gauge, including the per-partition processor
//! gauges (lag, restore progress, watermark lag, last event time) of the
//! assigned partitions, which it sets from [`ExportState`] and zeroes when a
//! partition leaves (its kept figures stay in the KPI gauges only where no
//! other instance can own it, see [`shared`]).
//!
//! # Through a broker outage
//! The session times out and every partition is revoked: `/readyz` answers
//! 503 (`"reason": "no partitions assigned"`), `/healthz` stays 200, and the
//! snapshot, the stream and the wallboard keep the last figures with
//! `freshness.stale = true` and their age (`ccpulse_figures_stale`,
//! `ccpulse_figures_age_seconds`) until the partitions publish again or
//! `export.revoked_grace` ends.

pub mod access;
mod buckets;
mod conn;
mod error;
pub mod http;
pub mod observer;
pub mod privacy;
pub mod publish;
pub mod recorder;
pub mod settings;
pub mod shared;
pub mod wallboard;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::telemetry::PartitionStatus;
pub use error::ExportError;
pub use observer::ExportObserver;
pub use privacy::{AgentMetrics, AgentPrivacy};
pub use publish::{InstancePublisher, PartitionPublisher};
pub use recorder::{MetricsExporter, MetricsHandle};
pub use shared::{Clock, ExportState, Freshness, ManualClock, PartitionKey, Readiness};

use settings::{ExportConfig, HttpConfig};

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
    state.configure(export_cfg);
    if http_cfg.beyond_loopback() && !http_cfg.api_closed() {
        tracing::warn!(
            listen = %http_cfg.listen,
            "THE API IS OPEN: listening beyond loopback without http.api_token or a viewer or supervisor key; anyone who reaches this port reads /api/v1/snapshot and the live stream (set http.api_token, e.g. \"${{CCPULSE_API_TOKEN}}\", unless the network is trusted)"
        );
    }
    let ticks = tokio::spawn(publish::run_ticks(
        state.clone(),
        metrics.clone(),
        export_cfg.tick_interval,
        publisher,
        shutdown.clone(),
    ));
    let (public, api) = wallboard::wallboard_routes(shutdown.clone());
    let app = http::router_with(
        http::AppState::new(state, metrics, None).with_keys(http_cfg.all_keys()),
        public,
        api,
    );
    let served = http::serve_with(listener, app, http_cfg.limits, shutdown.clone()).await;
    // A failed server takes the tick down with it.
    shutdown.cancel();
    if let Err(e) = ticks.await {
        tracing::error!(error = %e, "export tick task failed");
    }
    served
}
