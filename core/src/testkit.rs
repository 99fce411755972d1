//! Scenario builders for tests of the fold, this crate's and the
//! service's: terse event constructors on a clock in seconds from a fixed
//! origin, so a test reads like a timeline. Behind the `testkit` feature.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::engine::settings::{
    EngineConfig, EngineSection, EngineSections, LimitsSection, QueueSection, TenantSection,
};
use crate::engine::{Engine, Snapshot};
use crate::event::*;
use crate::sla::policy::SlaSection;

/// The engine's sections of a `ccpulse.toml`, for tests that write their
/// settings as a user would.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineFile {
    #[serde(default)]
    engine: EngineSection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    queue_defaults: QueueSection,
    #[serde(default)]
    queues: BTreeMap<String, QueueSection>,
    #[serde(default)]
    sla: SlaSection,
    #[serde(default)]
    tenants: BTreeMap<String, TenantSection>,
}

/// Parse and validate the engine's sections of a TOML text; panics with
/// every problem.
pub fn engine_config_from_toml(toml_text: &str) -> EngineConfig {
    let f: EngineFile = toml::from_str(toml_text).unwrap_or_else(|e| panic!("{e}"));
    let mut issues = Vec::new();
    let cfg = EngineSections {
        engine: &f.engine,
        limits: &f.limits,
        queue_defaults: &f.queue_defaults,
        queues: &f.queues,
        sla: &f.sla,
        tenants: &f.tenants,
    }
    .validate(&mut issues);
    assert!(issues.is_empty(), "invalid test config: {issues:?}");
    cfg
}

/// 2026-11-02T09:00:00Z, a Monday.
pub const T0: Millis = 1_793_610_000_000;

pub fn ms(secs: f64) -> Millis {
    T0 + (secs * 1000.0).round() as Millis
}

#[derive(Default, Clone)]
pub struct Scenario {
    pub events: Vec<Event>,
}

impl Scenario {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, at: f64, kind: EventKind) -> &mut Self {
        let n = self.events.len();
        self.events.push(Event {
            event_id: format!("e{n:06}"),
            occurred_at: ms(at),
            tenant: None,
            kind,
        });
        self
    }

    pub fn ix(&mut self, at: f64, id: &str, event: InteractionEvent) -> &mut Self {
        self.push(
            at,
            EventKind::Interaction {
                interaction_id: id.into(),
                event,
            },
        )
    }

    pub fn queued(&mut self, at: f64, id: &str, queue: &str, ch: Channel) -> &mut Self {
        self.ix(
            at,
            id,
            InteractionEvent::Queued {
                queue: queue.into(),
                channel: ch,
                priority: 0,
                customer_ref: None,
            },
        )
    }

    pub fn queued_by(
        &mut self,
        at: f64,
        id: &str,
        queue: &str,
        ch: Channel,
        customer: &str,
    ) -> &mut Self {
        self.ix(
            at,
            id,
            InteractionEvent::Queued {
                queue: queue.into(),
                channel: ch,
                priority: 0,
                customer_ref: Some(customer.into()),
            },
        )
    }

    pub fn answered(&mut self, at: f64, id: &str, agent: &str) -> &mut Self {
        self.ix(
            at,
            id,
            InteractionEvent::Answered {
                agent_id: agent.into(),
            },
        )
    }

    pub fn abandoned(&mut self, at: f64, id: &str) -> &mut Self {
        self.ix(at, id, InteractionEvent::Abandoned)
    }

    pub fn message(&mut self, at: f64, id: &str, d: Direction) -> &mut Self {
        self.ix(
            at,
            id,
            InteractionEvent::Message {
                direction: d,
                agent_id: None,
            },
        )
    }

    pub fn ended(&mut self, at: f64, id: &str) -> &mut Self {
        self.ix(at, id, InteractionEvent::Ended)
    }

    pub fn wrapped(&mut self, at: f64, id: &str) -> &mut Self {
        self.ix(at, id, InteractionEvent::WrapUpDone { agent_id: None })
    }

    pub fn resolved(&mut self, at: f64, id: &str, agent: &str) -> &mut Self {
        self.ix(
            at,
            id,
            InteractionEvent::Resolved {
                agent_id: Some(agent.into()),
            },
        )
    }

    pub fn transferred_to_queue(&mut self, at: f64, id: &str, queue: &str) -> &mut Self {
        self.ix(
            at,
            id,
            InteractionEvent::Transferred {
                to_queue: Some(queue.into()),
                to_agent: None,
            },
        )
    }

    pub fn agent(&mut self, at: f64, agent: &str, state: AgentState, queues: &[&str]) -> &mut Self {
        self.push(
            at,
            EventKind::Agent(AgentStateChanged {
                agent_id: agent.into(),
                state,
                queues: queues.iter().map(|q| q.to_string()).collect(),
            }),
        )
    }

    pub fn survey(
        &mut self,
        at: f64,
        id: &str,
        agent: Option<&str>,
        queue: &str,
        score: SurveyScore,
    ) -> &mut Self {
        self.push(
            at,
            EventKind::Survey(SurveyAnswered {
                interaction_id: id.into(),
                agent_id: agent.map(Into::into),
                queue: queue.into(),
                channel: Channel::Voice,
                score,
            }),
        )
    }

    /// Fold every event, then move the watermark to `until` seconds (or
    /// just past the last event if `until` is earlier).
    pub fn run_until(&self, cfg: EngineConfig, until: f64) -> (Engine, Snapshot) {
        let mut e = Engine::new(cfg);
        let mut out = Vec::new();
        for ev in &self.events {
            e.apply(ev.clone(), &mut out);
        }
        e.flush(&mut out);
        e.advance(ms(until), &mut out);
        let s = e.snapshot();
        (e, s)
    }

    /// The same events, each of `tenant`.
    pub fn of_tenant(&self, tenant: &str) -> Scenario {
        let mut s = self.clone();
        for e in &mut s.events {
            e.tenant = Some(tenant.to_string());
        }
        s
    }

    /// This scenario's events, then `other`'s.
    pub fn and(&self, other: &Scenario) -> Scenario {
        Scenario {
            events: [&self.events[..], &other.events[..]].concat(),
        }
    }

    pub fn run(&self, cfg: EngineConfig) -> Snapshot {
        self.run_until(cfg, f64::MIN).1
    }
}

