//! `ccpulse replay --serve`: fold the files with every figure exported (the
//! whole file counts as live), then serve `/metrics`, the probes and the
//! API of the final state until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ccpulse_core::engine::{Engine, Snapshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::AppError;
use super::lifecycle::cancel_on;
use crate::config::Config;
use crate::export::{self, publish, ExportState, MetricsHandle, PartitionKey, PartitionStatus};

pub use crate::replay::{table, InputFormat};

/// The `json-mapping` input format with the mapping at `path` loaded and
/// validated (every problem reported at once).
pub fn json_mapping(path: &Path) -> Result<InputFormat, AppError> {
    let mapping = crate::sources::mapped::load(path)?;
    Ok(InputFormat::JsonMapping(Box::new(mapping)))
}

/// `ccpulse replay` without `--serve`: fold `files` (read as `format`) and
/// return the final snapshot (effects to `effects` when given).
pub fn replay(
    cfg: &Config,
    format: &InputFormat,
    files: &[PathBuf],
    effects: Option<&Path>,
    strict: bool,
) -> Result<Snapshot, AppError> {
    let (snapshot, _report) =
        crate::replay::replay_format(&cfg.engine, &cfg.input, format, files, effects, strict)?;
    Ok(snapshot)
}

/// A replay folded and published, ready to be served.
pub struct Folded {
    cfg: Config,
    state: Arc<ExportState>,
    metrics: MetricsHandle,
    snapshot: Snapshot,
}

impl Folded {
    /// Fold `files` (effects to `effects` when given) with the global
    /// metrics recorder installed, so every figure is exported.
    pub fn fold(
        cfg: Config,
        format: &InputFormat,
        files: &[PathBuf],
        effects: Option<&Path>,
        strict: bool,
    ) -> Result<Folded, AppError> {
        let metrics = export::MetricsExporter::new(&cfg.export).install_global()?;
        let state = Arc::new(ExportState::new());
        state.configure(&cfg.export);
        let key = PartitionKey::new("replay", 0);
        state.set_status(&key, PartitionStatus::Restoring { done: 0, total: 0 });

        let mut engine = Engine::new(cfg.engine.clone());
        engine.set_sample_tap(true);
        let mut publisher =
            export::PartitionPublisher::from_zero().with_privacy(cfg.export.agent_privacy.clone());
        let report = crate::replay::replay_into_format(
            &mut engine,
            &cfg.input,
            format,
            files,
            effects,
            strict,
            &mut |e| publisher.publish_samples(&e.take_samples()),
        )?;
        let publication = engine.publication();
        publisher.publish(&publication);
        publish::publish_processing_totals(&key.topic, report.records, &engine.processing());
        let snapshot = publication.view.snapshot();
        state.publish_view(&key, Arc::new(publication.view), publication.last_event_ms);
        state.set_status(&key, PartitionStatus::Live);
        // Everything in the files is folded: nothing lags.
        state.set_lag(&key, 0);
        state.set_leader(true);
        state.set_started(true);
        Ok(Folded {
            cfg,
            state,
            metrics,
            snapshot,
        })
    }

    /// The final snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Serve the final state on `addr` until `shutdown` resolves.
    pub async fn serve(
        self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let listener = export::http::bind(addr).await?;
        let tracker = TaskTracker::new();
        let stop = CancellationToken::new();
        cancel_on(&tracker, &stop, shutdown);
        let served = export::run(
            listener,
            self.state,
            self.metrics,
            &self.cfg.http,
            &self.cfg.export,
            export::InstancePublisher::from_zero(),
            stop.clone(),
        )
        .await;
        stop.cancel();
        tracker.close();
        tracker.wait().await;
        Ok(served?)
    }
}
