//! Faults never blank the figures: through a broker outage (every partition
//! revoked when the session times out) an instance keeps serving the last
//! known figures, marked stale with their age, in the snapshot, the SSE
//! stream and the gauges, for `export.revoked_grace`; and it is not ready
//! with no partitions, nor before a partition's lag is known.
//!
//! Each test drives export as the pipeline does, through its `Observer`,
//! on a manual wall clock, so every age below is exact and worked by hand.
//! The wall clock starts at W0 = 2026-11-02T09:02:00Z; event times are the
//! test kit's (T0 = 09:00:00Z).

mod prom;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use ccpulse::config::Config;
use ccpulse::export::http::{self, AppState};
use ccpulse::export::wallboard::wallboard_routes;
use ccpulse::export::{
    ExportObserver, ExportState, InstancePublisher, ManualClock, MetricsExporter,
};
use ccpulse::telemetry::{Observer, PartitionStatus};
use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::Engine;
use ccpulse_core::event::{AgentState, Channel, Event, Millis};
use prom::Scrape;
use serde_json::{json, Value};
use support::*;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const TOPIC: &str = "interactions";
/// The wall clock when each test starts: two minutes after T0.
const W0: Millis = T0 + 120_000;
const QC: [(&str, &str); 3] = [
    ("tenant", "default"),
    ("queue", "billing"),
    ("channel", "voice"),
];

/// One ccpulse instance: export's state on a manual clock, the pipeline's
/// observer, a metrics exporter, the export tick and the HTTP routes.
struct Instance {
    clock: ManualClock,
    state: Arc<ExportState>,
    observer: ExportObserver,
    metrics: MetricsExporter,
    tick: InstancePublisher,
    router: Router,
}

impl Instance {
    /// Started, with `[export]` from `toml`.
    fn new(toml: &str) -> Self {
        let i = Self::unstarted(toml);
        i.observer.started();
        i
    }

    fn unstarted(toml: &str) -> Self {
        let cfg = Config::from_toml(toml, Path::new("test.toml")).expect("config");
        let clock = ManualClock::new(W0);
        let state = Arc::new(ExportState::with_clock(clock.clock()));
        // What `export::run` does on start.
        state.configure(&cfg.export);
        let metrics = MetricsExporter::new(&cfg.export);
        let observer = ExportObserver::new(state.clone(), TOPIC);
        let (public, api) = wallboard_routes(CancellationToken::new());
        let router = http::router_with(
            AppState::new(state.clone(), metrics.handle(), None),
            public,
            api,
        );
        Instance {
            clock,
            state,
            observer,
            metrics,
            tick: InstancePublisher::new(),
            router,
        }
    }

    /// Set the wall clock to W0 + `secs`.
    fn at(&self, secs: f64) {
        self.clock.set(W0 + (secs * 1000.0).round() as Millis);
    }

    fn report<R>(&self, f: impl FnOnce(&ExportObserver) -> R) -> R {
        metrics::with_local_recorder(&self.metrics, || f(&self.observer))
    }

    /// Assigned, restored to `engine`'s state (the baseline: none of it is
    /// exported as counters), live.
    fn assign(&self, p: i32, engine: &mut Engine) {
        self.report(|o| {
            o.partition_status(TOPIC, p, PartitionStatus::Restoring { done: 0, total: 0 });
            o.partition_view(TOPIC, p, Arc::new(engine.view()));
            engine.set_sample_tap(true);
            o.partition_status(TOPIC, p, PartitionStatus::Live);
        });
    }

    /// One task tick: samples, the view, the lag.
    fn publish(&self, p: i32, engine: &mut Engine) {
        self.report(|o| {
            let pb = engine.publication();
            o.partition_live(TOPIC, p, &pb.samples, pb.last_event_ms);
            o.partition_view(TOPIC, p, Arc::new(pb.view));
            o.partition_lag(TOPIC, p, 0);
        });
    }

    /// Revoked: the task's last publish, then the removal.
    fn revoke(&self, p: i32, engine: &mut Engine) {
        self.report(|o| {
            let pb = engine.publication();
            o.partition_live(TOPIC, p, &pb.samples, pb.last_event_ms);
            o.partition_view(TOPIC, p, Arc::new(pb.view));
            o.partition_removed(TOPIC, p);
        });
    }

