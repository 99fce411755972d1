//! `ccpulse replay`: fold event files into one engine and print the final
//! snapshot; optionally write the emitted effects as JSON Lines.
//!
//! This is the shell around the pure engine for files: it reads, reports
//! bad records with their position (and keeps going), shows progress, and
//! writes outputs. It is also how anyone checks a figure by hand.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use crate::sources::{asterisk, file, mapped};
use ccpulse_core::adapters::asterisk::{Outcome, QueueLogMapper};
use ccpulse_core::adapters::asterisk_error::QueueLogError;
use ccpulse_core::adapters::mapping::Mapping;
use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::snapshot::{Figures, Snapshot};
use ccpulse_core::engine::Engine;
use ccpulse_core::event::codec::{encode_effect_json, DecodeError, Limits};
use ccpulse_core::event::file::{FileError, Position};
use ccpulse_core::event::Effect;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    QueueLog(#[from] asterisk::QueueLogFileError),
    #[error(transparent)]
    Mapped(#[from] mapped::MappedError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{bad} of {total} records could not be decoded (strict mode)")]
    Strict { bad: u64, total: u64 },
}

/// What a replay did, besides the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records (event files) or lines (queue_log) read.
    pub records: u64,
    pub bad_records: u64,
    pub effects: u64,
    /// Known queue_log lines that carry no figure (QUEUESTART, DID, …), and
    /// mapped vendor records no rule turns into an event.
    pub ignored_lines: u64,
    /// Events the queue_log lines mapped to.
    pub mapped_events: u64,
}

/// How the input files are read.
#[derive(Debug, Clone, Default)]
pub enum InputFormat {
    /// ccpulse event files, the layout from the extension (`.jsonl`,
    /// `.ndjson`: JSON Lines; `.pb`, `.bin`: length-delimited protobuf).
    #[default]
    Events,
    /// Asterisk app_queue `queue_log` files, mapped by
    /// [`ccpulse_core::adapters::asterisk`].
    AsteriskQueueLog,
    /// Vendor JSON records (JSON Lines or one JSON array per file) through
    /// a declarative mapping ([`ccpulse_core::adapters::mapping`]).
    JsonMapping(Box<Mapping>),
}

/// A record that failed to decode, with where it was.
#[derive(Debug)]
pub struct BadRecord<'a> {
    pub path: &'a Path,
    pub position: Position,
    pub error: &'a DecodeError,
}

/// Fold `files` in order into a fresh engine. Records are validated with
/// `limits`, as the live service validates them (events ahead of this
/// machine's clock by more than `limits.max_future_skew` are rejected).
/// Effects go to `effects` as JSON Lines when given. Bad records are logged
/// and skipped (or fail the replay in `strict` mode, after reading
/// everything).
pub fn replay(
    cfg: &EngineConfig,
    limits: &Limits,
    files: &[PathBuf],
    effects: Option<&Path>,
    strict: bool,
) -> Result<(Snapshot, ReplayReport), ReplayError> {
    replay_format(cfg, limits, &InputFormat::Events, files, effects, strict)
}

/// [`replay`] of files in `format`.
pub fn replay_format(
    cfg: &EngineConfig,
    limits: &Limits,
    format: &InputFormat,
    files: &[PathBuf],
    effects: Option<&Path>,
    strict: bool,
) -> Result<(Snapshot, ReplayReport), ReplayError> {
    let mut engine = Engine::new(cfg.clone());
    let report = replay_into_format(
        &mut engine,
        limits,
        format,
        files,
        effects,
        strict,
        &mut |_| {},
    )?;
    Ok((engine.snapshot(), report))
}

/// Records between two calls of the `progress` hook of [`replay_into`].
pub const PROGRESS_EVERY: u64 = 10_000;

/// How often a replay logs its progress.
const PROGRESS_LOG: Duration = Duration::from_secs(2);

/// Records between two reads of the clock for that log: one per record was
/// 1.7 % of a replay's instructions (callgrind).
const CLOCK_EVERY: u64 = 1024;

