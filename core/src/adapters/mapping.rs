//! Declarative JSON mappings: vendor webhooks and event streams (Twilio
//! TaskRouter, Amazon Connect…) into ccpulse [`Event`]s, without code.
//!
//! A mapping is written in TOML ([`MappingSpec`], read by the shell with
//! serde, unknown fields rejected) and validated by [`Mapping::new`], which
//! reports every problem at once with its field and fix. It holds:
//!
//! - **rules**, tried in order: the first whose selector (`when`) matches a
//!   record maps it, emitting one event of its `emit` kind (or nothing, for
//!   `emit = "nothing"`). A record no rule matches maps to no events
//!   ([`Mapped::rule`] is `None`), which is not an error: the caller counts
//!   it;
//! - **field sources** for each event field: a path into the record
//!   (`detail.queueInfo.queueArn`, `Contacts[0].State`,
//!   `InboundQueues[*].Name`), alternatives (`paths`), a constant, a value
//!   map, `after_last` (an ARN's id) and `hash` (customer references);
//! - **value maps** (`[maps.<name>]`): vendor values to ccpulse values;
//! - **JSON strings** (`json_strings`): fields holding JSON as text, which
//!   paths walk through.
//!
//! Event ids are stable: the vendor's own event id where the mapping names
//! one, otherwise a hash of the record (`<mapping name>:<xxh3-128>`, keys
//! sorted), so a re-delivered record gives the same id and the engine drops
//! the duplicate. Every event built is validated by the JSON codec's own
//! rules ([`crate::event::codec::from_wire`]), so a mapped event passes
//! exactly what a JSON event passes.

use std::collections::BTreeMap;

use serde_json::Value;

use super::mapping_error::MapError;
use super::mapping_path::Path;
use super::mapping_spec::{CondSpec, Emit, FieldSpec, MapSpec, MappingSpec, RuleSpec, TimeFormat};
use crate::event::codec::{from_wire, wire, Limits};
use crate::event::{
    AgentState, AgentStateChanged, Channel, Direction, Event, EventKind, InteractionEvent, Millis,
    SurveyAnswered, SurveyScore,
};
use crate::settings::Issue;

/// A validated mapping, ready to apply.
#[derive(Debug, Clone)]
pub struct Mapping {
    name: String,
    json_strings: Vec<Path>,
    maps: BTreeMap<String, ValueMap>,
    rules: Vec<Rule>,
}

/// What one record mapped to.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The events (none when no rule matched, or the rule emits nothing).
    pub events: Vec<Event>,
    /// The rule that matched, if any.
    pub rule: Option<String>,
}

#[derive(Debug, Clone)]
struct ValueMap {
    exact: BTreeMap<String, String>,
    folded: BTreeMap<String, String>,
    default: Option<String>,
    keep_unmapped: bool,
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    when: Option<Cond>,
    emit: Emit,
    fields: BTreeMap<&'static str, Source>,
}

#[derive(Debug, Clone)]
enum Cond {
    Equals(Path, String),
    In(Path, Vec<String>),
    Exists(Path, bool),
    All(Vec<Cond>),
    Any(Vec<Cond>),
}

#[derive(Debug, Clone)]
struct Source {
    paths: Vec<Path>,
    constant: Option<String>,
    map: Option<String>,
    after_last: Option<String>,
    hash: bool,
    format: Option<TimeFormat>,
}

/// The kinds of value an event field takes, for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Time,
    Channel,
    State,
    Direction,
    Number,
    List,
}

fn kind_of(field: &str) -> Kind {
    match field {
        "occurred_at" => Kind::Time,
        "channel" => Kind::Channel,
        "state" => Kind::State,
        "direction" => Kind::Direction,
        "priority" | "csat" | "nps" | "ces" => Kind::Number,
        "queues" => Kind::List,
        _ => Kind::Text,
    }
}

