//! Metric publishing: counters by delta (no history re-exported), gauges
//! from the merged view, two instances summing like one, and a promtool
//! check of the rendered exposition.

mod prom;
mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ccpulse::config::Config;
use ccpulse::export::settings::ExportConfig;
use ccpulse::export::{
    ExportState, InstancePublisher, MetricsExporter, PartitionKey, PartitionPublisher,
    PartitionStatus,
};
use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::Engine;
use ccpulse_core::engine::HistKind;
use ccpulse_core::event::{AgentState, Channel, Event, EventKind, InteractionEvent};
use prom::Scrape;
use support::*;

fn exporter() -> MetricsExporter {
    MetricsExporter::new(&ExportConfig::default())
}

fn scrape(e: &MetricsExporter) -> Scrape {
    Scrape::parse(&e.handle().render())
}

/// Series of counters and histograms only (what partition publishers own).
fn cumulative(s: &Scrape) -> BTreeMap<String, f64> {
    s.series
        .iter()
        .filter(|(k, _)| {
            matches!(
                s.family_of(k),
                Some((_, "counter")) | Some((_, "histogram"))
            )
        })
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn fold(engine: &mut Engine, events: &[Event]) {
    let mut out = Vec::new();
    for ev in events {
        engine.apply(ev.clone(), &mut out);
    }
    engine.flush(&mut out);
}

const QC: [(&str, &str); 3] = [
    ("tenant", "default"),
    ("queue", "billing"),
    ("channel", "voice"),
];

/// One call: waits 10 s, talks 60 s, wraps up 10 s.
fn history() -> Scenario {
    let mut s = Scenario::new();
    s.agent(-60.0, "a1", AgentState::Available, &["billing"])
        .queued(0.0, "c1", "billing", Channel::Voice)
        .answered(10.0, "c1", "a1")
        .ended(70.0, "c1")
        .wrapped(80.0, "c1")
        .resolved(81.0, "c1", "a1");
    s
}

/// A restored partition going live: the sample tap on and the restored
/// view as the baseline, as the pipeline's observer does it.
fn go_live(engine: &mut Engine) -> PartitionPublisher {
    engine.set_sample_tap(true);
    PartitionPublisher::with_baseline(&engine.view())
}

#[test]
fn publishing_the_same_state_twice_adds_nothing() {
    let exp = exporter();
    let mut engine = Engine::new(EngineConfig::default());
    engine.set_sample_tap(true);
    fold(&mut engine, &history().events);
    let mut p = PartitionPublisher::from_zero();
    metrics::with_local_recorder(&exp, || p.publish(&engine.publication()));
    let first = scrape(&exp);
    metrics::with_local_recorder(&exp, || p.publish(&engine.publication()));
    let second = scrape(&exp);
    assert_eq!(cumulative(&first), cumulative(&second));

    // By hand: one offered and answered within T (10 s <= 20 s), handled
    // for 70 s (60 talk + 10 wrap-up), resolved by a1.
    let s = &second;
    assert_eq!(s.get("ccpulse_offered_total", &QC), 1.0);
    assert_eq!(s.get("ccpulse_answered_within_sl_total", &QC), 1.0);
    assert_eq!(s.get("ccpulse_handle_seconds_total", &QC), 70.0);
    assert_eq!(s.get("ccpulse_talk_seconds_total", &QC), 60.0);
    assert_eq!(s.get("ccpulse_wrap_up_seconds_total", &QC), 10.0);
    assert_eq!(s.get("ccpulse_resolved_total", &QC), 1.0);
    assert_eq!(
        s.get(
            "ccpulse_offered_by_local_hour_total",
            &[("tenant", "default"), ("queue", "billing"), ("hour", "09")]
        ),
        1.0
    );
    let wait = |le: &str| {
        s.get(
            "ccpulse_queue_wait_seconds_bucket",
            &[
                ("tenant", "default"),
                ("queue", "billing"),
                ("channel", "voice"),
                ("le", le),
            ],
        )
    };
    assert_eq!((wait("5"), wait("10"), wait("+Inf")), (0.0, 1.0, 1.0));
    assert_eq!(s.get("ccpulse_queue_wait_seconds_sum", &QC), 10.0);
    assert_eq!(
        s.get(
            "ccpulse_agent_closures_total",
            &[("tenant", "default"), ("agent", "a1")]
        ),
        1.0
    );
    assert_eq!(
        s.get(
            "ccpulse_agent_handle_seconds_total",
            &[("tenant", "default"), ("agent", "a1")]
        ),
        70.0
    );
}

#[test]
fn a_restored_partition_exports_only_what_happens_after_it_goes_live() {
    let exp = exporter();
    let mut engine = Engine::new(EngineConfig::default());
    fold(&mut engine, &history().events);
    let mut p = go_live(&mut engine);
    metrics::with_local_recorder(&exp, || p.publish(&engine.publication()));
    let s = scrape(&exp);
    assert!(
        cumulative(&s).is_empty(),
        "history exported: {:?}",
        cumulative(&s)
    );

    // After going live: c2 waits 15 s, talks 60 s, wraps up 5 s; c3
    // abandons after 3 s (a short abandon, within T).
    let mut more = Scenario::new();
    more.queued(100.0, "c2", "billing", Channel::Voice)
        .answered(115.0, "c2", "a1")
        .queued(120.0, "c3", "billing", Channel::Voice)
        .abandoned(123.0, "c3")
        .ended(175.0, "c2")
        .wrapped(180.0, "c2");
    // Fresh ids: the scenario numbers events from zero again.
    let events: Vec<Event> = more
        .events
        .into_iter()
        .map(|mut e| {
            e.event_id = format!("more-{}", e.event_id);
            e
        })
        .collect();
    fold(&mut engine, &events);
    metrics::with_local_recorder(&exp, || p.publish(&engine.publication()));
    let s = scrape(&exp);
    let want: BTreeMap<String, f64> = [
        ("ccpulse_offered_total", 2.0),
        ("ccpulse_answered_total", 1.0),
        ("ccpulse_answered_within_sl_total", 1.0),
        ("ccpulse_abandoned_total", 1.0),
        ("ccpulse_abandoned_within_sl_total", 1.0),
        ("ccpulse_short_abandoned_total", 1.0),
        ("ccpulse_handled_total", 1.0),
        ("ccpulse_handle_seconds_total", 65.0),
        ("ccpulse_talk_seconds_total", 60.0),
        ("ccpulse_wrap_up_seconds_total", 5.0),
        ("ccpulse_queue_wait_seconds_count", 1.0),
        ("ccpulse_queue_wait_seconds_sum", 15.0),
        ("ccpulse_abandon_wait_seconds_count", 1.0),
        ("ccpulse_abandon_wait_seconds_sum", 3.0),
        ("ccpulse_handle_time_seconds_count", 1.0),
        ("ccpulse_handle_time_seconds_sum", 65.0),
    ]
    .into_iter()
    .map(|(n, v)| {
        let labels = QC
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        (prom::key(n, &labels), v)
    })
    .chain(
        [
            ("ccpulse_offered_by_local_hour_total", "hour", "09", 2.0),
            ("ccpulse_offered_by_weekday_total", "weekday", "mon", 2.0),
            ("ccpulse_offered_by_month_total", "month", "11", 2.0),
        ]
        .into_iter()
        .map(|(n, l, v, x)| {
            let labels = [("tenant", "default"), ("queue", "billing"), (l, v)]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (prom::key(n, &labels), x)
        }),
    )
    .chain(
        [
            ("ccpulse_agent_handled_total", 1.0),
            ("ccpulse_agent_handle_seconds_total", 65.0),
            ("ccpulse_agent_handle_time_seconds_count", 1.0),
            ("ccpulse_agent_handle_time_seconds_sum", 65.0),
        ]
        .into_iter()
        .map(|(n, x)| {
            let labels = [("tenant", "default"), ("agent", "a1")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (prom::key(n, &labels), x)
        }),
    )
    .collect();
    // Every non-bucket series, exactly; buckets checked apart.
    let got: BTreeMap<String, f64> = cumulative(&s)
        .into_iter()
        .filter(|(k, _)| !k.contains("_bucket{"))
        .collect();
    assert_eq!(got, want);
    let b = |n: &str, le: &str| {
        s.get(
            n,
            &[
                ("tenant", "default"),
                ("queue", "billing"),
                ("channel", "voice"),
                ("le", le),
            ],
        )
    };
    assert_eq!(b("ccpulse_queue_wait_seconds_bucket", "10"), 0.0);
    assert_eq!(b("ccpulse_queue_wait_seconds_bucket", "15"), 1.0);
    assert_eq!(b("ccpulse_abandon_wait_seconds_bucket", "2"), 0.0);
    assert_eq!(b("ccpulse_abandon_wait_seconds_bucket", "5"), 1.0);
}

/// Which partition an event goes to: by customer (so repeat contacts and
/// FCR stay within one engine, as the tests need one engine's figures),
/// else by interaction; agent events go to every partition.
fn split(events: &[Event], partitions: usize) -> Vec<Vec<Event>> {
    let mut of_interaction: HashMap<String, usize> = HashMap::new();
    let mut out = vec![Vec::new(); partitions];
    let hash = |s: &str| xxhash(s) as usize % partitions;
    for ev in events {
        match &ev.kind {
            EventKind::Agent(_) => out.iter_mut().for_each(|p| p.push(ev.clone())),
            EventKind::Interaction {
                interaction_id,
                event,
            } => {
                let p =
                    *of_interaction
                        .entry(interaction_id.clone())
                        .or_insert_with(|| match event {
                            InteractionEvent::Queued {
                                customer_ref: Some(c),
                                ..
                            } => hash(c),
                            _ => hash(interaction_id),
                        });
                out[p].push(ev.clone());
            }
            EventKind::Survey(s) => {
                let p = of_interaction
                    .get(&s.interaction_id)
                    .copied()
                    .unwrap_or_else(|| hash(&s.interaction_id));
                out[p].push(ev.clone());
            }
        }
    }
    out
}

fn xxhash(s: &str) -> u64 {
    // FNV-1a: stable and dependency-free.
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One instance: its partitions' engines published into its own recorder,
/// and one export tick.
fn instance(engines: &mut [(i32, Engine)], leader: bool, now_ms: i64) -> Scrape {
    let exp = exporter();
    let state = ExportState::new();
    state.set_leader(leader);
    metrics::with_local_recorder(&exp, || {
        for (p, engine) in engines.iter_mut() {
            let key = PartitionKey::new("interactions", *p);
            state.set_status(&key, PartitionStatus::Live);
            PartitionPublisher::from_zero().publish_to(engine.publication(), &state, &key);
        }
        InstancePublisher::from_zero().tick_at(&state, now_ms);
    });
    scrape(&exp)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Gauges whose values add up across instances.
const SUMMABLE_GAUGES: [&str; 16] = [
    "ccpulse_waiting",
    "ccpulse_concurrent",
    "ccpulse_sla_running",
    "ccpulse_sla_at_risk",
    "ccpulse_window_offered",
    "ccpulse_window_answered",
    "ccpulse_window_answered_within_sl",
    "ccpulse_window_abandoned",
    "ccpulse_window_abandoned_within_sl",
    "ccpulse_window_short_abandoned",
    "ccpulse_window_handled",
    "ccpulse_window_handle_seconds",
    "ccpulse_window_queue_wait_seconds",
    "ccpulse_window_resolved",
    "ccpulse_window_sla_breaches",
    "ccpulse_agents",
];

#[test]
fn two_instances_sum_like_one() {
    let cfg = Config::from_toml(
        r#"
        [[sla.policies]]
        name = "p"
        first_response = "45s"
        resolution = "6m"
        reassign_on = []
        "#,
        Path::new("test.toml"),
    )
    .expect("config")
    .engine;
    let events = ccpulse::sim::generate(&ccpulse::sim::Traffic {
        interactions: 1_500,
        queues: vec!["billing".into(), "sales".into(), "tech".into()],
        agents: 12,
        ..Default::default()
    });
    let new_engine = || {
        let mut e = Engine::new(cfg.clone());
        e.set_sample_tap(true);
        e
    };
    let mut single = new_engine();
    fold(&mut single, &events);
    let mut parts: Vec<(i32, Engine)> = split(&events, 4)
        .into_iter()
        .enumerate()
        .map(|(i, evs)| {
            let mut e = new_engine();
            fold(&mut e, &evs);
            (i as i32, e)
        })
        .collect();
    // Every engine at the same watermark, so windows and open intervals
    // cover the same time.
    let wm = parts
        .iter()
        .map(|(_, e)| e.watermark())
        .chain([single.watermark()])
        .max()
        .expect("engines");
    let mut out = Vec::new();
    single.advance(wm, &mut out);
    for (_, e) in parts.iter_mut() {
        e.advance(wm, &mut out);
    }
    let single_view = single.view();
    let now = wm + 60_000;
    let one = instance(&mut [(0, single)], true, now);
    let (a, b) = parts.split_at_mut(2);
    let (a, b) = (instance(a, true, now), instance(b, false, now));

    // Every counter and histogram series, and the summable gauges.
    let keys: BTreeSet<&String> = one
        .series
        .keys()
        .chain(a.series.keys())
        .chain(b.series.keys())
        .collect();
    let mut checked = 0;
    for k in keys {
        let Some((family, kind)) = one.family_of(k).or(a.family_of(k)).or(b.family_of(k)) else {
            panic!("series {k} has no TYPE");
        };
        let summable = match kind {
            "counter" => true,
            "histogram" => family != "ccpulse_export_tick_seconds",
            _ => SUMMABLE_GAUGES.contains(&family),
        };
        if !summable {
            continue;
        }
        let v = |s: &Scrape| s.series.get(k).copied().unwrap_or(0.0);
        let (want, got) = (v(&one), v(&a) + v(&b));
        assert!(
            close(want, got),
            "{k}: one instance {want}, two instances {got}"
        );
        checked += 1;
    }
    assert!(checked > 1_000, "only {checked} series compared");

    // Oldest waiting age aggregates with max.
    for s in one.samples("ccpulse_oldest_waiting_age_seconds") {
        let l: Vec<(&str, &str)> = s
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let name = "ccpulse_oldest_waiting_age_seconds";
        assert_eq!(s.value, a.get(name, &l).max(b.get(name, &l)));
    }

    // Some figures by hand, from the event stream itself.
    let count = |f: &dyn Fn(&InteractionEvent) -> bool| {
        events
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::Interaction { event, .. } if f(event)))
            .count() as f64
    };
    let queued = count(&|e| matches!(e, InteractionEvent::Queued { .. }));
    let answered = count(&|e| matches!(e, InteractionEvent::Answered { .. }));
    let abandoned = count(&|e| matches!(e, InteractionEvent::Abandoned));
    assert_eq!(one.total("ccpulse_offered_total"), queued);
    assert_eq!(
        a.total("ccpulse_offered_total") + b.total("ccpulse_offered_total"),
        queued
    );
    assert_eq!(one.total("ccpulse_queue_wait_seconds_count"), answered);
    assert_eq!(one.total("ccpulse_abandoned_total"), abandoned);
    assert!(one.total("ccpulse_sla_met_total") > 0.0);
    assert!(one.total("ccpulse_sla_breaches_total") > 0.0);
    assert!(a.total("ccpulse_agent_state_seconds_total") > 0.0);
    assert_eq!(
        b.total("ccpulse_agent_state_seconds_total"),
        0.0,
        "not leader"
    );
    assert_eq!(b.total("ccpulse_agents"), 0.0, "not leader");

    // Exported buckets are the engine's buckets.
    for ((queue, ch), q) in &single_view.tenants["default"].queues {
        let h = &q.total.h[HistKind::QueueWait as usize];
        for (le, n) in h.cumulative() {
            let le = le.map_or("+Inf".to_string(), |ms| (ms as f64 / 1000.0).to_string());
            let got = one.get(
                "ccpulse_queue_wait_seconds_bucket",
                &[
                    ("tenant", "default"),
                    ("queue", queue),
                    ("channel", ch.as_str()),
                    ("le", &le),
                ],
            );
            assert_eq!(got, n as f64, "{queue}/{ch:?} le={le}");
        }
    }
}

#[test]
fn gauges_follow_the_merged_view_and_vanishing_series_are_zeroed() {
    let exp = exporter();
    let state = ExportState::new();
    let (p0, p1) = (
        PartitionKey::new("interactions", 0),
        PartitionKey::new("interactions", 1),
    );
    let engine = |s: &Scenario| {
        let mut e = Engine::new(EngineConfig::default());
        fold(&mut e, &s.events);
        e
    };
    // Two calls waiting on partition 0, one on partition 1.
    let mut s0 = Scenario::new();
    s0.agent(-60.0, "a1", AgentState::Available, &["billing"])
        .queued(0.0, "c1", "billing", Channel::Voice)
        .queued(5.0, "c2", "billing", Channel::Voice);
    let mut s1 = Scenario::new();
    s1.agent(-60.0, "a1", AgentState::Available, &["billing"])
        .queued(2.0, "c9", "billing", Channel::Voice);
    let mut e0 = engine(&s0);
    let mut e1 = engine(&s1);
    let wm = ms(30.0);
    let mut out = Vec::new();
    e0.advance(wm, &mut out);
    e1.advance(wm, &mut out);
    let mut ip = InstancePublisher::new();
    metrics::with_local_recorder(&exp, || {
        for (k, e) in [(&p0, &mut e0), (&p1, &mut e1)] {
            state.set_status(k, PartitionStatus::Live);
            go_live(e).publish_to(e.publication(), &state, k);
            state.set_lag(k, 0);
        }
        state.set_leader(true);
        ip.tick_at(&state, wm);
    });
    let s = scrape(&exp);
    assert_eq!(s.get("ccpulse_waiting", &QC), 3.0);
    assert_eq!(s.get("ccpulse_concurrent", &QC), 3.0);
    // c1 entered at 0 s; the watermark is 30 s.
    assert_eq!(s.get("ccpulse_oldest_waiting_age_seconds", &QC), 30.0);
    assert_eq!(
        s.get(
            "ccpulse_agents",
            &[
                ("tenant", "default"),
                ("queue", "billing"),
                ("state", "available")
            ]
        ),
        1.0
    );
    assert_eq!(s.get("ccpulse_partitions_assigned", &[]), 2.0);
    // Becoming leader takes the directory as a baseline: no history.
    assert_eq!(s.total("ccpulse_agent_state_seconds_total"), 0.0);

    // Ten more seconds of agent time; partition 0 moves away.
    e1.advance(wm + 10_000, &mut out);
    metrics::with_local_recorder(&exp, || {
        state.remove_partition(&p0);
        let view = e1.view();
        state.publish_view(&p1, Arc::new(view), None);
        ip.tick_at(&state, wm + 10_000);
    });
    let s = scrape(&exp);
    assert_eq!(s.get("ccpulse_waiting", &QC), 1.0);
    assert_eq!(s.get("ccpulse_oldest_waiting_age_seconds", &QC), 38.0);
    assert_eq!(
        s.get(
            "ccpulse_agent_state_seconds_total",
            &[
                ("tenant", "default"),
                ("agent", "a1"),
                ("state", "available")
            ]
        ),
        10.0
    );
    let gone = [("topic", "interactions"), ("partition", "0")];
    assert!(s.series.contains_key(&prom::key(
        "ccpulse_consumer_lag",
        &gone
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    )));
    assert_eq!(
        s.get("ccpulse_restore_progress_ratio", &gone),
        0.0,
        "zeroed"
    );

    // Losing leadership zeroes the directory gauges.
    metrics::with_local_recorder(&exp, || {
        state.set_leader(false);
        ip.tick_at(&state, wm + 10_000);
    });
    let s = scrape(&exp);
    assert_eq!(
        s.get(
            "ccpulse_agents",
            &[
                ("tenant", "default"),
                ("queue", "billing"),
                ("state", "available")
            ]
        ),
        0.0
    );
}

/// `promtool` from Debian's `prometheus` package; the test fails (never
/// skips) without it.
fn promtool() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("promtool"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("promtool is not installed: run scripts/install-test-deps (it installs Debian's `prometheus` package)")
    })
}

