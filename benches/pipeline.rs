//! End-to-end pipeline benchmark, everything side by side in one run.
//!
//! 1. **Throughput** on one broker and one pre-filled topic: a bare rdkafka
//!    consumer that only reads and discards (the ceiling), then `ccpulse`
//!    (consume + decode + fold with SLA timers + produce effects + commit)
//!    at-least-once and exactly-once. Both clocks start at the first record
//!    consumed; ccpulse's stops at the last commit after its last record
//!    was folded (commits stop once everything is committed).
//! 2. **Latency** at a steady produce rate: from producing an event to the
//!    figure including it being published to the snapshot (the observer's
//!    view), p50/p99, with the default `allowed_lateness` (5 s: events wait
//!    in the reorder buffer that long by design) and with 0 s, at the
//!    default `export.tick_interval` (1 s: how often figures are published)
//!    and at 200 ms.
//!
//! `cargo bench --bench pipeline`. The broker is librdkafka's in-process
//! mock cluster, plus tansu when `CCPULSE_TANSU` or the tools directory has
//! it (no transactions there, so at-least-once only). Absolute figures on a
//! shared 2-core machine are noisy: the ratios are the point, and
//! `CCPULSE_BENCH_ROUNDS=n` repeats the throughput runs in alternating
//! order and compares their medians; `CCPULSE_BENCH_RTT_MS=n` makes the
//! mock broker answer n ms late, like a broker across a network.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccpulse::config::Config;
use ccpulse::telemetry::catalog;
use ccpulse::telemetry::Observer;
use ccpulse_core::engine::View;
use ccpulse_core::event::codec::encode_protobuf;
use ccpulse_core::event::{Event, EventKind};
use metrics::{Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use tokio_util::sync::CancellationToken;

const PARTITIONS: i32 = 6;
const INPUT: &str = "ccpulse.interactions";

/// Timestamps of a counter's increments (the pipeline's own metrics are the
/// probe: no hooks in the code under test).
#[derive(Default)]
struct Progress(Mutex<Vec<(Instant, u64)>>);

impl Progress {
    fn reset(&self) {
        if let Ok(mut v) = self.0.lock() {
            v.clear();
        }
    }
    fn total(&self) -> u64 {
        self.0
            .lock()
            .map(|v| v.last().map_or(0, |l| l.1))
            .unwrap_or(0)
    }
    /// When the running total first reached `n`.
    fn reached(&self, n: u64) -> Option<Instant> {
        let v = self.0.lock().ok()?;
        v.iter().find(|(_, t)| *t >= n).map(|(at, _)| *at)
    }
    fn first(&self) -> Option<Instant> {
        self.0.lock().ok()?.first().map(|e| e.0)
    }
    /// The last increment after `t`.
    fn last_after(&self, t: Instant) -> Option<Instant> {
        let v = self.0.lock().ok()?;
        v.last().map(|e| e.0).filter(|at| *at > t)
    }
}

impl CounterFn for Progress {
    fn increment(&self, value: u64) {
        if value == 0 {
            return;
        }
        if let Ok(mut v) = self.0.lock() {
            let total = v.last().map_or(0, |l| l.1) + value;
            v.push((Instant::now(), total));
        }
    }
    fn absolute(&self, _: u64) {}
}

#[derive(Default)]
struct Probe {
    consumed: Arc<Progress>,
    commits: Arc<Progress>,
    effects: Arc<Progress>,
}

impl metrics::Recorder for Probe {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let label = |k: &str| {
            key.labels()
                .find(|l| l.key() == k)
                .map(|l| l.value().to_string())
        };
        let name = key.name();
        if name == catalog::EVENTS_CONSUMED.name && label("topic").as_deref() == Some(INPUT) {
            Counter::from_arc(self.consumed.clone())
        } else if (name == catalog::COMMITS.name && label("outcome").as_deref() == Some("ok"))
            || (name == catalog::TRANSACTIONS.name && label("outcome").as_deref() == Some("commit"))
        {
            Counter::from_arc(self.commits.clone())
        } else if name == catalog::EFFECTS_EMITTED.name {
            Counter::from_arc(self.effects.clone())
        } else {
            Counter::noop()
        }
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// A broker for one part of the run.
enum Broker {
    Mock(MockCluster<'static, DefaultProducerContext>),
    Tansu(Child, String),
}

impl Broker {
    fn mock() -> Broker {
        Broker::Mock(MockCluster::new(1).expect("mock cluster"))
    }

    fn tansu() -> Option<Broker> {
        let bin = std::env::var("CCPULSE_TANSU")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| {
                std::path::PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                    .join(".cache/ccpulse/tools/bin/tansu")
            });
        if !bin.exists() {
            println!(
                "tansu not found at {} (scripts/install-test-deps builds it): mock cluster only",
                bin.display()
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let brokers = format!("127.0.0.1:{port}");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(&brokers).is_err()
            && t0.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Broker::Tansu(child, brokers))
    }

    fn name(&self) -> &'static str {
        match self {
            Broker::Mock(_) => "mock cluster",
            Broker::Tansu(..) => "tansu",
        }
    }

    fn brokers(&self) -> String {
        match self {
            Broker::Mock(c) => c.bootstrap_servers(),
            Broker::Tansu(_, b) => b.clone(),
        }
    }

    fn create_topics(&self, rt: &tokio::runtime::Runtime) {
        let topics = [
            (INPUT, PARTITIONS),
            ("ccpulse.surveys", PARTITIONS),
            ("ccpulse.agents", 1),
            ("ccpulse.effects", PARTITIONS),
            ("ccpulse.ticks", PARTITIONS),
            ("ccpulse.dead-letter", 1),
        ];
        match self {
            Broker::Mock(c) => {
                for (t, p) in topics {
                    c.create_topic(t, p, 1).expect("topic");
                }
            }
            Broker::Tansu(_, b) => {
                let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                    .set("bootstrap.servers", b)
                    .create()
                    .expect("admin");
                let new: Vec<NewTopic> = topics
                    .iter()
                    .map(|(n, p)| NewTopic::new(n, *p, TopicReplication::Fixed(1)))
                    .collect();
                for r in rt
                    .block_on(admin.create_topics(&new, &AdminOptions::new()))
                    .expect("create topics")
                {
                    r.expect("topic created");
                }
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Broker::Tansu(c, _) = self {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Interactions are keyed by interaction id; the partition is a fixed
/// function of the key, so the latency probe knows each event's partition.
fn partition_of(key: &str) -> i32 {
    (xxhash_rust::xxh3::xxh3_64(key.as_bytes()) % PARTITIONS as u64) as i32
}

fn producer(brokers: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer")
}

fn send(p: &ThreadedProducer<DefaultProducerContext>, e: &Event) {
    let v = encode_protobuf(e);
    let key = e.key();
    let rec = || {
        BaseRecord::to(INPUT)
            .key(key)
            .payload(&v)
            .partition(partition_of(key))
            .timestamp(e.occurred_at)
    };
    while p.send(rec()).is_err() {
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn interactions(days: i64) -> Vec<Event> {
    ccpulse::sim::run(ccpulse::sim::SimConfig::default(), days * 86_400_000)
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Interaction { .. }))
        .collect()
}

/// `lateness`: `engine.allowed_lateness`; `tick`: `export.tick_interval`.
fn config(brokers: &str, group: &str, guarantee: &str, lateness: &str, tick: &str) -> Config {
    let toml = format!(
        "[engine]\nallowed_lateness = \"{lateness}\"\n[export]\ntick_interval = \"{tick}\"\n\
         [kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"{group}\"\nprocessing_guarantee = \"{guarantee}\"\n\
         [[sla.policies]]\nname = \"all\"\nfirst_response = \"2m\"\nnext_reply = \"5m\"\n"
    );
    // Extra librdkafka properties, e.g. CCPULSE_BENCH_PROPS='"fetch.wait.max.ms" = "10"'.
    let toml = match std::env::var("CCPULSE_BENCH_PROPS") {
        Ok(p) => format!("{toml}[kafka.properties]\n{p}\n"),
        Err(_) => toml,
    };
    Config::from_toml(&toml, std::path::Path::new("bench.toml")).expect("config")
}

fn settings(cfg: Config) -> ccpulse::pipeline::PipelineSettings {
    ccpulse::pipeline::PipelineSettings {
        kafka: cfg.kafka,
        engine: cfg.engine,
        input: cfg.input,
        publish_every: cfg.export.tick_interval,
    }
}

/// Read the whole topic and discard; records/s from the first record to
/// the last (the broker may hold fewer records than were sent: the mock
/// cluster keeps a bounded log per partition).
fn bare(brokers: &str) -> (u64, Duration) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bare")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    c.subscribe(&[INPUT]).expect("subscribe");
    let joined = Instant::now();
    let mut got = 0u64;
    let (mut first, mut last) = (None, Instant::now());
    while first.is_none_or(|_: Instant| last.elapsed() < Duration::from_secs(3))
        && joined.elapsed() < Duration::from_secs(300)
    {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            std::hint::black_box(m.payload());
            got += 1;
            last = Instant::now();
            first.get_or_insert(last);
        }
    }
    (got, last.duration_since(first.unwrap_or(last)))
}

fn throughput(
    rt: &tokio::runtime::Runtime,
    probe: &Probe,
    broker: Broker,
    events: &[Event],
    guarantees: &[&str],
) {
    let brokers = broker.brokers();
    broker.create_topics(rt);
    let p = producer(&brokers);
    for e in events {
        send(&p, e);
    }
    p.flush(Duration::from_secs(120)).expect("flush");
    // CCPULSE_BENCH_RTT_MS=n: the mock broker answers every request n ms
    // late, like a broker across a network (the bare consumer too).
    let rtt = std::env::var("CCPULSE_BENCH_RTT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    if let (Broker::Mock(c), Some(ms)) = (&broker, rtt) {
        c.broker_round_trip_time(1, Duration::from_millis(ms))
            .expect("round-trip time");
        println!("(mock broker round-trip time {ms} ms)");
    }
    let (n, bare_took) = bare(&brokers);
    let bare_rate = n as f64 / bare_took.as_secs_f64();
    println!("\n## throughput on {} ({n} readable records of {} sent, {PARTITIONS} partitions, protobuf)", broker.name(), events.len());
    println!("bare consumer        {bare_rate:>10.0} records/s ({bare_took:.2?})");
    // CCPULSE_BENCH_ROUNDS=n repeats the runs, alternating their order
    // (shared cores drift), and compares medians.
    let rounds: usize = std::env::var("CCPULSE_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
        .max(1);
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); guarantees.len()];
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..guarantees.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for gi in order {
            let g = guarantees[gi];
            probe.consumed.reset();
            probe.commits.reset();
            probe.effects.reset();
            let cfg = config(&brokers, &format!("bench-{g}-{round}"), g, "5s", "1s");
            let stop = CancellationToken::new();
            let run = rt.spawn(ccpulse::pipeline::run(
                settings(cfg),
                Arc::new(ccpulse::telemetry::NoObserver),
                stop.clone(),
            ));
            let t0 = Instant::now();
            let mut reached = None;
            while reached.is_none() && t0.elapsed() < Duration::from_secs(180) {
                std::thread::sleep(Duration::from_millis(20));
                reached = probe.consumed.reached(n);
            }
            // The commits that cover the last records follow within a few
            // commit intervals; idle ticks only start after 10 s.
            std::thread::sleep(Duration::from_secs(2));
            let end = reached.and_then(|r| probe.commits.last_after(r));
            stop.cancel();
            let _ = rt.block_on(run);
            let (Some(first), Some(end)) = (probe.consumed.first(), end) else {
                println!(
                    "ccpulse {g}: did not finish ({} of {n} consumed)",
                    probe.consumed.total()
                );
                continue;
            };
            let took = end.duration_since(first);
            let rate = n as f64 / took.as_secs_f64();
            println!(
            "ccpulse {g:<13}{rate:>10.0} records/s ({took:.2?}) = {:.1} % of the bare consumer; {} effects produced",
            100.0 * rate / bare_rate,
            probe.effects.total()
        );
            rates[gi].push(rate);
        }
    }
    let medians: Vec<Option<f64>> = rates.iter_mut().map(|r| median(r)).collect();
    if rounds > 1 {
        for (g, m) in guarantees.iter().zip(&medians) {
            if let Some(m) = m {
                println!(
                    "median ccpulse {g:<13}{m:>10.0} records/s = {:.1} % of the bare consumer ({rounds} rounds)",
                    100.0 * m / bare_rate
                );
            }
        }
    }
    if let [Some(alo), Some(eos)] = medians[..] {
        println!(
            "exactly-once costs {:.1} % of at-least-once throughput",
            100.0 * (1.0 - eos / alo)
        );
    }
}

fn median(xs: &mut [f64]) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => None,
        n if n % 2 == 1 => Some(xs[n / 2]),
        n => Some((xs[n / 2 - 1] + xs[n / 2]) / 2.0),
    }
}

/// Per partition: when each event was produced, in order; and how many of
/// them the published figures include.
struct Latency {
    produced: Vec<Mutex<Vec<Instant>>>,
    seen: Vec<AtomicU64>,
    samples: Mutex<Vec<Duration>>,
}

impl Observer for Latency {
    fn partition_view(&self, topic: &str, partition: i32, view: Arc<View>) {
        // The view includes every event the engine has applied.
        let now = Instant::now();
        let (Some(seen), Some(produced)) = (
            self.seen.get(partition as usize),
            self.produced.get(partition as usize),
        ) else {
            return;
        };
        if topic != INPUT {
            return;
        }
        let applied = view.processing.events_applied;
        let before = seen.swap(applied, Ordering::Relaxed);
        let (Ok(produced), Ok(mut samples)) = (produced.lock(), self.samples.lock()) else {
            return;
        };
        for at in produced.iter().take(applied as usize).skip(before as usize) {
            samples.push(now.duration_since(*at));
        }
    }
}

fn latency(
    rt: &tokio::runtime::Runtime,
    broker: Broker,
    (guarantee, lateness, tick): (&str, &str, &str),
    template: &[Event],
    (rate, secs): (u64, u64),
) {
    let brokers = broker.brokers();
    broker.create_topics(rt);
    let obs = Arc::new(Latency {
        produced: (0..PARTITIONS).map(|_| Mutex::new(Vec::new())).collect(),
        seen: (0..PARTITIONS).map(|_| AtomicU64::new(0)).collect(),
        samples: Mutex::new(Vec::new()),
    });
    let stop = CancellationToken::new();
    let cfg = config(&brokers, "latency", guarantee, lateness, tick);
    let run = rt.spawn(ccpulse::pipeline::run(
        settings(cfg),
        obs.clone(),
        stop.clone(),
    ));
    std::thread::sleep(Duration::from_secs(5)); // group join, restore of empty partitions
    let p = producer(&brokers);
    let total = rate * secs;
    let t0 = Instant::now();
    for (i, e) in template.iter().take(total as usize).enumerate() {
        let due = t0 + Duration::from_secs_f64(i as f64 / rate as f64);
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        // Event time = now, so the watermark moves with the wall clock as
        // it does in production.
        let mut e = e.clone();
        e.occurred_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        if let Ok(mut v) = obs.produced[partition_of(e.key()) as usize].lock() {
            v.push(Instant::now());
        }
        send(&p, &e);
    }
    // Measure only events that can become visible while traffic flows: the
    // last `lateness` of them wait for newer events that never come.
    std::thread::sleep(Duration::from_secs(3));
    stop.cancel();
    let _ = rt.block_on(run);
    let mut s = obs.samples.lock().map(|s| s.clone()).unwrap_or_default();
    s.sort();
    if s.is_empty() {
        println!("latency {guarantee}, lateness {lateness}: no samples");
        return;
    }
    let q = |f: f64| s[((s.len() - 1) as f64 * f).round() as usize];
    println!(
        "{guarantee:<13} allowed_lateness {lateness:>3}, tick_interval {tick:>5}: p50 {:>8.0?}  p99 {:>8.0?}  max {:>8.0?}  ({} of {total} events visible)",
        q(0.5),
        q(0.99),
        q(1.0),
        s.len()
    );
}

fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let probe = Probe::default();
    let probe2 = Probe {
        consumed: probe.consumed.clone(),
        commits: probe.commits.clone(),
        effects: probe.effects.clone(),
    };
    metrics::set_global_recorder(probe2).expect("recorder");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // CCPULSE_BENCH=mock,tansu,latency (the default: all three).
    let parts = std::env::var("CCPULSE_BENCH").unwrap_or_else(|_| "mock,tansu,latency".into());
    let events: Vec<Event> = interactions(10).into_iter().take(300_000).collect();
    if parts.contains("mock") {
        let both = ["at_least_once", "exactly_once"];
        throughput(&rt, &probe, Broker::mock(), &events, &both);
    }
    if parts.contains("tansu") {
        if let Some(t) = Broker::tansu() {
            throughput(&rt, &probe, t, &events, &["at_least_once"]);
        }
    }
    if !parts.contains("latency") {
        return;
    }

    let (rate, secs) = (2_000, 20);
    println!("\n## latency: produce -> published snapshot, {rate} events/s for {secs} s");
    for (g, lateness, tick) in [
        ("at_least_once", "5s", "1s"),
        ("at_least_once", "0s", "1s"),
        ("exactly_once", "0s", "1s"),
        ("at_least_once", "0s", "200ms"),
        ("exactly_once", "0s", "200ms"),
    ] {
        print!("mock cluster  ");
        let setup = (g, lateness, tick);
        latency(&rt, Broker::mock(), setup, &events, (rate, secs));
    }
    if let Some(t) = Broker::tansu() {
        print!("tansu         ");
        let setup = ("at_least_once", "0s", "200ms");
        latency(&rt, t, setup, &events, (rate, secs));
    }
}
