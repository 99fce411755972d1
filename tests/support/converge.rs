//! Does a running service converge to what `ccpulse replay` computes? A
//! scenario, producing it to the input topics, and comparing the served
//! snapshot with a fold of the same events (the independent oracle: the
//! pure engine over the whole file, no partitions, no Kafka).

use std::collections::BTreeMap;
use std::time::Duration;

use ccpulse::config::Config;
use ccpulse_core::event::{Effect, Event, EventKind};
use serde_json::Value;

use super::kafka::*;

/// A day-like scenario: the example file plus generated traffic.
pub fn scenario(n: usize, seed: u64) -> Vec<Event> {
    let mut evs: Vec<Event> = ccpulse::sources::file::open("examples/all-kinds.jsonl")
        .expect("example file")
        .filter_map(|r| r.ok()?.event.ok())
        .collect();
    evs.extend(ccpulse::sim::generate(&ccpulse::sim::Traffic {
        seed,
        interactions: n,
        agents: 12,
        ..Default::default()
    }));
    evs
}

/// The default input topic an event goes to (what [`produce_all`] does).
pub fn topic_of(e: &Event) -> &'static str {
    match e.kind {
        EventKind::Agent(_) => AGENTS,
        EventKind::Survey(_) => SURVEYS,
        EventKind::Interaction { .. } => INTERACTIONS,
    }
}

/// Produce `evs` in order, spread evenly over `over` (in steps of 100 ms),
/// on a thread: input that keeps arriving while a test kills, restarts or
/// cuts off the service, as upstream systems keep producing. Returns once
/// every record is acknowledged (the producer retries through a broker
/// outage of up to two minutes).
pub fn produce_over(brokers: &str, evs: Vec<Event>, over: Duration) -> std::thread::JoinHandle<()> {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let brokers = brokers.to_string();
    std::thread::spawn(move || {
        let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "120000")
            .create()
            .expect("producer");
        let step = Duration::from_millis(100);
        let steps = (over.as_millis() / step.as_millis()).max(1) as usize;
        let per_step = evs.len().div_ceil(steps).max(1);
        let started = std::time::Instant::now();
        for (i, chunk) in evs.chunks(per_step).enumerate() {
            for e in chunk {
                let value = ccpulse_core::event::codec::encode_json(e);
                let mut rec = BaseRecord::to(topic_of(e)).key(e.key()).payload(&value);
                loop {
                    match p.send(rec) {
                        Ok(()) => break,
                        Err((
                            rdkafka::error::KafkaError::MessageProduction(
                                rdkafka::types::RDKafkaErrorCode::QueueFull,
                            ),
                            back,
                        )) => {
                            // The broker is away or slow: wait for room.
                            rec = back;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err((e, _)) => panic!("produce: {e}"),
                    }
                }
            }
            let next = step * (i as u32 + 1);
            if let Some(wait) = next.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        p.flush(Duration::from_secs(150))
            .expect("every paced record acknowledged");
    })
}

pub fn produce_all(brokers: &str, evs: &[Event]) {
    let (agents, rest): (Vec<Event>, Vec<Event>) = evs
        .iter()
        .cloned()
        .partition(|e| matches!(e.kind, EventKind::Agent(_)));
    let (surveys, interactions): (Vec<Event>, Vec<Event>) = rest
        .into_iter()
        .partition(|e| matches!(e.kind, EventKind::Survey(_)));
    produce(brokers, AGENTS, &agents);
    produce(brokers, INTERACTIONS, &interactions);
    produce(brokers, SURVEYS, &surveys);
}

/// Queue totals and agent totals that a partitioned fold must reproduce,
/// minus the `skip` figures. Repeat contacts and FCR too: the customer
/// stage decides them across partitions. FCR as the net count
/// (candidates less retractions): how it splits into the two depends on
/// the order facts meet in the stage.
pub fn comparable_with(snap: &Value, skip: &[&str]) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    for q in snap["queues"].as_array().into_iter().flatten() {
        let key = format!(
            "{}/{}",
            q["queue"].as_str().unwrap_or(""),
            q["channel"].as_str().unwrap_or("")
        );
        let mut c = q["total"]["counts"].clone();
        if let Some(o) = c.as_object_mut() {
            let count = |k: &str| o.get(k).and_then(Value::as_i64).unwrap_or(0);
            let net = count("fcr_candidates") - count("fcr_retracted");
            o.insert("fcr_net".into(), net.into());
            for k in ["fcr_candidates", "fcr_retracted"].iter().chain(skip) {
                o.remove(*k);
            }
        }
        m.insert(format!("queue {key}"), c);
        m.insert(format!("queue {key} waiting"), q["now"]["waiting"].clone());
    }
    for a in snap["agents"].as_array().into_iter().flatten() {
        let t = &a["total"]["counts"];
        m.insert(
            format!("agent {}", a["agent"].as_str().unwrap_or("")),
            serde_json::json!([
                t["closures"],
                t["handled"],
                t["handle_ms"],
                t["csat_responses"]
            ]),
        );
    }
    m
}

