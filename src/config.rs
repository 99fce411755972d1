//! `ccpulse.toml`: parsed with serde (unknown fields rejected), then
//! validated into typed settings. Validation reports every problem at once,
//! each with its field path and the fix, so a bad deploy fails at start with
//! one readable message instead of a fix-one-rerun loop.
//!
//! Durations are strings with units (`"20s"`, `"5m"`, `"7d"`), parsed by
//! `humantime`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;

use crate::engine::window::WindowSpec;
use crate::event::Millis;
use crate::pipeline::config::{KafkaConfig, KafkaSection};
use crate::sla::policy::{Policies, SlaSection};

/// The whole file, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub engine: EngineSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub queue_defaults: QueueSection,
    /// Per-queue overrides of `queue_defaults`, by queue name.
    #[serde(default)]
    pub queues: BTreeMap<String, QueueSection>,
    /// SLA policies and business calendars.
    #[serde(default)]
    pub sla: SlaSection,
    /// The HTTP server: `/metrics`, health, readiness and the JSON API.
    #[serde(default)]
    pub http: HttpSection,
    /// Publishing figures as Prometheus metrics.
    #[serde(default)]
    pub export: ExportSection,
    /// Kafka: brokers, topics, delivery guarantee.
    #[serde(default)]
    pub kafka: KafkaSection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Address and port to serve on. The default keeps it local; use
    /// `"0.0.0.0:9900"` to let Prometheus scrape from another host.
    #[serde(default = "d_listen")]
    pub listen: String,
    /// When set, `/api/*` requires `Authorization: Bearer <token>` (or
    /// `?access_token=<token>`: open the wallboard as `/?access_token=…`).
    /// `/metrics`, `/healthz` and `/readyz` stay open.
    #[serde(default)]
    pub api_token: Option<String>,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            listen: d_listen(),
            api_token: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSection {
    /// How often partitions publish their figures and gauges are refreshed.
    #[serde(default = "d_tick")]
    pub tick_interval: Dur,
    /// Per-agent series not updated for this long (agent logged out or
    /// idle) are dropped from `/metrics`, so departed agents do not pile up.
    #[serde(default = "d_agent_ttl")]
    pub agent_series_ttl: Dur,
    /// Readiness requires every assigned partition's consumer lag (records)
    /// to be at most this.
    #[serde(default = "d_ready_lag")]
    pub ready_max_lag: u64,
}