/// Fields an `emit` kind requires, and the ones it may take.
fn fields_of(emit: Emit) -> (&'static [&'static str], &'static [&'static str]) {
    match emit {
        Emit::Queued => (
            &["interaction_id", "queue", "channel"],
            &["priority", "customer_ref"],
        ),
        Emit::Offered | Emit::Answered => (&["interaction_id", "agent_id"], &[]),
        Emit::Message => (&["interaction_id", "direction"], &["agent_id"]),
        Emit::Transferred => (&["interaction_id"], &["to_queue", "to_agent"]),
        Emit::WrapUpDone | Emit::Resolved => (&["interaction_id"], &["agent_id"]),
        Emit::StatusChanged => (&["interaction_id", "status"], &[]),
        Emit::HoldStarted | Emit::HoldEnded | Emit::Abandoned | Emit::Ended | Emit::Reopened => {
            (&["interaction_id"], &[])
        }
        Emit::AgentStateChanged => (&["agent_id", "state"], &["queues"]),
        Emit::SurveyAnswered => (
            &["interaction_id", "queue", "channel"],
            &["agent_id", "csat", "nps", "ces"],
        ),
        Emit::Nothing => (&[], &[]),
    }
}

/// Fields whose value may be replaced by its hash.
const HASHABLE: &[&str] = &[
    "event_id",
    "tenant",
    "interaction_id",
    "customer_ref",
    "agent_id",
    "to_agent",
    "queue",
    "to_queue",
    "status",
];

impl Mapping {
    /// Validates a mapping as written; every problem is reported, each with
    /// its field and fix.
    pub fn new(spec: &MappingSpec) -> Result<Mapping, Vec<Issue>> {
        let mut issues = Vec::new();
        let json_strings = spec
            .json_strings
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let field = format!("json_strings[{i}]");
                match Path::parse(p) {
                    Ok(p) if p.has_wildcard() => {
                        issues.push(Issue::new(
                            field,
                            format!("{p} has [*]"),
                            "name one field (e.g. \"TaskAttributes\"); [0]-style indices are fine",
                        ));
                        None
                    }
                    Ok(p) => Some(p),
                    Err(e) => {
                        issues.push(Issue::new(
                            field,
                            e,
                            "write a dot path, e.g. \"TaskAttributes\"",
                        ));
                        None
                    }
                }
            })
            .collect();
        let maps = spec
            .maps
            .iter()
            .map(|(name, m)| (name.clone(), value_map(name, m, &mut issues)))
            .collect::<BTreeMap<_, _>>();
        if spec.rules.is_empty() {
            issues.push(Issue::new(
                "rules",
                "no rules",
                "add at least one [[rules]] with `when`, `emit` and the event's fields",
            ));
        }
        let mut names = BTreeMap::new();
        let mut rules = Vec::with_capacity(spec.rules.len());
        for (i, r) in spec.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            let name = if r.name.trim().is_empty() {
                at.clone()
            } else {
                r.name.clone()
            };
            if let Some(first) = names.insert(name.clone(), i) {
                issues.push(Issue::new(
                    format!("{at}.name"),
                    format!("{name:?} is also the name of rules[{first}]"),
                    "give each rule its own name (errors and dead letters name the rule)",
                ));
            }
            rules.push(rule(spec, r, &at, name, &maps, &mut issues));
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(Mapping {
            name: if spec.name.trim().is_empty() {
                "mapped".into()
            } else {
                spec.name.clone()
            },
            json_strings,
            maps,
            rules,
        })
    }

    /// The mapping's name (`"mapped"` when it has none).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rules' names, in order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// Maps one record with [`Limits::default`] and no reference time.
    pub fn apply(&self, record: &Value) -> Result<Vec<Event>, MapError> {
        self.apply_with(record, &Limits::default(), None)
            .map(|m| m.events)
    }

    /// Maps one record: the first rule whose `when` matches builds its
    /// event, validated with `limits` (and against `reference`, like
    /// [`crate::event::codec::decode`]).
    pub fn apply_with(
        &self,
        record: &Value,
        limits: &Limits,
        reference: Option<Millis>,
    ) -> Result<Mapped, MapError> {
        for rule in &self.rules {
            let matched = match &rule.when {
                None => true,
                Some(c) => self
                    .holds(c, record)
                    .map_err(|reason| MapError::NestedJson {
                        rule: rule.name.clone(),
                        field: "when",
                        reason,
                    })?,
            };
            if !matched {
                continue;
            }
            let events = if rule.emit == Emit::Nothing {
                Vec::new()
            } else {
                let event = Build {
                    m: self,
                    rule,
                    record,
                }
                .event()?;
                let envelope = wire::Envelope::from(&event);
                let event =
                    from_wire(envelope, limits, reference).map_err(|error| MapError::Invalid {
                        rule: rule.name.clone(),
                        emit: rule.emit.as_str(),
                        error,
                    })?;
                vec![event]
            };
            return Ok(Mapped {
                events,
                rule: Some(rule.name.clone()),
            });
        }
        Ok(Mapped {
            events: Vec::new(),
            rule: None,
        })
    }

    fn holds(&self, c: &Cond, record: &Value) -> Result<bool, String> {
        Ok(match c {
            Cond::Equals(p, v) => p
                .resolve(record, &self.json_strings)?
                .iter()
                .any(|x| scalar_text(x).as_deref() == Some(v)),
            Cond::In(p, vs) => p
                .resolve(record, &self.json_strings)?
                .iter()
                .filter_map(scalar_text)
                .any(|x| vs.contains(&x)),
            Cond::Exists(p, want) => p.resolve(record, &self.json_strings)?.is_empty() != *want,
            Cond::All(cs) => {
                for c in cs {
                    if !self.holds(c, record)? {
                        return Ok(false);
                    }
                }
                true
            }
            Cond::Any(cs) => {
                for c in cs {
                    if self.holds(c, record)? {
                        return Ok(true);
                    }
                }
                false
            }
        })
    }
}

