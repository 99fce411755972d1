//! Kafka clients as ccpulse configures them, and start-up checks.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use tracing::{info, warn};

use tokio_util::sync::CancellationToken;

use super::error::{kerr, PipelineError};
use super::retry::{per_call, Retry};
use super::settings::{Guarantee, KafkaConfig};

/// Rebalance callbacks, installed once the pipeline is wired.
pub(super) trait RebalanceHandler: Send + Sync {
    fn revoke(&self, consumer: &BaseConsumer<GroupCtx>, partitions: &[(String, i32)]);
    /// Before librdkafka starts fetching the partitions.
    fn pre_assign(&self, consumer: &BaseConsumer<GroupCtx>, partitions: &[(String, i32)]);
    fn assign(&self, consumer: &BaseConsumer<GroupCtx>, partitions: &[(String, i32)]);
}

/// Weak: the handler holds the consumer (through the tasks' shared
/// context), so a strong reference here would be a cycle and the consumer
/// would never be destroyed; an undestroyed consumer keeps heartbeating and
/// can stay in the group as a member nobody polls, holding partitions. The
/// poll thread owns the handler for as long as it polls.
#[derive(Default)]
pub(super) struct GroupCtx {
    pub(super) handler: OnceLock<Weak<dyn RebalanceHandler>>,
}

impl GroupCtx {
    fn handler(&self) -> Option<Arc<dyn RebalanceHandler>> {
        self.handler.get().and_then(Weak::upgrade)
    }
}

impl ClientContext for GroupCtx {}

fn parts(r: &Rebalance<'_>) -> Vec<(String, i32)> {
    match r {
        Rebalance::Assign(tpl) | Rebalance::Revoke(tpl) => tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect(),
        Rebalance::Error(_) => Vec::new(),
    }
}

impl ConsumerContext for GroupCtx {
    fn pre_rebalance(&self, c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        match (r, self.handler()) {
            (Rebalance::Revoke(_), Some(h)) => h.revoke(c, &parts(r)),
            (Rebalance::Assign(_), Some(h)) => h.pre_assign(c, &parts(r)),
            _ => {}
        }
        if let Rebalance::Error(e) = r {
            tracing::warn!(error = %e, "rebalance error");
        }
    }

    fn post_rebalance(&self, c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let (Rebalance::Assign(_), Some(h)) = (r, self.handler()) {
            h.assign(c, &parts(r));
        }
    }
}

pub(super) type GroupConsumer = BaseConsumer<GroupCtx>;

/// The low and high watermarks librdkafka last saw for a partition in a
/// fetch response (no request; `None` while unknown). The rdkafka crate
/// only wraps the variant that asks the broker.
pub(super) fn cached_watermarks(
    c: &GroupConsumer,
    topic: &str,
    partition: i32,
) -> Option<(i64, i64)> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut lo, mut hi) = (-1i64, -1i64);
    // SAFETY: the client handle lives as long as `c`; librdkafka only reads
    // the NUL-terminated topic name and writes the two out-parameters.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            c.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut lo,
            &mut hi,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && hi >= 0)
        .then_some((lo.max(0), hi))
}

fn base(k: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers);
    for (key, v) in &k.properties {
        c.set(key, v);
    }
    c
}

/// How long librdkafka waits before fetching a partition again once its
/// local queue is full (`queued.min.messages`). Its default, 1 s, made a
/// catching-up service idle most of every second: the poll thread drains
/// the queue in bursts into the partition tasks' queues, then the fetcher
/// slept out the rest of its second (perf: the poll thread and
/// librdkafka's broker thread busy about every 1 s, everything idle in
/// between; 0.44 cores used). 10 ms keeps the queue topped up for the cost
/// of a timer.
pub(crate) const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// How long the producer waits to fill a batch unless the properties say
/// otherwise. librdkafka's 5 ms made many small produce requests while
/// catching up (effects, customer facts, ticks), and the broker, on the
/// same cores in the pipeline bench, spent a third more CPU serving them:
/// with 50 ms, 0.63 instead of 0.94 CPU s per 10^6 events and 1.07x the
/// events/s (3 rounds side by side; lower in four of five such runs, the
/// broker's CPU is noisy). Kafka Streams lingers 100 ms. An
/// effect waits up to 50 ms more before it is on its topic; exactly-once
/// flushes at each transaction commit anyway.
pub(crate) const PRODUCER_LINGER_MS: &str = "50";

