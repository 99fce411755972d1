//! Smoke tests of the real-Kafka test support (tests/support/broker.rs):
//! the broker starts, serves PLAINTEXT to rdkafka, serves SSL and SASL_SSL
//! (SCRAM-SHA-512) to Kafka's own Java client, and keeps its records across
//! a restart. Needs `scripts/install-kafka`.
//!
//! Includes only the broker module, not `support/mod.rs`, so it does not
//! depend on the rest of the test support.

#[path = "support/broker.rs"]
mod broker;

use std::process::Output;
use std::time::{Duration, Instant};

use broker::KafkaBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

fn produce(brokers: &str, topic: &str, records: &[(&str, &str)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("producer");
    for (key, value) in records {
        producer
            .send(BaseRecord::to(topic).key(*key).payload(*value))
            .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));
    }
    producer
        .flush(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("flush to {topic}: {e}"));
}

/// Partition 0 of `topic` from the beginning, until `want` records are read
/// or 30 s have passed.
fn read(brokers: &str, topic: &str, want: usize) -> Vec<(String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "kafka-broker-smoke")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition to read");
    consumer.assign(&tpl).expect("assign");
    let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => got.push((text(m.key()), text(m.payload()))),
            Some(Err(e)) => panic!("read {topic}: {e}"),
            None => {}
        }
    }
    got
}

fn owned(records: &[(&str, &str)]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_record_produced_on_plaintext_is_read_back() {
    let kafka = KafkaBroker::start();
    eprintln!("Kafka started in {:?}", kafka.startup_time());
    kafka.create_topic("smoke", 1, &[("retention.ms", "3600000")]);
    let records = [("k1", "hello kafka")];
    produce(&kafka.plaintext(), "smoke", &records);
    assert_eq!(read(&kafka.plaintext(), "smoke", 1), owned(&records));
}

/// `kafka-broker-api-versions` (Kafka's Java client) against `bootstrap`
/// with `client_config` as its client properties.
fn api_versions(kafka: &KafkaBroker, bootstrap: &str, name: &str, client_config: &str) -> Output {
    let path = kafka.dir().join(format!("{name}.properties"));
    std::fs::write(&path, client_config)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    kafka.run_tool(
        "org.apache.kafka.tools.BrokerApiVersionsCommand",
        &[
            "--bootstrap-server",
            bootstrap,
            "--command-config",
            &path.display().to_string(),
        ],
    )
}

fn printable(out: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn ssl_and_sasl_ssl_listeners_accept_a_java_client_and_refuse_a_wrong_password() {
    let kafka = KafkaBroker::start();
    let trust = format!(
        "ssl.truststore.type=PEM\nssl.truststore.location={}\n",
        kafka.ca_pem().display()
    );
    let (user, password) = kafka.scram_user();
    let sasl = |password: &str| {
        format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{user}\" password=\"{password}\";\n{trust}"
        )
    };

    let out = api_versions(
        &kafka,
        &kafka.ssl(),
        "ssl",
        &format!("security.protocol=SSL\n{trust}"),
    );
    assert!(out.status.success(), "SSL: {}", printable(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(id: 1 "),
        "SSL: {}",
        printable(&out)
    );

    let out = api_versions(&kafka, &kafka.sasl_ssl(), "sasl-ssl", &sasl(password));
    assert!(out.status.success(), "SASL_SSL: {}", printable(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(id: 1 "),
        "SASL_SSL: {}",
        printable(&out)
    );

    let out = api_versions(
        &kafka,
        &kafka.sasl_ssl(),
        "sasl-ssl-wrong",
        &sasl("not-the-password"),
    );
    assert!(
        !out.status.success(),
        "wrong password accepted: {}",
        printable(&out)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("Authentication failed"),
        "wrong password: {}",
        printable(&out)
    );
}

#[test]
fn records_survive_a_stop_and_restart_on_the_same_storage() {
    let mut kafka = KafkaBroker::start();
    kafka.create_topic("kept", 1, &[]);
    let records = [("a", "1"), ("b", "2"), ("c", "3")];
    produce(&kafka.plaintext(), "kept", &records);
    let before = kafka.plaintext();

    kafka.stop();
    kafka.restart();
    eprintln!("Kafka restarted in {:?}", kafka.startup_time());

    assert_eq!(kafka.plaintext(), before, "same port after restart");
    assert_eq!(read(&kafka.plaintext(), "kept", 3), owned(&records));
    // And it still takes writes.
    produce(&kafka.plaintext(), "kept", &[("d", "4")]);
    assert_eq!(read(&kafka.plaintext(), "kept", 4).len(), 4);
}
