//! `ccpulse.toml`: parse the file (unknown fields rejected), then have each
//! section validated by the module that owns it, and compose the results.
//! Every problem is reported at once, each with its field path and the fix,
//! so a bad deploy fails at start with one readable message instead of a
//! fix-one-rerun loop.
//!
//! | section | owner |
//! |---|---|
//! | `[engine]`, `[limits]`, `[queue_defaults]`, `[queues.*]` | `ccpulse_core::engine::settings` |
//! | `[sla]` | `ccpulse_core::sla::policy` |
//! | `[input]` | `ccpulse_core::event::codec::InputSection` |
//! | `[http]`, `[export]` | [`crate::export::settings`] |
//! | `[kafka]` | [`crate::pipeline::settings`] |
//!
//! Durations are strings with units (`"20s"`, `"5m"`, `"7d"`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ccpulse_core::engine::settings::{
    EngineConfig, EngineSection, EngineSections, LimitsSection, QueueSection,
};
use ccpulse_core::event::codec::{InputSection, Limits};
use ccpulse_core::settings::Issue;
use ccpulse_core::sla::policy::SlaSection;
use serde::Deserialize;

use crate::export::settings::{ExportConfig, ExportSection, HttpConfig, HttpSection};
use crate::pipeline::settings::{KafkaConfig, KafkaSection};

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
    /// What every path in (Kafka, restore, event files) accepts.
    #[serde(default)]
    pub input: InputSection,
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

/// The validated configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub engine: EngineConfig,
    /// Input limits, the same for the live service and for replay.
    pub input: Limits,
    pub http: HttpConfig,
    pub export: ExportConfig,
    pub kafka: KafkaConfig,
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
    /// Have every section check its fields; collect every problem.
    pub fn validate(&self) -> Result<Config, Vec<Issue>> {
        let mut issues = Vec::new();
        let engine = EngineSections {
            engine: &self.engine,
            limits: &self.limits,
            queue_defaults: &self.queue_defaults,
            queues: &self.queues,
            sla: &self.sla,
        }
        .validate(&mut issues);
        let input = self.input.validate(&mut issues);
        let http = self.http.validate(&mut issues);
        let export = self.export.validate(&mut issues);
        let kafka = self.kafka.validate(&mut issues);
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(Config {
            engine,
            input,
            http,
            export,
            kafka,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ccpulse_core::engine::settings::QueueSettings;
    use chrono_tz::Tz;

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