/// The group consumer: manual offsets, read_committed, cooperative-sticky
/// and [`FETCH_QUEUE_BACKOFF_MS`] unless the properties say otherwise.
pub(super) fn group_consumer(k: &KafkaConfig) -> Result<Arc<GroupConsumer>, PipelineError> {
    let consumer: GroupConsumer = group_consumer_config(k)
        .create_with_context(GroupCtx::default())
        .map_err(kerr("creating the group consumer"))?;
    Ok(Arc::new(consumer))
}

fn group_consumer_config(k: &KafkaConfig) -> ClientConfig {
    let mut c = base(k);
    c.set("group.id", &k.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed");
    if !k.properties.contains_key("partition.assignment.strategy") {
        c.set("partition.assignment.strategy", "cooperative-sticky");
    }
    if !k.properties.contains_key("fetch.queue.backoff.ms") {
        c.set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS);
    }
    if let Some(id) = &k.group_instance_id {
        c.set("group.instance.id", id);
    }
    c
}

/// Context of the readers: they ask for end-of-partition events, which
/// librdkafka would otherwise log as errors.
#[derive(Default)]
pub(super) struct ReaderCtx;

impl ClientContext for ReaderCtx {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        use rdkafka::error::KafkaError;
        use rdkafka::types::RDKafkaErrorCode;
        if matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        ) {
            tracing::debug!(%reason, "end of partition");
        } else {
            tracing::error!(%error, %reason, "Kafka client error");
        }
    }
}

impl ConsumerContext for ReaderCtx {}

pub(super) type Reader = BaseConsumer<ReaderCtx>;

/// A consumer for reading partitions by assignment (restore, agents).
pub(super) fn reader(k: &KafkaConfig, purpose: &str) -> Result<Reader, PipelineError> {
    let mut c = base(k);
    c.set("group.id", format!("{}-{purpose}", k.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed");
    if !k.properties.contains_key("fetch.queue.backoff.ms") {
        c.set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS);
    }
    c.create_with_context(ReaderCtx)
        .map_err(kerr(format!("creating the {purpose} reader")))
}

fn producer_config(k: &KafkaConfig) -> ClientConfig {
    let mut c = base(k);
    c.set("enable.idempotence", "true");
    if !k.properties.contains_key("linger.ms") {
        c.set("linger.ms", PRODUCER_LINGER_MS);
    }
    c
}

fn plain_producer(k: &KafkaConfig) -> Result<FutureProducer, PipelineError> {
    producer_config(k)
        .create()
        .map_err(kerr("creating the producer"))
}

fn transactional_producer(k: &KafkaConfig) -> Result<FutureProducer, PipelineError> {
    let mut c = producer_config(k);
    let instance = k
        .group_instance_id
        .clone()
        .unwrap_or_else(|| format!("pid{}", std::process::id()));
    c.set("transactional.id", format!("{}-{}", k.group_id, instance));
    c.create()
        .map_err(kerr("creating the transactional producer"))
}

/// Key of the probe record: restore only reads ticks keyed by an input
/// topic name, so the probe is never mistaken for a tick.
pub(super) const PROBE_KEY: &str = "ccpulse-transaction-probe";

/// Whether a failure means "this broker cannot do transactions" (as
/// opposed to a broker that can but is unwell).
fn unsupported(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::UnsupportedFeature | RDKafkaErrorCode::UnsupportedVersion)
    )
}