impl Default for ExportSection {
    fn default() -> Self {
        ExportSection {
            tick_interval: d_tick(),
            agent_series_ttl: d_agent_ttl(),
            ready_max_lag: d_ready_lag(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// How far behind the newest event time an event may arrive and still be
    /// applied in event-time order. Figures lag real time by this much.
    #[serde(default = "d_lateness")]
    pub allowed_lateness: Dur,
    /// Event ids are remembered this long (event time) to drop duplicates.
    #[serde(default = "d_dedup")]
    pub dedup_horizon: Dur,
    /// IANA time zone for volume by hour / weekday / month.
    #[serde(default = "d_tz")]
    pub time_zone: String,
    /// A contact from the same customer within this window is a repeat, and
    /// voids first-contact resolution.
    #[serde(default = "d_repeat")]
    pub repeat_window: Dur,
    /// Interactions with no event for this long are forgotten (counted as
    /// expired), so producers that never send `resolved` cannot leak memory.
    #[serde(default = "d_idle_ttl")]
    pub idle_ttl: Dur,
    /// Sliding windows, each built from slices of `slice`.
    #[serde(default = "d_windows")]
    pub windows: Vec<WindowSection>,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            allowed_lateness: d_lateness(),
            dedup_horizon: d_dedup(),
            time_zone: d_tz(),
            repeat_window: d_repeat(),
            idle_ttl: d_idle_ttl(),
            windows: d_windows(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSection {
    pub name: String,
    pub length: Dur,
    pub slice: Dur,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Distinct queues tracked; more fold into the queue `other`.
    #[serde(default = "d_max_queues")]
    pub max_queues: usize,
    /// Agents with their own series; more fold into the agent `other`.
    #[serde(default = "d_max_agents")]
    pub max_agents: usize,
    /// Customers remembered for repeat contacts (bounded memory).
    #[serde(default = "d_max_tracked")]
    pub max_tracked_customers: usize,
    /// Resolved interactions remembered for reopens and FCR.
    #[serde(default = "d_max_tracked")]
    pub max_tracked_resolved: usize,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_queues: d_max_queues(),
            max_agents: d_max_agents(),
            max_tracked_customers: d_max_tracked(),
            max_tracked_resolved: d_max_tracked(),
        }
    }
}

/// Per-queue settings; every field optional so overrides are partial.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSection {
    /// T in service level SL(T): answered (or abandoned) within T.
    pub service_level_threshold: Option<Dur>,
    /// The SL target as a fraction (0.8 = 80 %), used by Erlang C staffing.
    pub service_level_target: Option<f64>,
    /// Abandons faster than this are "short" (misdials, instant hang-ups).
    pub short_abandon_threshold: Option<Dur>,
    /// Fully loaded cost of one agent hour, for cost per contact.
    pub cost_per_agent_hour: Option<f64>,
}

fn d_lateness() -> Dur {
    Dur(5_000)
}
fn d_dedup() -> Dur {
    Dur(120_000)
}
fn d_idle_ttl() -> Dur {
    Dur(14 * 86_400_000)
}
fn d_tz() -> String {
    "UTC".into()
}
fn d_repeat() -> Dur {
    Dur(7 * 86_400_000)
}
fn d_windows() -> Vec<WindowSection> {
    WindowSpec::defaults()
        .into_iter()
        .map(|w| WindowSection {
            name: w.name,
            length: Dur(w.length),
            slice: Dur(w.slice),
        })
        .collect()
}
fn d_max_queues() -> usize {
    200
}
fn d_max_agents() -> usize {
    5_000
}
fn d_max_tracked() -> usize {
    2_000_000
}
fn d_listen() -> String {
    "127.0.0.1:9900".into()
}
fn d_tick() -> Dur {
    Dur(1_000)
}
fn d_agent_ttl() -> Dur {
    Dur(3_600_000)
}
fn d_ready_lag() -> u64 {
    1_000
}

/// A duration written with units, e.g. `"20s"`, `"1h 30m"`, `"7d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Dur(pub Millis);

impl TryFrom<String> for Dur {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            format!("invalid duration {s:?} ({e}); write a number with a unit, e.g. \"20s\", \"5m\", \"1h\", \"7d\"")
        })?;
        Millis::try_from(d.as_millis())
            .map(Dur)
            .map_err(|_| format!("duration {s:?} is too large"))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = std::time::Duration::from_millis(self.0.max(0) as u64);
        write!(f, "{}", humantime::format_duration(d))
    }
}

/// Validated per-queue settings.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSettings {
    pub service_level_threshold: Millis,
    pub service_level_target: f64,
    pub short_abandon_threshold: Millis,
    pub cost_per_agent_hour: f64,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            service_level_threshold: 20_000,
            service_level_target: 0.8,
            short_abandon_threshold: 5_000,
            cost_per_agent_hour: 0.0,
        }
    }
}

/// Validated settings for the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub windows: Vec<WindowSpec>,
    pub allowed_lateness: Millis,
    pub dedup_horizon: Millis,
    pub time_zone: Tz,
    pub repeat_window: Millis,
    pub idle_ttl: Millis,
    pub max_queues: usize,
    pub max_agents: usize,
    pub max_tracked_customers: usize,
    pub max_tracked_resolved: usize,
    pub queue_defaults: QueueSettings,
    pub queues: BTreeMap<String, QueueSettings>,
    /// SLA policies; none = no SLA clocks.
    pub policies: Policies,
}

impl Default for EngineConfig {
    fn default() -> Self {
        // The defaults are valid by construction; `validate` of an empty file
        // is tested to agree with this.
        EngineConfig {
            windows: WindowSpec::defaults(),
            allowed_lateness: d_lateness().0,
            dedup_horizon: d_dedup().0,
            time_zone: Tz::UTC,
            repeat_window: d_repeat().0,
            idle_ttl: d_idle_ttl().0,
            max_queues: d_max_queues(),
            max_agents: d_max_agents(),
            max_tracked_customers: d_max_tracked(),
            max_tracked_resolved: d_max_tracked(),
            queue_defaults: QueueSettings::default(),
            queues: BTreeMap::new(),
            policies: Policies::default(),
        }
    }
}

impl EngineConfig {
    /// Settings of one queue: its override, else the defaults.
    pub fn queue(&self, name: &str) -> &QueueSettings {
        self.queues.get(name).unwrap_or(&self.queue_defaults)
    }
}

