//! The metrics recorder behind `/metrics`: Prometheus exporters configured
//! from the [catalogue](crate::telemetry::catalog), and the text rendering.
//!
//! # Series lifetime
//! Series are routed by family to one of three Prometheus recorders, each
//! with its own idle timeout (the exporter's `idle_timeout`, which drops a
//! series not updated for that long at the next render):
//!
//! - *kept* (no timeout): queue × channel counters and histograms, and the
//!   processor's counters. Bounded by the queue cap; dropping a quiet
//!   queue's counter would only make PromQL lose its next increment.
//! - *agent* (`export.agent_series_ttl`, default 1 h): every family with an
//!   `agent` label. An agent logged out or idle that long stops being
//!   updated, so its series go away by themselves.
//! - *live* (a few ticks): gauges. The export tick sets every present gauge
//!   each tick (and zeroes the ones that vanished), so only series nobody
//!   sets any more expire.
//!
//! Histograms are not the exporters': the catalogue's are counted into
//! their fixed buckets as samples arrive (`buckets.rs`, which says why),
//! each family with the time-to-live of its class, and rendered after the
//! exporters' series.
//!
//! # Fractional counters
//! `metrics` counters are integers, but `_seconds_total` families carry
//! millisecond sums. They are kept in `f64` gauge cells (incremented, never
//! set) and their `# TYPE` line is rendered as `counter`, as the catalogue
//! says: exact to the millisecond, and sums across instances stay exact.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use metrics_util::MetricKindMask;

use super::buckets::{Buckets, FamilySpec};
use super::error::ExportError;
use super::settings::ExportConfig;
use crate::telemetry::catalog::{self, Family, Kind};

/// Which exporter holds a family, by how long its idle series live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Kept,
    Agent,
    Live,
}

fn class_of(f: &Family) -> Class {
    if f.labels.contains(&"agent") {
        Class::Agent
    } else if f.kind == Kind::Gauge {
        Class::Live
    } else {
        Class::Kept
    }
}

/// A counter family whose values are seconds with a fraction.
pub fn is_fractional(f: &Family) -> bool {
    f.kind == Kind::Counter && f.name.ends_with("_seconds_total")
}

/// Buckets of the export tick's own duration, in seconds.
const TICK_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// How long a gauge nobody sets stays in `/metrics`.
pub fn live_ttl(tick: Duration) -> Duration {
    (tick * 5).max(Duration::from_secs(10))
}

/// Routes every metric to the exporter of its [`Class`]. Install it as the
/// global recorder ([`MetricsExporter::install_global`]) or use it as a
/// local one in tests (`metrics::with_local_recorder`).
#[derive(Debug)]
pub struct MetricsExporter {
    kept: PrometheusRecorder,
    agent: PrometheusRecorder,
    live: PrometheusRecorder,
    classes: HashMap<&'static str, Class>,
    /// Every catalogue histogram (see `buckets.rs` for why not the
    /// exporters').
    buckets: Arc<Buckets>,
    handle: MetricsHandle,
}

/// Renders `/metrics`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MetricsHandle {
    handles: Arc<[PrometheusHandle; 3]>,
    buckets: Arc<Buckets>,
    fractional: Arc<HashSet<&'static str>>,
}

impl MetricsExporter {
    /// Exporters configured from the catalogue: counters and gauges in
    /// the exporter of their class, histograms counted into their buckets
    /// (duration histograms use the engine's bounds), help texts
    /// registered.
    pub fn new(cfg: &ExportConfig) -> Self {
        let build = |ttl: Option<Duration>| -> PrometheusRecorder {
            PrometheusBuilder::new()
                .idle_timeout(MetricKindMask::ALL, ttl)
                .build_recorder()
        };
        let ttl = |class: Class| match class {
            Class::Kept => None,
            Class::Agent => Some(cfg.agent_series_ttl),
            Class::Live => Some(live_ttl(cfg.tick_interval)),
        };
        let kept = build(ttl(Class::Kept));
        let agent = build(ttl(Class::Agent));
        let live = build(ttl(Class::Live));
        let duration: Arc<[f64]> = Arc::from(catalog::duration_buckets_seconds());
        let tick: Arc<[f64]> = Arc::from(TICK_BUCKETS.as_slice());
        let specs = catalog::ALL
            .iter()
            .filter(|f| f.kind == Kind::Histogram)
            .map(|f| {
                let bounds = if f.name == catalog::EXPORT_TICK.name
                    || f.name == catalog::CHECKPOINT_WRITE.name
                    || f.name == catalog::COMMIT_DURATION.name
                {
                    tick.clone()
                } else {
                    duration.clone()
                };
                let spec = FamilySpec {
                    help: f.help,
                    bounds,
                    ttl: ttl(class_of(f)),
                };
                (f.name, spec)
            })
            .collect();
        let buckets = Arc::new(Buckets::new(specs));
        let handle = MetricsHandle {
            handles: Arc::new([kept.handle(), agent.handle(), live.handle()]),
            buckets: buckets.clone(),
            fractional: Arc::new(
                catalog::ALL
                    .iter()
                    .filter(|f| is_fractional(f))
                    .map(|f| f.name)
                    .collect(),
            ),
        };
        let exporter = MetricsExporter {
            kept,
            agent,
            live,
            classes: catalog::ALL.iter().map(|f| (f.name, class_of(f))).collect(),
            buckets,
            handle,
        };
        exporter.describe_catalogue();
        exporter
    }

    pub fn handle(&self) -> MetricsHandle {
        self.handle.clone()
    }

