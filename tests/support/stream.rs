//! Reading the SSE stream of an in-process router.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use futures_util::StreamExt;
use tower::ServiceExt;

/// The text of `/api/v1/stream` up to and including its first
/// `event: snapshot` (within 10 s).
pub async fn first_snapshot_event(app: &Router) -> String {
    first_snapshot_event_of(app, "/api/v1/stream", None).await
}

/// [`first_snapshot_event`] of `uri` (a stream URL, with its query), sent
/// with `Authorization: <auth>` if given.
pub async fn first_snapshot_event_of(app: &Router, uri: &str, auth: Option<&str>) -> String {
    let mut req = Request::get(uri);
    if let Some(a) = auth {
        req = req.header(axum::http::header::AUTHORIZATION, a);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::OK, "{uri}");
    let mut body = resp.into_body().into_data_stream();
    let mut seen = String::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            if seen.contains("event: snapshot\ndata: ") && seen.ends_with("\n\n") {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("a snapshot event within 10 s");
    seen
}