/// Validated settings for the HTTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Bearer token for `/api/*`; `None` leaves the API open.
    pub api_token: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9900)),
            api_token: None,
        }
    }
}

/// Validated settings for metric publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    pub tick_interval: Duration,
    pub agent_series_ttl: Duration,
    pub ready_max_lag: u64,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            tick_interval: Duration::from_millis(d_tick().0 as u64),
            agent_series_ttl: Duration::from_millis(d_agent_ttl().0 as u64),
            ready_max_lag: d_ready_lag(),
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub engine: EngineConfig,
    pub http: HttpConfig,
    pub export: ExportConfig,
    pub kafka: KafkaConfig,
}

/// One problem in the file: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub field: String,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (fix: {})", self.field, self.problem, self.fix)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path} is not valid TOML for ccpulse: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config {path} has {} problem(s):\n{}", issues.len(), issues.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid { path: PathBuf, issues: Vec<Issue> },
}

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parse and validate TOML text; `path` only labels errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        file.validate().map_err(|issues| ConfigError::Invalid {
            path: path.to_path_buf(),
            issues,
        })
    }
}

impl ConfigFile {
    /// Check every field; collect every problem.
    pub fn validate(&self) -> Result<Config, Vec<Issue>> {
        let mut issues = Vec::new();
        let mut bad = |field: String, problem: String, fix: &str| {
            issues.push(Issue {
                field,
                problem,
                fix: fix.to_string(),
            })
        };
        let e = &self.engine;

        let time_zone = match e.time_zone.parse::<Tz>() {
            Ok(tz) => tz,
            Err(_) => {
                bad(
                    "engine.time_zone".into(),
                    format!("unknown time zone {:?}", e.time_zone),
                    "use an IANA name such as \"UTC\", \"Europe/Berlin\" or \"America/New_York\"",
                );
                Tz::UTC
            }
        };
        if e.dedup_horizon.0 < e.allowed_lateness.0 {
            bad(
                "engine.dedup_horizon".into(),
                format!(
                    "{} is shorter than engine.allowed_lateness ({})",
                    e.dedup_horizon, e.allowed_lateness
                ),
                "make dedup_horizon at least as long as allowed_lateness",
            );
        }
        if e.repeat_window.0 <= 0 {
            bad(
                "engine.repeat_window".into(),
                "must be positive".into(),
                "set e.g. \"7d\"",
            );
        }
        if e.idle_ttl.0 < 3_600_000 {
            bad(
                "engine.idle_ttl".into(),
                format!(
                    "{} would forget interactions still being worked",
                    e.idle_ttl
                ),
                "use at least 1h; the default is 14d",
            );
        }
        if e.windows.is_empty() {
            bad(
                "engine.windows".into(),
                "no windows configured".into(),
                "configure at least one, e.g. { name = \"5m\", length = \"5m\", slice = \"30s\" }",
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, w) in e.windows.iter().enumerate() {
            let f = |k: &str| format!("engine.windows[{i}].{k}");
            if w.name.is_empty()
                || !w
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                bad(
                    f("name"),
                    format!("{:?} is not a valid label value", w.name),
                    "use letters, digits and _, e.g. \"5m\"",
                );
            }
            if !names.insert(w.name.clone()) {
                bad(
                    f("name"),
                    format!("duplicate window name {:?}", w.name),
                    "give each window its own name",
                );
            }
            if w.slice.0 < 1000 {
                bad(
                    f("slice"),
                    format!("{} is below 1s", w.slice),
                    "use a slice of at least 1s",
                );
            } else if w.length.0 < w.slice.0 || w.length.0 % w.slice.0 != 0 {
                bad(
                    f("slice"),
                    format!("{} does not divide the window length {}", w.slice, w.length),
                    "choose a slice that divides the length, e.g. 30s for 5m",
                );
            } else if w.length.0 / w.slice.0 > 1440 {
                bad(
                    f("slice"),
                    format!(
                        "{} slices per window; memory grows with slices",
                        w.length.0 / w.slice.0
                    ),
                    "use at most 1440 slices per window (coarser slices for long windows)",
                );
            }
        }
        let l = &self.limits;
        for (name, v) in [
            ("max_queues", l.max_queues),
            ("max_agents", l.max_agents),
            ("max_tracked_customers", l.max_tracked_customers),
            ("max_tracked_resolved", l.max_tracked_resolved),
        ] {
            if v == 0 {
                bad(
                    format!("limits.{name}"),
                    "must be at least 1".into(),
                    "raise it (the defaults are safe)",
                );
            }
        }

        let base = QueueSettings::default();
        let queue_defaults = resolve_queue(&self.queue_defaults, &base, "queue_defaults", &mut bad);
        let mut queues = BTreeMap::new();
        for (name, q) in &self.queues {
            let s = resolve_queue(q, &queue_defaults, &format!("queues.{name}"), &mut bad);
            queues.insert(name.clone(), s);
        }
        let policies = self.sla.validate(&mut issues);
        let (http, export) = self.validate_serving(&mut issues);
        let kafka = self.kafka.validate(&mut issues);

        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(Config {
            engine: EngineConfig {
                windows: e
                    .windows
                    .iter()
                    .map(|w| WindowSpec::new(&w.name, w.length.0, w.slice.0))
                    .collect(),
                allowed_lateness: e.allowed_lateness.0,
                dedup_horizon: e.dedup_horizon.0,
                time_zone,
                repeat_window: e.repeat_window.0,
                idle_ttl: e.idle_ttl.0,
                max_queues: l.max_queues,
                max_agents: l.max_agents,
                max_tracked_customers: l.max_tracked_customers,
                max_tracked_resolved: l.max_tracked_resolved,
                queue_defaults,
                queues,
                policies,
            },
            http,
            export,
            kafka,
        })
    }