pub fn queue<'a>(
    s: &'a Snapshot,
    name: &str,
    ch: Channel,
) -> &'a crate::engine::snapshot::QueueSnapshot {
    s.queues
        .iter()
        .find(|q| q.queue == name && q.channel == ch)
        .unwrap_or_else(|| panic!("no queue {name}/{ch:?} in snapshot"))
}

/// A queue × channel of one tenant.
pub fn tenant_queue<'a>(
    s: &'a Snapshot,
    tenant: &str,
    name: &str,
    ch: Channel,
) -> &'a crate::engine::snapshot::QueueSnapshot {
    s.queues
        .iter()
        .find(|q| q.tenant == tenant && q.queue == name && q.channel == ch)
        .unwrap_or_else(|| panic!("no queue {tenant}/{name}/{ch:?} in snapshot"))
}

pub fn approx(a: Option<f64>, b: f64) {
    let a = a.unwrap_or_else(|| panic!("expected {b}, got None"));
    assert!((a - b).abs() < 1e-9, "expected {b}, got {a}");
}

/// Fold with a config written as TOML (as a user would), advance to
/// `until` seconds, and return the snapshot and every emitted effect.
pub fn run_toml(s: &Scenario, toml_text: &str, until: f64) -> (Snapshot, Vec<Effect>) {
    let cfg = engine_config_from_toml(toml_text);
    let mut e = Engine::new(cfg);
    let mut out = Vec::new();
    for ev in &s.events {
        e.apply(ev.clone(), &mut out);
    }
    e.flush(&mut out);
    e.advance(ms(until), &mut out);
    (e.snapshot(), out)
}

pub fn breaches(effects: &[Effect]) -> Vec<&SlaBreached> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::SlaBreached(b) => Some(b),
            _ => None,
        })
        .collect()
}

pub fn reassignments(effects: &[Effect]) -> Vec<&ReassignmentRequested> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::ReassignmentRequested(r) => Some(r),
            _ => None,
        })
        .collect()
}