/// Initialise transactions and commit one probe transaction (a record on
/// the ticks topic): some brokers accept `InitProducerId` (idempotence) but
/// not `EndTxn`, and finding out at the first real commit would kill the
/// service after it went live.
fn probe_transactions(k: &KafkaConfig, p: &FutureProducer) -> Result<(), KafkaError> {
    let t = Duration::from_secs(30);
    p.init_transactions(t)?;
    p.begin_transaction()?;
    let rec = FutureRecord::to(&k.topics.ticks)
        .partition(0)
        .key(PROBE_KEY)
        .payload("{}");
    if let Err((e, _)) = p.send_result(rec) {
        let _ = p.abort_transaction(t);
        return Err(e);
    }
    p.commit_transaction(t)
}

/// The producer of effects, dead letters and ticks, and the guarantee it
/// delivers: `auto` becomes exactly-once where the brokers commit a probe
/// transaction, else at-least-once; `exactly_once` on brokers without
/// transactions fails the start with the fix.
pub(super) async fn producer(
    k: &Arc<KafkaConfig>,
    stop: &CancellationToken,
) -> Result<(Arc<FutureProducer>, Guarantee), PipelineError> {
    if k.guarantee == Guarantee::AtLeastOnce {
        return Ok((Arc::new(plain_producer(k)?), Guarantee::AtLeastOnce));
    }
    let kc = k.clone();
    let stop = stop.clone();
    let probed = tokio::task::spawn_blocking(move || {
        let budget = Duration::from_millis(kc.retry_budget.max(0) as u64);
        let mut retry = Retry::new("committing the start-up probe transaction", budget);
        loop {
            let p = transactional_producer(&kc)?;
            match probe_transactions(&kc, &p) {
                Err(e) if !unsupported(&e) && super::retry::transient(&e) => {
                    retry.failed_blocking(e, &stop)?
                }
                r => return Ok::<_, PipelineError>((r, p)),
            }
        }
    })
    .await
    .map_err(|_| PipelineError::Panicked {
        task: "transaction probe",
    })??;
    match probed {
        (Ok(()), p) => Ok((Arc::new(p), Guarantee::ExactlyOnce)),
        (Err(e), _) if unsupported(&e) && k.guarantee == Guarantee::Auto => {
            warn!(error = %e, "the brokers do not support transactions: output is at-least-once (effects may repeat after a crash, with identical ids)");
            Ok((Arc::new(plain_producer(k)?), Guarantee::AtLeastOnce))
        }
        (Err(e), _) if unsupported(&e) => Err(PipelineError::NoTransactions {
            brokers: k.brokers.clone(),
            cause: e,
        }),
        (Err(e), _) => Err(PipelineError::Kafka {
            context: "committing the start-up probe transaction".into(),
            cause: e,
        }),
    }
}

/// Remembers the last authentication or TLS error the client reported:
/// librdkafka logs those and keeps retrying, while the call that needed
/// the connection only times out. With this, start-up names the cause.
#[derive(Default)]
pub(super) struct ErrorCapture {
    last: std::sync::Mutex<Option<(RDKafkaErrorCode, String)>>,
}

impl ClientContext for ErrorCapture {
    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(code @ (RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)) =
            error.rdkafka_error_code()
        {
            self.remember(code, reason);
        }
        warn!(%error, %reason, "Kafka client error");
    }

    /// Error events reach [`Self::error`] only when the client is polled;
    /// librdkafka logs the same failures from its own threads at once, so
    /// they are recognised here too. Forwarded like rdkafka's default.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if message.contains("SASL authentication error")
            || message.contains("Authentication failed")
        {
            self.remember(RDKafkaErrorCode::Authentication, message);
        } else if message.contains("SSL handshake failed")
            || message.contains("certificate verify failed")
        {
            self.remember(RDKafkaErrorCode::SSL, message);
        }
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", "librdkafka: {fac} {message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", "librdkafka: {fac} {message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "librdkafka: {fac} {message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", "librdkafka: {fac} {message}")
            }
        }
    }
}