    /// The `[http]` and `[export]` sections.
    fn validate_serving(&self, issues: &mut Vec<Issue>) -> (HttpConfig, ExportConfig) {
        let mut bad = |field: &str, problem: String, fix: &str| {
            issues.push(Issue {
                field: field.to_string(),
                problem,
                fix: fix.to_string(),
            })
        };
        let h = &self.http;
        let listen = match h.listen.trim().parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                bad(
                    "http.listen",
                    format!("{:?} is not an IP address with a port", h.listen),
                    "write ip:port, e.g. \"127.0.0.1:9900\", \"0.0.0.0:9900\" or \"[::]:9900\"",
                );
                HttpConfig::default().listen
            }
        };
        if let Some(t) = &h.api_token {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) {
                bad(
                    "http.api_token",
                    "must be non-empty printable ASCII without spaces (it is sent in a header)".into(),
                    "use e.g. the output of `openssl rand -hex 32`, or remove the line to leave the API open",
                );
            }
        }
        let x = &self.export;
        if !(100..=60_000).contains(&x.tick_interval.0) {
            bad(
                "export.tick_interval",
                format!("{} is outside 100ms..60s", x.tick_interval),
                "use e.g. \"1s\" (the default); Prometheus scrapes far less often",
            );
        }
        if x.agent_series_ttl.0 < 60_000 {
            bad(
                "export.agent_series_ttl",
                format!(
                    "{} would drop agents between two scrapes",
                    x.agent_series_ttl
                ),
                "use at least 1m; the default is 1h",
            );
        }
        let ms = |d: Dur| Duration::from_millis(d.0.max(0) as u64);
        (
            HttpConfig {
                listen,
                api_token: h.api_token.clone(),
            },
            ExportConfig {
                tick_interval: ms(x.tick_interval),
                agent_series_ttl: ms(x.agent_series_ttl),
                ready_max_lag: x.ready_max_lag,
            },
        )
    }
}

