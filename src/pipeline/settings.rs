//! `[kafka]`: brokers, topics, delivery guarantee and client pass-through.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use ccpulse_core::event::codec::Format;
use ccpulse_core::event::Millis;
use ccpulse_core::settings::{Dur, Issue};

/// How effects and offsets are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guarantee {
    /// Exactly-once where the brokers support transactions (probed at
    /// start), else at-least-once with a warning.
    Auto,
    /// Effects and consumed offsets commit in one Kafka transaction; the
    /// start fails if the brokers cannot do transactions.
    ExactlyOnce,
    /// Offsets commit only after the effects are acknowledged; a crash can
    /// repeat effects, with identical ids (de-duplicable downstream).
    AtLeastOnce,
}

/// Wire format of input records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    Json,
    Protobuf,
    /// `content-type` header if present, else JSON when the value starts
    /// with `{`, else protobuf.
    Auto,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topics {
    /// Interaction and survey events, keyed by interaction id. Each
    /// partition is an independent task.
    #[serde(default = "d_events")]
    pub events: Vec<String>,
    /// Agent state events: read whole by every instance (the replicated
    /// agent directory).
    #[serde(default = "d_agents")]
    pub agents: String,
    /// Output: SLA breaches and reassignments. Needs at least as many
    /// partitions as each events topic (effects go to the same partition
    /// number as their input, for restore).
    #[serde(default = "d_effects")]
    pub effects: String,
    /// Internal: wall-clock watermark ticks, so restore replays them.
    #[serde(default = "d_ticks")]
    pub ticks: String,
    /// Records that failed to decode or validate, with the reason.
    #[serde(default = "d_dead_letter")]
    pub dead_letter: String,
    /// Internal, compacted (`cleanup.policy=compact`): one engine
    /// checkpoint per input partition (same partition number), so a restore
    /// replays only what came after it.
    #[serde(default = "d_checkpoints")]
    pub checkpoints: String,
    /// Internal, read by the group like an input (`kafka.customer_stage`):
    /// repeat contacts, resolutions and reopens re-keyed by customer, so
    /// that the partition that owns a customer decides their repeats and
    /// FCR whatever partitions their contacts landed on. Keep its
    /// retention at least the repeat window.
    #[serde(default = "d_customers")]
    pub customers: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics {
            events: d_events(),
            agents: d_agents(),
            effects: d_effects(),
            ticks: d_ticks(),
            dead_letter: d_dead_letter(),
            checkpoints: d_checkpoints(),
            customers: d_customers(),
        }
    }
}

