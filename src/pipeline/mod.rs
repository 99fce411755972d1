//! The Kafka shell around the engine: `ccpulse run`. It knows the core and
//! [`crate::telemetry`]; it never imports export.
//!
//! # Layout
//! - [`settings`]: the `[kafka]` section and its validation; `error`: the
//!   pipeline's error type.
//! - `supervisor`: [`run`]: checks the cluster, chooses the guarantee,
//!   starts everything below, and drains it on shutdown or a fatal error.
//! - `poll`: one thread owns the group consumer. It routes records to
//!   partition tasks and handles rebalances: on assign it pauses the
//!   partition and starts a task; on revoke it lets the tasks drain and has
//!   the output commit before librdkafka takes the partitions away.
//!   `fetchq`: the queue the assigned partitions' records are forwarded
//!   to, read in batches (the only unsafe code reading records).
//! - `task`: one per assigned input partition, owning its `Engine`:
//!   restore, then fold live records in batches; when caught up and idle it
//!   moves the watermark with the wall clock and records that tick.
//!   `context`: what the tasks share; `progress`: how far the poll thread
//!   got, for the caught-up check.
//! - `restore`: rebuilding a partition's engine from its log (with the
//!   recorded decisions and watermark ticks; no effects).
//! - `output`: one task owns the producer: effects, dead letters and ticks
//!   are produced and the consumed offsets committed, either in one Kafka
//!   transaction (exactly-once) or after the broker acknowledged everything
//!   (at-least-once). `records`: the records it writes.
//! - [`checkpoints`]: engine checkpoints on the compacted checkpoints
//!   topic (chunks and a manifest, two alternating slots).
//! - `agents`: reads the whole agent topic (the replicated directory) and
//!   feeds every task.
//! - `kafka`: clients and start-up checks; `topic`: reading one partition
//!   of a topic from its beginning.
//! - [`feed`]: simulated traffic to Kafka (`simulate`, `demo`); [`input`]:
//!   how every feeder writes events to the input topics.
//!
//! Every task is spawned on a `TaskTracker` and stops on a
//! `CancellationToken`; shutdown drains, commits and closes within
//! `kafka.shutdown_timeout`.

pub mod feed;
pub mod input;
pub mod settings;

mod agents;
pub mod checkpoints;
mod context;
mod error;
mod fatal;
pub mod fetchq;
mod kafka;
mod output;
mod poll;
mod progress;
mod records;
mod restore;
mod retry;
mod supervisor;
mod task;
mod topic;

pub use error::PipelineError;
pub use settings::{Guarantee, KafkaConfig};
pub use supervisor::{run, PipelineSettings};