    /// One export tick at the clock, then `/metrics`.
    fn scrape(&mut self) -> Scrape {
        let (tick, state) = (&mut self.tick, &self.state);
        metrics::with_local_recorder(&self.metrics, || tick.tick(state));
        Scrape::parse(&self.metrics.handle().render())
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let resp = self
            .router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 16 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn json(&self, path: &str) -> (StatusCode, Value) {
        let (st, body) = self.get(path).await;
        let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
        (st, v)
    }

    async fn snapshot(&self) -> Value {
        let (st, v) = self.json("/api/v1/snapshot").await;
        assert_eq!(st, StatusCode::OK, "{v}");
        v
    }

    /// The first event of `/api/v1/stream`, parsed.
    async fn first_streamed(&self) -> Value {
        let text = stream::first_snapshot_event(&self.router).await;
        let data = text
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap_or_else(|| panic!("no data line: {text}"));
        serde_json::from_str(data).expect("event data is JSON")
    }
}

/// Two calls waiting on partition 0 (c1 since 0 s, c2 since 5 s) and one on
/// partition 1 (c9 since 2 s), billing voice; agent a1 available on both
/// (the agent directory is replicated); watermark 30 s.
fn partitions() -> (Engine, Engine) {
    let mut s0 = Scenario::new();
    s0.agent(-60.0, "a1", AgentState::Available, &["billing"])
        .queued(0.0, "c1", "billing", Channel::Voice)
        .queued(5.0, "c2", "billing", Channel::Voice);
    let mut s1 = Scenario::new();
    s1.agent(-60.0, "a1", AgentState::Available, &["billing"])
        .queued(2.0, "c9", "billing", Channel::Voice);
    (engine(&s0.events), engine(&s1.events))
}

fn engine(events: &[Event]) -> Engine {
    let mut e = Engine::new(EngineConfig::default());
    fold(&mut e, events);
    e
}

fn fold(e: &mut Engine, events: &[Event]) {
    let mut out = Vec::new();
    for ev in events {
        e.apply(ev.clone(), &mut out);
    }
    e.flush(&mut out);
    e.advance(ms(30.0), &mut out);
}

/// Events with ids that do not collide with an earlier scenario's.
fn renamed(s: &Scenario, prefix: &str) -> Vec<Event> {
    s.events
        .iter()
        .cloned()
        .map(|mut e| {
            e.event_id = format!("{prefix}-{}", e.event_id);
            e
        })
        .collect()
}

fn waiting(snap: &Value) -> Value {
    let q = snap["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .find(|q| q["queue"] == "billing" && q["channel"] == "voice");
    q.map_or(Value::Null, |q| q["now"]["waiting"].clone())
}

fn counters(s: &Scrape) -> BTreeMap<String, f64> {
    s.series
        .iter()
        .filter(|(k, _)| matches!(s.family_of(k), Some((_, "counter"))))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn partition(p: &str) -> [(&'static str, &str); 2] {
    [("topic", TOPIC), ("partition", p)]
}

#[tokio::test]
async fn a_revoked_partition_keeps_serving_its_last_figures_marked_stale() {
    let mut i = Instance::new("");
    let (mut e0, mut e1) = partitions();
    i.assign(0, &mut e0);
    i.assign(1, &mut e1);
    i.publish(0, &mut e0);
    i.publish(1, &mut e1);
    let s = i.scrape();
    assert_eq!(s.get("ccpulse_consumer_lag", &partition("0")), 0.0);
    assert_eq!(
        s.get("ccpulse_restore_progress_ratio", &partition("0")),
        1.0
    );

    // Both live: fresh.
    let snap = i.snapshot().await;
    assert_eq!(waiting(&snap), 3);
    assert_eq!(
        snap["freshness"],
        json!({
            "stale": false, "reason": null,
            "published_at": "2026-11-02T09:02:00.000Z", "published_at_ms": W0, "age_seconds": 0.0,
            "partitions": [
                { "topic": TOPIC, "partition": 0, "source": "live", "stale": false,
                  "published_at": "2026-11-02T09:02:00.000Z", "published_at_ms": W0,
                  "age_seconds": 0.0, "dropped_in_seconds": null,
                  // Folded to a watermark of T0 + 30 s with nothing
                  // buffered: 120 s − 30 s behind the wall clock, and the
                  // provisional figures equal the ordered ones.
                  "watermark_lag_seconds": 90.0, "provisional_lead_seconds": 0.0 },
                { "topic": TOPIC, "partition": 1, "source": "live", "stale": false,
                  "published_at": "2026-11-02T09:02:00.000Z", "published_at_ms": W0,
                  "age_seconds": 0.0, "dropped_in_seconds": null,
                  "watermark_lag_seconds": 90.0, "provisional_lead_seconds": 0.0 },
            ]
        })
    );

    // 10 s later partition 0 is revoked (its last publish, then removed);
    // partition 1 keeps publishing. 30 s after the revocation:
    i.at(10.0);
    i.revoke(0, &mut e0);
    i.publish(1, &mut e1);
    i.at(40.0);
    i.publish(1, &mut e1);
    let snap = i.snapshot().await;
    assert_eq!(waiting(&snap), 3, "partition 0's two calls are still shown");
    assert_eq!(
        snap["freshness"],
        json!({
            "stale": true,
            // Grace 5 min from the revocation at 10 s: 4 min 30 s left at 40 s.
            "reason": "interactions/0 revoked 30s ago, its last figures kept for 4m 30s more",
            "published_at": "2026-11-02T09:02:40.000Z", "published_at_ms": W0 + 40_000,
            "age_seconds": 0.0,
            "partitions": [
                { "topic": TOPIC, "partition": 0, "source": "revoked", "stale": true,
                  "published_at": "2026-11-02T09:02:10.000Z", "published_at_ms": W0 + 10_000,
                  "age_seconds": 30.0, "dropped_in_seconds": 270.0,
                  // Still T0 + 30 s, now at W0 + 40 s: 160 s − 30 s.
                  "watermark_lag_seconds": 130.0, "provisional_lead_seconds": 0.0 },
                { "topic": TOPIC, "partition": 1, "source": "live", "stale": false,
                  "published_at": "2026-11-02T09:02:40.000Z", "published_at_ms": W0 + 40_000,
                  "age_seconds": 0.0, "dropped_in_seconds": null,
                  "watermark_lag_seconds": 130.0, "provisional_lead_seconds": 0.0 },
            ]
        })
    );
    assert_eq!(
        i.first_streamed().await,
        snap,
        "the stream carries the same"
    );

    // Readiness is about assigned partitions: partition 1 alone, ready.
    let (st, ready) = i.json("/readyz").await;
    assert_eq!(st, StatusCode::OK, "{ready}");
    assert_eq!(ready["partitions"].as_array().map(Vec::len), Some(1));

    let s = i.scrape();
    assert_eq!(s.get("ccpulse_figures_stale", &[]), 1.0);
    assert_eq!(s.get("ccpulse_partitions_kept", &[]), 1.0);
    assert_eq!(s.get("ccpulse_figures_age_seconds", &[]), 0.0);
    assert_eq!(s.get("ccpulse_partitions_assigned", &[]), 1.0);
    // This instance holds an assignment without partition 0: another
    // instance owns it and exports its gauges, so here it counts in the
    // snapshot (stale) but not in the gauges Prometheus sums.
    assert_eq!(s.get("ccpulse_waiting", &QC), 1.0);
    // Its processor gauges vanish (zeroed once, then they expire).
    assert_eq!(
        s.get("ccpulse_restore_progress_ratio", &partition("0")),
        0.0
    );
    // Its counters stay what was folded live: nothing re-exported.
    assert_eq!(
        s.get("ccpulse_offered_total", &QC),
        0.0,
        "restored history is never exported"
    );
}

#[tokio::test]
async fn through_a_broker_outage_the_last_figures_stay_with_their_age() {
    let mut i = Instance::new("");
    let (mut e0, mut e1) = (
        Engine::new(EngineConfig::default()),
        Engine::new(EngineConfig::default()),
    );
    // Both partitions restored empty and live; their calls are folded live,
    // so the counters export them.
    i.assign(0, &mut e0);
    i.assign(1, &mut e1);
    let mut s0 = Scenario::new();
    s0.agent(-60.0, "a1", AgentState::Available, &["billing"])
        .queued(0.0, "c1", "billing", Channel::Voice)
        .queued(5.0, "c2", "billing", Channel::Voice);
    let mut s1 = Scenario::new();
    s1.agent(-60.0, "a1", AgentState::Available, &["billing"])
        .queued(2.0, "c9", "billing", Channel::Voice);
    fold(&mut e0, &s0.events);
    fold(&mut e1, &s1.events);
    i.publish(0, &mut e0);
    i.publish(1, &mut e1);
    let before = i.scrape();
    assert_eq!(before.get("ccpulse_offered_total", &QC), 3.0);

    // The broker goes away; 45 s later the session times out and both
    // partitions are revoked (each task's last publish, then removal).
    i.at(45.0);
    i.revoke(0, &mut e0);
    i.revoke(1, &mut e1);

    // A minute into the outage.
    i.at(105.0);
    let snap = i.snapshot().await;
    assert_eq!(waiting(&snap), 3, "the last known figures, not zeros");
    let f = &snap["freshness"];
    assert_eq!(f["stale"], true);
    assert_eq!(
        f["reason"],
        "no partitions assigned; \
         interactions/0 revoked 1m ago, its last figures kept for 4m more; \
         interactions/1 revoked 1m ago, its last figures kept for 4m more"
    );
    assert_eq!(f["published_at"], "2026-11-02T09:02:45.000Z");
    assert_eq!(f["age_seconds"], 60.0);
    assert_eq!(
        f["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .map(|p| (p["source"].clone(), p["age_seconds"].clone()))
            .collect::<Vec<_>>(),
        [
            (json!("revoked"), json!(60.0)),
            (json!("revoked"), json!(60.0))
        ]
    );
    assert_eq!(i.first_streamed().await, snap);

    let (st, body) = i.get("/healthz").await;
    assert_eq!((st, body.as_str()), (StatusCode::OK, "ok"), "alive");
    let (st, ready) = i.json("/readyz").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready,
        json!({ "ready": false, "reason": "no partitions assigned", "started": true,
                "partitions": [] })
    );

    let s = i.scrape();
    // Nothing is assigned here, so no other instance can own them either
    // (the group is gone): the kept figures feed the gauges too.
    assert_eq!(s.get("ccpulse_waiting", &QC), 3.0);
    assert_eq!(s.get("ccpulse_figures_stale", &[]), 1.0);
    assert_eq!(s.get("ccpulse_figures_age_seconds", &[]), 60.0);
    assert_eq!(s.get("ccpulse_partitions_kept", &[]), 2.0);
    assert_eq!(s.get("ccpulse_partitions_assigned", &[]), 0.0);
    assert_eq!(s.get("ccpulse_consumer_lag", &partition("0")), 0.0);
    assert_eq!(counters(&s), counters(&before), "no counter moved");
}

#[tokio::test]
async fn figures_of_a_revoked_partition_are_dropped_after_the_grace() {
    let mut i = Instance::new("[export]\nrevoked_grace = \"2m\"\n");
    let (mut e0, _) = partitions();
    i.assign(0, &mut e0);
    i.publish(0, &mut e0);
    i.revoke(0, &mut e0);

    // One millisecond before the grace ends: still served.
    i.at(119.999);
    let snap = i.snapshot().await;
    assert_eq!(waiting(&snap), 2);
    assert_eq!(
        snap["freshness"]["partitions"][0]["dropped_in_seconds"],
        0.001
    );
    let s = i.scrape();
    assert_eq!(s.get("ccpulse_waiting", &QC), 2.0);

    // At 2 min: gone. Still stale (nothing is updating), and the age goes
    // on growing from the last publish.
    i.at(120.0);
    let snap = i.snapshot().await;
    assert_eq!(snap["queues"], json!([]));
    assert_eq!(
        snap["freshness"],
        json!({
            "stale": true, "reason": "no partitions assigned",
            "published_at": "2026-11-02T09:02:00.000Z", "published_at_ms": W0,
            "age_seconds": 120.0, "partitions": []
        })
    );
    let s = i.scrape();
    assert_eq!(s.get("ccpulse_waiting", &QC), 0.0, "zeroed");
    assert_eq!(s.get("ccpulse_partitions_kept", &[]), 0.0);
    assert_eq!(s.get("ccpulse_figures_stale", &[]), 1.0);
    assert_eq!(s.get("ccpulse_figures_age_seconds", &[]), 120.0);
    assert!(i.state.kept().is_empty(), "the tick dropped them");
}

#[tokio::test]
async fn a_zero_grace_drops_a_revoked_partitions_figures_at_once() {
    let i = Instance::new("[export]\nrevoked_grace = \"0s\"\n");
    let (mut e0, _) = partitions();
    i.assign(0, &mut e0);
    i.publish(0, &mut e0);
    i.revoke(0, &mut e0);
    let snap = i.snapshot().await;
    assert_eq!(snap["queues"], json!([]));
    assert_eq!(snap["freshness"]["reason"], "no partitions assigned");
}

#[tokio::test]
async fn a_partition_assigned_again_replaces_the_kept_figures() {
    let mut i = Instance::new("");
    // Live from an empty restore: c1 and c2 are folded live and exported.
    let mut e0 = Engine::new(EngineConfig::default());
    i.assign(0, &mut e0);
    let mut s0 = Scenario::new();
    s0.agent(-60.0, "a1", AgentState::Available, &["billing"])
        .queued(0.0, "c1", "billing", Channel::Voice)
        .queued(5.0, "c2", "billing", Channel::Voice);
    fold(&mut e0, &s0.events);
    i.publish(0, &mut e0);
    let s = i.scrape();
    assert_eq!(s.get("ccpulse_offered_total", &QC), 2.0);

    i.at(10.0);
    i.revoke(0, &mut e0);

    // Assigned here again 10 s later: while it restores, its kept figures
    // are shown (stale) and, since nobody else can own it, count in the
    // gauges.
    i.at(20.0);
    i.report(|o| o.partition_status(TOPIC, 0, PartitionStatus::Restoring { done: 0, total: 4 }));
    i.at(30.0);
    let snap = i.snapshot().await;
    assert_eq!(waiting(&snap), 2);
    assert_eq!(snap["freshness"]["stale"], true);
    assert_eq!(
        snap["freshness"]["reason"],
        "interactions/0 restoring (0%), its figures from before kept for 4m 40s more"
    );
    assert_eq!(snap["freshness"]["partitions"][0]["source"], "restoring");
    let (_, ready) = i.json("/readyz").await;
    assert_eq!(ready["reason"], "interactions/0: restoring (0%)");
    let s = i.scrape();
    assert_eq!(s.get("ccpulse_waiting", &QC), 2.0);
    assert_eq!(s.get("ccpulse_partitions_kept", &[]), 1.0);

    // Restored from the log (the same two calls), live, c1 answered live.
    let mut again = engine(&s0.events);
    i.assign(0, &mut again);
    let mut more = Scenario::new();
    more.answered(40.0, "c1", "a1");
    fold(&mut again, &renamed(&more, "more"));
    i.at(40.0);
    i.publish(0, &mut again);
    let snap = i.snapshot().await;
    assert_eq!(waiting(&snap), 1, "the new figures, not the kept ones");
    assert_eq!(snap["freshness"]["stale"], false);
    assert_eq!(snap["freshness"]["reason"], Value::Null);
    assert_eq!(snap["freshness"]["partitions"][0]["source"], "live");
    assert!(i.state.kept().is_empty());

    let s = i.scrape();
    assert_eq!(s.get("ccpulse_waiting", &QC), 1.0);
    assert_eq!(s.get("ccpulse_partitions_kept", &[]), 0.0);
    assert_eq!(s.get("ccpulse_figures_stale", &[]), 0.0);
    // Counters exact: the restored history is not exported again.
    assert_eq!(s.get("ccpulse_offered_total", &QC), 2.0);
    assert_eq!(s.get("ccpulse_answered_total", &QC), 1.0);
}

#[tokio::test]
async fn kept_figures_never_override_the_live_agent_directory() {
    let i = Instance::new("");
    let (mut e0, _) = partitions();
    // Partition 1 has seen a1 go busy since; the directory is replicated,
    // so its live view is the newer one.
    let mut s1 = Scenario::new();
    s1.agent(-60.0, "a1", AgentState::Available, &["billing"])
        .queued(2.0, "c9", "billing", Channel::Voice)
        .agent(10.0, "a1", AgentState::Busy, &["billing"]);
    let mut e1 = engine(&s1.events);
    i.assign(0, &mut e0);
    i.assign(1, &mut e1);
    i.publish(0, &mut e0);
    i.publish(1, &mut e1);
    i.revoke(0, &mut e0);

    let snap = i.snapshot().await;
    assert_eq!(waiting(&snap), 3);
    let q = &snap["queues"][0]["now"]["agents"];
    assert_eq!((&q["available"], &q["busy"]), (&json!(0), &json!(1)));
    let c = &snap["center"]["agents_by_state"];
    assert_eq!((&c["available"], &c["busy"]), (&json!(0), &json!(1)));
    assert_eq!(snap["agents"][0]["state"], "busy");
}

#[tokio::test]
async fn readiness_is_false_with_no_partitions_and_before_the_first_lag_report_whatever_the_lag_after(
) {
    let mut i = Instance::unstarted("");
    let (st, r) = i.json("/readyz").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r["reason"], "pipeline not started");

    i.report(|o| o.started());
    let (st, r) = i.json("/readyz").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r,
        json!({ "ready": false, "reason": "no partitions assigned", "started": true,
                "partitions": [] })
    );

    i.report(|o| {
        o.partition_status(
            TOPIC,
            0,
            PartitionStatus::Restoring {
                done: 250,
                total: 1000,
            },
        )
    });
    let (_, r) = i.json("/readyz").await;
    assert_eq!(r["reason"], "interactions/0: restoring (25%)");

    // Live, but librdkafka has not fetched yet: the lag is unknown, not 0.
    i.report(|o| o.partition_status(TOPIC, 0, PartitionStatus::Live));
    let (st, r) = i.json("/readyz").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r,
        json!({ "ready": false, "reason": "interactions/0: lag unknown: no fetch reported yet",
                "started": true,
                "partitions": [{ "topic": TOPIC, "partition": 0, "status": "live",
                                 "progress": 1.0, "lag": null, "ready": false,
                                 "reason": "lag unknown: no fetch reported yet",
                                 "restored": null }] })
    );
    let s = i.scrape();
    assert!(
        !s.series
            .keys()
            .any(|k| k.starts_with("ccpulse_consumer_lag{")),
        "no lag series while unknown"
    );

    // The first fetch: 188k records unread (a burst). Ready all the same:
    // restored and live; the lag is a metric with an alert, not a gate.
    i.report(|o| o.partition_lag(TOPIC, 0, 188_000));
    let (st, r) = i.json("/readyz").await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!((&r["ready"], &r["reason"]), (&json!(true), &Value::Null));
    assert_eq!(r["partitions"][0]["lag"], 188_000);
    assert_eq!(
        i.scrape().get("ccpulse_consumer_lag", &partition("0")),
        188_000.0
    );

    i.report(|o| o.partition_removed(TOPIC, 0));
    let (st, r) = i.json("/readyz").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r["reason"], "no partitions assigned");
    let (st, _) = i.get("/healthz").await;
    assert_eq!(st, StatusCode::OK, "liveness never depends on partitions");
}

#[test]
fn revoked_grace_defaults_to_five_minutes_and_is_validated_with_its_fix() {
    let cfg = Config::from_toml("", Path::new("t.toml")).expect("defaults");
    assert_eq!(
        cfg.export.revoked_grace,
        std::time::Duration::from_secs(300)
    );
    let cfg = Config::from_toml("[export]\nrevoked_grace = \"1d\"\n", Path::new("t.toml"))
        .expect("a day is the longest");
    assert_eq!(
        cfg.export.revoked_grace,
        std::time::Duration::from_secs(86_400)
    );
    let err = Config::from_toml("[export]\nrevoked_grace = \"25h\"\n", Path::new("t.toml"))
        .expect_err("longer than a day")
        .to_string();
    assert!(
        err.contains("export.revoked_grace")
            && err.contains("1day 1h is longer than a day")
            && err.contains("fix:")
            && err.contains("\"5m\""),
        "{err}"
    );
}
