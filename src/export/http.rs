//! The HTTP server: one port for Prometheus, orchestration probes and the
//! JSON API.
//!
//! | route | |
//! | --- | --- |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /healthz` | 200 `ok` while the process serves (liveness: never depends on Kafka) |
//! | `GET /readyz` | 200 when ready, else 503; JSON [`Readiness`](super::shared::Readiness): `ready`, `reason` (why not, e.g. `"no partitions assigned"`), each partition's status and `lag` (`null` until first reported; informational, see [`shared`](super::shared)) |
//! | `GET /api/v1/snapshot` | the merged [`Snapshot`](ccpulse_core::engine::Snapshot) of the reader's tenants as JSON plus `freshness` ([`Freshness`](super::shared::Freshness): `stale`, `reason`, `published_at`, `age_seconds`, per partition); `?tenant=` narrows to one of them, `?queue=` and `?channel=` filter `queues` |
//! | `GET /` | the live wallboard page (from [`wallboard`](super::wallboard), when plugged in) |
//! | `GET /api/v1/stream` | the snapshot as Server-Sent Events every second (ditto) |
//!
//! Who may read what is [`super::access`]: API keys (`[[http.keys]]`,
//! `http.api_token`, `http.metrics_token`) with a role and a tenant scope.
//! Once a viewer or supervisor key exists, `/api/*` needs one as
//! `Authorization: Bearer <token>` (the scheme in any case, RFC 7235) or,
//! for browsers (whose `EventSource` cannot send headers), the
//! `access_token` query parameter (RFC 6750 §2.3): open the wallboard as
//! `/?access_token=<token>`. Once a metrics key exists, `/metrics` needs
//! one (the header only: Prometheus' `authorization` scrape setting sends
//! it), and shows only its tenants' series and the process-level ones.
//! `/healthz` and `/readyz` stay open (probes carry no secrets). The API
//! guard puts the request's [`Access`] in its extensions; the snapshot
//! and the stream are built for it (`?tenant=` narrows it). Denials are
//! answered 401 (no or unknown credentials) or 403 (a known key of
//! another role or tenant) and logged with the route, the key's name and
//! why, never the token.
//!
//! Every response carries `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: no-referrer` (the wallboard's URL can hold the token);
//! `/api/*` responses `Cache-Control: no-store`. The wallboard page adds a
//! Content-Security-Policy (see [`wallboard`](super::wallboard)).
//!
//! Connections are capped and have header-read and idle deadlines
//! ([`serve_with`], [`super::conn`]). The wallboard (`/`) and
//! `/api/v1/stream` (SSE) plug in via [`router_with`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, REFERRER_POLICY, WWW_AUTHENTICATE,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::access::{filter_exposition, Access, Denied, KeySpec, Keys, Role, Scope};
use super::conn::LimitedListener;
use super::error::ExportError;
use super::recorder::MetricsHandle;
use super::settings::HttpLimits;
use super::shared::ExportState;
use ccpulse_core::event::Channel;

/// Prometheus text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub export: Arc<ExportState>,
    pub metrics: MetricsHandle,
    /// The keys; none of a kind leaves its routes open (see
    /// [`super::access`]).
    pub keys: Keys,
}

impl AppState {
    /// With `api_token` (`http.api_token`) as an all-tenant viewer key.
    pub fn new(
        export: Arc<ExportState>,
        metrics: MetricsHandle,
        api_token: Option<String>,
    ) -> Self {
        AppState {
            export,
            metrics,
            keys: Keys::default(),
        }
        .with_keys(
            api_token
                .map(|t| KeySpec::with_token("http.api_token", &t, Role::Viewer, Scope::All))
                .into_iter()
                .collect(),
        )
    }

    /// Require `token` (`http.metrics_token`: an all-tenant metrics key)
    /// on `/metrics`.
    pub fn with_metrics_token(self, token: Option<String>) -> Self {
        self.with_keys(
            token
                .map(|t| KeySpec::with_token("http.metrics_token", &t, Role::Metrics, Scope::All))
                .into_iter()
                .collect(),
        )
    }

    /// Add `keys` (`[[http.keys]]`).
    pub fn with_keys(mut self, keys: Vec<KeySpec>) -> Self {
        let mut all = self.keys.list();
        all.extend(keys);
        self.keys = Keys::new(all);
        self
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
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token))
        .layer(middleware::from_fn(no_store));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(public)
        .merge(api)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Headers every response carries.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    r
}

/// API answers are live figures: never cached along the way.
async fn no_store(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Bind the listening socket (port 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ExportError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ExportError::Bind { addr, source })
}

/// [`serve_with`] the default [`HttpLimits`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> Result<(), ExportError> {
    serve_with(listener, app, HttpLimits::default(), shutdown).await
}

