//! The engine's settings: the `[engine]`, `[limits]`, `[queue_defaults]`,
//! `[queues.*]` and `[sla]` sections as written, and their validation into
//! [`EngineConfig`], the one value [`Engine::new`](super::Engine::new)
//! takes.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::window::WindowSpec;
use crate::event::Millis;
use crate::settings::{Dur, Issue};
use crate::sla::policy::{Policies, SlaSection};

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
    /// An event for an interaction not known yet (its creating event is
    /// still to come) waits this long, in event time past the watermark,
    /// for it; then it is orphaned. "0s" orphans at the next watermark move.
    #[serde(default = "d_parking_ttl")]
    pub parking_ttl: Dur,
    /// Sliding windows, each built from slices of `slice`.
    #[serde(default = "d_windows")]
    pub windows: Vec<WindowSection>,
    /// The tenant of events that name none.
    #[serde(default = "d_default_tenant")]
    pub default_tenant: String,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            allowed_lateness: d_lateness(),
            dedup_horizon: d_dedup(),
            time_zone: d_tz(),
            repeat_window: d_repeat(),
            idle_ttl: d_idle_ttl(),
            parking_ttl: d_parking_ttl(),
            windows: d_windows(),
            default_tenant: d_default_tenant(),
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
    /// Events waiting for their interaction (`engine.parking_ttl`) at
    /// once; further ones are orphaned (bounded memory, ~200 B each).
    #[serde(default = "d_max_parked")]
    pub max_parked_events: usize,
    /// Tenants kept apart (per partition); more fold into the tenant
    /// `other`.
    #[serde(default = "d_max_tenants")]
    pub max_tenants: usize,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_queues: d_max_queues(),
            max_agents: d_max_agents(),
            max_tracked_customers: d_max_tracked(),
            max_tracked_resolved: d_max_tracked(),
            max_parked_events: d_max_parked(),
            max_tenants: d_max_tenants(),
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
fn d_parking_ttl() -> Dur {
    Dur(300_000)
}
fn d_max_parked() -> usize {
    100_000
}
fn d_max_tenants() -> usize {
    100
}
fn d_default_tenant() -> String {
    DEFAULT_TENANT.into()
}

/// The tenant of events without one, unless `engine.default_tenant` says
/// otherwise.
pub const DEFAULT_TENANT: &str = "default";

/// `[tenants.<name>]`: one tenant's overrides. Queue settings overlay the
/// global ones field by field, from general to specific:
/// `[queue_defaults]` < `[tenants.T.queue_defaults]` < `[queues.Q]` <
/// `[tenants.T.queues.Q]`. SLA policies, when the tenant lists any,
/// replace the global list for that tenant (calendars and `[sla.defaults]`
/// stay shared).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSection {
    #[serde(default)]
    pub queue_defaults: QueueSection,
    #[serde(default)]
    pub queues: BTreeMap<String, QueueSection>,
    #[serde(default)]
    pub sla: TenantSlaSection,
}

/// `[tenants.<name>.sla]`: the tenant's own policies.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSlaSection {
    #[serde(default)]
    pub policies: Vec<crate::sla::policy::PolicySection>,
}

/// One tenant's validated settings: what differs from the global ones.
#[derive(Debug, Clone)]
pub struct TenantSettings {
    pub queue_defaults: QueueSettings,
    pub queues: BTreeMap<String, QueueSettings>,
    /// `None`: the global policies.
    pub policies: Option<Policies>,
}

