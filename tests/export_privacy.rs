//! Operator privacy (`export.agent_metrics`): for each mode, what `/metrics`,
//! the snapshot API and the wallboard page (the stream serves the same
//! snapshot) say about operators. Under `pseudonymous`, `aggregate` and
//! `off` no operator id appears anywhere in the bytes served (the first
//! event of the stream included); pseudonyms
//! equal an HMAC-SHA256 computed here; the `aggregate` distributions equal
//! figures worked out by hand for a small scenario.

mod support;

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use ccpulse::config::Config;
use ccpulse::export::http::{self, AppState};
use ccpulse::export::settings::ExportConfig;
use ccpulse::export::{
    wallboard, AgentMetrics, AgentPrivacy, ExportState, InstancePublisher, MetricsExporter,
    PartitionKey, PartitionPublisher, PartitionStatus,
};
use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::Engine;
use ccpulse_core::event::{AgentState, Channel, SurveyScore};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use support::*;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const ALICE: &str = "opr-alice-7";
const BOB: &str = "opr-bob-7";
const CAROL: &str = "opr-carol-7";
const DAVE: &str = "opr-dave-7";
const IDS: [&str; 4] = [ALICE, BOB, CAROL, DAVE];
const KEY: &str = "test-pseudonym-key-0123456789abcdef";

/// billing: alice, bob, carol; sales: carol, dave.
/// alice closes c1 (handle 70 s, CSAT 5); bob closes c2 (40 s, CSAT 2) and
/// c3 (30 s, CSAT 4); dave closes c4 (30 s, CSAT 3); carol handles nothing.
fn scenario() -> Scenario {
    let billing: &[&str] = &["billing"];
    let both: &[&str] = &["billing", "sales"];
    let sales: &[&str] = &["sales"];
    let mut s = Scenario::new();
    s.agent(-60.0, ALICE, AgentState::Available, billing)
        .agent(-60.0, BOB, AgentState::Available, billing)
        .agent(-60.0, CAROL, AgentState::Available, both)
        .agent(-60.0, DAVE, AgentState::Available, sales);
    s.queued(0.0, "c1", "billing", Channel::Voice)
        .queued(1.0, "c2", "billing", Channel::Voice)
        .queued(2.0, "c4", "sales", Channel::Voice)
        .answered(10.0, "c1", ALICE)
        .agent(10.0, ALICE, AgentState::Busy, billing)
        .answered(11.0, "c2", BOB)
        .agent(11.0, BOB, AgentState::Busy, billing)
        .answered(12.0, "c4", DAVE)
        .agent(12.0, DAVE, AgentState::Busy, sales)
        .ended(32.0, "c4")
        .ended(41.0, "c2")
        .wrapped(42.0, "c4")
        .resolved(42.0, "c4", DAVE)
        .agent(42.0, DAVE, AgentState::Available, sales)
        .wrapped(51.0, "c2")
        .resolved(51.0, "c2", BOB)
        .agent(51.0, BOB, AgentState::Available, billing)
        .ended(70.0, "c1")
        .wrapped(80.0, "c1")
        .resolved(80.0, "c1", ALICE)
        .agent(80.0, ALICE, AgentState::Available, billing)
        .queued(100.0, "c3", "billing", Channel::Voice)
        .answered(110.0, "c3", BOB)
        .agent(110.0, BOB, AgentState::Busy, billing)
        .ended(130.0, "c3")
        .wrapped(140.0, "c3")
        .resolved(140.0, "c3", BOB)
        .agent(140.0, BOB, AgentState::Available, billing);
    s.survey(150.0, "c1", Some(ALICE), "billing", SurveyScore::Csat(5))
        .survey(151.0, "c2", Some(BOB), "billing", SurveyScore::Csat(2))
        .survey(152.0, "c3", Some(BOB), "billing", SurveyScore::Csat(4))
        .survey(153.0, "c4", Some(DAVE), "sales", SurveyScore::Csat(3))
        .queued(200.0, "c5", "sales", Channel::Voice);
    s
}