/// [`replay`] into a given engine, calling `progress` every
/// [`PROGRESS_EVERY`] records and once at the end (after the flush), e.g.
/// to drain the engine's sample tap while folding.
pub fn replay_into(
    engine: &mut Engine,
    limits: &Limits,
    files: &[PathBuf],
    effects: Option<&Path>,
    strict: bool,
    progress: &mut dyn FnMut(&mut Engine),
) -> Result<ReplayReport, ReplayError> {
    replay_into_format(
        engine,
        limits,
        &InputFormat::Events,
        files,
        effects,
        strict,
        progress,
    )
}

/// [`replay_into`] of files in `format`. A queue_log's lines are mapped
/// in order across all `files` by one mapper (give rotated files oldest
/// first, so a call that spans a rotation is one call); a line that cannot
/// be mapped counts as a bad record, reported with its file and line.
pub fn replay_into_format(
    engine: &mut Engine,
    limits: &Limits,
    format: &InputFormat,
    files: &[PathBuf],
    effects: Option<&Path>,
    strict: bool,
    progress: &mut dyn FnMut(&mut Engine),
) -> Result<ReplayReport, ReplayError> {
    let mut sink = match effects {
        Some(p) => Some((
            p,
            BufWriter::new(File::create(p).map_err(|source| ReplayError::Write {
                path: p.to_path_buf(),
                source,
            })?),
        )),
        None => None,
    };
    let mut report = ReplayReport::default();
    let mut out: Vec<Effect> = Vec::new();
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut mapper = QueueLogMapper::new(limits.clone());
    for path in files {
        if let InputFormat::JsonMapping(mapping) = format {
            let reader = mapped::open(path, mapping.as_ref().clone(), limits.clone())?;
            for item in reader {
                report.records += 1;
                match item.outcome {
                    Ok(m) if m.events.is_empty() => report.ignored_lines += 1,
                    Ok(m) => {
                        report.mapped_events += m.events.len() as u64;
                        for ev in m.events {
                            engine.apply(ev, &mut out);
                        }
                    }
                    Err(error) => {
                        report.bad_records += 1;
                        warn!(file = %path.display(), position = %item.at, %error, "skipping unmappable record");
                    }
                }
                write_effects(&mut sink, &mut out, &mut report)?;
                if report.records % PROGRESS_EVERY == 0 {
                    progress(engine);
                }
            }
            continue;
        }
        if matches!(format, InputFormat::AsteriskQueueLog) {
            let mut lines = asterisk::open(path)?;
            while let Some(line) = lines.next_line()? {
                report.records += 1;
                match mapper.map_line(line.number, &line.bytes, Some(now)) {
                    Ok(Outcome::Events(events)) => {
                        report.mapped_events += events.len() as u64;
                        for ev in events {
                            engine.apply(ev, &mut out);
                        }
                    }
                    Ok(Outcome::Ignored(_)) => report.ignored_lines += 1,
                    Err(error) => bad_line(path, &error, &mut report),
                }
                write_effects(&mut sink, &mut out, &mut report)?;
                if report.records % PROGRESS_EVERY == 0 {
                    progress(engine);
                }
                if report.records % CLOCK_EVERY == 0 && last_progress.elapsed() >= PROGRESS_LOG {
                    last_progress = Instant::now();
                    let rate = report.records as f64 / started.elapsed().as_secs_f64();
                    info!(file = %path.display(), lines = report.records, rate = format!("{rate:.0}/s"), "replaying");
                }
            }
            continue;
        }
        for rec in file::open_with(path, limits.clone())?.not_after(now) {
            let rec = rec?;
            report.records += 1;
            match rec.event {
                Ok(ev) => {
                    engine.apply(ev, &mut out);
                }
                Err(error) => {
                    report.bad_records += 1;
                    warn!(file = %path.display(), position = %rec.position, reason = error.reason_code(), %error, "skipping bad record");
                }
            }
            write_effects(&mut sink, &mut out, &mut report)?;
            if report.records % PROGRESS_EVERY == 0 {
                progress(engine);
            }
            if report.records % CLOCK_EVERY == 0 && last_progress.elapsed() >= PROGRESS_LOG {
                last_progress = Instant::now();
                let rate = report.records as f64 / started.elapsed().as_secs_f64();
                info!(file = %path.display(), records = report.records, rate = format!("{rate:.0}/s"), "replaying");
            }
        }
    }
    engine.flush(&mut out);
    write_effects(&mut sink, &mut out, &mut report)?;
    progress(engine);
    if let Some((p, w)) = sink.as_mut() {
        w.flush().map_err(|source| ReplayError::Write {
            path: p.to_path_buf(),
            source,
        })?;
    }
    info!(
        records = report.records,
        bad_records = report.bad_records,
        ignored_lines = report.ignored_lines,
        mapped_events = report.mapped_events,
        effects = report.effects,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "replay done"
    );
    if strict && report.bad_records > 0 {
        return Err(ReplayError::Strict {
            bad: report.bad_records,
            total: report.records,
        });
    }
    Ok(report)
}