/// A tenant name is a label value and a word in URLs and key scopes.
pub fn valid_tenant_name(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
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

/// Validated per-queue settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub parking_ttl: Millis,
    pub max_queues: usize,
    pub max_agents: usize,
    pub max_tracked_customers: usize,
    pub max_tracked_resolved: usize,
    pub max_parked_events: usize,
    pub queue_defaults: QueueSettings,
    pub queues: BTreeMap<String, QueueSettings>,
    /// SLA policies; none = no SLA clocks.
    pub policies: Policies,
    /// The tenant of events that name none.
    pub default_tenant: String,
    /// Tenants with their own state per engine; more fold into `other`.
    pub max_tenants: usize,
    /// Per-tenant overrides (tenants not listed use the settings above).
    pub tenants: BTreeMap<String, TenantSettings>,
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
            parking_ttl: d_parking_ttl().0,
            max_queues: d_max_queues(),
            max_agents: d_max_agents(),
            max_tracked_customers: d_max_tracked(),
            max_tracked_resolved: d_max_tracked(),
            max_parked_events: d_max_parked(),
            queue_defaults: QueueSettings::default(),
            queues: BTreeMap::new(),
            policies: Policies::default(),
            default_tenant: d_default_tenant(),
            max_tenants: d_max_tenants(),
            tenants: BTreeMap::new(),
        }
    }
}

impl EngineConfig {
    /// The settings one tenant's fold runs under: these, with the
    /// tenant's overrides applied, and no tenants of its own.
    pub fn for_tenant(&self, tenant: &str) -> EngineConfig {
        let mut c = EngineConfig {
            tenants: BTreeMap::new(),
            ..self.clone()
        };
        if let Some(t) = self.tenants.get(tenant) {
            c.queue_defaults = t.queue_defaults.clone();
            c.queues = t.queues.clone();
            if let Some(p) = &t.policies {
                c.policies = p.clone();
            }
        }
        c
    }

    /// The fingerprint of the settings of every tenant (checkpoint
    /// format 3 on): [`EngineConfig::fingerprint`] of the global settings,
    /// the default tenant, the cap, and each configured tenant's
    /// effective settings.
    pub fn tenancy_fingerprint(&self) -> u64 {
        use std::fmt::Write;
        let base = self.for_tenant("");
        let mut text = base.canonical_text() + &base.canonical_text_since_format_1();
        let _ = writeln!(
            text,
            "tenancy v1 default_tenant={}:{} max_tenants={}",
            self.default_tenant.len(),
            self.default_tenant,
            self.max_tenants
        );
        for name in self.tenants.keys() {
            let t = self.for_tenant(name);
            let _ = writeln!(
                text,
                "tenant {}:{name} {:016x}",
                name.len(),
                t.fingerprint()
            );
        }
        xxhash_rust::xxh3::xxh3_64(text.as_bytes())
    }

    /// Settings of one queue: its override, else the defaults.
    pub fn queue(&self, name: &str) -> &QueueSettings {
        self.queues.get(name).unwrap_or(&self.queue_defaults)
    }

    /// A canonical text of every setting (one per line): equal settings
    /// give equal texts, whatever the order they were written in. Every
    /// field is in it: each one changes the state's layout (windows, caps)
    /// or what the state means (lateness, horizons, time zone, queue
    /// thresholds, SLA policies), so state folded under one text is only
    /// valid under the same text. Strings are length-prefixed, fractions
    /// written as IEEE bits. Changing this text's shape changes every
    /// fingerprint (checkpoints taken before then are refused, and rebuilt
    /// from the log), so it carries its own version line.
    pub fn canonical_text(&self) -> String {
        use std::fmt::Write;
        fn queue(s: &QueueSettings) -> String {
            format!(
                "service_level_threshold={} service_level_target={:016x} short_abandon_threshold={} cost_per_agent_hour={:016x}",
                s.service_level_threshold,
                s.service_level_target.to_bits(),
                s.short_abandon_threshold,
                s.cost_per_agent_hour.to_bits(),
            )
        }
        let mut s = String::from("ccpulse engine settings, canonical text v1\n");
        for w in &self.windows {
            let _ = writeln!(
                s,
                "window {}:{} length={} slice={}",
                w.name.len(),
                w.name,
                w.length,
                w.slice
            );
        }
        let _ = writeln!(s, "allowed_lateness={}", self.allowed_lateness);
        let _ = writeln!(s, "dedup_horizon={}", self.dedup_horizon);
        let _ = writeln!(s, "time_zone={}", self.time_zone.name());
        let _ = writeln!(s, "repeat_window={}", self.repeat_window);
        let _ = writeln!(s, "idle_ttl={}", self.idle_ttl);
        let _ = writeln!(s, "max_queues={}", self.max_queues);
        let _ = writeln!(s, "max_agents={}", self.max_agents);
        let _ = writeln!(s, "max_tracked_customers={}", self.max_tracked_customers);
        let _ = writeln!(s, "max_tracked_resolved={}", self.max_tracked_resolved);
        let _ = writeln!(s, "queue_defaults {}", queue(&self.queue_defaults));
        for (name, q) in &self.queues {
            let _ = writeln!(s, "queue {}:{name} {}", name.len(), queue(q));
        }
        for p in &self.policies.list {
            let _ = writeln!(s, "policy {}", p.canonical_text());
        }
        s
    }

