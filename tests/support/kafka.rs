//! Kafka test harness: a broker (librdkafka's mock cluster in-process, or a
//! real one by address), producing scenarios, reading outputs, and running
//! `ccpulse run` as a real process that can be killed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccpulse::event::codec::{decode_effect_json, encode_json};
use ccpulse::event::{Effect, Event};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

pub const INTERACTIONS: &str = "ccpulse.interactions";
pub const SURVEYS: &str = "ccpulse.surveys";
pub const AGENTS: &str = "ccpulse.agents";
pub const EFFECTS: &str = "ccpulse.effects";
pub const TICKS: &str = "ccpulse.ticks";
pub const DEAD_LETTER: &str = "ccpulse.dead-letter";

/// A mock cluster with the default topics (`partitions` per input topic).
pub fn mock_cluster(partitions: i32) -> MockCluster<'static, DefaultProducerContext> {
    let c = MockCluster::new(1).expect("mock cluster");
    for (t, n) in [
        (INTERACTIONS, partitions),
        (SURVEYS, partitions),
        (AGENTS, 1),
        (EFFECTS, partitions),
        (TICKS, partitions),
        (DEAD_LETTER, 1),
    ] {
        c.create_topic(t, n, 1).expect("create topic");
    }
    c
}

/// Produce events as JSON, keyed by their partition key; raw records as
/// given (for poison tests). Waits until all are acknowledged.
pub fn produce(brokers: &str, topic: &str, events: &[Event]) {
    let raws: Vec<(Vec<u8>, Vec<u8>)> = events
        .iter()
        .map(|e| (e.key().as_bytes().to_vec(), encode_json(e).into_bytes()))
        .collect();
    produce_raw(brokers, topic, &raws);
}

pub fn produce_raw(brokers: &str, topic: &str, records: &[(Vec<u8>, Vec<u8>)]) {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    for (k, v) in records {
        loop {
            match p.send(BaseRecord::to(topic).key(k).payload(v)) {
                Ok(()) => break,
                Err((
                    KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    _,
                )) => std::thread::sleep(Duration::from_millis(5)),
                Err((e, _)) => panic!("produce to {topic}: {e}"),
            }
        }
    }
    p.flush(Duration::from_secs(30)).expect("flush");
}

/// One record as read back.
#[derive(Debug, Clone)]
pub struct Read {
    pub partition: i32,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Every committed record of `topic` (read_committed), until no new record
/// arrives for `quiet`.
pub fn read_all(brokers: &str, topic: &str, quiet: Duration) -> Vec<Read> {
    read_with(brokers, topic, quiet, "read_committed")
}

/// Like [`read_all`] with an explicit `isolation.level`.
pub fn read_with(brokers: &str, topic: &str, quiet: Duration, isolation: &str) -> Vec<Read> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("test-reader-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("reader");
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for t in md.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                .expect("tpl");
        }
    }
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let mut last = Instant::now();
    while last.elapsed() < quiet {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            last = Instant::now();
            out.push(Read {
                partition: m.partition(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().unwrap_or_default().to_vec(),
                headers: m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
    }
    out
}

pub fn effects(brokers: &str, quiet: Duration) -> Vec<Effect> {
    read_all(brokers, EFFECTS, quiet)
        .iter()
        .map(|r| decode_effect_json(&r.value).expect("effects are valid JSON effects"))
        .collect()
}

/// Poll `f` until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// A `ccpulse` process.
pub struct Ccpulse {
    pub child: Child,
    pub log: PathBuf,
}

impl Ccpulse {
    pub fn start(dir: &Path, name: &str, config: &str, args: &[&str]) -> Ccpulse {
        let cfg = dir.join(format!("{name}.toml"));
        std::fs::write(&cfg, config).expect("write config");
        let log = dir.join(format!("{name}.log"));
        let f = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ccpulse"));
        cmd.args(args).arg("--config").arg(&cfg);
        let child = cmd
            .env(
                "CCPULSE_LOG",
                "info,ccpulse::pipeline::output=debug,librdkafka=warn",
            )
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .expect("spawn ccpulse");
        Ccpulse { child, log }
    }

    /// SIGKILL: no chance to commit or clean up.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Process id, e.g. for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status.
    pub fn stop(mut self, timeout: Duration) -> Option<i32> {
        let pid = self.child.id() as i32;
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc_kill(pid, 15);
        }
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Ccpulse {
    /// A failed test must not leave a process behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ccpulse-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Offsets committed by consumer group `group` on `topic`, summed over
/// partitions (= records consumed when every partition starts at 0).
pub fn committed_total(brokers: &str, group: &str, topic: &str, partitions: i32) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("offset reader");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    got.elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}
