//! The HTTP server: probes, the snapshot API with filters and token, the
//! security headers, and `/metrics`; most checks on the router directly,
//! some over a real socket: graceful shutdown, the connection cap, and the
//! header-read and idle deadlines.

mod support;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use ccpulse::export::http::{self, AppState};
use ccpulse::export::settings::{ExportConfig, HttpLimits};
use ccpulse::export::{
    ExportState, MetricsExporter, PartitionKey, PartitionPublisher, PartitionStatus,
};
use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::Engine;
use ccpulse_core::event::{AgentState, Channel};
use serde_json::Value;
use support::*;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const TOKEN: &str = "t0ken-for-tests";

/// Two live partitions: billing (voice, chat) and sales (voice); metrics
/// published into the returned exporter.
fn setup(token: Option<&str>) -> (AppState, MetricsExporter) {
    let exp = MetricsExporter::new(&ExportConfig::default());
    let state = Arc::new(ExportState::new());
    let mut s0 = Scenario::new();
    s0.agent(-60.0, "a1", AgentState::Available, &["billing"])
        .queued(0.0, "c1", "billing", Channel::Voice)
        .queued(1.0, "c2", "billing", Channel::Chat)
        .answered(5.0, "c1", "a1");
    let mut s1 = Scenario::new();
    s1.agent(-60.0, "a1", AgentState::Available, &["billing"])
        .queued(2.0, "c3", "sales", Channel::Voice);
    metrics::with_local_recorder(&exp, || {
        for (p, s) in [(0, s0), (1, s1)] {
            let key = PartitionKey::new("interactions", p);
            let mut e = Engine::new(EngineConfig::default());
            e.set_sample_tap(true);
            let mut out = Vec::new();
            for ev in s.events {
                e.apply(ev, &mut out);
            }
            e.flush(&mut out);
            state.set_status(&key, PartitionStatus::Live);
            PartitionPublisher::from_zero().publish_to(e.publication(), &state, &key);
            state.set_lag(&key, 0);
        }
    });
    state.set_started(true);
    let app = AppState::new(state, exp.handle(), token.map(String::from));
    (app, exp)
}

async fn get(app: &Router, uri: &str, auth: Option<&str>) -> (StatusCode, String, String) {
    let mut req = Request::get(uri);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("body");
    (status, ctype, String::from_utf8_lossy(&body).into_owned())
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn healthz_is_ok_and_readyz_follows_partition_status() {
    let (app, _exp) = setup(None);
    let state = app.export.clone();
    let router = http::router(app);
    let (st, _, body) = get(&router, "/healthz", None).await;
    assert_eq!((st, body.as_str()), (StatusCode::OK, "ok"));

    let (st, _, body) = get(&router, "/readyz", None).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(json(&body)["ready"], true);

    let restoring = PartitionKey::new("interactions", 2);
    state.set_status(
        &restoring,
        PartitionStatus::Restoring {
            done: 250,
            total: 1000,
        },
    );
    let (st, ctype, body) = get(&router, "/readyz", None).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let v = json(&body);
    assert_eq!(v["ready"], false);
    let p = &v["partitions"][2];
    assert_eq!(
        (
            &p["partition"],
            &p["status"],
            &p["done"],
            &p["total"],
            &p["progress"]
        ),
        (
            &Value::from(2),
            &Value::from("restoring"),
            &Value::from(250),
            &Value::from(1000),
            &Value::from(0.25)
        ),
        "{body}"
    );

    state.set_status(&restoring, PartitionStatus::Live);
    let (st, _, body) = get(&router, "/readyz", None).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "lag not reported yet");
    let v = json(&body);
    assert_eq!(v["partitions"][2]["lag"], Value::Null, "{body}");
    assert_eq!(
        v["reason"], "interactions/2: lag unknown: no fetch reported yet",
        "{body}"
    );
    state.set_lag(&restoring, 100);
    assert_eq!(get(&router, "/readyz", None).await.0, StatusCode::OK);
    // A burst: the lag is reported, and does not make the instance unready
    // (every pod would leave the Service at once).
    state.set_lag(&restoring, 250_000);
    let (st, _, body) = get(&router, "/readyz", None).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let v = json(&body);
    assert_eq!(v["partitions"][2]["lag"], 250_000, "{body}");
    assert_eq!(v["reason"], Value::Null, "{body}");
}