    /// [`EngineConfig::canonical_text`] with the lines settings added since
    /// checkpoint format 1 (parking), which format 1's state does not
    /// depend on; empty for other formats.
    pub fn canonical_text_since_format_1(&self) -> String {
        format!(
            "parking_ttl={}\nmax_parked_events={}\n",
            self.parking_ttl, self.max_parked_events
        )
    }

    /// xxh3-64 of [`EngineConfig::canonical_text`]: what a checkpoint
    /// records of the settings it was taken under.
    pub fn fingerprint(&self) -> u64 {
        let text = self.canonical_text() + &self.canonical_text_since_format_1();
        xxhash_rust::xxh3::xxh3_64(text.as_bytes())
    }

    /// The fingerprint a checkpoint of format 1 was taken under: of the
    /// settings that existed then (it holds no state of the later ones).
    pub fn fingerprint_format_1(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self.canonical_text().as_bytes())
    }
}

/// The sections of the file the engine reads, borrowed from the parsed file.
#[derive(Debug, Clone, Copy)]
pub struct EngineSections<'a> {
    pub engine: &'a EngineSection,
    pub limits: &'a LimitsSection,
    pub queue_defaults: &'a QueueSection,
    pub queues: &'a BTreeMap<String, QueueSection>,
    pub sla: &'a SlaSection,
    pub tenants: &'a BTreeMap<String, TenantSection>,
}

