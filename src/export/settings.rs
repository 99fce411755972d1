//! The export shell's settings: the `[http]` and `[export]` sections as
//! written, and their validation.

use std::net::SocketAddr;
use std::time::Duration;

use ccpulse_core::settings::{Dur, Issue};
use serde::Deserialize;

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
    /// How long a revoked partition's last figures are still served
    /// (marked stale, see [`super::shared`]) when the partition is not
    /// assigned and published here again first: through a broker outage
    /// the wallboard and the snapshot keep the last known figures instead
    /// of going blank. `"0s"` drops them at once.
    #[serde(default = "d_revoked_grace")]
    pub revoked_grace: Dur,
}

impl Default for ExportSection {
    fn default() -> Self {
        ExportSection {
            tick_interval: d_tick(),
            agent_series_ttl: d_agent_ttl(),
            ready_max_lag: d_ready_lag(),
            revoked_grace: d_revoked_grace(),
        }
    }
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
fn d_revoked_grace() -> Dur {
    Dur(300_000)
}

/// The longest `revoked_grace` accepted: figures older than a day are no
/// help to anyone watching a wallboard.
const MAX_REVOKED_GRACE_MS: i64 = 86_400_000;

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
    /// Revoked partitions' figures are served (stale) this long at most.
    pub revoked_grace: Duration,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            tick_interval: Duration::from_millis(d_tick().0 as u64),
            agent_series_ttl: Duration::from_millis(d_agent_ttl().0 as u64),
            ready_max_lag: d_ready_lag(),
            revoked_grace: d_revoked_grace().std(),
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
        HttpConfig {
            listen,
            api_token: self.api_token.clone(),
        }
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
        ExportConfig {
            tick_interval: self.tick_interval.std(),
            agent_series_ttl: self.agent_series_ttl.std(),
            ready_max_lag: self.ready_max_lag,
            revoked_grace: self
                .revoked_grace
                .std()
                .min(Duration::from_millis(MAX_REVOKED_GRACE_MS as u64)),
        }
    }
}