fn engine() -> Engine {
    let mut e = Engine::new(EngineConfig::default());
    e.set_sample_tap(true);
    let mut out = Vec::new();
    for ev in scenario().events {
        e.apply(ev, &mut out);
    }
    e.flush(&mut out);
    e
}

/// What one instance serves under `privacy`.
struct Served {
    metrics: String,
    snapshot: String,
    page: String,
    /// The stream's first snapshot event.
    stream: String,
}

impl Served {
    fn json(&self) -> Value {
        serde_json::from_str(&self.snapshot).expect("snapshot JSON")
    }

    fn all(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}",
            self.metrics, self.snapshot, self.page, self.stream
        )
    }

    /// The value of the one series `name{labels}` (labels as rendered).
    fn series(&self, name_and_labels: &str) -> Option<f64> {
        self.metrics.lines().find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == name_and_labels).then(|| v.parse().ok()).flatten()
        })
    }
}

async fn get(app: &Router, uri: &str) -> String {
    let resp = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::OK, "{uri}");
    let body = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("body");
    String::from_utf8_lossy(&body).into_owned()
}

async fn serve(privacy: AgentPrivacy) -> Served {
    let exp = MetricsExporter::new(&ExportConfig::default());
    let state = Arc::new(ExportState::new());
    state.set_agent_privacy(privacy);
    state.set_leader(true);
    state.set_started(true);
    let key = PartitionKey::new("interactions", 0);
    let mut e = engine();
    metrics::with_local_recorder(&exp, || {
        state.set_status(&key, PartitionStatus::Live);
        PartitionPublisher::from_zero().publish_to(e.publication(), &state, &key);
        state.set_lag(&key, 0);
        InstancePublisher::from_zero().tick(&state);
    });
    let (public, api) = wallboard::wallboard_routes(CancellationToken::new());
    let app = http::router_with(AppState::new(state, exp.handle(), None), public, api);
    Served {
        metrics: get(&app, "/metrics").await,
        snapshot: get(&app, "/api/v1/snapshot").await,
        page: get(&app, "/").await,
        stream: stream::first_snapshot_event(&app).await,
    }
}

/// The oracle: HMAC-SHA256 of the id under the key, first 12 hex digits.
fn expected_pseudonym(id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).expect("any key length");
    mac.update(id.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("op-{}", &hex[..12])
}

fn assert_no_operator_id(s: &Served) {
    let all = s.all();
    for id in IDS {
        assert!(!all.contains(id), "{id} served:\n{all}");
    }
}

/// The series with an `agent` label, sorted (render order follows hash
/// maps).
fn agent_series(metrics: &str) -> Vec<&str> {
    let mut v: Vec<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("agent=\""))
        .collect();
    v.sort_unstable();
    v
}

#[tokio::test]
async fn full_shows_operator_ids_everywhere() {
    let s = serve(AgentPrivacy::full()).await;
    for id in IDS {
        assert!(
            s.metrics.contains(&format!("agent=\"{id}\"")),
            "{id}\n{}",
            s.metrics
        );
        assert!(
            s.snapshot.contains(id) && s.page.contains(id) && s.stream.contains(id),
            "{id}"
        );
    }
    assert_eq!(
        s.series(&format!(
            "ccpulse_agent_closures_total{{tenant=\"default\",agent=\"{BOB}\"}}"
        )),
        Some(2.0)
    );
    assert_eq!(s.json()["agent_privacy"], "full");
    assert!(s.json().get("operators").is_none());
    assert!(!s.metrics.contains("ccpulse_queue_operator"));
}

