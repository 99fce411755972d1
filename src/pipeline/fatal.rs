//! The fatal path, shared by every task of the pipeline.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use tracing::error;

use super::error::PipelineError;

/// The fatal path: the first task that fails for good raises it with its
/// error; everything stops, and [`run`](super::run) returns that error so
/// the process exits non-zero for its supervisor to restart it.
#[derive(Clone, Default)]
pub(super) struct Fatal {
    token: CancellationToken,
    cause: Arc<Mutex<Option<PipelineError>>>,
}

impl Fatal {
    /// Record `cause` (the first one wins) and stop everything.
    pub(super) fn raise(&self, task: &'static str, cause: PipelineError) {
        if matches!(cause, PipelineError::Stopped) {
            return;
        }
        error!(task, error = %cause, "fatal error: stopping");
        if let Ok(mut c) = self.cause.lock() {
            c.get_or_insert(cause);
        }
        self.token.cancel();
    }

    pub(super) fn is_raised(&self) -> bool {
        self.token.is_cancelled()
    }

    pub(super) async fn raised(&self) {
        self.token.cancelled().await
    }

    /// The error that was raised, once.
    pub(super) fn take(&self) -> Option<PipelineError> {
        self.cause.lock().ok().and_then(|mut c| c.take())
    }
}
