//! End-to-end throughput, side by side in one run on the same broker and
//! topic: a bare rdkafka consumer that only reads and discards (the
//! ceiling), then the ccpulse pipeline (consume + decode + fold + produce
//! effects + commit) in at-least-once and exactly-once mode.
//!
//! `cargo bench --bench pipeline` (broker: librdkafka's in-process mock
//! cluster; absolute numbers are the mock's, the ratio is the point).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccpulse::config::Config;
use ccpulse::engine::{Engine, Sample};
use ccpulse::event::codec::encode_json;
use ccpulse::event::EventKind;
use ccpulse::pipeline::{Observer, PartitionStatus};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use tokio_util::sync::CancellationToken;

const PARTITIONS: i32 = 3;

/// Counts events applied by live partitions (sum of engines' counters).
#[derive(Default)]
struct Applied {
    per: dashmap::DashMap<(String, i32), u64>,
    total: AtomicU64,
}

impl Observer for Applied {
    fn partition_live(&self, topic: &str, partition: i32, engine: &Engine, _: &[Sample]) {
        self.per.insert(
            (topic.to_string(), partition),
            engine.processing().events_applied,
        );
        self.total
            .store(self.per.iter().map(|e| *e.value()).sum(), Ordering::Relaxed);
    }
    fn partition_status(&self, _: &str, _: i32, _: PartitionStatus) {}
}

fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let events: Vec<_> = ccpulse::sim::run(ccpulse::sim::SimConfig::default(), 3 * 86_400_000)
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Interaction { .. }))
        .take(200_000)
        .collect();
    let n = events.len() as u64;
    let cluster = MockCluster::new(1).expect("mock cluster");
    for (t, p) in [
        ("ccpulse.interactions", PARTITIONS),
        ("ccpulse.surveys", PARTITIONS),
        ("ccpulse.agents", 1),
        ("ccpulse.effects", PARTITIONS),
        ("ccpulse.ticks", PARTITIONS),
        ("ccpulse.dead-letter", 1),
    ] {
        cluster.create_topic(t, p, 1).expect("topic");
    }
    let brokers = cluster.bootstrap_servers();
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer");
    for e in &events {
        let v = encode_json(e);
        while p
            .send(
                BaseRecord::to("ccpulse.interactions")
                    .key(e.key())
                    .payload(&v),
            )
            .is_err()
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    p.flush(Duration::from_secs(60)).expect("flush");
    println!("{n} interaction events on {PARTITIONS} partitions");

    // Ceiling: read and discard.
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "bare")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    c.subscribe(&["ccpulse.interactions"]).expect("subscribe");
    // The mock broker keeps a bounded log, so count what is readable: read
    // until 3 s pass without a record.
    // The clock starts at the first record (after the group join), and
    // reading stops 3 s after the last one.
    let joined = Instant::now();
    let mut got = 0u64;
    let (mut first, mut last) = (None, Instant::now());
    while first.is_none_or(|_: Instant| last.elapsed() < Duration::from_secs(3))
        && joined.elapsed() < Duration::from_secs(120)
    {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            std::hint::black_box(m.payload());
            got += 1;
            last = Instant::now();
            first.get_or_insert(last);
        }
    }
    let bare = last.duration_since(first.unwrap_or(last));
    drop(c);
    let n = got;
    println!("{n} readable records");
    println!(
        "bare consumer:            {:>8.0} events/s ({bare:.2?})",
        n as f64 / bare.as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut rates = Vec::new();
    for guarantee in ["at_least_once", "exactly_once"] {
        let toml = format!(
            "[kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"bench-{guarantee}\"\nprocessing_guarantee = \"{guarantee}\"\n\
             [[sla.policies]]\nname = \"all\"\nfirst_response = \"2m\"\nnext_reply = \"5m\"\n"
        );
        let cfg = Config::from_toml(&toml, std::path::Path::new("bench.toml")).expect("config");
        let applied = Arc::new(Applied::default());
        let stop = CancellationToken::new();
        let start = Instant::now();
        let elapsed = rt.block_on({
            let (applied, stop) = (applied.clone(), stop.clone());
            async move {
                let run = tokio::spawn(ccpulse::pipeline::run(cfg, applied.clone(), stop.clone()));
                while applied.total.load(Ordering::Relaxed) < n {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let e = start.elapsed();
                stop.cancel();
                let _ = run.await;
                e
            }
        });
        let rate = n as f64 / elapsed.as_secs_f64();
        println!("ccpulse {guarantee:<14}: {rate:>8.0} events/s ({elapsed:.2?}) = {:.0} % of the bare consumer", 100.0 * bare.as_secs_f64() / elapsed.as_secs_f64());
        rates.push(rate);
    }
    println!(
        "exactly-once costs {:.1} % vs at-least-once",
        100.0 * (1.0 - rates[1] / rates[0])
    );
}
