//! The live wallboard: a static page at `/` (HTML, JS and CSS embedded in
//! the binary from `src/export/wallboard/`, no build step, no CDN) and
//! `GET /api/v1/stream`, Server-Sent Events carrying the merged
//! [`Snapshot`](ccpulse_core::engine::Snapshot) JSON with its `freshness`
//! (the `/api/v1/snapshot` body without filters): as soon as a partition
//! published new figures, and at most (and, while clients listen, at
//! least) once per [`STREAM_INTERVAL`].
//!
//! When the figures are stale (`freshness.stale`: a revoked partition's
//! kept figures are shown, or nothing live contributes, see
//! [`shared`](super::shared)) the page shows a red banner across the top:
//! "Figures as of HH:MM:SS (browser time), N s old — not updating" and the
//! reason. It shows the same banner, with the age counted on from the last
//! snapshot received, when the stream itself has been down for a few
//! seconds (the server is unreachable), so a wallboard never silently
//! freezes.
//!
//! With API keys configured and the page opened without a key that reads
//! the API, the stream is refused (401 or 403) and the page embeds no
//! figures: the page then says "unauthorised" (and how
//! to open it) instead of reconnecting forever. Other failures are retried
//! with a growing pause.
//!
//! # One snapshot for every client of an audience
//! A stream's events carry the figures its reader may see (the key's
//! tenants, operators as its role allows: an *audience*). Each audience
//! has one hub, and its events are built by one publisher task: once per
//! [`STREAM_INTERVAL`], while at least one client is connected, it merges
//! the figures, serialises the snapshot and frames it as one SSE event;
//! every client sends those same bytes (a reference-counted buffer). A
//! client that connects gets the latest event at once (or, if the
//! publisher was idle, the one it builds for it). So a hundred wallboards
//! cost one snapshot a second plus their sockets, not a hundred snapshots.
//! Between events the stream sends nothing; an SSE comment keeps an idle
//! proxy from cutting a stream whose events stopped.
//!
//! # Security headers
//! The page is served with a Content-Security-Policy that allows only its
//! own script, style and stream (`'self'`), no inline script or style, no
//! framing, no forms; the bars of the wait histogram get their widths from
//! script (CSSOM), not from inline `style` attributes.
//!
//! [`wallboard_routes`] returns `(public, api)` for
//! [`http::router_with`](super::http::router_with); the stream sits on the
//! `api` side, so a configured bearer token applies to it. A stream ends
//! when its client disconnects (the body is dropped) or when the shutdown
//! token fires, so graceful shutdown is not held up by open wallboards.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_FRAME_OPTIONS};
use axum::http::{HeaderMap, HeaderName, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream;
use tokio::sync::{watch, Notify};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::error;

use super::access::{Access, Role, Scope};
use super::http::AppState;
use super::shared::ExportState;

/// How often the stream sends a snapshot while nothing is published.
pub const STREAM_INTERVAL: Duration = Duration::from_secs(1);

/// The shortest gap between two stream events. Partitions publish at their
/// own moments (each twice a second at the default tick), and every event
/// is a whole snapshot written to every client: a hundred wallboards at
/// one event a second cost at most half again one (`tests/http_load.rs`);
/// five a second cost 1.85 times. So a change reaches the wallboard at
/// once after a quiet second, and within a second otherwise.
const MIN_GAP: Duration = STREAM_INTERVAL;

/// How often an idle publisher checks whether its hub was dropped.
const IDLE_CHECK: Duration = Duration::from_secs(30);

/// An SSE comment, sent when no event went out for this long.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The page's Content-Security-Policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("wallboard.js");
const APP_CSS: &str = include_str!("wallboard.css");

/// `(public, api)` routes for [`router_with`](super::http::router_with):
/// `/`, `/wallboard.js`, `/wallboard.css` (public) and `/api/v1/stream`
/// (api). Open streams end when `shutdown` fires.
pub fn wallboard_routes(shutdown: CancellationToken) -> (Router<AppState>, Router<AppState>) {
    let hubs = Arc::new(Hubs::new(shutdown));
    let public = Router::new()
        .route("/", get(index))
        .route(
            "/wallboard.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/wallboard.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        );
    let api = Router::new().route(
        "/api/v1/stream",
        get(
            move |State(s): State<AppState>,
                  axum::Extension(access): axum::Extension<Access>,
                  uri: Uri| {
                let hubs = hubs.clone();
                async move {
                    let access = match super::http::narrow(access, tenant_param(&uri).as_deref()) {
                        Ok(a) => a,
                        Err(d) => return super::http::denied("/api/v1/stream", d, ""),
                    };
                    match hubs.get(Audience::of(&access)) {
                        Some(hub) => hub.stream(&s.export),
                        None => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "too many distinct stream audiences; retry later\n",
                        )
                            .into_response(),
                    }
                }
            },
        ),
    );
    (public, api)
}

/// The `tenant` query parameter, if any.
fn tenant_param(uri: &Uri) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Q {
        tenant: Option<String>,
    }
    axum::extract::Query::<Q>::try_from_uri(uri)
        .ok()
        .and_then(|q| q.0.tenant)
}

