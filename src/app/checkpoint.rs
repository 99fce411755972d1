//! `ccpulse checkpoint inspect`: what the stored checkpoints hold, read
//! from the checkpoints topic (or from a file saved with `--save`), and
//! whether this binary and configuration could restore them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ccpulse_core::engine::checkpoint;
use ccpulse_core::engine::CheckpointInfo;
use serde::Serialize;

use super::AppError;
use crate::config::Config;
use crate::pipeline::checkpoints::{self, Manifest};

/// One checkpoint, as `inspect` reports it.
#[derive(Debug, Serialize)]
pub struct Inspected {
    /// Its manifest on the topic (`None` for a file).
    pub manifest: Option<Manifest>,
    /// What it holds (`None` when this binary cannot read it).
    pub info: Option<CheckpointInfo>,
    /// Why this binary cannot read it (unknown format version, checksum).
    pub error: Option<String>,
    /// Taken under the engine settings of the given configuration: a
    /// restore would load it (otherwise the partition replays its log).
    pub settings_match: bool,
    /// Where `--save` wrote its bytes.
    pub saved_to: Option<PathBuf>,
}

fn inspected(cfg: &Config, manifest: Option<Manifest>, bytes: &[u8]) -> Inspected {
    let (info, error) = match checkpoint::inspect(bytes) {
        Ok(i) => (Some(i), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let settings_match = info.as_ref().is_some_and(|i| {
        // A format-1 checkpoint was taken under the settings that
        // existed then, formats 1 and 2 hold the default tenant only
        // (`Engine::restore` checks them the same way).
        i.settings_fingerprint
            == ccpulse_core::engine::checkpoint::settings_fingerprint(&cfg.engine, i.version)
    });
    Inspected {
        manifest,
        info,
        error,
        settings_match,
        saved_to: None,
    }
}

/// Every complete checkpoint on the configured checkpoints topic, newest
/// first per input partition; with `save`, each one's bytes are written
/// there as `{input}-{partition}-{id}.ckpt`.
pub fn inspect_topic(cfg: &Config, save: Option<&Path>) -> Result<Vec<Inspected>, AppError> {
    let found = checkpoints::stored(&cfg.kafka)?;
    let mut out = Vec::with_capacity(found.len());
    for f in found {
        let mut i = inspected(cfg, Some(f.manifest.clone()), &f.bytes);
        if let Some(dir) = save {
            let m = &f.manifest;
            let path = dir.join(format!("{}-{}-{}.ckpt", m.input, m.partition, m.id));
            std::fs::write(&path, &f.bytes).map_err(|e| {
                AppError::Usage(format!(
                    "cannot write {}: {e} (fix: --save must name a writable directory)",
                    path.display()
                ))
            })?;
            i.saved_to = Some(path);
        }
        out.push(i);
    }
    Ok(out)
}

/// A checkpoint saved to a file.
pub fn inspect_file(cfg: &Config, path: &Path) -> Result<Inspected, AppError> {
    let bytes = std::fs::read(path).map_err(|e| {
        AppError::Usage(format!(
            "cannot read {}: {e} (fix: check the path)",
            path.display()
        ))
    })?;
    Ok(inspected(cfg, None, &bytes))
}

fn time(ms: Option<i64>) -> String {
    ms.and_then(|ms| u64::try_from(ms).ok()).map_or_else(
        || "-".to_string(),
        |ms| {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
            humantime::format_rfc3339_millis(t).to_string()
        },
    )
}

/// A plain-text report, one block per checkpoint.
pub fn table(all: &[Inspected]) -> String {
    let mut s = String::new();
    if all.is_empty() {
        s.push_str("no complete checkpoint stored\n");
    }
    for i in all {
        if let Some(m) = &i.manifest {
            let _ = writeln!(
                s,
                "{}/{}  checkpoint {}  covers offset {}  written {}  {} chunk(s)",
                m.input,
                m.partition,
                m.id,
                m.offset,
                time(Some(m.written_at_ms)),
                m.chunks
            );
        }
        if let Some(e) = &i.error {
            let _ = writeln!(s, "  unreadable: {e}");
        }
        if let Some(c) = &i.info {
            {
                let _ = writeln!(
                    s,
                    "  format v{}  {} bytes  settings {}",
                    c.version,
                    c.total_bytes,
                    if i.settings_match {
                        "match (restorable)"
                    } else {
                        "differ (a restore would replay the log)"
                    }
                );
                if !c.tenants.is_empty() {
                    let _ = writeln!(s, "  tenants {}", c.tenants.join(", "));
                }
                let _ = writeln!(
                    s,
                    "  watermark {}  newest event {}",
                    time(c.watermark),
                    time(c.max_event_time)
                );
                let _ = writeln!(
                    s,
                    "  open interactions {}  SLA clocks {}  timers {}  buffered {}  dedup ids {}",
                    c.open_interactions, c.sla_clocks, c.pending_timers, c.buffered, c.dedup_ids
                );
                let _ = writeln!(
                    s,
                    "  queues {} ({} with a channel)  agents {}  customers {}  resolved {}",
                    c.queues, c.queue_channels, c.agents, c.customers_tracked, c.resolved_tracked
                );
                let z = &c.sizes;
                let _ = writeln!(
                    s,
                    "  bytes: interactions {}  queues {}  agents {}  sla {}  dedup {}  tracking {}  buffer {}  other {}",
                    z.interactions, z.queues, z.agents, z.sla, z.dedup, z.tracking, z.buffer, z.other
                );
            }
        }
        if let Some(p) = &i.saved_to {
            let _ = writeln!(s, "  saved to {}", p.display());
        }
    }
    s
}
