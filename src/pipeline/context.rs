//! What every partition task shares: settings, the consumer, the output
//! channel, the agent directory, the observer, and the task tracker and
//! fatal token every task answers to.

use std::sync::Arc;

use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::event::codec::Limits;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::agents::AgentFeed;
use super::fatal::Fatal;
use super::kafka::GroupConsumer;
use super::output::{CommitControl, Out};
use super::records::BatchPool;
use super::settings::KafkaConfig;
use crate::telemetry::Observer;

/// What every partition task shares.
pub(super) struct Shared {
    pub kafka: Arc<KafkaConfig>,
    pub engine: Arc<EngineConfig>,
    /// How often tasks publish their figures and check for idleness
    /// (`export.tick_interval`).
    pub tick: std::time::Duration,
    pub consumer: Arc<GroupConsumer>,
    pub out: mpsc::Sender<Out>,
    pub agents: AgentFeed,
    pub observer: Arc<dyn Observer>,
    pub tracker: TaskTracker,
    pub runtime: tokio::runtime::Handle,
    pub commit: CommitControl,
    pub fatal: Fatal,
    /// Cancelled when the pipeline starts draining (shutdown or fatal):
    /// ends restores and their retries at once.
    pub stop: CancellationToken,
    /// Input limits, the same as replay's.
    pub limits: Limits,
    /// Partitions of the customer stage's topic, as found at start.
    pub customer_partitions: i32,
    /// Batches the tasks have folded, for the poll thread to refill.
    pub batches: BatchPool,
}
