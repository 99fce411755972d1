//! The runtime, the shutdown signal, tying a cancellation token to a
//! shutdown future on a tracked task, and the guarantee that a stopping
//! process exits in bounded time.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::AppError;

/// The runtime every command runs on.
pub fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(AppError::Runtime)
}

/// How long the runtime waits for blocking threads at exit. Work that
/// matters has been drained and committed by then; a thread still blocked
/// in a client call is abandoned, not waited for.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Run `fut` to completion on a fresh runtime, then shut the runtime down
/// without waiting more than a moment for blocking threads, so a call
/// stuck in a broker client can never keep the process from exiting.
pub fn block_on<T>(fut: impl Future<Output = Result<T, AppError>>) -> Result<T, AppError> {
    let rt = runtime()?;
    let r = rt.block_on(fut);
    rt.shutdown_timeout(EXIT_GRACE);
    r
}

/// Once a process has started stopping, it must be gone within `deadline`
/// whatever hangs: a supervisor (Kubernetes, compose) restarts an exited
/// process, never a hung one. A plain thread, outside the runtime, so a
/// wedged runtime cannot stop it.
pub(super) fn exit_within(deadline: Duration) {
    let spawned = std::thread::Builder::new()
        .name("ccpulse-exit-watchdog".into())
        .spawn(move || {
            std::thread::sleep(deadline);
            tracing::error!(
                deadline_s = deadline.as_secs(),
                "still running after the exit deadline: exiting now"
            );
            std::process::exit(1);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the exit watchdog");
    }
}

/// Resolves on SIGTERM (orchestrators) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Cancel `token` when `shutdown` resolves, on a tracked task that also
/// ends when the token is cancelled by someone else.
pub(super) fn cancel_on(
    tracker: &TaskTracker,
    token: &CancellationToken,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let token = token.clone();
    tracker.spawn(async move {
        tokio::select! {
            _ = shutdown => token.cancel(),
            _ = token.cancelled() => {}
        }
    });
}
