//! `ccpulse.toml`: parse the file (unknown fields rejected), then have each
//! section validated by the module that owns it, and compose the results.
//! Every problem is reported at once, each with its field path, its line
//! and column where the file has them, and the fix, so a bad deploy fails
//! at start with one readable message instead of a fix-one-rerun loop:
//! syntax errors (all of them), type errors (a wrong type, an unknown
//! field: the rest of the file is still read, see `parse`), unresolved
//! secrets, and the sections' own checks.
//!
//! | section | owner |
//! |---|---|
//! | `[engine]`, `[limits]`, `[queue_defaults]`, `[queues.*]`, `[tenants.*]` | `ccpulse_core::engine::settings` |
//! | `[sla]` | `ccpulse_core::sla::policy` |
//! | `[input]` | `ccpulse_core::event::codec::InputSection` |
//! | `[http]`, `[export]` | [`crate::export::settings`] |
//! | `[kafka]` | [`crate::pipeline::settings`] |
//!
//! Durations are strings with units (`"20s"`, `"5m"`, `"7d"`).
//!
//! # Secrets
//! `http.api_token`, `http.metrics_token`, each `http.keys[N].token`,
//! `export.agent_pseudonym_key` and the values of `[kafka.properties]` may
//! be written
//! as `${NAME}` (an environment variable) or `${file:/path}` (a file's
//! contents, trimmed; a relative path is relative to the config file), also
//! inside a longer value; `$${` is a literal `${`. They are expanded when
//! the file is loaded (see `secrets`); no other field expands them. No
//! problem report ever shows a secret's value. Integers and booleans in
//! `[kafka.properties]` are taken as their text (`"linger.ms" = 20`).

mod parse;
mod secrets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ccpulse_core::engine::settings::{
    EngineConfig, EngineSection, EngineSections, LimitsSection, QueueSection, TenantSection,
};
use ccpulse_core::event::codec::{InputSection, Limits};
use ccpulse_core::settings::Issue;
use ccpulse_core::sla::policy::SlaSection;
use serde::Deserialize;

use crate::export::settings::{ExportConfig, ExportSection, HttpConfig, HttpSection};
use crate::pipeline::settings::{KafkaConfig, KafkaSection};

pub use parse::{is_secret_field, Located, Location};
pub use secrets::{Env, ProcessEnv};

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
    /// Per-tenant queue settings and SLA policies, by tenant name.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantSection>,
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
    #[error("cannot read config {}: {reason} (fix: check the path and that ccpulse may read it)", path.display())]
    Read { path: PathBuf, reason: String },
    /// Every problem of the file: syntax, types, secrets, semantics.
    #[error("{}", render(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Located>,
    },
}

impl ConfigError {
    /// The problems found (none for a file that could not be read).
    pub fn problems(&self) -> &[Located] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            ConfigError::Read { .. } => &[],
        }
    }
}

fn render(path: &Path, problems: &[Located]) -> String {
    let mut s = format!(
        "config {} has {} problem(s):",
        path.display(),
        problems.len()
    );
    for p in problems {
        let i = &p.issue;
        match p.at {
            Some(at) => s.push_str(&format!(
                "\n  - {} ({at}): {} (fix: {})",
                i.field, i.problem, i.fix
            )),
            None => s.push_str(&format!("\n  - {i}")),
        }
    }
    s
}

