//! A JSON mapping as written (TOML, read with serde by the shell): the
//! vocabulary of [`super::mapping`]. Nothing here is checked beyond its
//! shape; [`super::mapping::Mapping::new`] validates it and reports every
//! problem at once.
//!
//! A leaf: it imports nothing from its siblings.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// A whole mapping file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    /// A short name for logs and dead letters, e.g. `"twilio-taskrouter"`.
    #[serde(default)]
    pub name: String,
    /// Paths of fields holding JSON encoded as a string (Twilio's
    /// `TaskAttributes`): paths may go through them as if they were
    /// objects.
    #[serde(default)]
    pub json_strings: Vec<String>,
    /// The event id for every rule (a rule may override it). When its
    /// path is absent from a record, the id is a hash of the record.
    pub event_id: Option<FieldSpec>,
    /// The event time for every rule (a rule may override it).
    pub occurred_at: Option<FieldSpec>,
    /// The tenant for every rule (optional; a rule may override it).
    pub tenant: Option<FieldSpec>,
    /// Value maps by name, used by fields with `map = "name"`.
    #[serde(default)]
    pub maps: BTreeMap<String, MapSpec>,
    /// Tried in order; the first whose `when` matches a record maps it.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

/// A value map: vendor values to ccpulse values (agent states, channels,
/// directions, queue names…). Keys match exactly or, failing that, ignoring
/// ASCII case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapSpec {
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// The value for anything not in `values`.
    pub default: Option<String>,
    /// Let values not in `values` through unchanged (instead of failing).
    #[serde(default)]
    pub keep_unmapped: bool,
}

/// What a rule produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Emit {
    Queued,
    Offered,
    Answered,
    Message,
    HoldStarted,
    HoldEnded,
    Transferred,
    Abandoned,
    Ended,
    WrapUpDone,
    Resolved,
    Reopened,
    StatusChanged,
    AgentStateChanged,
    SurveyAnswered,
    /// Matched on purpose, produces nothing (e.g. a vendor event ccpulse
    /// has no use for), so it is not counted as unmatched.
    Nothing,
}

impl Emit {
    pub fn as_str(self) -> &'static str {
        match self {
            Emit::Queued => "queued",
            Emit::Offered => "offered",
            Emit::Answered => "answered",
            Emit::Message => "message",
            Emit::HoldStarted => "hold_started",
            Emit::HoldEnded => "hold_ended",
            Emit::Transferred => "transferred",
            Emit::Abandoned => "abandoned",
            Emit::Ended => "ended",
            Emit::WrapUpDone => "wrap_up_done",
            Emit::Resolved => "resolved",
            Emit::Reopened => "reopened",
            Emit::StatusChanged => "status_changed",
            Emit::AgentStateChanged => "agent_state_changed",
            Emit::SurveyAnswered => "survey_answered",
            Emit::Nothing => "nothing",
        }
    }
}

/// One rule: which records (`when`), what to emit, and where each field of
/// the event comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Named in errors and dead letters.
    #[serde(default)]
    pub name: String,
    /// Which records the rule applies to; absent: every record.
    pub when: Option<CondSpec>,
    pub emit: Emit,
    pub event_id: Option<FieldSpec>,
    pub occurred_at: Option<FieldSpec>,
    pub tenant: Option<FieldSpec>,
    pub interaction_id: Option<FieldSpec>,
    pub queue: Option<FieldSpec>,
    pub channel: Option<FieldSpec>,
    pub priority: Option<FieldSpec>,
    pub customer_ref: Option<FieldSpec>,
    pub agent_id: Option<FieldSpec>,
    pub direction: Option<FieldSpec>,
    pub to_queue: Option<FieldSpec>,
    pub to_agent: Option<FieldSpec>,
    pub status: Option<FieldSpec>,
    pub state: Option<FieldSpec>,
    pub queues: Option<FieldSpec>,
    pub csat: Option<FieldSpec>,
    pub nps: Option<FieldSpec>,
    pub ces: Option<FieldSpec>,
}

