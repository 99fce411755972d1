//! Who may read what: every role × endpoint pair, and cross-tenant
//! isolation. Two tenants, acme and globex, share a queue name (billing)
//! and even event and interaction ids; a key scoped to acme never sees a
//! byte of globex (its tenant name, its own queue, its operator), not in
//! the snapshot, the stream's first event, the wallboard's embedded
//! snapshot or `/metrics`, and the figures it sees are acme's alone
//! (counted by hand below).

mod support;

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use ccpulse::config::Config;
use ccpulse::export::http::{self, AppState};
use ccpulse::export::settings::ExportConfig;
use ccpulse::export::{
    wallboard, AgentPrivacy, ExportState, InstancePublisher, MetricsExporter, PartitionKey,
    PartitionPublisher, PartitionStatus,
};
use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::Engine;
use ccpulse_core::event::{AgentState, Channel};
use serde_json::Value;
use support::*;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const ACME_AGENT: &str = "acme-agent-1";
const GLOBEX_AGENT: &str = "globex-agent-9";
const GLOBEX_QUEUE: &str = "globex-only-queue";
/// Anything of globex: none of it may reach an acme key.
const GLOBEX_BYTES: [&str; 3] = ["globex", GLOBEX_QUEUE, GLOBEX_AGENT];

const VIEWER: &str = "acme-viewer-token-0001";
const SUPERVISOR: &str = "acme-supervisor-token-0002";
const METRICS: &str = "acme-metrics-token-0003";
const GLOBEX_VIEWER: &str = "globex-viewer-token-0004";
/// Its SHA-256 is configured, not the token.
const EVERYONE: &str = "all-tenants-viewer-token-0005";

/// acme (10 events): acme-agent-1 serves billing and acme-support; c1 is
/// queued in billing at 0 s, answered at 10 s, ended 40 s, wrapped 45 s;
/// c2 queued in billing at 5 s, abandoned at 30 s; c3 queued in
/// acme-support (chat) at 20 s; three agent state changes.
/// globex (5 events): globex-agent-9; c1, c2, c9 queued in billing, c4 in
/// globex-only-queue (email).
fn scenario() -> Scenario {
    let mut acme = Scenario::new();
    acme.agent(
        -60.0,
        ACME_AGENT,
        AgentState::Available,
        &["billing", "acme-support"],
    )
    .queued(0.0, "c1", "billing", Channel::Voice)
    .queued(5.0, "c2", "billing", Channel::Voice)
    .answered(10.0, "c1", ACME_AGENT)
    .agent(
        10.0,
        ACME_AGENT,
        AgentState::Busy,
        &["billing", "acme-support"],
    )
    .queued(20.0, "c3", "acme-support", Channel::Chat)
    .abandoned(30.0, "c2")
    .ended(40.0, "c1")
    .wrapped(45.0, "c1")
    .agent(
        45.0,
        ACME_AGENT,
        AgentState::Available,
        &["billing", "acme-support"],
    );
    let mut globex = Scenario::new();
    globex
        .agent(
            -60.0,
            GLOBEX_AGENT,
            AgentState::Available,
            &["billing", GLOBEX_QUEUE],
        )
        .queued(0.0, "c1", "billing", Channel::Voice)
        .queued(1.0, "c2", "billing", Channel::Voice)
        .queued(2.0, "c9", "billing", Channel::Voice)
        .queued(3.0, "c4", GLOBEX_QUEUE, Channel::Email);
    acme.of_tenant("acme").and(&globex.of_tenant("globex"))
}