fn resolve_queue(
    q: &QueueSection,
    base: &QueueSettings,
    at: &str,
    bad: &mut impl FnMut(String, String, &str),
) -> QueueSettings {
    let s = QueueSettings {
        service_level_threshold: q
            .service_level_threshold
            .map_or(base.service_level_threshold, |d| d.0),
        service_level_target: q.service_level_target.unwrap_or(base.service_level_target),
        short_abandon_threshold: q
            .short_abandon_threshold
            .map_or(base.short_abandon_threshold, |d| d.0),
        cost_per_agent_hour: q.cost_per_agent_hour.unwrap_or(base.cost_per_agent_hour),
    };
    if s.service_level_threshold <= 0 {
        bad(
            format!("{at}.service_level_threshold"),
            "must be positive".into(),
            "set e.g. \"20s\"",
        );
    }
    if !(s.service_level_target > 0.0 && s.service_level_target < 1.0) {
        bad(
            format!("{at}.service_level_target"),
            format!(
                "{} is not a fraction between 0 and 1 (exclusive)",
                s.service_level_target
            ),
            "write 80 % as 0.8",
        );
    }
    if !(s.cost_per_agent_hour >= 0.0 && s.cost_per_agent_hour.is_finite()) {
        bad(
            format!("{at}.cost_per_agent_hour"),
            format!("{} is not a cost", s.cost_per_agent_hour),
            "use a non-negative number, e.g. 32.5",
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::from_toml(s, Path::new("test.toml"))
    }

    #[test]
    fn an_empty_file_gives_the_documented_defaults() {
        let c = parse("").unwrap().engine;
        let d = EngineConfig::default();
        assert_eq!(c.windows, d.windows);
        assert_eq!(c.allowed_lateness, 5_000);
        assert_eq!(c.queue_defaults, QueueSettings::default());
        assert_eq!(c.time_zone, Tz::UTC);
    }

    #[test]
    fn queue_overrides_inherit_unset_fields_from_defaults() {
        let c = parse(
            r#"
            [queue_defaults]
            service_level_threshold = "30s"
            cost_per_agent_hour = 40.0
            [queues.billing]
            short_abandon_threshold = "10s"
            "#,
        )
        .unwrap()
        .engine;
        let b = c.queue("billing");
        assert_eq!(b.service_level_threshold, 30_000);
        assert_eq!(b.short_abandon_threshold, 10_000);
        assert_eq!(b.cost_per_agent_hour, 40.0);
        assert_eq!(c.queue("unknown").service_level_threshold, 30_000);
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_name() {
        let e = parse("[engine]\nallowed_latenes = \"5s\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("allowed_latenes"), "{e}");
    }

    #[test]
    fn durations_need_units() {
        let e = parse("[engine]\nallowed_lateness = \"5\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("with a unit"), "{e}");
    }

    #[test]
    fn serving_defaults_and_overrides() {
        let c = parse("").unwrap();
        assert_eq!(c.http, HttpConfig::default());
        assert_eq!(c.export, ExportConfig::default());
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:9900");
        assert_eq!(c.export.tick_interval, Duration::from_secs(1));
        assert_eq!(c.export.agent_series_ttl, Duration::from_secs(3600));
        let c = parse(
            r#"
            [http]
            listen = "0.0.0.0:9901"
            api_token = "s3cret-token"
            [export]
            tick_interval = "500ms"
            agent_series_ttl = "30m"
            ready_max_lag = 50
            "#,
        )
        .unwrap();
        assert_eq!(c.http.listen.port(), 9901);
        assert_eq!(c.http.api_token.as_deref(), Some("s3cret-token"));
        assert_eq!(c.export.tick_interval, Duration::from_millis(500));
        assert_eq!(c.export.agent_series_ttl, Duration::from_secs(1800));
        assert_eq!(c.export.ready_max_lag, 50);
    }

    #[test]
    fn bad_serving_settings_name_field_and_fix() {
        let e = parse(
            r#"
            [http]
            listen = "localhost"
            api_token = "has space"
            [export]
            tick_interval = "10ms"
            agent_series_ttl = "5s"
            "#,
        )
        .unwrap_err();
        let ConfigError::Invalid { issues, .. } = e else {
            panic!("expected Invalid, got {e}");
        };
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "http.listen",
                "http.api_token",
                "export.tick_interval",
                "export.agent_series_ttl"
            ]
        );
        assert!(issues[0].fix.contains("127.0.0.1:9900"), "{}", issues[0]);
        let e = parse("[http]\nlisten_addr = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen_addr"), "{e}");
    }

    #[test]
    fn every_problem_is_reported_at_once_with_field_and_fix() {
        let e = parse(
            r#"
            [engine]
            time_zone = "Mars/Olympus"
            windows = [ { name = "5m", length = "5m", slice = "7s" } ]
            [queues.billing]
            service_level_target = 80.0
            "#,
        )
        .unwrap_err();
        let ConfigError::Invalid { issues, .. } = e else {
            panic!("expected Invalid, got {e}");
        };
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "engine.time_zone",
                "engine.windows[0].slice",
                "queues.billing.service_level_target"
            ]
        );
        assert!(issues.iter().all(|i| !i.fix.is_empty()));
    }
}