#[test]
fn promtool_accepts_the_exposition_of_the_example_file() {
    let promtool = promtool();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exp = exporter();
    let mut engine = Engine::new(EngineConfig::default());
    engine.set_sample_tap(true);
    let mut p = PartitionPublisher::from_zero();
    let state = ExportState::new();
    let key = PartitionKey::new("replay", 0);
    metrics::with_local_recorder(&exp, || {
        ccpulse::replay::replay_into(
            &mut engine,
            &Default::default(),
            &[root.join("examples/all-kinds.jsonl")],
            None,
            true,
            &mut |e| p.publish_samples(&e.take_samples()),
        )
        .expect("replay");
        state.set_status(&key, PartitionStatus::Live);
        state.set_leader(true);
        p.publish_to(engine.publication(), &state, &key);
        InstancePublisher::from_zero().tick(&state);
    });
    let body = exp.handle().render();
    assert!(body.contains("ccpulse_queue_wait_seconds_bucket"), "{body}");

    let mut child = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(body.as_bytes()).expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "promtool check metrics: {}\n{text}",
        out.status
    );
}

#[test]
fn the_pipeline_observer_exports_only_live_growth_and_tracks_the_leader() {
    use ccpulse::export::ExportObserver;
    use ccpulse::telemetry::{Observer, PartitionStatus as P};

    let exp = exporter();
    let state = Arc::new(ExportState::new());
    let obs = ExportObserver::new(state.clone(), "interactions");
    let mut engine = Engine::new(EngineConfig::default());
    fold(&mut engine, &history().events);
    let mut more = Scenario::new();
    more.queued(100.0, "c2", "billing", Channel::Voice)
        .answered(104.0, "c2", "a1");
    let more: Vec<Event> = more
        .events
        .into_iter()
        .map(|mut e| {
            e.event_id = format!("more-{}", e.event_id);
            e
        })
        .collect();

    // As the pipeline does it: restore, publish the restored view, go
    // live (tap on), fold, then each tick samples and a view.
    metrics::with_local_recorder(&exp, || {
        obs.partition_status("interactions", 0, P::Restoring { done: 0, total: 9 });
        assert!(state.is_leader());
        obs.partition_view("interactions", 0, Arc::new(engine.view()));
        engine.set_sample_tap(true);
        obs.partition_status("interactions", 0, P::Live);
        fold(&mut engine, &more);
        let p = engine.publication();
        obs.partition_live("interactions", 0, &p.samples, p.last_event_ms);
        obs.partition_view("interactions", 0, Arc::new(p.view));
        obs.partition_lag("interactions", 0, 7);
        obs.started();
    });
    let s = scrape(&exp);
    assert_eq!(
        s.get("ccpulse_offered_total", &QC),
        1.0,
        "history not exported"
    );
    assert_eq!(s.get("ccpulse_answered_total", &QC), 1.0);
    assert_eq!(s.get("ccpulse_queue_wait_seconds_sum", &QC), 4.0);
    assert_eq!(s.get("ccpulse_queue_wait_seconds_count", &QC), 1.0);
    let r = state.readiness();
    assert!(
        r.ready,
        "restored, live, lag reported: ready whatever the lag"
    );
    assert_eq!(r.partitions[0].lag, Some(7));
    assert_eq!(state.merged_view().tenants["default"].queues.len(), 1);

    metrics::with_local_recorder(&exp, || obs.partition_removed("interactions", 0));
    assert!(!state.is_leader());
    assert!(state.partitions().is_empty());
    // Its last figures stay served (stale) for export.revoked_grace.
    assert_eq!(state.kept().len(), 1);
    assert_eq!(state.merged_view().tenants["default"].queues.len(), 1);
    assert!(state.figures().freshness.stale);
}