#[tokio::test]
async fn snapshot_merges_partitions_and_filters_by_queue_and_channel() {
    let (app, _exp) = setup(None);
    let router = http::router(app);
    let (st, ctype, body) = get(&router, "/api/v1/snapshot", None).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(ctype.starts_with("application/json"));
    let v = json(&body);
    let pairs = |v: &Value| -> Vec<(String, String)> {
        v["queues"]
            .as_array()
            .expect("queues")
            .iter()
            .map(|q| {
                (
                    q["queue"].as_str().unwrap_or_default().to_string(),
                    q["channel"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let p = |q: &str, c: &str| (q.to_string(), c.to_string());
    assert_eq!(
        pairs(&v),
        [
            p("billing", "voice"),
            p("billing", "chat"),
            p("sales", "voice")
        ]
    );
    // The agent directory is replicated: counted once.
    assert_eq!(v["center"]["agents_by_state"]["available"], 1);

    let (_, _, body) = get(&router, "/api/v1/snapshot?queue=billing", None).await;
    assert_eq!(
        pairs(&json(&body)),
        [p("billing", "voice"), p("billing", "chat")]
    );
    let (_, _, body) = get(&router, "/api/v1/snapshot?queue=billing&channel=chat", None).await;
    let v = json(&body);
    assert_eq!(pairs(&v), [p("billing", "chat")]);
    assert_eq!(v["queues"][0]["now"]["waiting"], 1);
    let (_, _, body) = get(&router, "/api/v1/snapshot?channel=voice", None).await;
    assert_eq!(
        pairs(&json(&body)),
        [p("billing", "voice"), p("sales", "voice")]
    );

    let (st, _, body) = get(&router, "/api/v1/snapshot?channel=fax", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let msg = json(&body)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("\"fax\"") && msg.contains("voice, chat, email, web, social"),
        "{msg}"
    );
    let (st, _, body) = get(&router, "/api/v1/snapshot?chanel=voice", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("chanel"), "{body}");
}

#[tokio::test]
async fn the_api_needs_the_token_when_one_is_set_and_probes_do_not() {
    let (app, _exp) = setup(Some(TOKEN));
    let router = http::router(app);
    let (st, _, body) = get(&router, "/api/v1/snapshot", None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    let wrong = get(&router, "/api/v1/snapshot", Some("Bearer nope")).await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    let basic = get(&router, "/api/v1/snapshot", Some(&format!("Basic {TOKEN}"))).await;
    assert_eq!(basic.0, StatusCode::UNAUTHORIZED);
    let right = get(
        &router,
        "/api/v1/snapshot",
        Some(&format!("Bearer {TOKEN}")),
    )
    .await;
    assert_eq!(right.0, StatusCode::OK);
    // The scheme is case-insensitive (RFC 7235); the token is not.
    for auth in [format!("bearer {TOKEN}"), format!("BEARER  {TOKEN} ")] {
        let r = get(&router, "/api/v1/snapshot", Some(&auth)).await;
        assert_eq!(r.0, StatusCode::OK, "{auth:?}");
    }
    let upper = get(
        &router,
        "/api/v1/snapshot",
        Some(&format!("Bearer {}", TOKEN.to_uppercase())),
    )
    .await;
    assert_eq!(upper.0, StatusCode::UNAUTHORIZED);
    // Neither a prefix nor an extension of the token passes.
    for guess in [&TOKEN[..TOKEN.len() - 1], &format!("{TOKEN}x")] {
        let r = get(
            &router,
            "/api/v1/snapshot",
            Some(&format!("Bearer {guess}")),
        )
        .await;
        assert_eq!(r.0, StatusCode::UNAUTHORIZED, "{guess}");
    }
    // Browsers (EventSource) send it as the RFC 6750 query parameter.
    let query = get(
        &router,
        &format!("/api/v1/snapshot?access_token={TOKEN}"),
        None,
    )
    .await;
    assert_eq!(query.0, StatusCode::OK, "{}", query.2);
    let wrong_query = get(&router, "/api/v1/snapshot?access_token=nope", None).await;
    assert_eq!(wrong_query.0, StatusCode::UNAUTHORIZED);
    for open in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(get(&router, open, None).await.0, StatusCode::OK, "{open}");
    }
    let resp = router
        .clone()
        .oneshot(
            Request::get("/api/v1/snapshot")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(
        resp.headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
}

/// One response's headers.
async fn headers_of(router: &Router, uri: &str) -> axum::http::HeaderMap {
    router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("response")
        .headers()
        .clone()
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_the_api_is_not_cached() {
    let (app, _exp) = setup(Some(TOKEN));
    let router = http::router(app);
    for uri in [
        "/metrics",
        "/healthz",
        "/readyz",
        "/api/v1/snapshot",
        &format!("/api/v1/snapshot?access_token={TOKEN}"),
        "/no/such/route",
    ] {
        let h = headers_of(&router, uri).await;
        assert_eq!(
            h.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{uri}"
        );
        assert_eq!(
            h.get("referrer-policy").map(|v| v.as_bytes()),
            Some(&b"no-referrer"[..]),
            "{uri}"
        );
        if uri.starts_with("/api/") {
            assert_eq!(
                h.get(header::CACHE_CONTROL).map(|v| v.as_bytes()),
                Some(&b"no-store"[..]),
                "{uri}"
            );
        }
    }
}

#[tokio::test]
async fn metrics_are_served_in_the_prometheus_text_format() {
    let (app, _exp) = setup(None);
    let router = http::router(app);
    let (st, ctype, body) = get(&router, "/metrics", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(ctype, http::METRICS_CONTENT_TYPE);
    assert!(
        body.contains("# TYPE ccpulse_offered_total counter"),
        "{body}"
    );
    assert!(
        body.contains(
            "ccpulse_offered_total{tenant=\"default\",queue=\"billing\",channel=\"voice\"} 1\n"
        ),
        "{body}"
    );
    assert!(
        body.contains(
            "ccpulse_queue_wait_seconds_bucket{tenant=\"default\",queue=\"billing\",channel=\"voice\",le=\"5\"} 1\n"
        ),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_socket_serves_until_shutdown() {
    let (app, _exp) = setup(Some(TOKEN));
    let listener = http::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(http::serve(listener, http::router(app), shutdown.clone()));

    let raw = |path: &'static str, auth: Option<&'static str>| {
        tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let auth = auth.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: test\r\n{auth}Connection: close\r\n\r\n"
            )
            .expect("write");
            let mut out = String::new();
            s.read_to_string(&mut out).expect("read");
            out
        })
    };
    let health = raw("/healthz", None).await.expect("join");
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
    assert!(health.ends_with("ok"), "{health}");
    let denied = raw("/api/v1/snapshot", None).await.expect("join");
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    let snap = raw("/api/v1/snapshot?queue=sales", Some(TOKEN))
        .await
        .expect("join");
    assert!(snap.starts_with("HTTP/1.1 200 OK"), "{snap}");
    assert!(snap.contains("\"queue\":\"sales\""), "{snap}");

    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops on shutdown")
        .expect("join");
    assert!(stopped.is_ok(), "{stopped:?}");
}

/// A server with `limits` on a free port; stopped on drop of the token.
async fn serve_limited(
    limits: HttpLimits,
) -> (std::net::SocketAddr, CancellationToken, MetricsExporter) {
    let (app, exp) = setup(None);
    let listener = http::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let shutdown = CancellationToken::new();
    tokio::spawn(http::serve_with(
        listener,
        http::router(app),
        limits,
        shutdown.clone(),
    ));
    (addr, shutdown, exp)
}

/// Blocking: whether the server closed `s` (reads the end of the stream,
/// or a reset) within `within`.
fn closed_within(s: &mut std::net::TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_get_503_and_slots_come_back() {
    let limits = HttpLimits {
        max_connections: 8,
        ..HttpLimits::default()
    };
    let (addr, shutdown, _exp) = serve_limited(limits).await;
    let answer = tokio::task::spawn_blocking(move || {
        let held: Vec<std::net::TcpStream> = (0..8)
            .map(|_| std::net::TcpStream::connect(addr).expect("connect"))
            .collect();
        // Give the server a moment to accept them all.
        std::thread::sleep(Duration::from_millis(300));
        let mut extra = std::net::TcpStream::connect(addr).expect("connect");
        extra
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let _ = write!(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut over = String::new();
        let _ = extra.read_to_string(&mut over);
        // Hang up the held ones: their slots come back.
        drop(held);
        std::thread::sleep(Duration::from_millis(300));
        let mut again = std::net::TcpStream::connect(addr).expect("connect");
        again
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(
            again,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut ok = String::new();
        again.read_to_string(&mut ok).expect("read");
        (over, ok)
    })
    .await
    .expect("join");
    assert!(answer.0.starts_with("HTTP/1.1 503"), "{}", answer.0);
    assert!(answer.0.contains("retry-after: 1"), "{}", answer.0);
    assert!(answer.1.starts_with("HTTP/1.1 200"), "{}", answer.1);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_idle_connections_are_closed_at_their_deadlines() {
    let limits = HttpLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        max_connections: 64,
    };
    let (addr, shutdown, _exp) = serve_limited(limits).await;
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        // Connected, nothing sent: the first head is late after 1 s.
        let mut silent = std::net::TcpStream::connect(addr).expect("connect");
        // A head dribbled a byte at a time: never complete in time.
        let mut slow = std::net::TcpStream::connect(addr).expect("connect");
        let dribble = slow.try_clone().expect("clone");
        let dribbler = std::thread::spawn(move || {
            let mut d = dribble;
            for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaa" {
                if d.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        assert!(
            closed_within(&mut silent, Duration::from_secs(3)),
            "a silent connection stays open"
        );
        assert!(
            closed_within(&mut slow, Duration::from_secs(3)),
            "a slow head stays open"
        );
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "{took:?}"
        );
        let _ = dribbler.join();

        // A kept-alive connection: served, then closed after the idle time.
        let mut kept = std::net::TcpStream::connect(addr).expect("connect");
        write!(kept, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
        let mut buf = [0u8; 512];
        kept.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let n = kept.read(&mut buf).expect("an answer");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        let served = Instant::now();
        // Still usable within the idle time, whatever the header deadline.
        std::thread::sleep(Duration::from_millis(1_300));
        write!(kept, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
        let n = kept.read(&mut buf).expect("a second answer");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        assert!(
            closed_within(&mut kept, Duration::from_secs(4)),
            "an idle connection stays open"
        );
        let idle = served.elapsed();
        assert!(
            idle >= Duration::from_secs(3) && idle < Duration::from_secs(6),
            "{idle:?}"
        );
    })
    .await
    .expect("join");
    shutdown.cancel();
}

#[tokio::test]
async fn binding_a_taken_port_names_the_address_and_the_fix() {
    let first = http::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = first.local_addr().expect("addr");
    let err = http::bind(addr).await.expect_err("port is taken");
    let msg = err.to_string();
    assert!(
        msg.contains(&addr.to_string()) && msg.contains("fix"),
        "{msg}"
    );
}