fn d_events() -> Vec<String> {
    vec!["ccpulse.interactions".into(), "ccpulse.surveys".into()]
}
fn d_agents() -> String {
    "ccpulse.agents".into()
}
fn d_effects() -> String {
    "ccpulse.effects".into()
}
fn d_ticks() -> String {
    "ccpulse.ticks".into()
}
fn d_dead_letter() -> String {
    "ccpulse.dead-letter".into()
}
fn d_checkpoints() -> String {
    "ccpulse.checkpoints".into()
}
fn d_customers() -> String {
    "ccpulse.customers".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSection {
    #[serde(default = "d_brokers")]
    pub brokers: String,
    #[serde(default = "d_group")]
    pub group_id: String,
    /// Static membership: a stable id per instance (e.g. the pod name)
    /// avoids rebalances on restarts.
    pub group_instance_id: Option<String>,
    #[serde(default = "d_guarantee")]
    pub processing_guarantee: Guarantee,
    #[serde(default = "d_format")]
    pub format: InputFormat,
    #[serde(default)]
    pub topics: Topics,
    /// How often effects and offsets are committed.
    #[serde(default = "d_commit")]
    pub commit_interval: Dur,
    /// After this long without records, a partition that has caught up
    /// with its log (not one whose records are slow to arrive) lets its
    /// watermark follow the wall clock (minus the allowed lateness) so SLA
    /// timers still fire.
    #[serde(default = "d_idle")]
    pub idle_timeout: Dur,
    /// Deadline for a graceful shutdown (finish, commit, close), and for
    /// exiting after a fatal error.
    #[serde(default = "d_shutdown")]
    pub shutdown_timeout: Dur,
    /// How long a broker call at start-up or during a restore is retried
    /// (with backoff) before the failure counts as sustained and the
    /// process exits for its supervisor to restart it. A broker that is
    /// slow or electing a leader for a moment costs a retry, not a restart.
    #[serde(default = "d_retry_budget")]
    pub retry_budget: Dur,
    /// How often each partition writes a checkpoint of its engine (when
    /// something changed since the last one); `"0s"` turns checkpoints off
    /// (restores then replay the whole retention).
    #[serde(default = "d_checkpoint_interval")]
    pub checkpoint_interval: Dur,
    /// Records a partition task folds before yielding.
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Decide repeat contacts and FCR per customer, across partitions,
    /// through `topics.customers` (exact whatever partition a customer's
    /// contacts land on). `false`: each partition decides from its own
    /// contacts (exact only when a customer's contacts share a partition;
    /// otherwise repeats are a lower bound and FCR an upper bound), with
    /// one topic and its traffic less.
    #[serde(default = "d_customer_stage")]
    pub customer_stage: bool,
    /// Create missing topics at start with these settings.
    #[serde(default)]
    pub create_topics: bool,
    #[serde(default = "d_partitions")]
    pub topic_partitions: i32,
    #[serde(default = "d_replication")]
    pub replication_factor: i32,
    /// Extra librdkafka properties (TLS, SASL, tuning), passed as they are.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaSection {
    fn default() -> Self {
        KafkaSection {
            brokers: d_brokers(),
            group_id: d_group(),
            group_instance_id: None,
            processing_guarantee: d_guarantee(),
            format: d_format(),
            topics: Topics::default(),
            commit_interval: d_commit(),
            idle_timeout: d_idle(),
            shutdown_timeout: d_shutdown(),
            retry_budget: d_retry_budget(),
            checkpoint_interval: d_checkpoint_interval(),
            batch_size: d_batch(),
            customer_stage: d_customer_stage(),
            create_topics: false,
            topic_partitions: d_partitions(),
            replication_factor: d_replication(),
            properties: BTreeMap::new(),
        }
    }
}

fn d_brokers() -> String {
    "localhost:9092".into()
}
fn d_group() -> String {
    "ccpulse".into()
}
fn d_guarantee() -> Guarantee {
    Guarantee::Auto
}
fn d_format() -> InputFormat {
    InputFormat::Auto
}
fn d_commit() -> Dur {
    Dur(100)
}
fn d_idle() -> Dur {
    Dur(10_000)
}
fn d_shutdown() -> Dur {
    Dur(30_000)
}
fn d_retry_budget() -> Dur {
    Dur(120_000)
}
fn d_checkpoint_interval() -> Dur {
    Dur(30_000)
}
fn d_batch() -> usize {
    500
}
fn d_customer_stage() -> bool {
    true
}
fn d_partitions() -> i32 {
    6
}
fn d_replication() -> i32 {
    1
}

/// Validated Kafka settings.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub brokers: String,
    pub group_id: String,
    pub group_instance_id: Option<String>,
    pub guarantee: Guarantee,
    pub format: InputFormat,
    pub topics: Topics,
    pub commit_interval: Millis,
    pub idle_timeout: Millis,
    pub shutdown_timeout: Millis,
    pub retry_budget: Millis,
    pub checkpoint_interval: Millis,
    pub batch_size: usize,
    pub customer_stage: bool,
    pub create_topics: bool,
    pub topic_partitions: i32,
    pub replication_factor: i32,
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        let mut issues = Vec::new();
        let c = KafkaSection::default().validate(&mut issues);
        debug_assert!(issues.is_empty());
        c
    }
}

impl KafkaConfig {
    /// The topics the group reads, each partition a task: the events
    /// topics, and the customer stage's topic when it is on.
    pub fn inputs(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.topics.events.iter().map(String::as_str).collect();
        if self.customer_stage {
            v.push(&self.topics.customers);
        }
        v
    }