/// The fold's own counters the pipeline does not report per batch (late
/// events beyond a window, FCR retractions beyond a window, parked events
/// expired or overflowing) are exported from the partition's views by
/// growth since it went live, labelled with its input topic.
#[test]
fn the_folds_own_counters_are_exported_by_growth_since_going_live() {
    let exp = exporter();
    let mut engine = Engine::new(EngineConfig::default());
    let mut s = Scenario::new();
    s.queued(0.0, "c1", "billing", Channel::Voice)
        .queued(1000.0, "c2", "billing", Channel::Voice)
        .queued(1010.0, "c3", "billing", Channel::Voice) // watermark 1005 s
        // Late and older than the 5m ring holds: history, not exported.
        .queued(100.0, "c4", "billing", Channel::Voice)
        // Live: an answer for an interaction nobody queues. It parks at
        // 1020 s and expires once the watermark (1395 s) is more than the
        // 5 min parking TTL past it.
        .answered(1020.0, "ghost", "a1")
        .queued(1400.0, "c5", "billing", Channel::Voice);
    fold(&mut engine, &s.events[..4]);
    assert_eq!(engine.processing().late_beyond_window, 1);
    let mut p = go_live(&mut engine);
    fold(&mut engine, &s.events[4..]);
    assert_eq!(engine.processing().parked_expired, 1);
    for _ in 0..2 {
        metrics::with_local_recorder(&exp, || {
            p.publish_processing("ccpulse.events", &engine.view().processing())
        });
    }
    let sc = scrape(&exp);
    let topic = [("topic", "ccpulse.events")];
    assert_eq!(sc.get("ccpulse_events_parked_expired_total", &topic), 1.0);
    assert!(
        !sc.series
            .keys()
            .any(|k| k.starts_with("ccpulse_events_late_beyond_window_total")),
        "history is not exported"
    );
}