impl RuleSpec {
    /// Every event field of the rule by name, set or not, in a fixed order.
    pub fn fields(&self) -> [(&'static str, Option<&FieldSpec>); 18] {
        [
            ("event_id", self.event_id.as_ref()),
            ("occurred_at", self.occurred_at.as_ref()),
            ("tenant", self.tenant.as_ref()),
            ("interaction_id", self.interaction_id.as_ref()),
            ("queue", self.queue.as_ref()),
            ("channel", self.channel.as_ref()),
            ("priority", self.priority.as_ref()),
            ("customer_ref", self.customer_ref.as_ref()),
            ("agent_id", self.agent_id.as_ref()),
            ("direction", self.direction.as_ref()),
            ("to_queue", self.to_queue.as_ref()),
            ("to_agent", self.to_agent.as_ref()),
            ("status", self.status.as_ref()),
            ("state", self.state.as_ref()),
            ("queues", self.queues.as_ref()),
            ("csat", self.csat.as_ref()),
            ("nps", self.nps.as_ref()),
            ("ces", self.ces.as_ref()),
        ]
    }
}

/// How a time value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// RFC 3339 / ISO 8601 with an offset, e.g. `2019-08-13T20:58:44.031Z`.
    Rfc3339,
    /// Seconds since the Unix epoch (a number or a numeric string;
    /// fractions kept to the millisecond).
    EpochS,
    /// Milliseconds since the Unix epoch (a number or a numeric string).
    EpochMs,
}

/// Where one event field comes from. Written as a plain string (a path) or
/// as a table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldTable {
    /// A path into the record, e.g. `detail.queueInfo.queueArn`,
    /// `Contacts[0].State`, `InboundQueues[*].Name`.
    pub path: Option<String>,
    /// Alternatives tried in order; the first present (not null) wins.
    pub paths: Option<Vec<String>>,
    /// A fixed value instead of a path (or when no path is present).
    #[serde(rename = "const")]
    pub constant: Option<String>,
    /// A value map (`[maps.<name>]`) the value goes through.
    pub map: Option<String>,
    /// Keep only what follows the last occurrence of this text (e.g.
    /// `"/"` turns an ARN into its id).
    pub after_last: Option<String>,
    /// Replace the value by a stable hash of it (for customer references
    /// such as phone numbers, which must not travel in clear).
    #[serde(default)]
    pub hash: bool,
    /// For `occurred_at`: how the time is written.
    pub format: Option<TimeFormat>,
}

/// A field source: `"a.b"` is short for `{ path = "a.b" }`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSpec(pub FieldTable);

impl<'de> Deserialize<'de> for FieldSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path (string) or a table such as { path = \"...\", map = \"...\" }")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<FieldSpec, E> {
                Ok(FieldSpec(FieldTable {
                    path: Some(s.to_owned()),
                    ..FieldTable::default()
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldSpec, A::Error> {
                FieldTable::deserialize(de::value::MapAccessDeserializer::new(map)).map(FieldSpec)
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar a condition compares with. Values compare as text, so `5`
/// matches the string `"5"` (form-encoded webhooks send only strings).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    pub fn text(&self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str(s) => s.clone(),
        }
    }
}

/// A selector: a test on one path, or all / any of several.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CondSpec {
    pub path: Option<String>,
    /// The value at `path` equals this.
    pub equals: Option<Scalar>,
    /// The value at `path` is one of these.
    #[serde(rename = "in")]
    pub one_of: Option<Vec<Scalar>>,
    /// `true`: `path` is present and not null; `false`: it is absent or
    /// null.
    pub exists: Option<bool>,
    /// Every one of these holds.
    pub all: Option<Vec<CondSpec>>,
    /// At least one of these holds.
    pub any: Option<Vec<CondSpec>>,
}