/// Two tenants and the keys: an acme viewer, supervisor and metrics key,
/// a globex viewer, and an all-tenant viewer given by its SHA-256.
fn config() -> Config {
    let everyone_sha = sha256_hex(EVERYONE);
    let text = format!(
        r#"
[[http.keys]]
name = "acme-wallboard"
token = "{VIEWER}"
role = "viewer"
tenants = ["acme"]

[[http.keys]]
name = "acme-supervisor"
token = "{SUPERVISOR}"
role = "supervisor"
tenants = ["acme"]

[[http.keys]]
name = "acme-prometheus"
token = "{METRICS}"
role = "metrics"
tenants = ["acme"]

[[http.keys]]
name = "globex-wallboard"
token = "{GLOBEX_VIEWER}"
role = "viewer"
tenants = ["globex"]

[[http.keys]]
name = "ops"
token_sha256 = "{everyone_sha}"
role = "viewer"
tenants = ["*"]
"#
    );
    Config::from_toml_in(&text, Path::new("t.toml"), &ccpulse::config::ProcessEnv)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A served instance with the scenario folded, operators shown as
/// `privacy` says to viewers.
fn app(privacy: AgentPrivacy) -> Router {
    let exp = MetricsExporter::new(&ExportConfig::default());
    let state = Arc::new(ExportState::new());
    state.set_agent_privacy(privacy);
    state.set_leader(true);
    state.set_started(true);
    let key = PartitionKey::new("interactions", 0);
    let mut e = Engine::new(EngineConfig::default());
    e.set_sample_tap(true);
    let mut out = Vec::new();
    for ev in scenario().events {
        e.apply(ev, &mut out);
    }
    e.flush(&mut out);
    metrics::with_local_recorder(&exp, || {
        state.set_status(&key, PartitionStatus::Live);
        PartitionPublisher::from_zero().publish_to(e.publication(), &state, &key);
        state.set_lag(&key, 0);
        InstancePublisher::from_zero().tick(&state);
    });
    let (public, api) = wallboard::wallboard_routes(CancellationToken::new());
    let state = AppState::new(state, exp.handle(), None).with_keys(config().http.all_keys());
    http::router_with(state, public, api)
}

async fn get(app: &Router, uri: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::get(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    if status == StatusCode::OK && uri.starts_with("/api/v1/stream") {
        // Reading a stream to its end would wait forever: its first event.
        let auth = token.map(|t| format!("Bearer {t}"));
        return (
            status,
            stream::first_snapshot_event_of(app, uri, auth.as_deref()).await,
        );
    }
    let body = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The JSON embedded in the wallboard page, if any.
fn embedded(page: &str) -> Option<Value> {
    let start = page.find("<script id=\"initial-snapshot\" type=\"application/json\">")?;
    let rest = &page[start..];
    let json = &rest[rest.find('>')? + 1..rest.find("</script>")?];
    Some(serde_json::from_str(&json.replace("\\u003c", "<")).expect("embedded JSON"))
}

/// The stream's first snapshot event, as JSON.
fn event_json(stream: &str) -> Value {
    let data = stream
        .split("event: snapshot\ndata: ")
        .nth(1)
        .and_then(|d| d.split('\n').next())
        .expect("a snapshot event");
    serde_json::from_str(data).expect("event JSON")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Nobody,
    UnknownToken,
    Viewer,
    Supervisor,
    Metrics,
}

impl Who {
    fn token(self) -> Option<&'static str> {
        match self {
            Who::Nobody => None,
            Who::UnknownToken => Some("not-a-configured-token"),
            Who::Viewer => Some(VIEWER),
            Who::Supervisor => Some(SUPERVISOR),
            Who::Metrics => Some(METRICS),
        }
    }
}

#[tokio::test]
async fn every_role_reaches_exactly_its_endpoints() {
    let app = app(AgentPrivacy::aggregate());
    use StatusCode as S;
    // (who, snapshot, stream, /metrics, the page embeds figures)
    let table = [
        (
            Who::Nobody,
            S::UNAUTHORIZED,
            S::UNAUTHORIZED,
            S::UNAUTHORIZED,
            false,
        ),
        (
            Who::UnknownToken,
            S::UNAUTHORIZED,
            S::UNAUTHORIZED,
            S::UNAUTHORIZED,
            false,
        ),
        (Who::Viewer, S::OK, S::OK, S::FORBIDDEN, true),
        (Who::Supervisor, S::OK, S::OK, S::FORBIDDEN, true),
        (Who::Metrics, S::FORBIDDEN, S::FORBIDDEN, S::OK, false),
    ];
    for (who, snapshot, stream, metrics, page_figures) in table {
        let t = who.token();
        assert_eq!(
            get(&app, "/api/v1/snapshot", t).await.0,
            snapshot,
            "{who:?} snapshot"
        );
        assert_eq!(
            get(&app, "/api/v1/stream", t).await.0,
            stream,
            "{who:?} stream"
        );
        assert_eq!(
            get(&app, "/metrics", t).await.0,
            metrics,
            "{who:?} /metrics"
        );
        // The page itself is public; its figures are not. Browsers send
        // the token in the query.
        let uri = match t {
            Some(t) => format!("/?access_token={t}"),
            None => "/".to_string(),
        };
        let (st, page) = get(&app, &uri, None).await;
        assert_eq!(st, S::OK, "{who:?} page");
        assert_eq!(
            embedded(&page).is_some(),
            page_figures,
            "{who:?} page figures"
        );
        // Probes stay open to everyone.
        assert_eq!(get(&app, "/healthz", t).await.0, S::OK, "{who:?} healthz");
        assert_eq!(get(&app, "/readyz", t).await.0, S::OK, "{who:?} readyz");
    }
    // A 401 asks for a bearer token; a 403 does not (the key is known).
    let resp = app
        .clone()
        .oneshot(
            Request::get("/api/v1/snapshot")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], "Bearer");
    let resp = app
        .clone()
        .oneshot(
            Request::get("/api/v1/snapshot")
                .header(header::AUTHORIZATION, format!("Bearer {METRICS}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(resp.headers().get(header::WWW_AUTHENTICATE).is_none());
}

#[tokio::test]
async fn an_acme_key_never_sees_a_byte_of_globex() {
    let app = app(AgentPrivacy::aggregate());
    for (who, token) in [("viewer", VIEWER), ("supervisor", SUPERVISOR)] {
        let (_, snapshot) = get(&app, "/api/v1/snapshot", Some(token)).await;
        let (_, stream) = get(&app, "/api/v1/stream", Some(token)).await;
        let stream_q = stream::first_snapshot_event_of(
            &app,
            &format!("/api/v1/stream?access_token={token}"),
            None,
        )
        .await;
        let (_, page) = get(&app, &format!("/?access_token={token}"), None).await;
        for (what, bytes) in [
            ("snapshot", &snapshot),
            ("stream", &stream),
            ("stream by query", &stream_q),
            ("page", &page),
        ] {
            for b in GLOBEX_BYTES {
                assert!(!bytes.contains(b), "{who}'s {what} holds {b:?}:\n{bytes}");
            }
        }
        // What it sees is acme's, counted by hand.
        for v in [
            serde_json::from_str::<Value>(&snapshot).unwrap(),
            event_json(&stream),
            embedded(&page).expect("figures in the page"),
        ] {
            assert_eq!(v["tenants"], serde_json::json!(["acme"]), "{who}");
            let billing = v["queues"]
                .as_array()
                .unwrap()
                .iter()
                .find(|q| q["queue"] == "billing")
                .expect("acme's billing");
            assert_eq!(billing["tenant"], "acme");
            let c = &billing["total"]["counts"];
            // c1 answered, c2 abandoned: acme's two, not globex's three.
            assert_eq!(
                (&c["offered"], &c["answered"], &c["abandoned"]),
                (&2.into(), &1.into(), &1.into())
            );
            assert_eq!(v["processing"]["events_received"], 10, "acme's events only");
            assert_eq!(
                v["center"]["agents_by_state"]["available"], 1,
                "acme's operator only"
            );
            assert_eq!(
                v["queues"].as_array().unwrap().len(),
                2,
                "billing and acme-support"
            );
        }
    }
    // Prometheus with the acme key: acme's series and the process-level
    // ones, nothing of globex.
    let (st, metrics) = get(&app, "/metrics", Some(METRICS)).await;
    assert_eq!(st, StatusCode::OK);
    for b in GLOBEX_BYTES {
        assert!(!metrics.contains(b), "/metrics holds {b:?}:\n{metrics}");
    }
    assert!(metrics.contains(
        "ccpulse_offered_total{tenant=\"acme\",queue=\"billing\",channel=\"voice\"} 2\n"
    ));
    assert!(
        metrics.contains("ccpulse_build_info{"),
        "process-level series stay"
    );
    // Asking for globex by name is refused, not answered empty.
    for uri in [
        "/api/v1/snapshot?tenant=globex",
        "/api/v1/stream?tenant=globex",
    ] {
        assert_eq!(
            get(&app, uri, Some(VIEWER)).await.0,
            StatusCode::FORBIDDEN,
            "{uri}"
        );
    }
    let (_, page) = get(
        &app,
        &format!("/?access_token={VIEWER}&tenant=globex"),
        None,
    )
    .await;
    assert!(embedded(&page).is_none());
}

#[tokio::test]
async fn the_other_tenant_and_an_all_tenant_key_see_their_own_scope() {
    let app = app(AgentPrivacy::full());
    let (_, globex) = get(&app, "/api/v1/snapshot", Some(GLOBEX_VIEWER)).await;
    assert!(!globex.contains("acme"), "{globex}");
    let v: Value = serde_json::from_str(&globex).unwrap();
    assert_eq!(v["tenants"], serde_json::json!(["globex"]));
    assert_eq!(v["processing"]["events_received"], 5);

    // The all-tenant key (configured by its hash) sees both, each row
    // naming its tenant; ?tenant= narrows it to one.
    let (st, all) = get(&app, "/api/v1/snapshot", Some(EVERYONE)).await;
    assert_eq!(st, StatusCode::OK);
    let v: Value = serde_json::from_str(&all).unwrap();
    assert_eq!(v["tenants"], serde_json::json!(["acme", "globex"]));
    let billing: Vec<(&str, u64)> = v["queues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["queue"] == "billing")
        .map(|q| {
            (
                q["tenant"].as_str().unwrap(),
                q["total"]["counts"]["offered"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(billing, [("acme", 2), ("globex", 3)]);
    assert_eq!(v["processing"]["events_received"], 15);
    let (_, one) = get(&app, "/api/v1/snapshot?tenant=acme", Some(EVERYONE)).await;
    assert!(!one.contains("globex"), "{one}");
}

#[tokio::test]
async fn supervisors_see_operators_by_id_and_viewers_as_agent_metrics_says() {
    for (privacy, viewer_sees_id) in [
        (AgentPrivacy::full(), true),
        (
            AgentPrivacy::pseudonymous("a-pseudonym-key-of-enough-bytes"),
            false,
        ),
        (AgentPrivacy::aggregate(), false),
        (AgentPrivacy::off(), false),
    ] {
        let mode = format!("{:?}", privacy.mode());
        let app = app(privacy);
        let (_, viewer) = get(&app, "/api/v1/snapshot", Some(VIEWER)).await;
        let (_, supervisor) = get(&app, "/api/v1/snapshot", Some(SUPERVISOR)).await;
        let (_, viewer_stream) = get(&app, "/api/v1/stream", Some(VIEWER)).await;
        let (_, supervisor_stream) = get(&app, "/api/v1/stream", Some(SUPERVISOR)).await;
        assert_eq!(viewer.contains(ACME_AGENT), viewer_sees_id, "{mode} viewer");
        assert_eq!(
            viewer_stream.contains(ACME_AGENT),
            viewer_sees_id,
            "{mode} viewer stream"
        );
        assert!(supervisor.contains(ACME_AGENT), "{mode} supervisor");
        assert!(
            supervisor_stream.contains(ACME_AGENT),
            "{mode} supervisor stream"
        );
        let v: Value = serde_json::from_str(&supervisor).unwrap();
        assert_eq!(v["agent_privacy"], "full", "{mode}");
        assert_eq!(v["agents"][0]["tenant"], "acme");
    }
}

#[test]
fn keys_are_checked_with_their_field_and_fix() {
    let text = r#"
[[http.keys]]
name = "a"
role = "admin"
tenants = []

[[http.keys]]
name = "a"
token = "x"
token_sha256 = "abc"
role = "viewer"
tenants = ["*", "acme"]
"#;
    let err = Config::from_toml_in(text, Path::new("t.toml"), &ccpulse::config::ProcessEnv)
        .expect_err("invalid keys");
    let problems: Vec<(&str, &str)> = err
        .problems()
        .iter()
        .map(|p| (p.issue.field.as_str(), p.issue.fix.as_str()))
        .collect();
    let fields: Vec<&str> = problems.iter().map(|p| p.0).collect();
    assert_eq!(
        fields,
        [
            "http.keys[0].token",
            "http.keys[0].role",
            "http.keys[0].tenants",
            "http.keys[1].name",
            "http.keys[1].token",
            "http.keys[1].tenants",
        ],
        "{err}"
    );
    assert!(problems.iter().all(|p| !p.1.is_empty()));
    // A token is a secret field: ${ENV} expands there, and never shows.
    struct Env;
    impl ccpulse::config::Env for Env {
        fn var(&self, name: &str) -> Option<String> {
            (name == "ACME_TOKEN").then(|| "s3cret-acme".to_string())
        }
        fn read_file(&self, _: &Path) -> std::io::Result<String> {
            Err(std::io::ErrorKind::NotFound.into())
        }
    }
    let cfg = Config::from_toml_in(
        "[[http.keys]]\nname = \"acme\"\ntoken = \"${ACME_TOKEN}\"\nrole = \"viewer\"\ntenants = [\"acme\"]\n",
        Path::new("t.toml"),
        &Env,
    )
    .expect("config");
    assert_eq!(cfg.http.keys.len(), 1);
    assert!(!format!("{cfg:?}").contains("s3cret"));
}

/// The README's worked example (two tenants, three keys) is a valid
/// configuration with the keys it describes.
#[test]
fn the_readme_example_config_is_valid() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let after = readme
        .split("**Worked example: two tenants, three keys.**")
        .nth(1)
        .expect("the worked example");
    let toml = after
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("its TOML block");
    struct Env;
    impl ccpulse::config::Env for Env {
        fn var(&self, name: &str) -> Option<String> {
            (name == "ACME_WALLBOARD_TOKEN").then(|| "acme-wallboard-secret".to_string())
        }
        fn read_file(&self, path: &Path) -> std::io::Result<String> {
            assert_eq!(path, Path::new("/run/secrets/ccpulse-metrics-token"));
            Ok("prometheus-secret\n".to_string())
        }
    }
    let cfg = Config::from_toml_in(toml, Path::new("ccpulse.toml"), &Env)
        .unwrap_or_else(|e| panic!("{e}"));
    let keys: Vec<(String, String, bool)> = cfg
        .http
        .all_keys()
        .iter()
        .map(|k| {
            (
                k.name.clone(),
                k.role.as_str().to_string(),
                k.scope.allows("acme") && !k.scope.allows("globex"),
            )
        })
        .collect();
    let keys: Vec<(&str, &str, bool)> = keys
        .iter()
        .map(|(n, r, a)| (n.as_str(), r.as_str(), *a))
        .collect();
    assert_eq!(
        keys,
        [
            ("acme-wallboard", "viewer", true),
            ("acme-team-leads", "supervisor", true),
            ("prometheus", "metrics", false),
        ]
    );
    assert_eq!(
        cfg.engine
            .for_tenant("globex")
            .queue("x")
            .service_level_threshold,
        15_000
    );
    assert_eq!(
        cfg.engine
            .for_tenant("acme")
            .queue("x")
            .service_level_threshold,
        30_000
    );
}

/// Keys may live in a file of their own (`http.keys_file`, relative to the
/// config), tokens written as secrets there too; a broken file is a
/// problem naming `http.keys_file`, never showing its contents.
#[test]
fn keys_can_come_from_a_keys_file() {
    struct Env(&'static str);
    impl ccpulse::config::Env for Env {
        fn var(&self, name: &str) -> Option<String> {
            (name == "GLOBEX_TOKEN").then(|| "globex-s3cret".to_string())
        }
        fn read_file(&self, path: &Path) -> std::io::Result<String> {
            assert_eq!(path, Path::new("/etc/ccpulse/keys.toml"));
            Ok(self.0.to_string())
        }
    }
    let config = "[http]\nkeys_file = \"keys.toml\"\n";
    let keys = "[[keys]]\nname = \"globex\"\ntoken = \"${GLOBEX_TOKEN}\"\nrole = \"supervisor\"\ntenants = [\"globex\"]\n";
    let cfg = Config::from_toml_in(config, Path::new("/etc/ccpulse/ccpulse.toml"), &Env(keys))
        .unwrap_or_else(|e| panic!("{e}"));
    let k = &cfg.http.keys[0];
    assert_eq!((k.name.as_str(), k.role.as_str()), ("globex", "supervisor"));
    assert_eq!(k.sha256.to_vec(), {
        use sha2::Digest;
        sha2::Sha256::digest(b"globex-s3cret").to_vec()
    });
    let broken = "[[keys]]\nname = \"x\"\ntoken = \"leaky-t0ken\"\nrole = \"viewer\"\ntenants = [\"a\"]\nextra = 1\n";
    let err = Config::from_toml_in(config, Path::new("/etc/ccpulse/ccpulse.toml"), &Env(broken))
        .expect_err("unknown field");
    let text = err.to_string();
    assert!(
        text.contains("http.keys_file") && !text.contains("leaky-t0ken"),
        "{text}"
    );
}