    /// Whether `topic` is the customer stage's (its tasks decide customer
    /// facts instead of folding events).
    pub fn is_stage(&self, topic: &str) -> bool {
        self.customer_stage && topic == self.topics.customers
    }
}

/// Properties ccpulse sets itself; overriding them would break guarantees.
const RESERVED: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "group.instance.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "isolation.level",
    "transactional.id",
    "enable.idempotence",
];

impl KafkaSection {
    pub fn validate(&self, issues: &mut Vec<Issue>) -> KafkaConfig {
        let mut bad = |field: &str, problem: String, fix: &str| {
            issues.push(Issue {
                field: format!("kafka.{field}"),
                problem,
                fix: fix.to_string(),
            })
        };
        if self.brokers.trim().is_empty() {
            bad(
                "brokers",
                "empty".into(),
                "list bootstrap brokers, e.g. \"kafka-1:9092,kafka-2:9092\"",
            );
        }
        if self.group_id.trim().is_empty() {
            bad(
                "group_id",
                "empty".into(),
                "name the consumer group, e.g. \"ccpulse\"",
            );
        }
        if self
            .group_instance_id
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            bad(
                "group_instance_id",
                "empty".into(),
                "leave it out, or set a stable per-instance id such as the pod name",
            );
        }
        let t = &self.topics;
        if t.events.is_empty() {
            bad(
                "topics.events",
                "no input topics".into(),
                "list at least one, e.g. [\"ccpulse.interactions\"]",
            );
        }
        let mut names: Vec<(&str, &str)> = t
            .events
            .iter()
            .map(|e| ("topics.events", e.as_str()))
            .collect();
        names.extend([
            ("topics.agents", t.agents.as_str()),
            ("topics.effects", t.effects.as_str()),
            ("topics.ticks", t.ticks.as_str()),
            ("topics.dead_letter", t.dead_letter.as_str()),
            ("topics.checkpoints", t.checkpoints.as_str()),
        ]);
        if self.customer_stage {
            names.push(("topics.customers", t.customers.as_str()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (field, n) in &names {
            if n.is_empty()
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                bad(
                    field,
                    format!("{n:?} is not a valid topic name"),
                    "use letters, digits, '.', '_' and '-'",
                );
            } else if !seen.insert(*n) {
                bad(
                    field,
                    format!("topic {n:?} is used twice"),
                    "give each role its own topic",
                );
            }
        }
        if self.commit_interval.0 < 10 {
            bad(
                "commit_interval",
                format!("{} is too short", self.commit_interval),
                "use 100ms or more",
            );
        }
        if self.idle_timeout.0 < 100 {
            bad(
                "idle_timeout",
                format!("{} is too short", self.idle_timeout),
                "use e.g. 10s",
            );
        }
        if self.shutdown_timeout.0 < 1_000 {
            bad(
                "shutdown_timeout",
                format!("{} leaves no time to commit", self.shutdown_timeout),
                "use at least 1s; the default is 30s",
            );
        }
        if self.retry_budget.0 < 1_000 {
            bad(
                "retry_budget",
                format!(
                    "{} turns every slow broker reply into a restart",
                    self.retry_budget
                ),
                "use at least 1s; the default is 2m",
            );
        }
        if self.checkpoint_interval.0 != 0 && self.checkpoint_interval.0 < 1_000 {
            bad(
                "checkpoint_interval",
                format!(
                    "{} would write the whole state too often",
                    self.checkpoint_interval
                ),
                "use at least 1s (the default is 30s), or \"0s\" to turn checkpoints off",
            );
        }
        if self.batch_size == 0 {
            bad(
                "batch_size",
                "must be at least 1".into(),
                "the default is 500",
            );
        }
        if self.topic_partitions < 1 || self.replication_factor < 1 {
            bad(
                "topic_partitions",
                "partitions and replication factor must be >= 1".into(),
                "e.g. topic_partitions = 6, replication_factor = 3",
            );
        }
        check_security(&self.properties, &mut bad);
        for k in self.properties.keys() {
            if RESERVED.contains(&k.as_str()) {
                bad(
                    &format!("properties.{k}"),
                    "is set by ccpulse itself".into(),
                    "use the dedicated setting (brokers, group_id, group_instance_id, processing_guarantee) or remove it",
                );
            }
        }
        KafkaConfig {
            brokers: self.brokers.clone(),
            group_id: self.group_id.clone(),
            group_instance_id: self.group_instance_id.clone(),
            guarantee: self.processing_guarantee,
            format: self.format,
            topics: self.topics.clone(),
            commit_interval: self.commit_interval.0,
            idle_timeout: self.idle_timeout.0,
            shutdown_timeout: self.shutdown_timeout.0,
            retry_budget: self.retry_budget.0,
            checkpoint_interval: self.checkpoint_interval.0,
            batch_size: self.batch_size.max(1),
            customer_stage: self.customer_stage,
            create_topics: self.create_topics,
            topic_partitions: self.topic_partitions.max(1),
            replication_factor: self.replication_factor.max(1),
            properties: self.properties.clone(),
        }
    }
}

/// The features this binary's librdkafka was built with (`ssl`,
/// `sasl_scram`, `sasl_oauthbearer`, …), as librdkafka reports them.
pub fn builtin_features() -> BTreeSet<String> {
    rdkafka::config::ClientConfig::new()
        .create_native_config()
        .and_then(|c| c.get("builtin.features"))
        .map(|f| {
            f.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

/// Security settings the binary cannot honour fail at `check-config` and
/// at start, not at the first connection.
fn check_security(props: &BTreeMap<String, String>, bad: &mut impl FnMut(&str, String, &str)) {
    let features = builtin_features();
    if let Some(p) = props.get("security.protocol") {
        let p = p.to_ascii_lowercase();
        match p.as_str() {
            "plaintext" | "sasl_plaintext" => {}
            "ssl" | "sasl_ssl" if features.contains("ssl") => {}
            "ssl" | "sasl_ssl" => bad(
                "properties.security.protocol",
                format!("{p:?} needs TLS, which this build of ccpulse lacks"),
                "use a build with TLS (the default build has it)",
            ),
            _ => bad(
                "properties.security.protocol",
                format!("unknown protocol {p:?}"),
                "use one of plaintext, ssl, sasl_plaintext, sasl_ssl",
            ),
        }
    }
    let mechanisms = props
        .get("sasl.mechanisms")
        .or_else(|| props.get("sasl.mechanism"));
    if let Some(m) = mechanisms {
        for m in m.split(',').map(|s| s.trim().to_ascii_uppercase()) {
            let need = match m.as_str() {
                "PLAIN" => "sasl_plain",
                "SCRAM-SHA-256" | "SCRAM-SHA-512" => "sasl_scram",
                "OAUTHBEARER" => "sasl_oauthbearer",
                "GSSAPI" => "sasl_gssapi",
                _ => {
                    bad(
                        "properties.sasl.mechanisms",
                        format!("unknown SASL mechanism {m:?}"),
                        "use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
                    );
                    continue;
                }
            };
            if !features.contains(need) {
                bad(
                    "properties.sasl.mechanisms",
                    format!(
                        "{m} is not built into this binary (its librdkafka has: {})",
                        features.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    "use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
                );
            }
        }
    }
}

impl KafkaConfig {
    /// Largest record the producer sends (`message.max.bytes`, librdkafka's
    /// default 1,000,000 unless set in `[kafka.properties]`).
    pub fn max_message_bytes(&self) -> usize {
        self.properties
            .get("message.max.bytes")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(1_000_000)
    }
}

impl InputFormat {
    /// The codec for one record.
    pub fn pick(self, value: &[u8], content_type: Option<&[u8]>) -> Format {
        match self {
            InputFormat::Json => Format::Json,
            InputFormat::Protobuf => Format::Protobuf,
            InputFormat::Auto => match content_type {
                Some(ct) if ct.windows(4).any(|w| w.eq_ignore_ascii_case(b"json")) => Format::Json,
                Some(ct) if ct.windows(8).any(|w| w.eq_ignore_ascii_case(b"protobuf")) => {
                    Format::Protobuf
                }
                _ => {
                    if value.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
                        Format::Json
                    } else {
                        Format::Protobuf
                    }
                }
            },
        }
    }
}