impl ConsumerContext for ErrorCapture {}

impl ErrorCapture {
    fn remember(&self, code: RDKafkaErrorCode, reason: &str) {
        if let Ok(mut l) = self.last.lock() {
            *l = Some((code, reason.to_string()));
        }
    }

    /// The configuration error behind a failed call, if the client saw one.
    fn cause(&self, brokers: &str) -> Option<PipelineError> {
        let (code, reason) = self.last.lock().ok()?.clone()?;
        let brokers = brokers.to_string();
        Some(match code {
            RDKafkaErrorCode::SSL => PipelineError::Tls {
                brokers,
                cause: reason,
            },
            _ => PipelineError::Authentication {
                brokers,
                cause: reason,
            },
        })
    }
}

/// What the start-up checks learnt of the cluster.
pub(super) struct Cluster {
    /// Partitions of the customer stage's topic (facts are sent to the
    /// partition their customer hashes to).
    pub customer_partitions: i32,
}

/// Broker reachable, topics present (or created), output topics wide
/// enough for partition-aligned effects and ticks. An unreachable or slow
/// broker is retried within `kafka.retry_budget`; refused credentials or
/// certificates end the start at once, naming the setting.
pub(super) async fn check_cluster(
    k: &Arc<KafkaConfig>,
    stop: &CancellationToken,
) -> Result<Cluster, PipelineError> {
    let kc = k.clone();
    let stop2 = stop.clone();
    let meta =
        tokio::task::spawn_blocking(move || -> Result<BTreeMap<String, usize>, PipelineError> {
            let c: BaseConsumer<ErrorCapture> = base(&kc)
                .create_with_context(ErrorCapture::default())
                .map_err(kerr("creating a metadata client"))?;
            let budget = Duration::from_millis(kc.retry_budget.max(0) as u64);
            let started = std::time::Instant::now();
            let mut retry = Retry::new("fetching the cluster's metadata", budget);
            let md = loop {
                match c.fetch_metadata(None, per_call(budget)) {
                    Ok(md) => break md,
                    Err(cause) => {
                        // Serves the error events of the failed attempt.
                        let _ = c.poll(Duration::from_millis(100));
                        if let Some(e) = c.context().cause(&kc.brokers) {
                            return Err(e);
                        }
                        match retry.failed_blocking(cause, &stop2) {
                            Ok(()) => {}
                            Err(PipelineError::Sustained { cause, .. }) => {
                                return Err(PipelineError::Unreachable {
                                    brokers: kc.brokers.clone(),
                                    timeout_s: started.elapsed().as_secs(),
                                    cause,
                                })
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
            };
            Ok(md
                .topics()
                .iter()
                .filter(|t| t.error().is_none())
                .map(|t| (t.name().to_string(), t.partitions().len()))
                .collect())
        })
        .await
        .map_err(|_| PipelineError::Panicked { task: "metadata" })??;

    let t = &k.topics;
    let mut wanted: Vec<&str> = k.inputs();
    wanted.extend([&*t.agents, &t.effects, &t.ticks, &t.dead_letter]);
    if k.checkpoint_interval > 0 {
        wanted.push(&t.checkpoints);
    }
    let missing: Vec<String> = wanted
        .iter()
        .filter(|n| !meta.contains_key(**n))
        .map(|n| n.to_string())
        .collect();
    let meta = if missing.is_empty() {
        meta
    } else if k.create_topics {
        create_topics(k, &missing).await?;
        let mut m = meta;
        for n in missing {
            m.insert(n, k.topic_partitions as usize);
        }
        m
    } else {
        return Err(PipelineError::MissingTopics { topics: missing });
    };
    for input in k.inputs() {
        let needs = meta.get(input).copied().unwrap_or(0);
        let mut outs = vec![&t.effects, &t.ticks];
        if k.checkpoint_interval > 0 {
            outs.push(&t.checkpoints);
        }
        for out in outs {
            let has = meta.get(out).copied().unwrap_or(0);
            if has < needs {
                return Err(PipelineError::TooFewPartitions {
                    topic: out.clone(),
                    has,
                    input: input.to_string(),
                    needs,
                });
            }
        }
    }
    if k.checkpoint_interval > 0 {
        check_compacted(k, &t.checkpoints).await?;
    }
    Ok(Cluster {
        customer_partitions: meta.get(&t.customers).map_or(1, |&n| n.max(1) as i32),
    })
}

/// The checkpoints topic must be compacted: with deletion by time, the
/// last checkpoint of a quiet partition would expire, and with neither the
/// topic would grow without bound.
async fn check_compacted(k: &KafkaConfig, topic: &str) -> Result<(), PipelineError> {
    let admin: AdminClient<DefaultClientContext> =
        base(k).create().map_err(kerr("creating an admin client"))?;
    // Brokers answer at once; a test broker that cannot describe configs
    // should not hold the start for long.
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(3)));
    let described = admin
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &opts)
        .await;
    let policy = match described.as_deref() {
        Ok([Ok(r)]) => r
            .get("cleanup.policy")
            .and_then(|e| e.value.clone())
            .unwrap_or_default(),
        other => {
            // Brokers that cannot describe configs (some test brokers) are
            // trusted; the topic was checked to exist.
            warn!(topic, result = ?other.map(|r| r.len()), "could not read the checkpoints topic's cleanup.policy");
            return Ok(());
        }
    };
    if policy.split(',').any(|p| p.trim() == "compact") {
        Ok(())
    } else {
        Err(PipelineError::NotCompacted {
            topic: topic.to_string(),
            policy,
        })
    }
}

async fn create_topics(k: &KafkaConfig, names: &[String]) -> Result<(), PipelineError> {
    let admin: AdminClient<DefaultClientContext> =
        base(k).create().map_err(kerr("creating an admin client"))?;
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|n| {
            let t = NewTopic::new(
                n,
                k.topic_partitions,
                TopicReplication::Fixed(k.replication_factor),
            );
            if *n == k.topics.checkpoints {
                t.set("cleanup.policy", "compact")
            } else {
                t
            }
        })
        .collect();
    let results = admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .map_err(kerr("creating topics"))?;
    for r in results {
        match r {
            Ok(name) => info!(topic = %name, partitions = k.topic_partitions, "created topic"),
            Err((name, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {
                info!(topic = %name, "topic already exists")
            }
            Err((name, code)) => {
                return Err(PipelineError::Kafka {
                    context: format!("creating topic {name}"),
                    cause: rdkafka::error::KafkaError::AdminOp(code),
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_consumer_fetches_again_soon_after_its_queue_was_full() {
        let c = group_consumer_config(&KafkaConfig::default());
        assert_eq!(c.get("fetch.queue.backoff.ms"), Some("10"));
    }

    #[test]
    fn the_producer_lingers_50ms_unless_the_properties_say_otherwise() {
        assert_eq!(
            producer_config(&KafkaConfig::default()).get("linger.ms"),
            Some("50")
        );
        let mut k = KafkaConfig::default();
        k.properties.insert("linger.ms".into(), "5".into());
        assert_eq!(producer_config(&k).get("linger.ms"), Some("5"));
    }

    #[test]
    fn a_fetch_queue_backoff_in_the_properties_wins() {
        let mut k = KafkaConfig::default();
        k.properties
            .insert("fetch.queue.backoff.ms".into(), "250".into());
        let c = group_consumer_config(&k);
        assert_eq!(c.get("fetch.queue.backoff.ms"), Some("250"));
    }
}