/// Who a stream's events are built for: readers with the same audience
/// share every event's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Audience {
    scope: Scope,
    supervisor: bool,
}

impl Audience {
    fn of(a: &Access) -> Self {
        Audience {
            scope: a.scope.clone(),
            supervisor: a.role == Role::Supervisor,
        }
    }

    fn access(&self) -> Access {
        Access {
            key: None,
            role: if self.supervisor {
                Role::Supervisor
            } else {
                Role::Viewer
            },
            scope: self.scope.clone(),
        }
    }
}

/// Most distinct audiences streamed at once (keys × `?tenant=`): each has
/// its own publisher.
const MAX_AUDIENCES: usize = 64;

/// One [`Hub`] per audience, created on a first client.
struct Hubs {
    hubs: std::sync::Mutex<std::collections::HashMap<Audience, Arc<Hub>>>,
    shutdown: CancellationToken,
}

impl Hubs {
    fn new(shutdown: CancellationToken) -> Self {
        Hubs {
            hubs: Default::default(),
            shutdown,
        }
    }

    /// The audience's hub; `None` when `MAX_AUDIENCES` others have
    /// clients.
    fn get(&self, audience: Audience) -> Option<Arc<Hub>> {
        let mut hubs = self.hubs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = hubs.get(&audience) {
            return Some(h.clone());
        }
        if hubs.len() >= MAX_AUDIENCES {
            // Hubs nobody listens to go (their publisher ends).
            hubs.retain(|_, h| h.latest.receiver_count() > 0);
            if hubs.len() >= MAX_AUDIENCES {
                return None;
            }
        }
        let hub = Arc::new(Hub::new(self.shutdown.clone(), audience.access()));
        hubs.insert(audience, hub.clone());
        Some(hub)
    }
}

/// The page, with the current snapshot embedded so the first paint already
/// shows figures (the stream takes over from there). When the API needs a
/// token, embedded only for a request that carries it (`/?access_token=`):
/// the page itself is public.
async fn index(State(s): State<AppState>, headers: HeaderMap, uri: Uri) -> impl IntoResponse {
    let mut html = INDEX_HTML.to_string();
    let access = super::http::api_access(&s, &headers, &uri)
        .and_then(|a| super::http::narrow(a, tenant_param(&uri).as_deref()));
    if let Ok(access) = access {
        let export = s.export.clone();
        let json = tokio::task::spawn_blocking(move || {
            serde_json::to_string(&export.figures().for_access(&access).snapshot(None, None))
        })
        .await;
        if let Ok(Ok(json)) = json {
            // `<` escaped so the JSON cannot close the script element.
            let embedded = format!(
                "<script id=\"initial-snapshot\" type=\"application/json\">{}</script>\n<script src=\"/wallboard.js\">",
                json.replace('<', "\\u003c")
            );
            html = html.replacen("<script src=\"/wallboard.js\">", &embedded, 1);
        }
    }
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page can embed figures (with the token): not for caches.
            (CACHE_CONTROL, "no-store"),
            (
                HeaderName::from_static("content-security-policy"),
                CONTENT_SECURITY_POLICY,
            ),
            (X_FRAME_OPTIONS, "DENY"),
        ],
        html,
    )
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
}

/// The latest event, framed, and when it was built.
#[derive(Clone)]
struct Frame {
    bytes: Bytes,
    built: Instant,
    /// The publish count it includes ([`ExportState::publishes`]).
    publishes: u64,
}

/// The stream's publisher and its clients' shared view of it.
struct Hub {
    /// Whose figures its events carry.
    access: Access,
    latest: watch::Sender<Option<Frame>>,
    /// A client found no recent event: build one now.
    wanted: Notify,
    started: OnceLock<()>,
    shutdown: CancellationToken,
}

