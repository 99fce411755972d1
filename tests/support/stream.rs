//! Reading the SSE stream of an in-process router.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use futures_util::StreamExt;
use tower::ServiceExt;

/// The text of `/api/v1/stream` up to and including its first
/// `event: snapshot` (within 10 s).
pub async fn first_snapshot_event(app: &Router) -> String {
    let resp = app
        .clone()
        .oneshot(
            Request::get("/api/v1/stream")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
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