    /// Make this the process-wide recorder (once per process).
    pub fn install_global(self) -> Result<MetricsHandle, ExportError> {
        let handle = self.handle();
        metrics::set_global_recorder(self).map_err(|_| ExportError::RecorderInstalled)?;
        Ok(handle)
    }

    /// Help texts of counters and gauges, for the exporters that render
    /// them (histograms carry theirs in their `FamilySpec`).
    fn describe_catalogue(&self) {
        for f in catalog::ALL {
            let name = KeyName::from_const_str(f.name);
            let help = SharedString::const_str(f.help);
            match f.kind {
                Kind::Counter if is_fractional(f) => self.describe_gauge(name, None, help),
                Kind::Counter => self.describe_counter(name, None, help),
                Kind::Gauge => self.describe_gauge(name, None, help),
                Kind::Histogram => {}
            }
        }
    }

    fn route(&self, name: &str) -> &PrometheusRecorder {
        match self.classes.get(name) {
            Some(Class::Agent) => &self.agent,
            Some(Class::Live) => &self.live,
            Some(Class::Kept) | None => &self.kept,
        }
    }
}

impl Recorder for MetricsExporter {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.route(key.as_str())
            .describe_counter(key, unit, description)
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.route(key.as_str())
            .describe_gauge(key, unit, description)
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.route(key.as_str())
            .describe_histogram(key, unit, description)
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.route(key.name()).register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.route(key.name()).register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        match self.buckets.register(key) {
            Some(series) => Histogram::from_arc(series),
            // Not in the catalogue: the exporter's default (a summary).
            None => self.route(key.name()).register_histogram(key, metadata),
        }
    }
}

impl MetricsHandle {
    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let mut raw = String::new();
        for h in self.handles.iter() {
            raw.push_str(&h.render());
        }
        raw.push_str(&self.buckets.render());
        self.fix_types(raw)
    }

    /// Let the exporters drop idle series and drain any histogram outside
    /// the catalogue. Call it regularly (the export tick does) so memory
    /// stays flat between scrapes.
    pub fn run_upkeep(&self) {
        for h in self.handles.iter() {
            h.run_upkeep();
        }
    }

    /// Declare fractional counters as counters (see the module docs).
    fn fix_types(&self, raw: String) -> String {
        let mut out = String::with_capacity(raw.len());
        for line in raw.split_inclusive('\n') {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                if let Some(name) = rest.strip_suffix(" gauge\n") {
                    if self.fractional.contains(name) {
                        out.push_str("# TYPE ");
                        out.push_str(name);
                        out.push_str(" counter\n");
                        continue;
                    }
                }
            }
            out.push_str(line);
        }
        out
    }
}

/// Metadata for series registered by the export layer itself.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Add to a counter family of the catalogue (integer or fractional).
/// `ms` families (fractional) take milliseconds and publish seconds.
/// Adds `value` (0 registers the series at 0, so ratios over it exist).
pub(crate) fn add(f: &Family, labels: Vec<Label>, value: u64) {
    let key = Key::from_parts(f.name, labels);
    metrics::with_recorder(|r| {
        if is_fractional(f) {
            r.register_gauge(&key, &METADATA)
                .increment(value as f64 / 1000.0);
        } else {
            r.register_counter(&key, &METADATA).increment(value);
        }
    });
}

/// Set a gauge.
pub(crate) fn set_gauge(key: &Key, value: f64) {
    metrics::with_recorder(|r| r.register_gauge(key, &METADATA).set(value));
}

/// A histogram series, to record a batch of samples with one lookup.
pub(crate) fn histogram(f: &Family, labels: Vec<Label>) -> Histogram {
    let key = Key::from_parts(f.name, labels);
    metrics::with_recorder(|r| r.register_histogram(&key, &METADATA))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_labels_and_kind() {
        assert_eq!(class_of(&catalog::OFFERED), Class::Kept);
        assert_eq!(class_of(&catalog::QUEUE_WAIT), Class::Kept);
        assert_eq!(class_of(&catalog::WAITING), Class::Live);
        assert_eq!(class_of(&catalog::AGENTS), Class::Live);
        assert_eq!(class_of(&catalog::AGENT_HANDLED), Class::Agent);
        assert_eq!(class_of(&catalog::AGENT_STATE_SECONDS), Class::Agent);
        assert_eq!(class_of(&catalog::AGENT_HANDLE_TIME), Class::Agent);
        let fractional: Vec<&str> = catalog::ALL
            .iter()
            .filter(|f| is_fractional(f))
            .map(|f| f.name)
            .collect();
        assert_eq!(
            fractional,
            [
                "ccpulse_handle_seconds_total",
                "ccpulse_talk_seconds_total",
                "ccpulse_hold_seconds_total",
                "ccpulse_wrap_up_seconds_total",
                "ccpulse_agent_handle_seconds_total",
                "ccpulse_agent_state_seconds_total",
            ]
        );
    }

    #[test]
    fn fractional_counters_render_as_counters_in_seconds() {
        let exp = MetricsExporter::new(&ExportConfig::default());
        metrics::with_local_recorder(&exp, || {
            let l = || vec![Label::new("queue", "q"), Label::new("channel", "voice")];
            add(&catalog::HANDLE_SECONDS, l(), 1_500);
            add(&catalog::HANDLE_SECONDS, l(), 250);
            add(&catalog::OFFERED, l(), 3);
        });
        let text = exp.handle().render();
        assert!(
            text.contains("# TYPE ccpulse_handle_seconds_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("ccpulse_handle_seconds_total{queue=\"q\",channel=\"voice\"} 1.75\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE ccpulse_offered_total counter\n"));
        assert!(text.contains("# HELP ccpulse_offered_total Interactions"));
        assert!(!text.contains(" gauge\n"), "{text}");
    }
}
