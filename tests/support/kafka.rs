//! Kafka test harness: a broker (librdkafka's mock cluster in-process, or a
//! real one by address), producing scenarios, reading outputs, and running
//! `ccpulse run` as a real process that can be killed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccpulse_core::event::codec::{decode_effect_json, encode_json};
use ccpulse_core::event::{Effect, Event};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

pub use super::scratch::Scratch;

pub const INTERACTIONS: &str = "ccpulse.interactions";
pub const SURVEYS: &str = "ccpulse.surveys";
pub const AGENTS: &str = "ccpulse.agents";
pub const EFFECTS: &str = "ccpulse.effects";
pub const TICKS: &str = "ccpulse.ticks";
pub const DEAD_LETTER: &str = "ccpulse.dead-letter";
pub const CHECKPOINTS: &str = "ccpulse.checkpoints";
pub const CUSTOMERS: &str = "ccpulse.customers";

/// Partitions the group reads with the default topics 4 wide: two
/// inputs and the customer stage's topic.
pub const PARTITIONS_AT_4: usize = 12;

/// The default topics with their partition counts: `partitions` for the
/// input topics and the partition-aligned outputs, 1 for the others.
pub fn default_topics(partitions: i32) -> [(&'static str, i32); 8] {
    [
        (INTERACTIONS, partitions),
        (SURVEYS, partitions),
        (AGENTS, 1),
        (EFFECTS, partitions),
        (TICKS, partitions),
        (DEAD_LETTER, 1),
        (CHECKPOINTS, partitions),
        (CUSTOMERS, partitions),
    ]
}

/// The topic settings a real broker needs for `topic`: the checkpoints
/// topic is compacted (the service checks it at start).
pub fn topic_settings(topic: &str) -> &'static [(&'static str, &'static str)] {
    if topic == CHECKPOINTS {
        &[("cleanup.policy", "compact")]
    } else {
        &[]
    }
}

/// A mock cluster with the default topics (`partitions` per input topic).
pub fn mock_cluster(partitions: i32) -> MockCluster<'static, DefaultProducerContext> {
    let c = MockCluster::new(1).expect("mock cluster");
    for (t, n) in default_topics(partitions) {
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

/// Produce events as JSON to one chosen partition (not by key): for
/// records every partition must see, e.g. an event that moves each
/// partition's event-time watermark.
pub fn produce_to_partition(brokers: &str, topic: &str, partition: i32, events: &[Event]) {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    for e in events {
        let value = encode_json(e);
        p.send(
            BaseRecord::to(topic)
                .partition(partition)
                .key(e.key())
                .payload(&value),
        )
        .unwrap_or_else(|(err, _)| panic!("produce to {topic}/{partition}: {err}"));
    }
    p.flush(Duration::from_secs(30)).expect("flush");
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

/// Every committed record of `topic` (read_committed): reads until every
/// partition has reported its end, so the answer does not depend on how
/// fast the broker answers (a quiet-period read returns nothing when the
/// first fetch is slow on a loaded machine).
pub fn read_all(brokers: &str, topic: &str) -> Vec<Read> {
    read_to_end(brokers, topic, "read_committed")
}

/// Every record of `topic`, those of aborted and still open transactions
/// included (read_uncommitted). Only for counting what transactions that
/// never committed left in the log (a process killed inside one); what a
/// consumer sees is [`read_all`].
pub fn read_all_uncommitted(brokers: &str, topic: &str) -> Vec<Read> {
    read_to_end(brokers, topic, "read_uncommitted")
}

fn read_to_end(brokers: &str, topic: &str, isolation: &str) -> Vec<Read> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("test-reader-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
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
    let partitions = tpl.count();
    assert!(partitions > 0, "topic {topic} has no partitions");
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let mut ended = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ended.len() < partitions {
        assert!(
            Instant::now() < deadline,
            "reading {topic}: only partitions {ended:?} of {partitions} reached their end in 60 s"
        );
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(Read {
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
            }),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                ended.insert(p);
            }
            _ => {}
        }
    }
    out
}

pub fn effects(brokers: &str) -> Vec<Effect> {
    read_all(brokers, EFFECTS)
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

    /// Wait for the process to exit on its own; its exit status, or `None`
    /// if it still runs after `timeout`.
    pub fn exit_within(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status.
    pub fn stop(mut self, timeout: Duration) -> Option<i32> {
        let pid = self.child.id() as i32;
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc_kill(pid, 15);
        }
        let code = self.exit_within(timeout);
        if code.is_none() {
            let _ = self.child.kill();
        }
        code
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

/// A scratch directory for one test: see [`Scratch`].
pub fn temp_dir(name: &str) -> Scratch {
    Scratch::new(name)
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// GET a URL on localhost, returning (status, body).
pub fn http_get(url: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}
