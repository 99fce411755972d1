//! Why a command failed: each layer's error, with its own context.

use crate::config::ConfigError;
use crate::export::ExportError;
use crate::pipeline::PipelineError;
use crate::replay::ReplayError;

/// Why a command failed; each layer's error with its own context.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("replay failed: {0}")]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Mapping(#[from] crate::sources::mapped::MappedError),
    #[error("following the queue_log failed: {0}")]
    Follow(#[from] crate::sources::follow::FollowError),
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("starting the embedded broker: {0}")]
    EmbeddedBroker(rdkafka::error::KafkaError),
    #[error("{0}")]
    Usage(String),
    #[error("a {0} task panicked (see the log above)")]
    TaskPanicked(&'static str),
}
