//! The export shell's settings: the `[http]` and `[export]` sections as
//! written, and their validation.
//!
//! `http.api_token`, `http.metrics_token` and `export.agent_pseudonym_key`
//! hold secrets: they are usually written as
//! `"${CCPULSE_API_TOKEN}"` or `"${file:/run/secrets/...}"` (expanded by
//! [`crate::config`] before validation), and the `Debug` output of these
//! types never shows it.

use std::net::SocketAddr;
use std::time::Duration;

use ccpulse_core::settings::{Dur, Issue};
use serde::Deserialize;

use super::access::{KeySpec, Role, Scope};
use super::privacy::{AgentMetrics, AgentPrivacy};

/// The shortest `export.agent_pseudonym_key` accepted, in bytes: a short
/// key can be found by trying keys against a known operator's pseudonym.
pub const MIN_PSEUDONYM_KEY_BYTES: usize = 16;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Address and port to serve on. The default keeps it local; use
    /// `"0.0.0.0:9900"` to let Prometheus scrape from another host.
    #[serde(default = "d_listen")]
    pub listen: String,
    /// When set, `/api/*` requires `Authorization: Bearer <token>` (or
    /// `?access_token=<token>`: open the wallboard as `/?access_token=…`).
    /// `/metrics`, `/healthz` and `/readyz` stay open. Write it as
    /// `"${ENV_VAR}"` or `"${file:/path}"` to keep it out of the file.
    #[serde(default)]
    pub api_token: Option<String>,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`
    /// (Prometheus' `authorization` scrape setting); otherwise it is open.
    /// A secret, like `api_token`; a different token from it lets the
    /// scraper read metrics but not the API.
    #[serde(default)]
    pub metrics_token: Option<String>,
    /// API keys, each with a role and the tenants it sees (see
    /// [`super::access`]).
    #[serde(default)]
    pub keys: Vec<KeySection>,
    /// A TOML file of more keys (`[[keys]]`, the same fields), read at
    /// start (relative to the config file's directory): keys can live
    /// apart from the configuration, e.g. in a Kubernetes secret.
    #[serde(default)]
    pub keys_file: Option<String>,
    /// Listening beyond loopback without `api_token` is refused unless
    /// this says the open API is intended (a trusted network, or a
    /// container port published on the host's loopback only).
    #[serde(default)]
    pub allow_open_api: bool,
    /// A request's head (request line and headers) must arrive within
    /// this from its first byte (or from the connection's start); slower
    /// clients are disconnected.
    #[serde(default = "d_header_read_timeout")]
    pub header_read_timeout: Dur,
    /// A connection with nothing read or written for this long is closed
    /// (kept-alive connections between requests, clients that stopped
    /// reading a stream). Streams send at least one event a second.
    #[serde(default = "d_idle_timeout")]
    pub idle_timeout: Dur,
    /// Connections served at once; more are answered 503 and closed.
    #[serde(default = "d_max_connections")]
    pub max_connections: usize,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            listen: d_listen(),
            api_token: None,
            metrics_token: None,
            keys: Vec::new(),
            keys_file: None,
            allow_open_api: false,
            header_read_timeout: d_header_read_timeout(),
            idle_timeout: d_idle_timeout(),
            max_connections: d_max_connections(),
        }
    }
}

impl std::fmt::Debug for HttpSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSection")
            .field("listen", &self.listen)
            .field("api_token", &self.api_token.as_ref().map(|_| "<redacted>"))
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_open_api", &self.allow_open_api)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSection {
    /// How often partitions publish their figures and gauges are refreshed.
    #[serde(default = "d_tick")]
    pub tick_interval: Dur,
    /// Per-agent series not updated for this long (agent logged out or
    /// idle) are dropped from `/metrics`, so departed agents do not pile up.
    #[serde(default = "d_agent_ttl")]
    pub agent_series_ttl: Dur,
    /// Obsolete: readiness no longer depends on consumer lag (a burst made
    /// every pod unready at once). Accepted only to say so.
    #[serde(default)]
    pub ready_max_lag: Option<u64>,
    /// How long a revoked partition's last figures are still served
    /// (marked stale, see [`super::shared`]) when the partition is not
    /// assigned and published here again first: through a broker outage
    /// the wallboard and the snapshot keep the last known figures instead
    /// of going blank. `"0s"` drops them at once.
    #[serde(default = "d_revoked_grace")]
    pub revoked_grace: Dur,
    /// How operators appear in `/metrics`, the snapshot API, the stream and
    /// the wallboard: `"full"` (their ids, the default), `"pseudonymous"`
    /// (a keyed hash of the id), `"aggregate"` (per-queue distributions,
    /// no operator labels) or `"off"` (nothing per operator). See
    /// [`super::privacy`].
    #[serde(default)]
    pub agent_metrics: AgentMetrics,
    /// The key of the pseudonyms (`agent_metrics = "pseudonymous"`), at
    /// least 16 bytes. A secret: write it as `"${ENV_VAR}"` or
    /// `"${file:/path}"`. The same key on every instance and across
    /// restarts keeps the pseudonyms stable.
    #[serde(default)]
    pub agent_pseudonym_key: Option<String>,
}

impl std::fmt::Debug for ExportSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportSection")
            .field("tick_interval", &self.tick_interval)
            .field("agent_series_ttl", &self.agent_series_ttl)
            .field("ready_max_lag", &self.ready_max_lag)
            .field("revoked_grace", &self.revoked_grace)
            .field("agent_metrics", &self.agent_metrics)
            .field(
                "agent_pseudonym_key",
                &self.agent_pseudonym_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Default for ExportSection {
    fn default() -> Self {
        ExportSection {
            tick_interval: d_tick(),
            agent_series_ttl: d_agent_ttl(),
            ready_max_lag: None,
            revoked_grace: d_revoked_grace(),
            agent_metrics: AgentMetrics::default(),
            agent_pseudonym_key: None,
        }
    }
}

fn d_listen() -> String {
    "127.0.0.1:9900".into()
}
fn d_tick() -> Dur {
    Dur(500)
}
fn d_agent_ttl() -> Dur {
    Dur(3_600_000)
}
fn d_header_read_timeout() -> Dur {
    Dur(10_000)
}
fn d_idle_timeout() -> Dur {
    Dur(60_000)
}
fn d_max_connections() -> usize {
    1_024
}
fn d_revoked_grace() -> Dur {
    Dur(300_000)
}

/// The longest `revoked_grace` accepted: figures older than a day are no
/// help to anyone watching a wallboard.
const MAX_REVOKED_GRACE_MS: i64 = 86_400_000;

/// Validated settings for the HTTP server.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Bearer token for `/api/*`; `None` leaves the API open.
    pub api_token: Option<String>,
    /// Bearer token for `/metrics`; `None` leaves it open.
    pub metrics_token: Option<String>,
    /// `[[http.keys]]`, validated (tokens as their SHA-256).
    pub keys: Vec<KeySpec>,
    /// The open API beyond loopback is intended (no warning refusal).
    pub allow_open_api: bool,
    pub limits: HttpLimits,
}

/// What one client may hold of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// A request head must be complete this long after its first byte.
    pub header_read_timeout: Duration,
    /// Nothing read or written this long closes a connection.
    pub idle_timeout: Duration,
    /// Connections served at once; more are answered 503.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: d_header_read_timeout().std(),
            idle_timeout: d_idle_timeout().std(),
            max_connections: d_max_connections(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9900)),
            api_token: None,
            metrics_token: None,
            keys: Vec::new(),
            allow_open_api: false,
            limits: HttpLimits::default(),
        }
    }
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("listen", &self.listen)
            .field("api_token", &self.api_token.as_ref().map(|_| "<redacted>"))
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("keys", &self.keys)
            .field("allow_open_api", &self.allow_open_api)
            .field("limits", &self.limits)
            .finish()
    }
}

impl HttpConfig {
    /// Whether the listener accepts connections from other hosts.
    pub fn beyond_loopback(&self) -> bool {
        !self.listen.ip().is_loopback()
    }

    /// Every key: `http.api_token` (an all-tenant viewer, as the one token
    /// was before roles), `http.metrics_token` (an all-tenant metrics
    /// key), then `[[http.keys]]`.
    pub fn all_keys(&self) -> Vec<KeySpec> {
        let mut keys = Vec::new();
        if let Some(t) = &self.api_token {
            keys.push(KeySpec::with_token(
                "http.api_token",
                t,
                Role::Viewer,
                Scope::All,
            ));
        }
        if let Some(t) = &self.metrics_token {
            keys.push(KeySpec::with_token(
                "http.metrics_token",
                t,
                Role::Metrics,
                Scope::All,
            ));
        }
        keys.extend(self.keys.iter().cloned());
        keys
    }

    /// Whether the API needs a key.
    pub fn api_closed(&self) -> bool {
        self.all_keys().iter().any(|k| k.role.reads_api())
    }
}

/// The keys file (`http.keys_file`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    #[serde(default)]
    pub keys: Vec<KeySection>,
}

/// `[[http.keys]]`: one API key.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySection {
    /// What logs and denials name (never the token).
    pub name: String,
    /// The token (a secret: `"${ENV}"` or `"${file:/path}"`).
    #[serde(default)]
    pub token: Option<String>,
    /// Or the token's SHA-256, 64 hex digits (`printf %s "$TOKEN" |
    /// sha256sum`): the file then holds no secret.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// `viewer`, `supervisor` or `metrics`.
    pub role: String,
    /// The tenants it sees; `["*"]` for all.
    pub tenants: Vec<String>,
}

impl std::fmt::Debug for KeySection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySection")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("tenants", &self.tenants)
            .finish_non_exhaustive()
    }
}

fn validate_keys(keys: &[KeySection], issues: &mut Vec<Issue>) -> Vec<KeySpec> {
    let mut out = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    let mut hashes = std::collections::BTreeSet::new();
    for (i, k) in keys.iter().enumerate() {
        let f = |field: &str| format!("http.keys[{i}].{field}");
        let mut ok = true;
        let mut bad = |field: &str, problem: String, fix: &str| {
            issues.push(Issue::new(f(field), problem, fix));
            ok = false;
        };
        if k.name.is_empty()
            || !k
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            bad(
                "name",
                format!("{:?} is not a key name", k.name),
                "use letters, digits, '_', '-' or '.', e.g. \"acme-wallboard\"",
            );
        } else if !names.insert(k.name.clone()) {
            bad(
                "name",
                format!("{:?} names two keys", k.name),
                "give each key its own name (logs name the key)",
            );
        }
        let sha = match (&k.token, &k.token_sha256) {
            (Some(t), None) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()) => {
                Some(super::access::sha256(t.as_bytes()))
            }
            (Some(_), None) => {
                bad(
                    "token",
                    "must be non-empty printable ASCII without spaces (it is sent in a header)".into(),
                    "use e.g. the output of `openssl rand -hex 32`, as \"${ENV_VAR}\" or \"${file:/path}\"",
                );
                None
            }
            (None, Some(h)) => match parse_sha256(h) {
                Some(d) => Some(d),
                None => {
                    bad(
                        "token_sha256",
                        "is not 64 hex digits".into(),
                        "write the SHA-256 of the token in hex: printf %s \"$TOKEN\" | sha256sum",
                    );
                    None
                }
            },
            (Some(_), Some(_)) => {
                bad(
                    "token",
                    "both token and token_sha256 are set".into(),
                    "keep one: token_sha256 keeps the secret out of the file",
                );
                None
            }
            (None, None) => {
                bad(
                    "token",
                    "missing".into(),
                    "set token = \"${ENV_VAR}\" or token_sha256 = \"<64 hex digits>\"",
                );
                None
            }
        };
        if let Some(h) = sha {
            if !hashes.insert(h) {
                bad(
                    "token",
                    "the same token as another key".into(),
                    "give each key its own token: a request is one key",
                );
            }
        }
        let role = match k.role.as_str() {
            "viewer" => Some(Role::Viewer),
            "supervisor" => Some(Role::Supervisor),
            "metrics" => Some(Role::Metrics),
            other => {
                bad(
                    "role",
                    format!("{other:?} is not a role"),
                    "use \"viewer\" (figures), \"supervisor\" (figures and operators) or \"metrics\" (/metrics)",
                );
                None
            }
        };
        let scope = if k.tenants.iter().any(|t| t == "*") {
            if k.tenants.len() > 1 {
                bad(
                    "tenants",
                    "\"*\" (all tenants) with other tenants".into(),
                    "write [\"*\"] alone, or list the tenants",
                );
            }
            Scope::All
        } else {
            if k.tenants.is_empty() {
                bad(
                    "tenants",
                    "empty: the key would see nothing".into(),
                    "list its tenants, e.g. [\"acme\"], or [\"*\"] for all",
                );
            }
            for t in &k.tenants {
                if !ccpulse_core::engine::settings::valid_tenant_name(t) {
                    bad(
                        "tenants",
                        format!("{t:?} is not a tenant name"),
                        "use 1 to 64 letters, digits, '_', '-' or '.'",
                    );
                }
            }
            Scope::Tenants(std::sync::Arc::new(k.tenants.iter().cloned().collect()))
        };
        if let (true, Some(sha256), Some(role)) = (ok, sha, role) {
            out.push(KeySpec {
                name: k.name.clone(),
                sha256,
                role,
                scope,
            });
        }
    }
    out
}

fn parse_sha256(h: &str) -> Option<[u8; 32]> {
    let h = h.trim();
    if h.len() != 64 || !h.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Validated settings for metric publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    pub tick_interval: Duration,
    pub agent_series_ttl: Duration,
    /// Revoked partitions' figures are served (stale) this long at most.
    pub revoked_grace: Duration,
    /// How operators appear outside the process (`agent_metrics`, with its key).
    pub agent_privacy: AgentPrivacy,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            tick_interval: Duration::from_millis(d_tick().0 as u64),
            agent_series_ttl: Duration::from_millis(d_agent_ttl().0 as u64),
            revoked_grace: d_revoked_grace().std(),
            agent_privacy: AgentPrivacy::full(),
        }
    }
}

impl HttpSection {
    pub fn validate(&self, issues: &mut Vec<Issue>) -> HttpConfig {
        let listen = match self.listen.trim().parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                issues.push(Issue::new(
                    "http.listen",
                    format!("{:?} is not an IP address with a port", self.listen),
                    "write ip:port, e.g. \"127.0.0.1:9900\", \"0.0.0.0:9900\" or \"[::]:9900\"",
                ));
                HttpConfig::default().listen
            }
        };
        if let Some(t) = &self.api_token {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) {
                issues.push(Issue::new(
                    "http.api_token",
                    "must be non-empty printable ASCII without spaces (it is sent in a header)",
                    "use e.g. the output of `openssl rand -hex 32`, or remove the line to leave the API open",
                ));
            }
        }
        if let Some(t) = &self.metrics_token {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) {
                issues.push(Issue::new(
                    "http.metrics_token",
                    "must be non-empty printable ASCII without spaces (it is sent in a header)",
                    "use e.g. the output of `openssl rand -hex 32`, or remove the line to leave /metrics open",
                ));
            }
        }
        let limits = HttpLimits {
            header_read_timeout: self.header_read_timeout.std(),
            idle_timeout: self.idle_timeout.std(),
            max_connections: self.max_connections,
        };
        if !(1_000..=300_000).contains(&self.header_read_timeout.0) {
            issues.push(Issue::new(
                "http.header_read_timeout",
                format!("{} is outside 1s..5m", self.header_read_timeout),
                "use e.g. \"10s\" (the default)",
            ));
        }
        if !(1_000..=3_600_000).contains(&self.idle_timeout.0) {
            issues.push(Issue::new(
                "http.idle_timeout",
                format!("{} is outside 1s..1h", self.idle_timeout),
                "use e.g. \"60s\" (the default); longer than Prometheus' scrape interval keeps its connection alive",
            ));
        }
        if !(8..=65_536).contains(&self.max_connections) {
            issues.push(Issue::new(
                "http.max_connections",
                format!("{} is outside 8..65536", self.max_connections),
                "use e.g. 1024 (the default): wallboards hold one connection each, scrapers and probes a few",
            ));
        }
        let keys = validate_keys(&self.keys, issues);
        let config = HttpConfig {
            listen,
            api_token: self.api_token.clone(),
            metrics_token: self.metrics_token.clone(),
            keys,
            allow_open_api: self.allow_open_api,
            limits,
        };
        let api_keys = self.api_token.is_some()
            || self
                .keys
                .iter()
                .any(|k| k.role == "viewer" || k.role == "supervisor");
        if config.beyond_loopback() && !api_keys && !self.allow_open_api {
            issues.push(Issue::new(
                "http.api_token",
                format!(
                    "not set, while http.listen {listen} accepts connections from other hosts: anyone who reaches the port reads the API and the live stream"
                ),
                "set api_token = \"${CCPULSE_API_TOKEN}\" (from the environment) or \"${file:/run/secrets/ccpulse-api-token}\"; or, on a trusted network, set http.allow_open_api = true",
            ));
        }
        config
    }
}

impl ExportSection {
    pub fn validate(&self, issues: &mut Vec<Issue>) -> ExportConfig {
        if !(100..=60_000).contains(&self.tick_interval.0) {
            issues.push(Issue::new(
                "export.tick_interval",
                format!("{} is outside 100ms..60s", self.tick_interval),
                "use e.g. \"1s\" (the default); Prometheus scrapes far less often",
            ));
        }
        if self.agent_series_ttl.0 < 60_000 {
            issues.push(Issue::new(
                "export.agent_series_ttl",
                format!(
                    "{} would drop agents between two scrapes",
                    self.agent_series_ttl
                ),
                "use at least 1m; the default is 1h",
            ));
        }
        if !(0..=MAX_REVOKED_GRACE_MS).contains(&self.revoked_grace.0) {
            issues.push(Issue::new(
                "export.revoked_grace",
                format!(
                    "{} is longer than a day: revoked partitions' figures would be served that old",
                    self.revoked_grace
                ),
                "use e.g. \"5m\" (the default) or up to \"1d\"; \"0s\" drops a revoked partition's figures at once",
            ));
        }
        if self.ready_max_lag.is_some() {
            issues.push(Issue::new(
                "export.ready_max_lag",
                "is no longer used: /readyz means restored and live, whatever the consumer lag (a traffic burst made every pod unready at once); lag is a metric with an alert (ConsumerLagGrowing)",
                "remove the line",
            ));
        }
        let agent_privacy = match (self.agent_metrics, &self.agent_pseudonym_key) {
            (AgentMetrics::Full, _) => AgentPrivacy::full(),
            (AgentMetrics::Aggregate, _) => AgentPrivacy::aggregate(),
            (AgentMetrics::Off, _) => AgentPrivacy::off(),
            (AgentMetrics::Pseudonymous, Some(key)) if key.len() >= MIN_PSEUDONYM_KEY_BYTES => {
                AgentPrivacy::pseudonymous(key.as_bytes())
            }
            (AgentMetrics::Pseudonymous, key) => {
                issues.push(Issue::new(
                    "export.agent_pseudonym_key",
                    match key {
                        None => "not set, while export.agent_metrics = \"pseudonymous\" needs a key to hash operator ids with".to_string(),
                        Some(k) => format!(
                            "is {} bytes long; pseudonyms need a key of at least {MIN_PSEUDONYM_KEY_BYTES} bytes (a short key can be found by trying keys)",
                            k.len()
                        ),
                    },
                    "set agent_pseudonym_key = \"${CCPULSE_PSEUDONYM_KEY}\" (from the environment) or \"${file:/run/secrets/ccpulse-pseudonym-key}\", holding e.g. the output of `openssl rand -hex 32`; keep it the same on every instance and across restarts",
                ));
                // Nothing per operator rather than ids in the clear.
                AgentPrivacy::off()
            }
        };
        ExportConfig {
            tick_interval: self.tick_interval.std(),
            agent_series_ttl: self.agent_series_ttl.std(),
            revoked_grace: self
                .revoked_grace
                .std()
                .min(Duration::from_millis(MAX_REVOKED_GRACE_MS as u64)),
            agent_privacy,
        }
    }
}