/// A scalar as text: strings as they are, numbers and booleans written
/// out; objects, arrays and null have none.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// A stable id for a record without one: its JSON with keys sorted,
/// hashed.
pub fn record_hash(record: &Value) -> u128 {
    let mut text = String::new();
    canonical(record, &mut text);
    xxhash_rust::xxh3::xxh3_128(text.as_bytes())
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

// ----------------------------------------------------------------- validation

fn value_map(name: &str, m: &MapSpec, issues: &mut Vec<Issue>) -> ValueMap {
    let field = format!("maps.{name}");
    let mut folded: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &m.values {
        let lower = k.to_ascii_lowercase();
        match folded.get(&lower) {
            Some(prev) if prev != v => issues.push(Issue::new(
                format!("{field}.values.{k}"),
                format!("keys differing only in case map to different values ({prev:?} and {v:?})"),
                "keys also match ignoring case: keep one spelling, or map them alike",
            )),
            _ => {
                folded.insert(lower, v.clone());
            }
        }
    }
    if m.default.is_some() && m.keep_unmapped {
        issues.push(Issue::new(
            format!("{field}.keep_unmapped"),
            "set together with default",
            "choose one: default (one value for everything else) or keep_unmapped (let other values through)",
        ));
    }
    if m.values.is_empty() && m.default.is_none() {
        issues.push(Issue::new(
            format!("{field}.values"),
            "empty map",
            "add vendor values and what they mean, e.g. values = { Available = \"available\" }",
        ));
    }
    ValueMap {
        exact: m.values.clone(),
        folded,
        default: m.default.clone(),
        keep_unmapped: m.keep_unmapped,
    }
}

impl ValueMap {
    fn get(&self, v: &str) -> Option<String> {
        self.exact
            .get(v)
            .or_else(|| self.folded.get(&v.to_ascii_lowercase()))
            .or(self.default.as_ref())
            .cloned()
            .or_else(|| self.keep_unmapped.then(|| v.to_owned()))
    }

    /// Every value the map can produce (not the kept ones).
    fn outputs(&self) -> impl Iterator<Item = &String> {
        self.exact.values().chain(self.default.iter())
    }
}

fn rule(
    spec: &MappingSpec,
    r: &RuleSpec,
    at: &str,
    name: String,
    maps: &BTreeMap<String, ValueMap>,
    issues: &mut Vec<Issue>,
) -> Rule {
    let when = r
        .when
        .as_ref()
        .and_then(|c| cond(c, &format!("{at}.when"), issues));
    let (required, optional) = fields_of(r.emit);
    let mut fields = BTreeMap::new();
    let mut written = Vec::new();
    for (field, s) in r.fields() {
        // The mapping-wide defaults, unless the rule sets its own.
        let s = s.or(match field {
            "event_id" => spec.event_id.as_ref(),
            "occurred_at" => spec.occurred_at.as_ref(),
            "tenant" => spec.tenant.as_ref(),
            _ => None,
        });
        let Some(s) = s else { continue };
        written.push(field);
        let envelope = matches!(field, "event_id" | "occurred_at" | "tenant");
        let used = (envelope && r.emit != Emit::Nothing)
            || required.contains(&field)
            || optional.contains(&field);
        if !used {
            if r.fields()
                .iter()
                .any(|(f, set)| *f == field && set.is_some())
            {
                issues.push(Issue::new(
                    format!("{at}.{field}"),
                    format!("not a field of emit = {:?}", r.emit.as_str()),
                    format!("remove it; {:?} takes {}", r.emit.as_str(), takes(r.emit)),
                ));
            }
            continue;
        }
        if let Some(src) = source(s, &format!("{at}.{field}"), field, maps, issues) {
            fields.insert(field, src);
        }
    }
    for f in required {
        if !written.contains(f) {
            issues.push(Issue::new(
                format!("{at}.{f}"),
                format!("required by emit = {:?}", r.emit.as_str()),
                format!("set {f} to a path into the record, e.g. {f} = \"some.field\", or {{ const = \"...\" }}"),
            ));
        }
    }
    if r.emit != Emit::Nothing && !written.contains(&"occurred_at") {
        issues.push(Issue::new(
            format!("{at}.occurred_at"),
            "no event time: neither the rule nor the mapping sets occurred_at",
            "set occurred_at = { path = \"...\", format = \"rfc3339\" } (or epoch_s / epoch_ms) at the top of the mapping or in the rule",
        ));
    }
    if r.emit == Emit::Transferred
        && !written.contains(&"to_queue")
        && !written.contains(&"to_agent")
    {
        issues.push(Issue::new(
            format!("{at}.to_queue"),
            "a transfer needs to_queue or to_agent",
            "set to_queue (the queue it moves to) and/or to_agent",
        ));
    }
    if r.emit == Emit::SurveyAnswered {
        let n = ["csat", "nps", "ces"]
            .iter()
            .filter(|f| written.contains(*f))
            .count();
        if n != 1 {
            issues.push(Issue::new(
                format!("{at}.csat"),
                format!("a survey answer takes exactly one score, {n} are set"),
                "set one of csat (1-5), nps (0-10) or ces (1-7)",
            ));
        }
    }
    Rule {
        name,
        when,
        emit: r.emit,
        fields,
    }
}

fn takes(emit: Emit) -> String {
    let (req, opt) = fields_of(emit);
    let mut all: Vec<&str> = vec!["event_id", "occurred_at", "tenant"];
    all.extend(req);
    all.extend(opt);
    if emit == Emit::Nothing {
        return "only `when`".into();
    }
    all.join(", ")
}

fn cond(c: &CondSpec, at: &str, issues: &mut Vec<Issue>) -> Option<Cond> {
    let tests = [c.equals.is_some(), c.one_of.is_some(), c.exists.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    let shapes = [c.path.is_some(), c.all.is_some(), c.any.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    let fix = "write { path = \"EventType\", equals = \"...\" } (or in = [...], exists = true), or { all = [...] } / { any = [...] }";
    if shapes != 1 {
        issues.push(Issue::new(
            at,
            "a condition needs exactly one of path, all, any",
            fix,
        ));
        return None;
    }
    if let Some(list) = c.all.as_ref().or(c.any.as_ref()) {
        if tests != 0 {
            issues.push(Issue::new(
                at,
                "equals / in / exists go with path, not with all / any",
                fix,
            ));
        }
        if list.is_empty() {
            issues.push(Issue::new(at, "an empty list of conditions", fix));
            return None;
        }
        let key = if c.all.is_some() { "all" } else { "any" };
        let inner: Vec<Option<Cond>> = list
            .iter()
            .enumerate()
            .map(|(i, c)| cond(c, &format!("{at}.{key}[{i}]"), issues))
            .collect();
        let inner: Option<Vec<Cond>> = inner.into_iter().collect();
        return inner.map(|v| {
            if c.all.is_some() {
                Cond::All(v)
            } else {
                Cond::Any(v)
            }
        });
    }
    let path = match Path::parse(c.path.as_deref().unwrap_or_default()) {
        Ok(p) => p,
        Err(e) => {
            issues.push(Issue::new(
                format!("{at}.path"),
                e,
                "write a dot path, e.g. \"detail.eventType\"",
            ));
            return None;
        }
    };
    if tests != 1 {
        issues.push(Issue::new(
            at,
            format!("a path needs exactly one test (equals, in, exists); {tests} are set"),
            fix,
        ));
        return None;
    }
    if let Some(v) = &c.equals {
        return Some(Cond::Equals(path, v.text()));
    }
    if let Some(vs) = &c.one_of {
        if vs.is_empty() {
            issues.push(Issue::new(
                format!("{at}.in"),
                "an empty list",
                "list the values that match",
            ));
        }
        return Some(Cond::In(path, vs.iter().map(|v| v.text()).collect()));
    }
    c.exists.map(|e| Cond::Exists(path, e))
}

fn source(
    s: &FieldSpec,
    at: &str,
    field: &'static str,
    maps: &BTreeMap<String, ValueMap>,
    issues: &mut Vec<Issue>,
) -> Option<Source> {
    let t = &s.0;
    let kind = kind_of(field);
    let before = issues.len();
    let texts: Vec<&String> = match (&t.path, &t.paths) {
        (Some(_), Some(_)) => {
            issues.push(Issue::new(
                at,
                "both path and paths are set",
                "use path for one place, paths = [...] for alternatives",
            ));
            Vec::new()
        }
        (Some(p), None) => vec![p],
        (None, Some(ps)) => {
            if ps.is_empty() {
                issues.push(Issue::new(
                    format!("{at}.paths"),
                    "an empty list",
                    "list at least one path",
                ));
            }
            ps.iter().collect()
        }
        (None, None) => Vec::new(),
    };
    if texts.is_empty() && t.constant.is_none() && t.path.is_none() && t.paths.is_none() {
        issues.push(Issue::new(
            at,
            "neither a path nor a constant",
            "write field = \"path.in.record\", or { path = \"...\" }, or { const = \"...\" }",
        ));
    }
    let mut paths = Vec::new();
    for (i, p) in texts.iter().enumerate() {
        let f = if t.paths.is_some() {
            format!("{at}.paths[{i}]")
        } else {
            format!("{at}.path")
        };
        match Path::parse(p) {
            Ok(p) if p.has_wildcard() && kind != Kind::List => issues.push(Issue::new(
                f,
                format!("{p} has [*], which finds many values; {field} takes one"),
                "pick one item with an index, e.g. [0]; [*] is for queues",
            )),
            Ok(p) => paths.push(p),
            Err(e) => issues.push(Issue::new(
                f,
                e,
                "write a dot path, e.g. \"detail.contactId\"",
            )),
        }
    }
    match (kind, t.format) {
        (Kind::Time, None) => issues.push(Issue::new(
            format!("{at}.format"),
            "the time format is not set",
            "set format = \"rfc3339\", \"epoch_s\" or \"epoch_ms\"",
        )),
        (Kind::Time, Some(_)) => {}
        (_, Some(_)) => issues.push(Issue::new(
            format!("{at}.format"),
            format!("{field} is not a time"),
            "remove format; it is for occurred_at",
        )),
        (_, None) => {}
    }
    if kind == Kind::Time {
        for (key, set) in [
            ("const", t.constant.is_some()),
            ("map", t.map.is_some()),
            ("after_last", t.after_last.is_some()),
            ("hash", t.hash),
        ] {
            if set {
                issues.push(Issue::new(
                    format!("{at}.{key}"),
                    "not applicable to occurred_at",
                    "occurred_at takes path or paths, and format",
                ));
            }
        }
    }
    if t.hash && kind != Kind::Time && !HASHABLE.contains(&field) {
        issues.push(Issue::new(
            format!("{at}.hash"),
            format!("{field} cannot be hashed"),
            format!("hash is for identifiers: {}", HASHABLE.join(", ")),
        ));
    }
    if t.after_last.as_deref() == Some("") {
        issues.push(Issue::new(
            format!("{at}.after_last"),
            "empty",
            "give the separator, e.g. after_last = \"/\"",
        ));
    }
    // What the field's values can be, where it can be known now.
    let mut outputs: Vec<String> = Vec::new();
    if let Some(name) = &t.map {
        match maps.get(name) {
            None => issues.push(Issue::new(
                format!("{at}.map"),
                format!("no map named {name:?}"),
                if maps.is_empty() {
                    "define it: [maps.<name>] values = { VendorValue = \"ccpulse_value\" }"
                        .to_string()
                } else {
                    format!(
                        "use one of: {}, or define [maps.{name}]",
                        maps.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                },
            )),
            Some(m) => {
                outputs.extend(m.outputs().cloned());
                if m.keep_unmapped && matches!(kind, Kind::Channel | Kind::State | Kind::Direction)
                {
                    issues.push(Issue::new(
                        format!("maps.{name}.keep_unmapped"),
                        format!("the map feeds {at}, whose values ccpulse must know"),
                        format!(
                            "map every vendor value, or set a default ({})",
                            allowed(kind)
                        ),
                    ));
                }
            }
        }
    } else if let Some(c) = &t.constant {
        outputs.push(c.clone());
    }
    for v in &outputs {
        let ok = match kind {
            Kind::Channel => channel(v).is_some(),
            Kind::State => state(v).is_some(),
            Kind::Direction => direction(v).is_some(),
            Kind::Number => v.trim().parse::<u32>().is_ok(),
            Kind::Text | Kind::List | Kind::Time => true,
        };
        if !ok {
            let fix = format!("use one of: {}", allowed(kind));
            let place = match &t.map {
                Some(m) => format!("maps.{m}"),
                None => format!("{at}.const"),
            };
            issues.push(Issue::new(
                place,
                format!("{v:?} is not a valid {field}"),
                fix,
            ));
        }
    }
    if issues.len() != before {
        return None;
    }
    Some(Source {
        paths,
        constant: t.constant.clone(),
        map: t.map.clone(),
        after_last: t.after_last.clone(),
        hash: t.hash,
        format: t.format,
    })
}

fn allowed(kind: Kind) -> String {
    match kind {
        Kind::Channel => Channel::ALL.map(Channel::as_str).join(", "),
        Kind::State => AgentState::ALL.map(AgentState::as_str).join(", "),
        Kind::Direction => "customer, agent".into(),
        Kind::Number => "a whole number".into(),
        Kind::Text | Kind::List | Kind::Time => "any text".into(),
    }
}

fn channel(s: &str) -> Option<Channel> {
    Channel::ALL.into_iter().find(|c| c.as_str() == s)
}

fn state(s: &str) -> Option<AgentState> {
    AgentState::ALL.into_iter().find(|c| c.as_str() == s)
}

fn direction(s: &str) -> Option<Direction> {
    match s {
        "customer" => Some(Direction::Customer),
        "agent" => Some(Direction::Agent),
        _ => None,
    }
}

// ------------------------------------------------------------------- applying

/// Building one rule's event from one record.
struct Build<'a> {
    m: &'a Mapping,
    rule: &'a Rule,
    record: &'a Value,
}

impl Build<'_> {
    fn event(&self) -> Result<Event, MapError> {
        let event_id = match self.text("event_id")? {
            Some(id) => id,
            None => format!("{}:{:032x}", self.m.name, record_hash(self.record)),
        };
        let occurred_at = self.time()?;
        let tenant = self.text("tenant")?;
        let ix = |event| -> Result<EventKind, MapError> {
            Ok(EventKind::Interaction {
                interaction_id: self.required("interaction_id")?,
                event,
            })
        };
        let kind = match self.rule.emit {
            Emit::Queued => ix(InteractionEvent::Queued {
                queue: self.required("queue")?,
                channel: self.channel()?,
                priority: self.number("priority")?.unwrap_or(0),
                customer_ref: self.text("customer_ref")?,
            })?,
            Emit::Offered => ix(InteractionEvent::Offered {
                agent_id: self.required("agent_id")?,
            })?,
            Emit::Answered => ix(InteractionEvent::Answered {
                agent_id: self.required("agent_id")?,
            })?,
            Emit::Message => ix(InteractionEvent::Message {
                direction: self.parsed("direction", direction, Kind::Direction)?,
                agent_id: self.text("agent_id")?,
            })?,
            Emit::HoldStarted => ix(InteractionEvent::HoldStarted)?,
            Emit::HoldEnded => ix(InteractionEvent::HoldEnded)?,
            Emit::Transferred => ix(InteractionEvent::Transferred {
                to_queue: self.text("to_queue")?,
                to_agent: self.text("to_agent")?,
            })?,
            Emit::Abandoned => ix(InteractionEvent::Abandoned)?,
            Emit::Ended => ix(InteractionEvent::Ended)?,
            Emit::WrapUpDone => ix(InteractionEvent::WrapUpDone {
                agent_id: self.text("agent_id")?,
            })?,
            Emit::Resolved => ix(InteractionEvent::Resolved {
                agent_id: self.text("agent_id")?,
            })?,
            Emit::Reopened => ix(InteractionEvent::Reopened)?,
            Emit::StatusChanged => ix(InteractionEvent::StatusChanged {
                status: self.required("status")?,
            })?,
            Emit::AgentStateChanged => EventKind::Agent(AgentStateChanged {
                agent_id: self.required("agent_id")?,
                state: self.parsed("state", state, Kind::State)?,
                queues: self.list("queues")?,
            }),
            Emit::SurveyAnswered => {
                let score = if let Some(v) = self.number("csat")? {
                    SurveyScore::Csat(small(v))
                } else if let Some(v) = self.number("nps")? {
                    SurveyScore::Nps(small(v))
                } else {
                    let v = self.number("ces")?;
                    SurveyScore::Ces(small(v.ok_or_else(|| self.missing("ces"))?))
                };
                EventKind::Survey(SurveyAnswered {
                    interaction_id: self.required("interaction_id")?,
                    agent_id: self.text("agent_id")?,
                    queue: self.required("queue")?,
                    channel: self.channel()?,
                    score,
                })
            }
            // Handled by the caller; kept total here.
            Emit::Nothing => return Err(self.missing("emit")),
        };
        Ok(Event {
            event_id,
            occurred_at,
            tenant,
            kind,
        })
    }

    fn paths(&self, field: &str) -> String {
        match self.rule.fields.get(field) {
            Some(s) if !s.paths.is_empty() => s
                .paths
                .iter()
                .map(Path::as_str)
                .collect::<Vec<_>>()
                .join(" | "),
            Some(_) => "const".into(),
            None => "(not mapped)".into(),
        }
    }

    fn missing(&self, field: &'static str) -> MapError {
        MapError::Missing {
            rule: self.rule.name.clone(),
            field,
            path: self.paths(field),
        }
    }

    fn bad(&self, field: &'static str, reason: String) -> MapError {
        MapError::Value {
            rule: self.rule.name.clone(),
            field,
            path: self.paths(field),
            reason,
        }
    }

    /// The raw values of the first path that finds any.
    fn raw(&self, field: &'static str, src: &Source) -> Result<Vec<Value>, MapError> {
        for p in &src.paths {
            let vs = p
                .resolve(self.record, &self.m.json_strings)
                .map_err(|reason| MapError::NestedJson {
                    rule: self.rule.name.clone(),
                    field,
                    reason,
                })?;
            if !vs.is_empty() {
                return Ok(vs);
            }
        }
        Ok(src
            .constant
            .iter()
            .map(|c| Value::String(c.clone()))
            .collect())
    }

    /// One value as text, through after_last, the map and the hash.
    fn finish(&self, field: &'static str, src: &Source, v: &Value) -> Result<String, MapError> {
        let mut s = scalar_text(v).ok_or_else(|| {
            self.bad(
                field,
                format!("found {}, not text or a number", json_kind(v)),
            )
        })?;
        if let Some(sep) = &src.after_last {
            if let Some(i) = s.rfind(sep.as_str()) {
                s = s[i + sep.len()..].to_owned();
            }
        }
        if let Some(name) = &src.map {
            let map = self.m.maps.get(name).ok_or_else(|| self.missing(field))?;
            s = map.get(&s).ok_or_else(|| MapError::Unmapped {
                rule: self.rule.name.clone(),
                field,
                path: self.paths(field),
                value: s.clone(),
                map: name.clone(),
            })?;
        }
        if src.hash {
            s = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(s.as_bytes()));
        }
        Ok(s)
    }

    fn text(&self, field: &'static str) -> Result<Option<String>, MapError> {
        let Some(src) = self.rule.fields.get(field) else {
            return Ok(None);
        };
        match self.raw(field, src)?.first() {
            Some(v) => self.finish(field, src, v).map(Some),
            None => Ok(None),
        }
    }

    fn required(&self, field: &'static str) -> Result<String, MapError> {
        self.text(field)?.ok_or_else(|| self.missing(field))
    }

    fn list(&self, field: &'static str) -> Result<Vec<String>, MapError> {
        let Some(src) = self.rule.fields.get(field) else {
            return Ok(Vec::new());
        };
        self.raw(field, src)?
            .iter()
            .map(|v| self.finish(field, src, v))
            .collect()
    }

    fn parsed<T>(
        &self,
        field: &'static str,
        parse: fn(&str) -> Option<T>,
        kind: Kind,
    ) -> Result<T, MapError> {
        let s = self.required(field)?;
        parse(&s).ok_or_else(|| {
            self.bad(
                field,
                format!(
                    "{s:?} is not one of {} (map it with a value map)",
                    allowed(kind)
                ),
            )
        })
    }

    fn channel(&self) -> Result<Channel, MapError> {
        self.parsed("channel", channel, Kind::Channel)
    }

    fn number(&self, field: &'static str) -> Result<Option<u32>, MapError> {
        let Some(s) = self.text(field)? else {
            return Ok(None);
        };
        let t = s.trim();
        t.parse::<u32>()
            .ok()
            .or_else(|| {
                // Whole numbers written as floats (`3.0`).
                t.parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(f))
                    .map(|f| f as u32)
            })
            .map(Some)
            .ok_or_else(|| self.bad(field, format!("{s:?} is not a whole number >= 0")))
    }

    fn time(&self) -> Result<Millis, MapError> {
        let field = "occurred_at";
        let src = self
            .rule
            .fields
            .get(field)
            .ok_or_else(|| self.missing(field))?;
        let v = self
            .raw(field, src)?
            .into_iter()
            .next()
            .ok_or_else(|| self.missing(field))?;
        let format = src.format.unwrap_or(TimeFormat::Rfc3339);
        parse_time(&v, format).map_err(|reason| self.bad(field, reason))
    }
}

