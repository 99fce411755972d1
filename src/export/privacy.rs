//! Operator privacy: what leaves the process about individual operators
//! (`export.agent_metrics`).
//!
//! Per-operator figures (closures, handle time, CSAT, time in state) are
//! employee performance data. One choice, [`AgentMetrics`], applies to
//! everything that leaves the process with an operator id: the per-agent
//! series of `/metrics` ([`super::publish`]), the `agents` of the snapshot
//! API, of the SSE stream and of the wallboard's operator table
//! ([`super::shared::Figures::snapshot`]). No log line carries an operator
//! id.
//!
//! | mode | operator ids | per-operator figures |
//! | --- | --- | --- |
//! | `full` | as sent by the sources | per operator |
//! | `pseudonymous` | `op-` + 12 hex digits of HMAC-SHA256(key, id) | per pseudonym |
//! | `aggregate` | none | per-queue distributions across operators ([`OperatorDistributions`]) |
//! | `off` | none | none |
//!
//! A pseudonym is stable (the same id and key give the same label, on every
//! instance and after a restart) and cannot be turned back into the id
//! without the key; whoever holds the key can test a guessed id. Changing
//! the key starts new series.
//!
//! The mode applies to every reader below the `supervisor` role (viewers,
//! and everyone while the API is open) and to the per-agent series of
//! `/metrics`; supervisors see `full` ([`super::access`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use ccpulse_core::engine::{AgentCounters, TenantView, View, OTHER};

/// `export.agent_metrics`: how operators appear outside the process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentMetrics {
    /// Operator ids as sent by the sources.
    #[default]
    Full,
    /// Operator ids replaced by a keyed hash (`export.agent_pseudonym_key`).
    Pseudonymous,
    /// No operator labels; per-queue distributions of operator figures.
    Aggregate,
    /// No per-operator figures at all.
    Off,
}

impl AgentMetrics {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentMetrics::Full => "full",
            AgentMetrics::Pseudonymous => "pseudonymous",
            AgentMetrics::Aggregate => "aggregate",
            AgentMetrics::Off => "off",
        }
    }
}

/// Hex digits of the HMAC kept in a pseudonym (48 bits: collisions are
/// unlikely below millions of operators).
pub const PSEUDONYM_HEX: usize = 12;

/// The label prefix of a pseudonym.
pub const PSEUDONYM_PREFIX: &str = "op-";

/// The mode and, for `pseudonymous`, its key.
#[derive(Clone, Default)]
pub struct AgentPrivacy {
    mode: AgentMetrics,
    key: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for AgentPrivacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentPrivacy")
            .field("mode", &self.mode)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl PartialEq for AgentPrivacy {
    fn eq(&self, other: &Self) -> bool {
        self.mode == other.mode && self.key == other.key
    }
}

impl Eq for AgentPrivacy {}

impl AgentPrivacy {
    /// Operator ids as sent (the default).
    pub fn full() -> Self {
        Self::default()
    }

    /// Operator ids replaced by a keyed hash with `key`.
    pub fn pseudonymous(key: impl AsRef<[u8]>) -> Self {
        AgentPrivacy {
            mode: AgentMetrics::Pseudonymous,
            key: Some(Arc::from(key.as_ref())),
        }
    }

    /// No operator labels: per-queue distributions only.
    pub fn aggregate() -> Self {
        AgentPrivacy {
            mode: AgentMetrics::Aggregate,
            key: None,
        }
    }

    /// No per-operator figures at all.
    pub fn off() -> Self {
        AgentPrivacy {
            mode: AgentMetrics::Off,
            key: None,
        }
    }

    pub fn mode(&self) -> AgentMetrics {
        self.mode
    }

    /// Whether operators appear one by one (under their id or pseudonym).
    pub fn per_operator(&self) -> bool {
        matches!(self.mode, AgentMetrics::Full | AgentMetrics::Pseudonymous)
    }

    /// The label `id` is shown under, or `None` when operators are not
    /// shown one by one. `other` (the agents past `limits.max_agents`,
    /// folded together) is not an operator and stays `other`.
    pub fn label<'a>(&self, id: &'a str) -> Option<Cow<'a, str>> {
        match (self.mode, &self.key) {
            (AgentMetrics::Full, _) => Some(Cow::Borrowed(id)),
            (AgentMetrics::Pseudonymous, _) if id == OTHER => Some(Cow::Borrowed(id)),
            (AgentMetrics::Pseudonymous, Some(key)) => Some(Cow::Owned(pseudonym(key, id))),
            _ => None,
        }
    }
}

/// `op-` + the first 12 hex digits of HMAC-SHA256(`key`, `id`).
pub fn pseudonym(key: &[u8], id: &str) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(id.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(PSEUDONYM_PREFIX.len() + PSEUDONYM_HEX);
    out.push_str(PSEUDONYM_PREFIX);
    for b in &digest[..PSEUDONYM_HEX / 2] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// One figure's distribution across the operators of a queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    /// Operators with a value (e.g. CSAT only counts operators with
    /// survey responses).
    pub operators: u64,
    pub min: f64,
    /// Nearest-rank median (the lower middle for an even count).
    pub median: f64,
    /// Nearest-rank 90th percentile.
    pub p90: f64,
    pub max: f64,
    pub mean: f64,
}