impl EngineSections<'_> {
    /// Check every field, adding each problem to `issues`; the result is
    /// only meaningful when no problem was added.
    pub fn validate(&self, issues: &mut Vec<Issue>) -> EngineConfig {
        let mut bad = |field: String, problem: String, fix: &str| {
            issues.push(Issue::new(field, problem, fix))
        };
        let e = self.engine;

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
        if e.parking_ttl.0 > e.idle_ttl.0 {
            bad(
                "engine.parking_ttl".into(),
                format!(
                    "{} is longer than engine.idle_ttl ({}): an event would wait longer for its interaction than the interaction is kept",
                    e.parking_ttl, e.idle_ttl
                ),
                "use at most idle_ttl; the default is 5m",
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
        let l = self.limits;
        for (name, v) in [
            ("max_queues", l.max_queues),
            ("max_agents", l.max_agents),
            ("max_tracked_customers", l.max_tracked_customers),
            ("max_tracked_resolved", l.max_tracked_resolved),
            ("max_parked_events", l.max_parked_events),
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
        let queue_defaults = resolve_queue(self.queue_defaults, &base, "queue_defaults", &mut bad);
        let mut queues = BTreeMap::new();
        for (name, q) in self.queues {
            let s = resolve_queue(q, &queue_defaults, &format!("queues.{name}"), &mut bad);
            queues.insert(name.clone(), s);
        }
        let policies = self.sla.validate(issues);
        let mut bad = |field: String, problem: String, fix: &str| {
            issues.push(Issue::new(field, problem, fix))
        };
        if !valid_tenant_name(&e.default_tenant) {
            bad(
                "engine.default_tenant".into(),
                format!("{:?} is not a valid tenant name", e.default_tenant),
                "use 1 to 64 letters, digits, '_', '-' or '.', e.g. \"default\"",
            );
        }
        if l.max_tenants == 0 {
            bad(
                "limits.max_tenants".into(),
                "must be at least 1".into(),
                "raise it (the default is 100)",
            );
        } else if self.tenants.len() >= l.max_tenants {
            bad(
                "limits.max_tenants".into(),
                format!(
                    "{} leaves no room for the {} tenants configured under [tenants] and the overflow tenant \"other\"",
                    l.max_tenants,
                    self.tenants.len()
                ),
                "raise limits.max_tenants above the number of configured tenants",
            );
        }
        let mut tenants = BTreeMap::new();
        for (name, t) in self.tenants {
            let at = format!("tenants.{name}");
            if !valid_tenant_name(name) || name == super::types::OTHER {
                bad(
                    at.clone(),
                    format!(
                        "{name:?} is not a valid tenant name (\"other\" is the overflow tenant)"
                    ),
                    "use 1 to 64 letters, digits, '_', '-' or '.'",
                );
            }
            let defaults = resolve_queue(
                &t.queue_defaults,
                &queue_defaults,
                &format!("{at}.queue_defaults"),
                &mut bad,
            );
            let mut tq = BTreeMap::new();
            let mut silent = |_: String, _: String, _: &str| {};
            for q in self.queues.keys().chain(t.queues.keys()) {
                let mid = match self.queues.get(q) {
                    Some(g) => resolve_queue(g, &defaults, "", &mut silent),
                    None => defaults.clone(),
                };
                let s = match t.queues.get(q) {
                    Some(own) => resolve_queue(own, &mid, &format!("{at}.queues.{q}"), &mut bad),
                    None => mid,
                };
                tq.insert(q.clone(), s);
            }
            let policies = (!t.sla.policies.is_empty()).then(|| {
                let section = SlaSection {
                    defaults: self.sla.defaults.clone(),
                    calendars: self.sla.calendars.clone(),
                    policies: t.sla.policies.clone(),
                };
                let mut own = Vec::new();
                let p = section.validate(&mut own);
                for i in own {
                    // Calendar problems are the global section's, reported once.
                    if let Some(rest) = i.field.strip_prefix("sla.policies") {
                        bad(format!("{at}.sla.policies{rest}"), i.problem, &i.fix);
                    }
                }
                p
            });
            tenants.insert(
                name.clone(),
                TenantSettings {
                    queue_defaults: defaults,
                    queues: tq,
                    policies,
                },
            );
        }
        EngineConfig {
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
            parking_ttl: e.parking_ttl.0,
            max_queues: l.max_queues,
            max_agents: l.max_agents,
            max_tracked_customers: l.max_tracked_customers,
            max_tracked_resolved: l.max_tracked_resolved,
            max_parked_events: l.max_parked_events,
            queue_defaults,
            queues,
            policies,
            default_tenant: e.default_tenant.clone(),
            max_tenants: l.max_tenants,
            tenants,
        }
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

    fn validate(engine: &str, limits: &str) -> (EngineConfig, Vec<Issue>) {
        let engine: EngineSection = toml::from_str(engine).unwrap_or_else(|e| panic!("{e}"));
        let limits: LimitsSection = toml::from_str(limits).unwrap_or_else(|e| panic!("{e}"));
        let mut issues = Vec::new();
        let cfg = EngineSections {
            engine: &engine,
            limits: &limits,
            queue_defaults: &QueueSection::default(),
            queues: &BTreeMap::new(),
            sla: &SlaSection::default(),
            tenants: &BTreeMap::new(),
        }
        .validate(&mut issues);
        (cfg, issues)
    }

    /// Validate a file holding `[queues.*]`, `[sla]` and `[tenants.*]`.
    fn validate_tenants(text: &str) -> (EngineConfig, Vec<Issue>) {
        #[derive(Deserialize)]
        struct F {
            #[serde(default)]
            engine: EngineSection,
            #[serde(default)]
            limits: LimitsSection,
            #[serde(default)]
            queues: BTreeMap<String, QueueSection>,
            #[serde(default)]
            sla: SlaSection,
            #[serde(default)]
            tenants: BTreeMap<String, TenantSection>,
        }
        let f: F = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        let mut issues = Vec::new();
        let cfg = EngineSections {
            engine: &f.engine,
            limits: &f.limits,
            queue_defaults: &QueueSection::default(),
            queues: &f.queues,
            sla: &f.sla,
            tenants: &f.tenants,
        }
        .validate(&mut issues);
        (cfg, issues)
    }

    #[test]
    fn tenant_queue_settings_overlay_from_general_to_specific() {
        let (cfg, issues) = validate_tenants(
            r#"
            [queues.billing]
            service_level_threshold = "30s"
            [tenants.acme.queue_defaults]
            service_level_threshold = "10s"
            cost_per_agent_hour = 40.0
            [tenants.acme.queues.sales]
            service_level_target = 0.9
            "#,
        );
        assert!(issues.is_empty(), "{issues:?}");
        let acme = cfg.for_tenant("acme");
        // [queue_defaults] < [tenants.acme.queue_defaults] < [queues.billing]
        // < [tenants.acme.queues.sales].
        let (b, s, o) = (acme.queue("billing"), acme.queue("sales"), acme.queue("x"));
        assert_eq!(
            (b.service_level_threshold, b.cost_per_agent_hour),
            (30_000, 40.0)
        );
        assert_eq!(
            (s.service_level_threshold, s.service_level_target),
            (10_000, 0.9)
        );
        assert_eq!(
            (o.service_level_threshold, o.cost_per_agent_hour),
            (10_000, 40.0)
        );
        // Other tenants keep the global settings.
        let other = cfg.for_tenant("globex");
        assert_eq!(other.queue("x").service_level_threshold, 20_000);
        assert_eq!(other.queue("billing").service_level_threshold, 30_000);
    }

    #[test]
    fn tenant_settings_are_checked_with_their_field_and_fix() {
        let (_, issues) = validate_tenants(
            r#"
            [engine]
            default_tenant = "no spaces"
            [limits]
            max_tenants = 2
            [tenants.acme.queue_defaults]
            service_level_target = 80
            [tenants.globex]
            [tenants.other]
            [[tenants.acme.sla.policies]]
            name = "p"
            first_response = "0s"
            "#,
        );
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "engine.default_tenant",
                "limits.max_tenants",
                "tenants.acme.queue_defaults.service_level_target",
                "tenants.acme.sla.policies[0].first_response",
                "tenants.other",
            ],
            "{issues:?}"
        );
        assert!(issues.iter().all(|i| !i.fix.is_empty()));
        assert!(toml::from_str::<TenantSection>("queue = {}").is_err());
    }

    #[test]
    fn parking_defaults_to_five_minutes_and_a_hundred_thousand_events() {
        let (cfg, issues) = validate("", "");
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!((cfg.parking_ttl, cfg.max_parked_events), (300_000, 100_000));
        let (cfg, issues) = validate("parking_ttl = \"90s\"", "max_parked_events = 7");
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!((cfg.parking_ttl, cfg.max_parked_events), (90_000, 7));
    }

    #[test]
    fn parking_settings_are_checked_with_their_field_and_fix() {
        let (_, issues) = validate(
            "parking_ttl = \"2h\"\nidle_ttl = \"1h\"",
            "max_parked_events = 0",
        );
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["engine.parking_ttl", "limits.max_parked_events"]);
        assert!(issues[0].problem.contains("longer than engine.idle_ttl"));
        assert!(issues[0].fix.contains("at most idle_ttl"));
        // Units are required, and unknown fields are refused.
        assert!(toml::from_str::<EngineSection>("parking_ttl = 300").is_err());
        assert!(toml::from_str::<EngineSection>("parking = \"5m\"").is_err());
    }

    #[test]
    fn parking_settings_are_part_of_the_fingerprint_but_not_of_format_1() {
        let (a, _) = validate("", "");
        let (b, _) = validate("parking_ttl = \"1m\"", "");
        let (c, _) = validate("", "max_parked_events = 5");
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(a.fingerprint_format_1(), b.fingerprint_format_1());
        assert_eq!(a.fingerprint_format_1(), c.fingerprint_format_1());
    }
}
