//! `ccpulse bridge`: vendor events from Kafka into ccpulse's input topics
//! through a declarative mapping (`--mapping`, see
//! [`ccpulse_core::adapters::mapping`]).
//!
//! A group consumer reads the vendor topics; each record is mapped and the
//! events are produced as proto3 JSON, keyed by [`Event::key`], to the
//! topic the pipeline reads for their kind (interactions to
//! `kafka.topics.events[0]`, surveys to `events[1]` when there is one,
//! agents to `kafka.topics.agents`), with the record timestamp set to the
//! event time. A record that cannot be mapped goes to
//! `kafka.topics.dead_letter` with the reason in headers, as the pipeline's
//! dead letters do. A vendor offset is committed only once everything
//! produced for it, and for every record before it, was acknowledged:
//! at-least-once, and a redelivery after a crash gives the same event ids,
//! which the engine drops. Records no rule matches are counted and logged
//! in the periodic summary, never silently dropped.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::AppError;
use super::lifecycle::cancel_on;
use crate::config::Config;
use crate::pipeline::{input, PipelineError};
use crate::sources::mapped::{self, Counts};
use ccpulse_core::adapters::mapping::Mapping;
use ccpulse_core::adapters::mapping_error::MapError;

/// What `ccpulse bridge` was asked for.
#[derive(Debug, Clone)]
pub struct BridgeOptions {
    /// The mapping file (TOML).
    pub mapping: std::path::PathBuf,
    /// Vendor topics to consume.
    pub topics: Vec<String>,
    /// Consumer group (default: `ccpulse-bridge-<mapping name>`).
    pub group_id: Option<String>,
}

fn kafka(context: &str) -> impl FnOnce(rdkafka::error::KafkaError) -> AppError + '_ {
    move |cause| {
        AppError::Pipeline(PipelineError::Kafka {
            context: context.to_string(),
            cause,
        })
    }
}

fn client(cfg: &Config) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in &cfg.kafka.properties {
        c.set(k, v);
    }
    c.set("bootstrap.servers", &cfg.kafka.brokers);
    c
}