impl Hub {
    fn new(shutdown: CancellationToken, access: Access) -> Self {
        Hub {
            access,
            latest: watch::Sender::new(None),
            wanted: Notify::new(),
            started: OnceLock::new(),
            shutdown,
        }
    }

    /// A client's stream: the latest event at once, then every new one.
    fn stream(self: &Arc<Self>, export: &Arc<ExportState>) -> Response {
        self.started.get_or_init(|| {
            tokio::spawn(publish(self.clone(), export.clone()));
        });
        let mut rx = self.latest.subscribe();
        // The latest event, unless figures were published since it was
        // built (a client must not start from figures already replaced).
        let published = *export.publishes().borrow();
        let first = rx
            .borrow_and_update()
            .clone()
            .filter(|f| f.built.elapsed() < STREAM_INTERVAL * 2 && f.publishes == published)
            .map(|f| f.bytes);
        if first.is_none() {
            self.wanted.notify_one();
        }
        let stop = self.shutdown.clone();
        let mut keep_alive = tokio::time::interval_at(Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
        keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let events = stream::unfold(
            (rx, first, keep_alive, stop),
            |(mut rx, first, mut keep_alive, stop)| async move {
                if let Some(bytes) = first {
                    keep_alive.reset();
                    return Some((Ok::<_, Infallible>(bytes), (rx, None, keep_alive, stop)));
                }
                let bytes = tokio::select! {
                    _ = stop.cancelled() => return None,
                    changed = rx.changed() => {
                        changed.ok()?;
                        keep_alive.reset();
                        rx.borrow_and_update().as_ref()?.bytes.clone()
                    }
                    _ = keep_alive.tick() => Bytes::from_static(b": keep-alive\n\n"),
                };
                Some((Ok(bytes), (rx, None, keep_alive, stop)))
            },
        );
        (
            [
                (CONTENT_TYPE, "text/event-stream"),
                (CACHE_CONTROL, "no-cache"),
            ],
            Body::from_stream(events),
        )
            .into_response()
    }
}

/// Build one framed event while anyone listens: when a partition
/// published new figures (at most one event per [`MIN_GAP`]), at least
/// every [`STREAM_INTERVAL`] (the figures' age moves on), and at once when
/// a client wants one; until shutdown.
async fn publish(hub: Arc<Hub>, export: Arc<ExportState>) {
    let mut ticks = tokio::time::interval(STREAM_INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last = Instant::now() - MIN_GAP;
    let mut publishes = export.publishes();
    loop {
        let listened = hub.latest.receiver_count() > 0;
        tokio::select! {
            _ = hub.shutdown.cancelled() => return,
            _ = hub.wanted.notified() => {}
            // Dropped from `Hubs` and nobody listens: end.
            _ = tokio::time::sleep(IDLE_CHECK), if !listened => {
                if Arc::strong_count(&hub) == 1 {
                    return;
                }
                continue;
            }
            _ = ticks.tick(), if listened => {}
            Ok(()) = publishes.changed(), if listened => {
                tokio::select! {
                    _ = hub.shutdown.cancelled() => return,
                    _ = tokio::time::sleep_until(last + MIN_GAP) => {}
                }
            }
        }
        if hub.latest.receiver_count() == 0 {
            continue;
        }
        last = Instant::now();
        // What was published so far is in the frame built now.
        let included = *publishes.borrow_and_update();
        let bytes = snapshot_event(&export, &hub.access).await;
        hub.latest.send_replace(Some(Frame {
            bytes,
            built: Instant::now(),
            publishes: included,
        }));
        ticks.reset();
    }
}

/// The merged snapshot as one SSE event (`event: snapshot`).
async fn snapshot_event(export: &Arc<ExportState>, access: &Access) -> Bytes {
    let (export, access) = (export.clone(), access.clone());
    // Deriving figures (quantiles) is CPU work: off the I/O threads.
    let json = tokio::task::spawn_blocking(move || {
        serde_json::to_string(&export.figures().for_access(&access).snapshot(None, None))
    })
    .await;
    match json {
        // serde_json writes one line: it is a valid `data:` field as is.
        Ok(Ok(body)) => Bytes::from(format!("event: snapshot\ndata: {body}\n\n")),
        Ok(Err(e)) => {
            error!(error = %e, "serializing the stream snapshot failed");
            Bytes::from_static(b"event: snapshot_error\ndata: serializing the snapshot failed\n\n")
        }
        Err(e) => {
            error!(error = %e, "building the stream snapshot failed");
            Bytes::from_static(b"event: snapshot_error\ndata: building the snapshot failed\n\n")
        }
    }
}