#[tokio::test]
async fn pseudonymous_labels_are_an_hmac_of_the_id_and_stable() {
    let privacy = || AgentPrivacy::pseudonymous(KEY);
    let s = serve(privacy()).await;
    assert_no_operator_id(&s);
    for id in IDS {
        let p = expected_pseudonym(id);
        assert!(
            s.metrics.contains(&format!("agent=\"{p}\"")),
            "{p}\n{}",
            s.metrics
        );
        assert!(
            s.snapshot.contains(&p) && s.page.contains(&p) && s.stream.contains(&p),
            "{p}"
        );
    }
    assert_eq!(
        s.series(&format!(
            "ccpulse_agent_closures_total{{tenant=\"default\",agent=\"{}\"}}",
            expected_pseudonym(BOB)
        )),
        Some(2.0)
    );
    let v = s.json();
    assert_eq!(v["agent_privacy"], "pseudonymous");
    let mut agents: Vec<String> = v["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| a["agent"].as_str().expect("agent").to_string())
        .collect();
    agents.sort();
    let mut want: Vec<String> = IDS.iter().map(|id| expected_pseudonym(id)).collect();
    want.sort();
    assert_eq!(agents, want);

    // Stable: another instance (a restart) with the same key labels the
    // same operators the same.
    let again = serve(privacy()).await;
    assert_eq!(agent_series(&again.metrics), agent_series(&s.metrics));
    assert_eq!(again.json()["agents"], v["agents"]);
    // Keyed: another key, other labels.
    let other = serve(AgentPrivacy::pseudonymous("another-key-0123456789abcdef")).await;
    assert_no_operator_id(&other);
    for id in IDS {
        assert!(!other.all().contains(&expected_pseudonym(id)), "{id}");
    }
}

#[tokio::test]
async fn aggregate_exports_per_queue_distributions_without_operator_labels() {
    let s = serve(AgentPrivacy::aggregate()).await;
    assert_no_operator_id(&s);
    assert_eq!(agent_series(&s.metrics), Vec::<&str>::new());
    assert!(!s.metrics.contains("ccpulse_agent_closures_total{"));
    let m = |name: &str, queue: &str, stat: &str| {
        s.series(&format!(
            "{name}{{tenant=\"default\",queue=\"{queue}\",stat=\"{stat}\"}}"
        ))
        .unwrap_or_else(|| panic!("{name} {queue} {stat}\n{}", s.metrics))
    };
    assert_eq!(
        s.series("ccpulse_queue_operators{tenant=\"default\",queue=\"billing\"}"),
        Some(3.0)
    );
    assert_eq!(
        s.series("ccpulse_queue_operators{tenant=\"default\",queue=\"sales\"}"),
        Some(2.0)
    );
    // Closures: billing alice 1, bob 2, carol 0; sales carol 0, dave 1.
    let closures = "ccpulse_queue_operator_closures";
    let billing_closures =
        ["min", "median", "p90", "max", "mean"].map(|st| m(closures, "billing", st));
    assert_eq!(billing_closures, [0.0, 1.0, 2.0, 2.0, 1.0]);
    let sales_closures = ["min", "median", "p90", "max", "mean"].map(|st| m(closures, "sales", st));
    assert_eq!(sales_closures, [0.0, 0.0, 1.0, 1.0, 0.5]);
    // AHT: billing alice 70 s, bob (40 + 30) / 2 = 35 s (carol handled
    // nothing: not counted); sales dave 30 s.
    let aht = "ccpulse_queue_operator_aht_seconds";
    let billing_aht = ["min", "median", "p90", "max", "mean"].map(|st| m(aht, "billing", st));
    assert_eq!(billing_aht, [35.0, 35.0, 70.0, 70.0, 52.5]);
    assert_eq!(m(aht, "sales", "max"), 30.0);
    // CSAT: billing alice 1/1, bob 1/2; sales dave 0/1.
    let csat = "ccpulse_queue_operator_csat_ratio";
    let billing_csat = ["min", "median", "p90", "max", "mean"].map(|st| m(csat, "billing", st));
    assert_eq!(billing_csat, [0.5, 0.5, 1.0, 1.0, 0.75]);
    assert_eq!(m(csat, "sales", "mean"), 0.0);
    // Occupancy: carol was never busy (0); the largest is the busiest
    // operator's, as the per-operator figures of `full` say.
    let occ = "ccpulse_queue_operator_occupancy_ratio";
    assert_eq!(m(occ, "billing", "min"), 0.0);
    let full = serve(AgentPrivacy::full()).await.json();
    let occupancy_of = |id: &str| {
        full["agents"]
            .as_array()
            .expect("agents")
            .iter()
            .find(|a| a["agent"] == id)
            .and_then(|a| a["total"]["occupancy"].as_f64())
            .unwrap_or_else(|| panic!("{id}'s occupancy"))
    };
    let busiest = occupancy_of(ALICE).max(occupancy_of(BOB));
    assert!(busiest > 0.0);
    assert!((m(occ, "billing", "max") - busiest).abs() < 1e-12);

    let v = s.json();
    assert_eq!(v["agent_privacy"], "aggregate");
    assert_eq!(v["agents"], Value::Array(vec![]));
    let b = &v["operators"]["default"]["billing"];
    assert_eq!(b["operators"], 3);
    assert_eq!(b["closures"]["max"], 2.0);
    assert_eq!(b["aht_seconds"]["mean"], 52.5);
    assert_eq!(b["csat"]["operators"], 2);
    assert!(s.page.contains("\"agent_privacy\":\"aggregate\""));
}

#[tokio::test]
async fn off_exports_nothing_per_operator() {
    let s = serve(AgentPrivacy::off()).await;
    assert_no_operator_id(&s);
    assert_eq!(agent_series(&s.metrics), Vec::<&str>::new());
    assert!(!s.metrics.contains("ccpulse_queue_operator"));
    // The directory's counts by queue and state stay (no operator in them).
    assert_eq!(
        s.series("ccpulse_agents{tenant=\"default\",queue=\"billing\",state=\"available\"}"),
        Some(3.0)
    );
    let v = s.json();
    assert_eq!(v["agent_privacy"], "off");
    assert_eq!(v["agents"], Value::Array(vec![]));
    assert!(v.get("operators").is_none());
}

fn config(text: &str) -> Result<Config, String> {
    struct Env;
    impl ccpulse::config::Env for Env {
        fn var(&self, name: &str) -> Option<String> {
            (name == "CCPULSE_PSEUDONYM_KEY").then(|| KEY.to_string())
        }
        fn read_file(&self, _: &Path) -> std::io::Result<String> {
            Err(std::io::ErrorKind::NotFound.into())
        }
    }
    Config::from_toml_in(text, Path::new("t.toml"), &Env).map_err(|e| e.to_string())
}

#[test]
fn agent_metrics_is_configured_and_a_missing_or_short_key_is_an_error_with_its_fix() {
    let cfg = config("").expect("defaults");
    assert_eq!(cfg.export.agent_privacy.mode(), AgentMetrics::Full);
    for (mode, want) in [
        ("aggregate", AgentMetrics::Aggregate),
        ("off", AgentMetrics::Off),
        ("full", AgentMetrics::Full),
    ] {
        let cfg = config(&format!("[export]\nagent_metrics = \"{mode}\"\n")).expect(mode);
        assert_eq!(cfg.export.agent_privacy.mode(), want);
    }
    let cfg = config(
        "[export]\nagent_metrics = \"pseudonymous\"\nagent_pseudonym_key = \"${CCPULSE_PSEUDONYM_KEY}\"\n",
    )
    .expect("key from the environment");
    assert_eq!(cfg.export.agent_privacy, AgentPrivacy::pseudonymous(KEY));
    assert!(!format!("{:?}", cfg.export).contains(KEY));

    let err = config("[export]\nagent_metrics = \"pseudonymous\"\n").expect_err("no key");
    assert!(
        err.contains("export.agent_pseudonym_key")
            && err.contains("not set")
            && err.contains("fix:")
            && err.contains("${CCPULSE_PSEUDONYM_KEY}"),
        "{err}"
    );
    let err =
        config("[export]\nagent_metrics = \"pseudonymous\"\nagent_pseudonym_key = \"shortkey\"\n")
            .expect_err("short key");
    assert!(
        err.contains("export.agent_pseudonym_key")
            && err.contains("8 bytes")
            && !err.contains("shortkey"),
        "{err}"
    );
    let err = config("[export]\nagent_metrics = \"names\"\n").expect_err("unknown mode");
    assert!(err.contains("agent_metrics"), "{err}");
}

const METRICS_TOKEN: &str = "metrics-t0ken-for-tests";

/// Log lines written while the guard lives (this thread).
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn status(app: &Router, uri: &str, auth: Option<&str>) -> (StatusCode, Option<String>) {
    let mut req = Request::get(uri);
    if let Some(a) = auth {
        req = req.header(axum::http::header::AUTHORIZATION, a);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let challenge = resp
        .headers()
        .get(axum::http::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    (resp.status(), challenge)
}

#[tokio::test]
async fn metrics_token_guards_metrics_and_denials_are_logged_without_it() {
    let logs = Logs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let exp = MetricsExporter::new(&ExportConfig::default());
    let state = Arc::new(ExportState::new());
    let app = http::router(
        AppState::new(state, exp.handle(), Some(KEY.into()))
            .with_metrics_token(Some(METRICS_TOKEN.into())),
    );
    let bearer = format!("Bearer {METRICS_TOKEN}");
    assert_eq!(
        status(&app, "/metrics", Some(&bearer)).await.0,
        StatusCode::OK
    );
    let wrong = format!("Bearer {METRICS_TOKEN}x");
    let basic = format!("Basic {METRICS_TOKEN}");
    let api = format!("Bearer {KEY}");
    for auth in [None, Some(wrong.as_str()), Some(basic.as_str())] {
        assert_eq!(
            status(&app, "/metrics", auth).await,
            (StatusCode::UNAUTHORIZED, Some("Bearer".to_string())),
            "{auth:?}"
        );
    }
    // The API token is a known key of another role: forbidden, not
    // unauthenticated.
    assert_eq!(
        status(&app, "/metrics", Some(&api)).await,
        (StatusCode::FORBIDDEN, None)
    );
    // The metrics token is not the API's.
    assert_eq!(
        status(&app, "/api/v1/snapshot", Some(&bearer)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&app, "/api/v1/snapshot", Some(&api)).await.0,
        StatusCode::OK
    );
    assert_eq!(status(&app, "/healthz", None).await.0, StatusCode::OK);

    let logged = String::from_utf8(logs.0.lock().expect("logs").clone()).expect("UTF-8");
    assert_eq!(
        logged.matches("request denied").count(),
        5,
        "four on /metrics, one on the API:\n{logged}"
    );
    assert!(logged.contains("no credentials") && logged.contains("unknown token"));
    assert!(
        logged.contains("key=\"http.api_token\"") && logged.contains("key=\"http.metrics_token\"")
    );
    assert!(
        !logged.contains(METRICS_TOKEN) && !logged.contains(KEY),
        "{logged}"
    );
}

#[test]
fn metrics_token_is_a_secret_field() {
    struct Env;
    impl ccpulse::config::Env for Env {
        fn var(&self, name: &str) -> Option<String> {
            (name == "CCPULSE_METRICS_TOKEN").then(|| METRICS_TOKEN.to_string())
        }
        fn read_file(&self, _: &Path) -> std::io::Result<String> {
            Err(std::io::ErrorKind::NotFound.into())
        }
    }
    let cfg = Config::from_toml_in(
        "[http]\nmetrics_token = \"${CCPULSE_METRICS_TOKEN}\"\n",
        Path::new("t.toml"),
        &Env,
    )
    .expect("config");
    assert_eq!(cfg.http.metrics_token.as_deref(), Some(METRICS_TOKEN));
    assert!(!format!("{:?}", cfg.http).contains(METRICS_TOKEN));
    let err = Config::from_toml_in("[http]\nmetrics_token = \"\"\n", Path::new("t.toml"), &Env)
        .expect_err("empty")
        .to_string();
    assert!(
        err.contains("http.metrics_token") && err.contains("fix:"),
        "{err}"
    );
}