/// Serve `app` on `listener` until `shutdown` fires, with a connection cap
/// and per-connection deadlines ([`super::conn`]); in-flight requests
/// finish first (open streams end on `shutdown` themselves).
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
) -> Result<(), ExportError> {
    if let Ok(addr) = listener.local_addr() {
        info!(
            %addr,
            max_connections = limits.max_connections,
            header_read_timeout_s = limits.header_read_timeout.as_secs_f64(),
            idle_timeout_s = limits.idle_timeout.as_secs_f64(),
            "http server listening"
        );
    }
    axum::serve(LimitedListener::new(listener, limits), app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(ExportError::Serve)?;
    info!("http server stopped");
    Ok(())
}

fn json_error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let given = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let token = given.and_then(bearer);
    let access = match s.keys.metrics(token) {
        Ok(a) => a,
        Err(d) => {
            let why = match (&d, given) {
                (Denied::Unauthenticated(_), Some(_)) if token.is_none() => {
                    Denied::Unauthenticated("not a Bearer credential")
                }
                _ => d,
            };
            return denied(
                "/metrics",
                why,
                "send Authorization: Bearer <a metrics key's token>",
            );
        }
    };
    let m = s.metrics.clone();
    match tokio::task::spawn_blocking(move || filter_exposition(m.render(), &access.scope)).await {
        Ok(body) => ([(CONTENT_TYPE, METRICS_CONTENT_TYPE)], body).into_response(),
        Err(e) => {
            error!(error = %e, "rendering /metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A refusal: 401 (with `WWW-Authenticate: Bearer`) or 403, logged with
/// the route, the key's name (never a token) and why.
pub(crate) fn denied(route: &str, d: Denied, fix: &str) -> Response {
    let (status, message) = match &d {
        Denied::Unauthenticated(why) => {
            warn!(route, reason = why, "request denied");
            (
                StatusCode::UNAUTHORIZED,
                format!("missing or unknown token ({fix})"),
            )
        }
        Denied::Forbidden { key, why } => {
            warn!(
                route,
                key = key.as_str(),
                reason = why.as_str(),
                "request denied"
            );
            (StatusCode::FORBIDDEN, format!("key {key:?}: {why}"))
        }
    };
    let mut r = json_error(status, message);
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
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
    tenant: Option<String>,
    queue: Option<String>,
    channel: Option<String>,
    /// Checked by the token guard.
    #[serde(default, rename = "access_token")]
    _access_token: Option<String>,
}

async fn snapshot(
    State(s): State<AppState>,
    axum::Extension(access): axum::Extension<Access>,
    query: Result<Query<SnapshotQuery>, QueryRejection>,
) -> Response {
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("{}; parameters: tenant, queue, channel", e.body_text()),
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
    let access = match narrow(access, q.tenant.as_deref()) {
        Ok(a) => a,
        Err(d) => return denied("/api/v1/snapshot", d, ""),
    };
    let export = s.export.clone();
    // Deriving figures (quantiles) is CPU work: off the I/O threads.
    let snap = tokio::task::spawn_blocking(move || {
        export
            .figures()
            .for_access(&access)
            .snapshot(q.queue.as_deref(), channel)
    })
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

/// The API access of a request: open while no viewer or supervisor key
/// exists; else the key it carries as `Authorization: Bearer` (scheme in
/// any case) or `?access_token=` (see [`super::access`]).
pub(crate) fn api_access(s: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<Access, Denied> {
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    let query = Query::<TokenQuery>::try_from_uri(uri)
        .ok()
        .and_then(|q| q.0.access_token);
    match (header, query.as_deref()) {
        // A header and a query token must both be right (either may be
        // the stale one).
        (Some(h), Some(q)) => {
            let a = s.keys.api(Some(h))?;
            s.keys.api(Some(q))?;
            Ok(a)
        }
        (h, q) => s.keys.api(h.or(q)),
    }
}

/// `access` narrowed to `tenant` (`?tenant=`), which it must allow.
pub(crate) fn narrow(access: Access, tenant: Option<&str>) -> Result<Access, Denied> {
    let Some(t) = tenant else {
        return Ok(access);
    };
    match access.scope.narrowed(t) {
        Some(scope) => Ok(Access { scope, ..access }),
        None => Err(Denied::Forbidden {
            key: access.name().to_string(),
            why: "asks for a tenant outside its scope".into(),
        }),
    }
}

/// The credentials of an `Authorization: Bearer <token>` value; the scheme
/// is case-insensitive (RFC 7235 §2.1), spaces around the token are not
/// part of it.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// `/api/*` guard: lets a request with API access in, with its
/// [`Access`] as a request extension.
async fn require_token(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    match api_access(&s, req.headers(), req.uri()) {
        Ok(access) => {
            req.extensions_mut().insert(access);
            next.run(req).await
        }
        // The path only: the query may hold a (wrong) access_token.
        Err(d) => denied(
            req.uri().path(),
            d,
            "send Authorization: Bearer <key>, or ?access_token=<key> from a browser",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER   abc  "), Some("abc"));
        assert_eq!(bearer("Bearer\tabc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearerabc"), None);
    }
}