/// A queue_log line that could not be mapped: logged with its file and
/// line, counted as a bad record.
fn bad_line(path: &Path, error: &QueueLogError, report: &mut ReplayReport) {
    report.bad_records += 1;
    warn!(file = %path.display(), position = %format!("line {}", error.line), reason = error.reason_code(), problem = %error.problem, "skipping bad queue_log line");
}

fn write_effects(
    sink: &mut Option<(&Path, BufWriter<File>)>,
    out: &mut Vec<Effect>,
    report: &mut ReplayReport,
) -> Result<(), ReplayError> {
    report.effects += out.len() as u64;
    if let Some((p, w)) = sink.as_mut() {
        for e in out.iter() {
            writeln!(w, "{}", encode_effect_json(e)).map_err(|source| ReplayError::Write {
                path: p.to_path_buf(),
                source,
            })?;
        }
    }
    out.clear();
    Ok(())
}

/// A plain-text table of the main figures per queue × channel, for a
/// window name or `total`.
pub fn table(s: &Snapshot, window: &str) -> String {
    let mut t = String::new();
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0));
    let secs = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}s"));
    let _ = writeln!(
        t,
        "as of {}  window {}\n{:<16} {:<7} {:>8} {:>8} {:>8} {:>7} {:>8} {:>9} {:>9} {:>7} {:>8}",
        s.as_of.as_deref().unwrap_or("-"),
        window,
        "queue",
        "channel",
        "offered",
        "answered",
        "abandon",
        "SL",
        "abandon%",
        "ASA",
        "AHT",
        "waiting",
        "oldest"
    );
    for q in &s.queues {
        let f: Option<&Figures> = if window == "total" {
            Some(&q.total)
        } else {
            q.windows.get(window)
        };
        let Some(f) = f else { continue };
        // Several tenants: each queue as tenant/queue.
        let name = if s.tenants.len() > 1 {
            format!("{}/{}", q.tenant, q.queue)
        } else {
            q.queue.clone()
        };
        let _ = writeln!(
            t,
            "{:<16} {:<7} {:>8} {:>8} {:>8} {:>7} {:>8} {:>9} {:>9} {:>7} {:>8}",
            name,
            q.channel.as_str(),
            f.counts.offered,
            f.counts.answered,
            f.counts.abandoned,
            pct(f.service_level.answered),
            pct(f.abandon_rate),
            secs(f.asa_seconds),
            secs(f.aht_seconds),
            q.now.waiting,
            secs(q.now.oldest_waiting_age_seconds),
        );
    }
    let _ = writeln!(
        t,
        "\nagents by state: available {} busy {} wrap-up {} away {} offline {}",
        s.center.agents_by_state.available,
        s.center.agents_by_state.busy,
        s.center.agents_by_state.wrap_up,
        s.center.agents_by_state.away,
        s.center.agents_by_state.offline
    );
    t
}
