//! The pipeline's error type: every failure names what it was doing and,
//! where there is one, the fix.

use rdkafka::error::KafkaError;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("Kafka {context}: {cause}")]
    Kafka { context: String, cause: KafkaError },
    #[error("cannot reach the Kafka brokers {brokers:?} within {timeout_s}s: {cause} (fix: check kafka.brokers and the network, or TLS/SASL settings in [kafka.properties])")]
    Unreachable {
        brokers: String,
        timeout_s: u64,
        cause: KafkaError,
    },
    #[error("missing topics: {} (fix: create them, or set kafka.create_topics = true)", topics.join(", "))]
    MissingTopics { topics: Vec<String> },
    #[error("topic {topic} has {has} partitions but input topic {input} has {needs}; effects and ticks go to the input's partition number (fix: give {topic} at least {needs} partitions)")]
    TooFewPartitions {
        topic: String,
        has: usize,
        input: String,
        needs: usize,
    },
    #[error("the output to Kafka failed: {0} (the process exits so that a restart restores from the last commit)")]
    Output(String),
    /// A transaction the broker refused for a reason a fresh start
    /// recovers from (e.g. the group's generation changed while the
    /// broker restarted): it was aborted (or the abort failed with the
    /// broker away, which the next producer's initialisation finishes),
    /// and `restartable` says the pipeline may be started again
    /// in-process, from the last commit.
    #[error("the transaction was aborted: {reason} (its partitions restore from the last commit)")]
    TransactionAborted { reason: String, restartable: bool },
    /// Tasks still ran at the shutdown deadline and were abandoned.
    #[error(transparent)]
    Abandoned(Box<PipelineError>),
    #[error("restoring {topic}/{partition} stalled at offset {at} of {end}: no record for {stalled_s}s (fix: check the brokers' health; kafka.retry_budget sets how long a stalled read waits before the process exits for a restart)")]
    Restore {
        topic: String,
        partition: i32,
        at: i64,
        end: i64,
        stalled_s: u64,
    },
    #[error("kafka.processing_guarantee = \"exactly_once\" but the brokers {brokers:?} do not support transactions ({cause}) (fix: set kafka.processing_guarantee = \"auto\" or \"at_least_once\")")]
    NoTransactions { brokers: String, cause: KafkaError },
    #[error("shutdown did not finish within {0} ms")]
    ShutdownTimeout(u64),
    #[error("{what} kept failing for {elapsed_s}s ({attempts} attempts): {cause} (fix: check the brokers' health and the network; kafka.retry_budget sets how long a failing call is retried before the process exits)")]
    Sustained {
        what: String,
        attempts: u32,
        elapsed_s: u64,
        cause: KafkaError,
    },
    #[error("the brokers {brokers:?} refused the credentials: {cause} (fix: check sasl.mechanisms, sasl.username and sasl.password in [kafka.properties])")]
    Authentication { brokers: String, cause: String },
    #[error("TLS with the brokers {brokers:?} failed: {cause} (fix: set ssl.ca.location in [kafka.properties] to the CA that signed the brokers' certificates, and check security.protocol)")]
    Tls { brokers: String, cause: String },
    #[error("the consumer hit a fatal Kafka error: {0} (the process exits so that a restart rejoins with a fresh consumer)")]
    FatalConsumer(String),
    #[error("a {task} task panicked (see the log above)")]
    Panicked { task: &'static str },
    #[error("the checkpoints topic {topic} has cleanup.policy={policy:?}, not compact: its checkpoints would expire or pile up (fix: kafka-configs --alter --entity-type topics --entity-name {topic} --add-config cleanup.policy=compact)")]
    NotCompacted { topic: String, policy: String },
    /// A wait ended because the pipeline is stopping (not a failure).
    #[error("stopped")]
    Stopped,
}

pub(crate) fn kerr(context: impl Into<String>) -> impl FnOnce(KafkaError) -> PipelineError {
    let context = context.into();
    move |cause| PipelineError::Kafka { context, cause }
}

impl PipelineError {
    /// A fresh start of the pipeline in this process recovers from it:
    /// nothing was left running, and nothing but the work since the last
    /// commit is lost (and redone by the restore).
    pub fn restartable(&self) -> bool {
        matches!(
            self,
            PipelineError::TransactionAborted {
                restartable: true,
                ..
            }
        )
    }
}