impl Config {
    /// Read, parse and validate a config file; secrets from the process
    /// environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_toml(&text, path)
    }

    /// Parse and validate TOML text; `path` labels errors and is where
    /// relative `${file:...}` paths start. Secrets from the process
    /// environment.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Self::from_toml_in(text, path, &ProcessEnv)
    }

    /// [`Self::from_toml`] with secrets looked up in `env`.
    pub fn from_toml_in(text: &str, path: &Path, env: &dyn Env) -> Result<Config, ConfigError> {
        let invalid = |problems| ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        };
        let mut doc = parse::Document::parse(text).map_err(invalid)?;
        let mut problems = Vec::new();
        for k in doc.keys(&["kafka", "properties"]) {
            doc.stringify(&["kafka", "properties", &k]);
        }
        expand_secrets(&mut doc, path, env, &mut problems);
        let mut file: ConfigFile = doc.deserialize(&mut problems);
        if let Some(keys_file) = file.http.keys_file.clone() {
            let at = doc.locate("http.keys_file");
            match read_keys_file(&keys_file, path, env) {
                Ok(keys) => file.http.keys.extend(keys),
                Err(issues) => {
                    problems.extend(issues.into_iter().map(|issue| Located { issue, at }))
                }
            }
        }
        match file.validate() {
            Ok(config) if problems.is_empty() => Ok(config),
            Ok(_) => Err(invalid(problems)),
            Err(issues) => {
                problems.extend(issues.into_iter().map(|issue| Located {
                    at: doc.locate(&issue.field),
                    issue,
                }));
                Err(invalid(problems))
            }
        }
    }
}

/// The keys of `http.keys_file` (relative to the config's directory),
/// their tokens' `${...}` expanded (relative to the keys file's). Its keys
/// are numbered after the config's own `[[http.keys]]` in problems.
fn read_keys_file(
    name: &str,
    config: &Path,
    env: &dyn Env,
) -> Result<Vec<crate::export::settings::KeySection>, Vec<Issue>> {
    let dir = |p: &Path| {
        p.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    };
    let path = dir(config).join(name);
    let text = env.read_file(&path).map_err(|e| {
        vec![Issue::new(
            "http.keys_file",
            format!("cannot read {}: {e}", path.display()),
            "check the path (relative to the config file) and that ccpulse may read it",
        )]
    })?;
    // The parser's message quotes the line, which may hold a token: only
    // where it is.
    let mut file: crate::export::settings::KeysFile = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start].lines().count().max(1))
            .unwrap_or(0);
        vec![Issue::new(
            "http.keys_file",
            format!("{} is not a keys file (line {line})", path.display()),
            "write [[keys]] tables with name, token or token_sha256, role and tenants",
        )]
    })?;
    let mut issues = Vec::new();
    for (i, k) in file.keys.iter_mut().enumerate() {
        if let Some(t) = k.token.as_mut() {
            match secrets::expand(t, &dir(&path), env) {
                Ok(v) => *t = v,
                Err(unresolved) => issues.extend(unresolved.into_iter().map(|(problem, fix)| {
                    Issue::new(format!("http.keys_file: keys[{i}].token"), problem, fix)
                })),
            }
        }
    }
    if issues.is_empty() {
        Ok(file.keys)
    } else {
        Err(issues)
    }
}