impl Spread {
    /// The spread of `values`; `None` when there are none.
    pub fn of(mut values: Vec<f64>) -> Option<Spread> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        // Nearest rank: the smallest value with at least q of them at or below.
        let rank = |q: f64| values[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        Some(Spread {
            operators: n as u64,
            min: values[0],
            median: rank(0.5),
            p90: rank(0.9),
            max: values[n - 1],
            mean: values.iter().sum::<f64>() / n as f64,
        })
    }

    /// `(stat label, value)` in a fixed order.
    pub fn stats(&self) -> [(&'static str, f64); 5] {
        [
            ("min", self.min),
            ("median", self.median),
            ("p90", self.p90),
            ("max", self.max),
            ("mean", self.mean),
        ]
    }
}

/// One queue's operator figures without operator labels (`aggregate`):
/// each over the operators serving the queue (the agent directory's
/// queues), from their figures since the start (cumulative, as far as this
/// instance's view goes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueOperators {
    /// Operators serving the queue.
    pub operators: u64,
    /// Interactions each closed.
    pub closures: Option<Spread>,
    /// Each one's mean handle time (AHT), over operators who handled any.
    pub aht_seconds: Option<Spread>,
    /// Each one's occupancy, (busy + wrap-up) / (busy + wrap-up +
    /// available) time, over operators with such time.
    pub occupancy: Option<Spread>,
    /// Each one's CSAT (satisfied / responses), over operators with
    /// responses.
    pub csat: Option<Spread>,
}

/// Per tenant and queue: the operators' figures as distributions.
pub type OperatorDistributions = BTreeMap<String, BTreeMap<String, QueueOperators>>;

fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

/// [`OperatorDistributions`] of `view`: operators with their own figures
/// (not those past `limits.max_agents`), by each queue they serve; every
/// queue of the view appears, with 0 operators when none serve it.
pub fn operator_distributions(view: &View) -> OperatorDistributions {
    view.tenants
        .iter()
        .map(|(t, tv)| (t.clone(), tenant_distributions(tv)))
        .collect()
}

/// One tenant's queues' distributions (its operators only).
fn tenant_distributions(view: &TenantView) -> BTreeMap<String, QueueOperators> {
    let mut per_queue: BTreeMap<String, Vec<&AgentCounters>> = BTreeMap::new();
    for (q, _) in view.queues.keys() {
        per_queue.entry(q.clone()).or_default();
    }
    for a in view.agents.values().filter(|a| a.own_stats) {
        for q in &a.queues {
            per_queue.entry(q.clone()).or_default().push(&a.total.c);
        }
    }
    per_queue
        .into_iter()
        .map(|(q, agents)| {
            let f = |x: u64| x as f64;
            let spread = |g: &dyn Fn(&AgentCounters) -> Option<f64>| {
                Spread::of(agents.iter().filter_map(|&c| g(c)).collect())
            };
            let figures = QueueOperators {
                operators: agents.len() as u64,
                closures: spread(&|c| Some(f(c.closures))),
                aht_seconds: spread(&|c| ratio(f(c.handle_ms) / 1000.0, f(c.handled))),
                occupancy: spread(&|c| {
                    let work = f(c.busy_ms + c.wrap_up_ms);
                    ratio(work, work + f(c.available_ms))
                }),
                csat: spread(&|c| ratio(f(c.csat_satisfied), f(c.csat_responses))),
            };
            (q, figures)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_keyed_and_short() {
        let a = pseudonym(b"k1-0123456789abcdef", "alice");
        assert_eq!(a, pseudonym(b"k1-0123456789abcdef", "alice"));
        assert_ne!(a, pseudonym(b"k2-0123456789abcdef", "alice"));
        assert_ne!(a, pseudonym(b"k1-0123456789abcdef", "bob"));
        assert!(a.starts_with("op-") && a.len() == 3 + PSEUDONYM_HEX);
        assert!(!a.contains("alice"));
    }

    #[test]
    fn labels_follow_the_mode() {
        assert_eq!(
            AgentPrivacy::full().label("alice").as_deref(),
            Some("alice")
        );
        let p = AgentPrivacy::pseudonymous("secret-key-of-32-bytes-or-more..");
        assert_ne!(p.label("alice").as_deref(), Some("alice"));
        assert_eq!(p.label(OTHER).as_deref(), Some(OTHER));
        assert_eq!(AgentPrivacy::aggregate().label("alice"), None);
        assert_eq!(AgentPrivacy::off().label("alice"), None);
        assert!(!format!("{p:?}").contains("secret"));
    }

    #[test]
    fn spreads_use_nearest_rank() {
        let s = Spread::of(vec![4.0, 1.0, 3.0, 2.0]).expect("values");
        assert_eq!((s.min, s.median, s.p90, s.max), (1.0, 2.0, 4.0, 4.0));
        assert_eq!(s.mean, 2.5);
        assert_eq!(s.operators, 4);
        assert_eq!(Spread::of(vec![]), None);
    }
}