/// Run the bridge until `shutdown`; returns the counts of what it did.
pub async fn bridge(
    opts: BridgeOptions,
    cfg: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Counts, AppError> {
    let mapping = mapped::load(&opts.mapping)?;
    if opts.topics.is_empty() {
        return Err(AppError::Usage(
            "no vendor topic to read (fix: give --topic at least once)".into(),
        ));
    }
    let group = opts
        .group_id
        .clone()
        .unwrap_or_else(|| format!("ccpulse-bridge-{}", mapping.name()));
    let consumer: StreamConsumer = client(cfg)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(kafka("creating the bridge's consumer"))?;
    let producer: FutureProducer = client(cfg)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .map_err(kafka("creating the bridge's producer"))?;
    let topics: Vec<&str> = opts.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(kafka("subscribing to the vendor topics"))?;
    tracing::info!(mapping = mapping.name(), group = %group, topics = ?opts.topics, "bridge started");

    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    cancel_on(&tracker, &stop, shutdown);
    let r = run(&mapping, cfg, &consumer, &producer, &stop).await;
    stop.cancel();
    tracker.close();
    tracker.wait().await;
    let flushed = producer.flush(Duration::from_millis(
        cfg.kafka.shutdown_timeout.max(1) as u64
    ));
    let counts = r?;
    flushed.map_err(kafka("flushing the bridge's producer"))?;
    tracing::info!(
        records = counts.records,
        events = counts.events,
        ignored = counts.ignored,
        unmatched = counts.unmatched,
        dead_lettered = counts.failed,
        "bridge stopped"
    );
    Ok(counts)
}

async fn run(
    mapping: &Mapping,
    cfg: &Config,
    consumer: &StreamConsumer,
    producer: &FutureProducer,
    stop: &CancellationToken,
) -> Result<Counts, AppError> {
    let mut counts = Counts::default();
    let mut stream = consumer.stream();
    let mut summary = tokio::time::interval(Duration::from_secs(60));
    summary.tick().await;
    let json = input::json_headers();
    let dlq = &cfg.kafka.topics.dead_letter;
    let max_dead_letter = cfg
        .kafka
        .max_message_bytes()
        .saturating_sub(64 * 1024)
        .max(4096);
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => break,
            _ = summary.tick() => {
                tracing::info!(records = counts.records, events = counts.events, ignored = counts.ignored,
                    unmatched = counts.unmatched, dead_lettered = counts.failed, "bridge progress");
                continue;
            }
            m = stream.next() => m,
        };
        let Some(msg) = msg else { break };
        let msg = msg.map_err(kafka("reading a vendor topic"))?;
        let value = msg.payload().unwrap_or_default();
        let outcome = mapped::map_bytes(mapping, value, &cfg.input, None);
        counts.add(&outcome);
        // Produce everything for this record, then wait for the
        // acknowledgements before its offset is stored: records are handled
        // in order, so a committed offset covers only acknowledged output.
        let mut pending = Vec::new();
        match &outcome {
            Ok(m) => {
                for ev in &m.events {
                    let delivery = input::send_event(producer, &cfg.kafka.topics, &json, ev)
                        .await
                        .map_err(produce_error)?;
                    pending.push(delivery);
                }
                if m.rule.is_none() {
                    tracing::debug!(
                        topic = msg.topic(),
                        partition = msg.partition(),
                        offset = msg.offset(),
                        "record matched no rule"
                    );
                }
            }
            Err(e) => {
                let headers =
                    dead_letter_headers(msg.topic(), msg.partition(), msg.offset(), mapping, e);
                let mut value = value.to_vec();
                let mut headers = headers;
                if value.len() > max_dead_letter {
                    headers = headers
                        .insert(Header {
                            key: "ccpulse-truncated",
                            value: Some("true"),
                        })
                        .insert(Header {
                            key: "ccpulse-original-size",
                            value: Some(&value.len().to_string()),
                        });
                    value.truncate(max_dead_letter);
                }
                tracing::warn!(topic = msg.topic(), partition = msg.partition(), offset = msg.offset(),
                    reason = e.reason_code(), error = %e, "vendor record dead-lettered");
                let mut rec = FutureRecord::to(dlq)
                    .payload(value.as_slice())
                    .headers(headers);
                if let Some(k) = msg.key() {
                    rec = rec.key(k);
                }
                pending.push(input::send(producer, rec).await.map_err(produce_error)?);
            }
        }
        for f in pending {
            match f.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    return Err(AppError::Pipeline(PipelineError::Output(format!(
                        "bridge delivery: {e}"
                    ))))
                }
                Err(_) => {
                    return Err(AppError::Pipeline(PipelineError::Output(
                        "bridge delivery cancelled".into(),
                    )))
                }
            }
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(
            msg.topic(),
            msg.partition(),
            Offset::Offset(msg.offset() + 1),
        )
        .map_err(kafka("recording a vendor offset"))?;
        consumer
            .commit(&tpl, CommitMode::Async)
            .map_err(kafka("committing a vendor offset"))?;
    }
    // Every acknowledged record's offset was committed as it was
    // acknowledged: nothing is left to commit here.
    Ok(counts)
}

fn produce_error(e: rdkafka::error::KafkaError) -> AppError {
    AppError::Pipeline(PipelineError::Output(format!("bridge produce: {e}")))
}

/// The pipeline's dead-letter headers, plus the mapping, the rule and the
/// path that failed.
fn dead_letter_headers(
    topic: &str,
    partition: i32,
    offset: i64,
    mapping: &Mapping,
    e: &MapError,
) -> OwnedHeaders {
    let mut fields: BTreeMap<&str, String> = BTreeMap::new();
    fields.insert("ccpulse-source-topic", topic.to_string());
    fields.insert("ccpulse-source-partition", partition.to_string());
    fields.insert("ccpulse-source-offset", offset.to_string());
    fields.insert("ccpulse-reason", e.reason_code().to_string());
    fields.insert("ccpulse-error", e.to_string());
    fields.insert("ccpulse-mapping", mapping.name().to_string());
    if let Some(rule) = e.rule() {
        fields.insert("ccpulse-rule", rule.to_string());
    }
    if let Some(path) = e.path() {
        fields.insert("ccpulse-field", path.to_string());
    }
    fields
        .into_iter()
        .fold(OwnedHeaders::new(), |h, (key, value)| {
            h.insert(Header {
                key,
                value: Some(value.as_str()),
            })
        })
}