fn small(v: u32) -> u8 {
    // Out-of-range scores are kept out of range (255) so the codec's
    // validation rejects them with its own message.
    u8::try_from(v).unwrap_or(u8::MAX)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A time value in `format`, in ms since the epoch.
fn parse_time(v: &Value, format: TimeFormat) -> Result<Millis, String> {
    let text = scalar_text(v).ok_or_else(|| format!("found {}, not a time", json_kind(v)))?;
    let t = text.trim();
    let number = |scale: i64| -> Result<Millis, String> {
        if let Ok(i) = t.parse::<i64>() {
            return i
                .checked_mul(scale)
                .ok_or_else(|| format!("{t:?} is out of range"));
        }
        let f: f64 = t.parse().map_err(|_| {
            format!(
                "{t:?} is not a number of {}",
                if scale == 1000 {
                    "seconds"
                } else {
                    "milliseconds"
                }
            )
        })?;
        let ms = (f * scale as f64).round();
        if ms.is_finite() && ms.abs() < 9.0e15 {
            Ok(ms as Millis)
        } else {
            Err(format!("{t:?} is out of range"))
        }
    };
    match format {
        TimeFormat::EpochS => number(1000),
        TimeFormat::EpochMs => number(1),
        TimeFormat::Rfc3339 => chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| d.timestamp_millis())
            .map_err(|e| format!("{t:?} is not an RFC 3339 time ({e})")),
    }
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
