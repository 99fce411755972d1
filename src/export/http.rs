//! The HTTP server: one port for Prometheus, orchestration probes and the
//! JSON API.
//!
//! | route | |
//! | --- | --- |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /healthz` | 200 `ok` while the process serves (liveness: never depends on Kafka) |
//! | `GET /readyz` | 200 when ready, else 503; JSON [`Readiness`](super::shared::Readiness): `ready`, `reason` (why not, e.g. `"no partitions assigned"`), each partition's status and `lag` (`null` until first reported) |
//! | `GET /api/v1/snapshot` | the merged [`Snapshot`](ccpulse_core::engine::Snapshot) as JSON plus `freshness` ([`Freshness`](super::shared::Freshness): `stale`, `reason`, `published_at`, `age_seconds`, per partition); `?queue=` and `?channel=` filter `queues` |
//! | `GET /` | the live wallboard page (from [`wallboard`](super::wallboard), when plugged in) |
//! | `GET /api/v1/stream` | the snapshot as Server-Sent Events every second (ditto) |
//!
//! With `http.api_token` set, `/api/*` needs `Authorization: Bearer
//! <token>` or, for browsers (whose `EventSource` cannot send headers), the
//! `access_token` query parameter (RFC 6750 §2.3): open the wallboard as
//! `/?access_token=<token>`. The other routes stay open (scrapers and
//! probes carry no secrets). The wallboard (`/`) and `/api/v1/stream` (SSE) plug in via
//! [`router_with`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::error::ExportError;
use super::recorder::MetricsHandle;
use super::shared::ExportState;
use ccpulse_core::event::Channel;

/// Prometheus text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub export: Arc<ExportState>,
    pub metrics: MetricsHandle,
    /// Required bearer token for `/api/*`; `None` leaves the API open.
    pub api_token: Option<Arc<str>>,
}

impl AppState {
    pub fn new(
        export: Arc<ExportState>,
        metrics: MetricsHandle,
        api_token: Option<String>,
    ) -> Self {
        AppState {
            export,
            metrics,
            api_token: api_token.map(Arc::from),
        }
    }
}

/// The server's routes.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new(), Router::new())
}

/// The routes plus `public` ones (e.g. the wallboard at `/`) and `api`
/// ones (e.g. `/api/v1/stream`), which get the same token check as the
/// built-in API.
pub fn router_with(state: AppState, public: Router<AppState>, api: Router<AppState>) -> Router {
    let api = Router::new()
        .route("/api/v1/snapshot", get(snapshot))
        .merge(api)
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(public)
        .merge(api)
        .with_state(state)
}

/// Bind the listening socket (port 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ExportError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ExportError::Bind { addr, source })
}

/// Serve `app` on `listener` until `shutdown` fires; in-flight requests
/// finish first.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> Result<(), ExportError> {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "http server listening");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(ExportError::Serve)?;
    info!("http server stopped");
    Ok(())
}

fn json_error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    let m = s.metrics.clone();
    match tokio::task::spawn_blocking(move || m.render()).await {
        Ok(body) => ([(CONTENT_TYPE, METRICS_CONTENT_TYPE)], body).into_response(),
        Err(e) => {
            error!(error = %e, "rendering /metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn readyz(State(s): State<AppState>) -> Response {
    let r = s.export.readiness();
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(r)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotQuery {
    queue: Option<String>,
    channel: Option<String>,
    /// Checked by the token guard.
    #[serde(default, rename = "access_token")]
    _access_token: Option<String>,
}

async fn snapshot(
    State(s): State<AppState>,
    query: Result<Query<SnapshotQuery>, QueryRejection>,
) -> Response {
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("{}; parameters: queue, channel", e.body_text()),
            )
        }
    };
    let channel = match q.channel.as_deref() {
        None => None,
        Some(name) => match Channel::ALL.into_iter().find(|c| c.as_str() == name) {
            Some(c) => Some(c),
            None => {
                let valid: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
                return json_error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "unknown channel {name:?}; valid values: {}",
                        valid.join(", ")
                    ),
                );
            }
        },
    };
    let export = s.export.clone();
    // Deriving figures (quantiles) is CPU work: off the I/O threads.
    let snap =
        tokio::task::spawn_blocking(move || export.figures().snapshot(q.queue.as_deref(), channel))
            .await;
    match snap {
        Ok(snap) => Json(snap).into_response(),
        Err(e) => {
            error!(error = %e, "building the snapshot failed");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "building the snapshot failed".into(),
            )
        }
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

/// Whether a request may use the API: no token configured, or it carries
/// the token as `Authorization: Bearer` or `?access_token=` (compared in
/// constant time).
pub(crate) fn authorized(s: &AppState, headers: &HeaderMap, uri: &Uri) -> bool {
    let Some(token) = &s.api_token else {
        return true;
    };
    let matches = |g: &str| same_secret(g.as_bytes(), token.as_bytes());
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    bearer.is_some_and(matches)
        || Query::<TokenQuery>::try_from_uri(uri)
            .ok()
            .and_then(|q| q.0.access_token)
            .is_some_and(|g| matches(&g))
}

/// `/api/*` guard.
async fn require_token(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if authorized(&s, req.headers(), req.uri()) {
        return next.run(req).await;
    }
    let mut r = json_error(
        StatusCode::UNAUTHORIZED,
        "missing or wrong token (send Authorization: Bearer <http.api_token>, or ?access_token=<http.api_token> from a browser)"
            .into(),
    );
    r.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// Equality whose time does not depend on where the inputs differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_content_and_length() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }
}