/// Expand `${...}` in the secret-bearing fields; flag references anywhere
/// else (they would be taken literally).
fn expand_secrets(
    doc: &mut parse::Document<'_>,
    path: &Path,
    env: &dyn Env,
    problems: &mut Vec<Located>,
) {
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut fields: Vec<Vec<String>> = vec![
        vec!["http".into(), "api_token".into()],
        vec!["http".into(), "metrics_token".into()],
        vec!["export".into(), "agent_pseudonym_key".into()],
    ];
    for k in doc.keys(&["kafka", "properties"]) {
        fields.push(vec!["kafka".into(), "properties".into(), k]);
    }
    for i in 0..doc.array_len(&["http", "keys"]) {
        fields.push(vec![
            "http".into(),
            "keys".into(),
            format!("[{i}]"),
            "token".into(),
        ]);
    }
    for field in fields {
        let keys: Vec<&str> = field.iter().map(String::as_str).collect();
        let name = field.join(".").replace(".[", "[");
        let Some(value) = doc.string_mut(&keys) else {
            continue;
        };
        match secrets::expand(value, base, env) {
            Ok(expanded) => *value = expanded.into(),
            Err(unresolved) => {
                let at = doc.locate(&name);
                problems.extend(unresolved.into_iter().map(|(problem, fix)| Located {
                    issue: Issue::new(name.clone(), problem, fix),
                    at,
                }));
            }
        }
    }
    for (field, value) in doc.strings() {
        if !is_secret_field(&field) && secrets::has_reference(&value) {
            problems.push(Located {
                at: doc.locate(&field),
                issue: Issue::new(
                    field,
                    "contains a ${...} reference, which only http.api_token, http.metrics_token, http.keys[N].token, export.agent_pseudonym_key and the values of [kafka.properties] expand",
                    "write the value itself here (or $${ for a literal \"${\")",
                ),
            });
        }
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
            tenants: &self.tenants,
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
        assert_eq!(c.export.tick_interval, Duration::from_millis(500));
        assert_eq!(c.export.agent_series_ttl, Duration::from_secs(3600));
        let c = parse(
            r#"
            [http]
            listen = "0.0.0.0:9901"
            api_token = "s3cret-token"
            header_read_timeout = "5s"
            idle_timeout = "2m"
            max_connections = 64
            [export]
            tick_interval = "500ms"
            agent_series_ttl = "30m"
            "#,
        )
        .unwrap();
        assert_eq!(c.http.listen.port(), 9901);
        assert_eq!(c.http.api_token.as_deref(), Some("s3cret-token"));
        assert_eq!(c.http.limits.header_read_timeout, Duration::from_secs(5));
        assert_eq!(c.http.limits.idle_timeout, Duration::from_secs(120));
        assert_eq!(c.http.limits.max_connections, 64);
        assert_eq!(c.export.tick_interval, Duration::from_millis(500));
        assert_eq!(c.export.agent_series_ttl, Duration::from_secs(1800));
        assert!(
            !format!("{c:?}").contains("s3cret-token"),
            "Debug shows the token"
        );
    }

    fn fields(e: &ConfigError) -> Vec<&str> {
        e.problems()
            .iter()
            .map(|p| p.issue.field.as_str())
            .collect()
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
        assert_eq!(
            fields(&e),
            vec![
                "http.listen",
                "http.api_token",
                "export.tick_interval",
                "export.agent_series_ttl"
            ]
        );
        assert!(
            e.problems()[0].issue.fix.contains("127.0.0.1:9900"),
            "{}",
            e.problems()[0].issue
        );
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
        assert_eq!(
            fields(&e),
            vec![
                "engine.time_zone",
                "engine.windows[0].slice",
                "queues.billing.service_level_target"
            ]
        );
        assert!(e.problems().iter().all(|p| !p.issue.fix.is_empty()));
        // Semantic problems carry the place of their field.
        let lines: Vec<Option<usize>> = e.problems().iter().map(|p| p.at.map(|a| a.line)).collect();
        assert_eq!(lines, vec![Some(3), Some(4), Some(6)], "{e}");
        assert!(
            e.to_string()
                .contains("engine.time_zone (line 3, column 25)"),
            "{e}"
        );
    }

    #[test]
    fn type_errors_come_together_with_their_places_and_the_semantic_ones() {
        let e = parse(
            "[engine]\nallowed_lateness = 5\ntime_zone = \"Mars/Olympus\"\n\n[kafka.topics]\ninteractions = \"x\"\n\n[http]\nlisten = 9900\nmax_connections = \"many\"\n",
        )
        .unwrap_err();
        let got: Vec<(&str, Option<(usize, usize)>)> = e
            .problems()
            .iter()
            .map(|p| (p.issue.field.as_str(), p.at.map(|a| (a.line, a.column))))
            .collect();
        assert_eq!(
            got,
            vec![
                ("engine.allowed_lateness", Some((2, 20))),
                ("http.listen", Some((9, 10))),
                ("http.max_connections", Some((10, 19))),
                ("kafka.topics.interactions", Some((6, 1))),
                ("engine.time_zone", Some((3, 13))),
            ],
            "{e}"
        );
        let text = e.to_string();
        assert!(text.contains("has 5 problem(s)"), "{text}");
        assert!(text.contains("unknown field `interactions`"), "{text}");
        assert!(text.contains("fix: "), "{text}");
    }

    #[test]
    fn syntax_errors_are_reported_with_their_places() {
        let e = parse("[engine]\nallowed_lateness = \"5s\nwindows = [\n").unwrap_err();
        assert!(!e.problems().is_empty());
        assert!(e.problems().iter().all(|p| p.at.is_some()), "{e}");
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    struct Env(&'static [(&'static str, &'static str)]);

    impl super::Env for Env {
        fn var(&self, name: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
        fn read_file(&self, path: &Path) -> std::io::Result<String> {
            self.0
                .iter()
                .find(|(k, _)| Path::new(k) == path)
                .map(|(_, v)| format!("{v}\n"))
                .ok_or_else(|| std::io::ErrorKind::NotFound.into())
        }
    }

    #[test]
    fn secrets_come_from_the_environment_or_files() {
        let env = Env(&[
            ("API_TOKEN", "tok-123"),
            ("/etc/ccpulse/kafka-password", "pw-456"),
        ]);
        let c = Config::from_toml_in(
            r#"
            [http]
            api_token = "${API_TOKEN}"
            [kafka.properties]
            "sasl.username" = "ccpulse"
            "sasl.password" = "${file:kafka-password}"
            "ssl.key.password" = "$${literal}"
            "linger.ms" = 20
            "#,
            Path::new("/etc/ccpulse/ccpulse.toml"),
            &env,
        )
        .unwrap();
        assert_eq!(c.http.api_token.as_deref(), Some("tok-123"));
        let p = &c.kafka.properties;
        assert_eq!(p["sasl.password"], "pw-456");
        assert_eq!(p["ssl.key.password"], "${literal}");
        assert_eq!(p["linger.ms"], "20");
    }

    #[test]
    fn unresolved_secrets_are_problems_that_never_show_a_secret() {
        let env = Env(&[("SET", "the-real-secret")]);
        let e = Config::from_toml_in(
            r#"
            [http]
            api_token = "${CCPULSE_API_TOKEN}"
            [kafka]
            brokers = "${SET}:9092"
            [kafka.properties]
            "sasl.password" = "${file:/run/secrets/missing}"
            "sasl.username" = "${SET}"
            "#,
            Path::new("/etc/ccpulse/ccpulse.toml"),
            &env,
        )
        .unwrap_err();
        assert_eq!(
            fields(&e),
            vec![
                "http.api_token",
                "kafka.properties.sasl.password",
                "kafka.brokers"
            ],
            "{e}"
        );
        let text = e.to_string();
        assert!(text.contains("CCPULSE_API_TOKEN is not set"), "{text}");
        assert!(text.contains("/run/secrets/missing"), "{text}");
        assert!(text.contains("(line 3, column"), "{text}");
        assert!(!text.contains("the-real-secret"), "{text}");
    }

    #[test]
    fn an_open_api_beyond_loopback_needs_a_token_or_a_say_so() {
        let e = parse("[http]\nlisten = \"0.0.0.0:9900\"\n").unwrap_err();
        assert_eq!(fields(&e), vec!["http.api_token"]);
        assert!(e.to_string().contains("allow_open_api"), "{e}");
        parse("[http]\nlisten = \"0.0.0.0:9900\"\nallow_open_api = true\n").unwrap();
        parse("[http]\nlisten = \"0.0.0.0:9900\"\napi_token = \"t\"\n").unwrap();
        parse("[http]\nlisten = \"[::1]:9900\"\n").unwrap();
    }

    #[test]
    fn the_old_ready_max_lag_says_it_is_gone() {
        let e = parse("[export]\nready_max_lag = 1000\n").unwrap_err();
        assert_eq!(fields(&e), vec!["export.ready_max_lag"]);
        assert!(e.to_string().contains("remove the line"), "{e}");
    }
}