/// What `ccpulse replay` computes, advanced to the service's watermark so
/// the same SLA deadlines have passed.
pub fn replayed(cfg: &str, evs: &[Event], as_of: i64) -> Value {
    let engine_cfg = Config::from_toml(cfg, std::path::Path::new("t.toml"))
        .expect("config")
        .engine;
    let mut e = ccpulse_core::engine::Engine::new(engine_cfg);
    let mut out = Vec::new();
    for ev in evs {
        e.apply(ev.clone(), &mut out);
    }
    e.flush(&mut out);
    e.advance(as_of, &mut out);
    serde_json::to_value(e.snapshot()).expect("snapshot json")
}

/// The effects the oracle decides for `evs` (the same fold as
/// [`replayed`], up to `as_of`): the effect ids a service must publish,
/// each exactly once.
pub fn replayed_effects(cfg: &str, evs: &[Event], as_of: i64) -> Vec<Effect> {
    let engine_cfg = Config::from_toml(cfg, std::path::Path::new("t.toml"))
        .expect("config")
        .engine;
    let mut e = ccpulse_core::engine::Engine::new(engine_cfg);
    let mut out = Vec::new();
    for ev in evs {
        e.apply(ev.clone(), &mut out);
    }
    e.flush(&mut out);
    e.advance(as_of, &mut out);
    out
}

pub fn served(port: u16) -> Option<Value> {
    let (status, body) = http_get(&format!("http://127.0.0.1:{port}/api/v1/snapshot"))?;
    (status == 200).then(|| serde_json::from_str(&body).ok())?
}

/// The per-queue SLA outcome figures: they differ from a file replay when
/// old events arrive after their partition's watermark followed the wall
/// clock (their deadlines have passed on arrival and breach at once).
pub const SLA_OUTCOMES: [&str; 5] = [
    "sla_met",
    "sla_breaches",
    "sla_reassigned",
    "sla_requeued",
    "sla_escalated",
];

/// Wait until the served snapshot matches the replay; then assert it does
/// (with the difference in the message).
pub fn assert_converges(port: u16, cfg: &str, evs: &[Event], log: impl Fn() -> String) {
    assert_converges_except(port, cfg, evs, &[], log)
}

pub fn assert_converges_except(
    port: u16,
    cfg: &str,
    evs: &[Event],
    skip: &[&str],
    log: impl Fn() -> String,
) {
    let mut last = (BTreeMap::new(), BTreeMap::new());
    let ok = wait_until(Duration::from_secs(90), || {
        let Some(s) = served(port) else { return false };
        let Some(as_of) = s["as_of_ms"].as_i64() else {
            return false;
        };
        if let Ok(d) = std::env::var("CCPULSE_TEST_DUMP") {
            let _ = std::fs::write(format!("{d}/served.json"), s.to_string());
            let _ = std::fs::write(
                format!("{d}/replay.json"),
                replayed(cfg, evs, as_of).to_string(),
            );
        }
        last = (
            comparable_with(&s, skip),
            comparable_with(&replayed(cfg, evs, as_of), skip),
        );
        last.0 == last.1
    });
    if !ok {
        let diff: Vec<String> = last
            .1
            .iter()
            .filter(|(k, v)| last.0.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}: served {:?}, replay {v}", last.0.get(k)))
            .take(10)
            .collect();
        panic!(
            "served snapshot never matched the replay:\n{}\n--- log ---\n{}",
            diff.join("\n"),
            log()
        );
    }
}
