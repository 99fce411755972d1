//! Checkpoints on a real Apache Kafka broker (`support/broker.rs`; needs
//! `scripts/install-kafka`): a partition restores from its checkpoint on
//! the compacted checkpoints topic, so a restart serves the same figures
//! even after retention deleted the input they were folded from.
//!
//! The oracle is the pure engine folding the same events
//! (`support::converge`), never the service.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use support::broker::KafkaBroker;
use support::converge::*;
use support::kafka::*;

const PARTITIONS: i32 = 2;
const INPUTS: [&str; 2] = [INTERACTIONS, SURVEYS];

fn config(brokers: &str, http: u16) -> String {
    format!(
        r#"
[engine]
allowed_lateness = "1s"

[http]
listen = "127.0.0.1:{http}"

[kafka]
brokers = "{brokers}"
group_id = "checkpoints"
processing_guarantee = "exactly_once"
commit_interval = "200ms"
checkpoint_interval = "1s"
shutdown_timeout = "20s"
retry_budget = "30s"

[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"

[[sla.policies]]
name = "answer"
first_response = "30s"
max_reassignments = 2
"#
    )
}

/// (low, high) watermark of every input partition.
fn watermarks(brokers: &str) -> BTreeMap<(String, i32), (i64, i64)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "checkpoints-test-watermarks")
        .create()
        .expect("consumer");
    let mut out = BTreeMap::new();
    for t in INPUTS {
        for p in 0..PARTITIONS {
            let w = c
                .fetch_watermarks(t, p, Duration::from_secs(10))
                .expect("watermarks");
            out.insert((t.to_string(), p), w);
        }
    }
    out
}

/// What retention does to old segments: every input record is deleted
/// (the low watermark moves up to the high one).
fn delete_all_input(brokers: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let mut tpl = TopicPartitionList::new();
    for t in INPUTS {
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(t, p, Offset::End)
                .expect("partition offset");
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let done = rt
        .block_on(admin.delete_records(&tpl, &opts))
        .expect("delete records");
    for e in done.elements() {
        assert!(
            e.error().is_ok(),
            "delete records {}: {:?}",
            e.topic(),
            e.error()
        );
    }
}

/// `ccpulse checkpoint inspect --format json` with the service's config.
fn inspect(dir: &std::path::Path, cfg: &str) -> Vec<Value> {
    let path = dir.join("inspect.toml");
    std::fs::write(&path, cfg).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_ccpulse"))
        .args(["checkpoint", "inspect", "--format", "json", "--config"])
        .arg(&path)
        .output()
        .expect("run ccpulse checkpoint inspect");
    assert!(
        out.status.success(),
        "checkpoint inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inspect JSON")
}

/// Every input partition with records has a checkpoint, restorable under
/// `cfg`, that covers its last record.
fn checkpoints_cover_everything(dir: &std::path::Path, cfg: &str, brokers: &str) -> bool {
    let all = inspect(dir, cfg);
    watermarks(brokers).iter().all(|((t, p), (_, high))| {
        *high == 0
            || all.iter().any(|c| {
                let m = &c["manifest"];
                m["input"] == t.as_str()
                    && m["partition"] == *p
                    && m["offset"].as_i64() >= Some(high - 1)
                    && c["settings_match"] == true
                    && c["info"].is_object()
            })
    })
}

fn readiness(port: u16) -> Option<Value> {
    let (_, body) = http_get(&format!("http://127.0.0.1:{port}/readyz"))?;
    serde_json::from_str(&body).ok()
}

#[test]
fn a_service_restarted_after_retention_deleted_its_input_serves_the_same_figures_from_its_checkpoints(
) {
    let kafka = KafkaBroker::start();
    let brokers = kafka.plaintext();
    for (t, n) in default_topics(PARTITIONS) {
        kafka.create_topic(t, n, topic_settings(t));
    }
    let evs = scenario(300, 17);
    produce_all(&brokers, &evs);
    let dir = temp_dir("checkpoints-retention");
    let port = free_port();
    let cfg = config(&brokers, port);

    let first = Ccpulse::start(&dir, "first", &cfg, &["run"]);
    assert_converges(port, &cfg, &evs, || first.log_text());
    let covered = wait_until(Duration::from_secs(60), || {
        checkpoints_cover_everything(&dir, &cfg, &brokers)
    });
    assert!(
        covered,
        "no checkpoint covers the input:\n{:#?}\n{}",
        inspect(&dir, &cfg),
        first.log_text()
    );
    let before = comparable_with(&served(port).expect("snapshot"), &[]);
    assert_eq!(first.stop(Duration::from_secs(40)), Some(0), "clean stop");

    let had = watermarks(&brokers);
    delete_all_input(&brokers);
    for ((t, p), (low, high)) in watermarks(&brokers) {
        assert_eq!(low, high, "{t}/{p}: input records left after deletion");
    }

    let second = Ccpulse::start(&dir, "second", &cfg, &["run"]);
    let ready = wait_until(Duration::from_secs(90), || {
        readiness(port).is_some_and(|r| r["ready"] == true)
    });
    assert!(
        ready,
        "never ready after the restart:\n{}",
        second.log_text()
    );
    let r = readiness(port).expect("readiness");
    for p in r["partitions"].as_array().expect("partitions") {
        let key = (
            p["topic"].as_str().unwrap_or_default().to_string(),
            p["partition"].as_i64().unwrap_or(-1) as i32,
        );
        if had.get(&key).is_some_and(|(_, high)| *high > 0) {
            assert_eq!(
                p["restored"]["path"]["from"],
                "checkpoint",
                "partition restored without its checkpoint: {p}\n{}",
                second.log_text()
            );
            assert_eq!(p["restored"]["records"], 0, "nothing left to replay: {p}");
        }
    }
    // The figures from before the restart, though no input is left to
    // replay; and still the oracle's.
    let mut after = BTreeMap::new();
    let same = wait_until(Duration::from_secs(30), || {
        after = served(port)
            .map(|s| comparable_with(&s, &[]))
            .unwrap_or_default();
        after == before
    });
    assert!(
        same,
        "figures changed across the restart:\nbefore {before:#?}\nafter {after:#?}\n{}",
        second.log_text()
    );
    assert_converges(port, &cfg, &evs, || second.log_text());
    assert_eq!(second.stop(Duration::from_secs(40)), Some(0), "clean stop");
}
