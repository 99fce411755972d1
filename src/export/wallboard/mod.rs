//! The live wallboard: a static page at `/` (HTML, JS and CSS embedded in
//! the binary from `src/export/wallboard/`, no build step, no CDN) and
//! `GET /api/v1/stream`, Server-Sent Events carrying the merged
//! [`Snapshot`](ccpulse_core::engine::Snapshot) JSON with its `freshness`
//! (the `/api/v1/snapshot` body without filters) once per
//! [`STREAM_INTERVAL`].
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
//! [`wallboard_routes`] returns `(public, api)` for
//! [`http::router_with`](super::http::router_with); the stream sits on the
//! `api` side, so a configured bearer token applies to it. A stream ends
//! when its client disconnects (the body is dropped) or when the shutdown
//! token fires, so graceful shutdown is not held up by open wallboards.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::error;

use super::http::AppState;

/// How often the stream sends a snapshot (the export tick's default).
pub const STREAM_INTERVAL: Duration = Duration::from_secs(1);

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("wallboard.js");
const APP_CSS: &str = include_str!("wallboard.css");

/// `(public, api)` routes for [`router_with`](super::http::router_with):
/// `/`, `/wallboard.js`, `/wallboard.css` (public) and `/api/v1/stream`
/// (api). Open streams end when `shutdown` fires.
pub fn wallboard_routes(shutdown: CancellationToken) -> (Router<AppState>, Router<AppState>) {
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
        get(move |State(s): State<AppState>| {
            let stop = shutdown.clone();
            async move { Sse::new(snapshots(s, stop)).keep_alive(KeepAlive::default()) }
        }),
    );
    (public, api)
}

/// The page, with the current snapshot embedded so the first paint already
/// shows figures (the stream takes over from there). When the API needs a
/// token, embedded only for a request that carries it (`/?access_token=`):
/// the page itself is public.
async fn index(State(s): State<AppState>, headers: HeaderMap, uri: Uri) -> impl IntoResponse {
    let mut html = INDEX_HTML.to_string();
    if super::http::authorized(&s, &headers, &uri) {
        let export = s.export.clone();
        let json = tokio::task::spawn_blocking(move || {
            serde_json::to_string(&export.figures().snapshot(None, None))
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
            (CACHE_CONTROL, "no-cache"),
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

/// One event per tick with the merged snapshot, until `stop` fires. The
/// first is sent at once.
fn snapshots(
    s: AppState,
    stop: CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let mut ticks = tokio::time::interval(STREAM_INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    stream::unfold((s, ticks, stop), |(s, mut ticks, stop)| async move {
        tokio::select! {
            _ = stop.cancelled() => None,
            _ = ticks.tick() => {
                let event = snapshot_event(&s).await;
                Some((Ok(event), (s, ticks, stop)))
            }
        }
    })
}

async fn snapshot_event(s: &AppState) -> Event {
    let export = s.export.clone();
    // Deriving figures (quantiles) is CPU work: off the I/O threads.
    let json = tokio::task::spawn_blocking(move || {
        serde_json::to_string(&export.figures().snapshot(None, None))
    })
    .await;
    match json {
        Ok(Ok(body)) => Event::default().event("snapshot").data(body),
        Ok(Err(e)) => {
            error!(error = %e, "serializing the stream snapshot failed");
            Event::default()
                .event("snapshot_error")
                .data("serializing the snapshot failed")
        }
        Err(e) => {
            error!(error = %e, "building the stream snapshot failed");
            Event::default()
                .event("snapshot_error")
                .data("building the snapshot failed")
        }
    }
}
