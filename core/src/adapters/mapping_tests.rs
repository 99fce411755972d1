//! The mapping language, rule by rule: selectors, paths, value maps, time
//! formats, JSON strings, event ids, validation of the events built, and
//! every problem of a mapping reported at once.

use serde_json::json;

use super::*;
use crate::adapters::mapping_spec::MappingSpec;
use crate::event::codec::DecodeError;

fn mapping(toml_text: &str) -> Mapping {
    let spec: MappingSpec = toml::from_str(toml_text).expect("mapping TOML");
    Mapping::new(&spec).unwrap_or_else(|issues| panic!("invalid mapping: {issues:#?}"))
}

fn issues(toml_text: &str) -> Vec<Issue> {
    let spec: MappingSpec = toml::from_str(toml_text).expect("mapping TOML");
    Mapping::new(&spec).expect_err("the mapping should be invalid")
}

const HEAD: &str = r#"
name = "t"
event_id = "id"
occurred_at = { path = "ts", format = "epoch_ms" }
"#;

/// 2026-03-02T08:00:00Z.
const T0: Millis = 1_772_438_400_000;

fn ix(id: &str, event: InteractionEvent) -> EventKind {
    EventKind::Interaction {
        interaction_id: id.into(),
        event,
    }
}

#[test]
fn the_first_matching_rule_maps_a_record_and_no_match_is_not_an_error() {
    let m = mapping(&format!(
        r#"{HEAD}
[[rules]]
name = "queued"
when = {{ path = "type", equals = "queued" }}
emit = "queued"
interaction_id = "task"
queue = "queue"
channel = {{ const = "voice" }}

[[rules]]
name = "ignored"
when = {{ path = "type", in = ["ping", "pong"] }}
emit = "nothing"

[[rules]]
name = "catch-all answered"
emit = "answered"
interaction_id = "task"
agent_id = "agent"
"#
    ));
    let r = json!({"id": "e1", "ts": T0, "type": "queued", "task": "t1", "queue": "billing"});
    let out = m.apply_with(&r, &Limits::default(), None).unwrap();
    assert_eq!(out.rule.as_deref(), Some("queued"));
    assert_eq!(
        out.events,
        vec![Event {
            event_id: "e1".into(),
            occurred_at: T0,
            tenant: None,
            kind: ix(
                "t1",
                InteractionEvent::Queued {
                    queue: "billing".into(),
                    channel: Channel::Voice,
                    priority: 0,
                    customer_ref: None
                }
            ),
        }]
    );
    // Matched by a rule that emits nothing: no events, but a rule.
    let ping = m
        .apply_with(&json!({"type": "pong"}), &Limits::default(), None)
        .unwrap();
    assert_eq!(
        (ping.events.len(), ping.rule.as_deref()),
        (0, Some("ignored"))
    );
    // The catch-all (no `when`) takes the rest.
    let other = json!({"id": "e2", "ts": T0 + 1, "type": "x", "task": "t1", "agent": "a1"});
    assert_eq!(
        m.apply(&other).unwrap()[0].kind,
        ix(
            "t1",
            InteractionEvent::Answered {
                agent_id: "a1".into()
            }
        )
    );

    let strict = mapping(&format!(
        r#"{HEAD}
[[rules]]
when = {{ path = "type", equals = "queued" }}
emit = "abandoned"
interaction_id = "task"
"#
    ));
    let none = strict
        .apply_with(&json!({"type": "other"}), &Limits::default(), None)
        .unwrap();
    assert_eq!((none.events, none.rule), (vec![], None));
    // Not even an object: nothing matches, nothing fails.
    assert_eq!(strict.apply(&json!([1, 2])), Ok(vec![]));
}

#[test]
fn selectors_compare_as_text_and_combine() {
    let m = mapping(&format!(
        r#"{HEAD}
[[rules]]
name = "all"
when = {{ all = [
  {{ path = "code", equals = 5 }},
  {{ path = "flag", equals = true }},
  {{ path = "agent", exists = true }},
  {{ path = "queue", exists = false }},
] }}
emit = "answered"
interaction_id = "task"
agent_id = "agent"

[[rules]]
name = "any"
when = {{ any = [ {{ path = "items[1].k", equals = "b" }}, {{ path = "items[*].k", equals = "z" }} ] }}
emit = "ended"
interaction_id = "task"
"#
    ));
    let base = json!({"id": "e", "ts": T0, "task": "t"});
    let with = |extra: serde_json::Value| {
        let mut r = base.clone();
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        m.apply_with(&r, &Limits::default(), None).unwrap().rule
    };
    // "5" (a form-encoded string) equals 5; "true" equals true.
    assert_eq!(
        with(json!({"code": "5", "flag": "true", "agent": "a"})).as_deref(),
        Some("all")
    );
    assert_eq!(
        with(json!({"code": 5, "flag": true, "agent": "a"})).as_deref(),
        Some("all")
    );
    // A null counts as absent; a present queue fails exists = false.
    assert_eq!(with(json!({"code": 5, "flag": true, "agent": null})), None);
    assert_eq!(
        with(json!({"code": 5, "flag": true, "agent": "a", "queue": "q"})),
        None
    );
    assert_eq!(
        with(json!({"items": [{"k": "a"}, {"k": "b"}]})).as_deref(),
        Some("any")
    );
    // [*]: any item may match.
    assert_eq!(
        with(json!({"items": [{"k": "z"}, {"k": "y"}]})).as_deref(),
        Some("any")
    );
    assert_eq!(with(json!({"items": [{"k": "a"}]})), None);
}

#[test]
fn value_maps_match_exactly_then_ignoring_case_then_default() {
    let m = mapping(&format!(
        r#"{HEAD}
[maps.state]
values = {{ Available = "available", Offline = "offline", "On Call" = "busy" }}
default = "away"

[maps.queue]
values = {{ q1 = "billing" }}
keep_unmapped = true

[maps.strict]
values = {{ VOICE = "voice" }}

[[rules]]
name = "agent"
when = {{ path = "kind", equals = "agent" }}
emit = "agent_state_changed"
agent_id = "agent"
state = {{ path = "status", map = "state" }}
queues = {{ path = "queues[*]", map = "queue" }}

[[rules]]
name = "call"
emit = "queued"
interaction_id = "task"
queue = "queue"
channel = {{ path = "channel", map = "strict" }}
"#
    ));
    let agent = |status: &str| {
        let r = json!({"id": "e", "ts": T0, "kind": "agent", "agent": "a1",
                       "status": status, "queues": ["q1", "q2", null]});
        match m.apply(&r).unwrap().remove(0).kind {
            EventKind::Agent(a) => (a.state, a.queues),
            other => panic!("{other:?}"),
        }
    };
    let queues = vec!["billing".to_string(), "q2".to_string()];
    assert_eq!(agent("Available"), (AgentState::Available, queues.clone()));
    assert_eq!(agent("OFFLINE"), (AgentState::Offline, queues.clone()));
    assert_eq!(agent("on call"), (AgentState::Busy, queues.clone()));
    assert_eq!(agent("Lunch"), (AgentState::Away, queues));

    let call =
        |ch: &str| m.apply(&json!({"id": "e", "ts": T0, "task": "t", "queue": "q", "channel": ch}));
    assert!(matches!(
        &call("Voice").unwrap()[0].kind,
        EventKind::Interaction {
            event: InteractionEvent::Queued {
                channel: Channel::Voice,
                ..
            },
            ..
        }
    ));
    assert_eq!(
        call("FAX"),
        Err(MapError::Unmapped {
            rule: "call".into(),
            field: "channel",
            path: "channel".into(),
            value: "FAX".into(),
            map: "strict".into(),
        })
    );
    let msg = call("FAX").unwrap_err().to_string();
    assert!(msg.contains("add it to the map's values"), "{msg}");
}

#[test]
fn time_formats() {
    let m = |format: &str| {
        mapping(&format!(
            r#"
event_id = "id"
occurred_at = {{ path = "t", format = "{format}" }}
[[rules]]
emit = "ended"
interaction_id = "task"
"#
        ))
    };
    let at = |m: &Mapping, t: serde_json::Value| {
        m.apply(&json!({"id": "e", "task": "x", "t": t}))
            .map(|mut e| e.remove(0).occurred_at)
    };
    let s = m("epoch_s");
    assert_eq!(at(&s, json!(1_772_438_400)), Ok(T0));
    assert_eq!(at(&s, json!("1772438400")), Ok(T0));
    assert_eq!(at(&s, json!("1772438400.25")), Ok(T0 + 250));
    assert_eq!(at(&s, json!(1_772_438_400.5)), Ok(T0 + 500));
    let ms = m("epoch_ms");
    assert_eq!(at(&ms, json!(T0 + 7)), Ok(T0 + 7));
    assert_eq!(at(&ms, json!("1772438400007")), Ok(T0 + 7));
    let rfc = m("rfc3339");
    assert_eq!(at(&rfc, json!("2026-03-02T08:00:00Z")), Ok(T0));
    assert_eq!(
        at(&rfc, json!("2026-03-02T09:00:00.123+01:00")),
        Ok(T0 + 123)
    );
    // Errors name the rule, the field and the path.
    let e = at(&rfc, json!("yesterday")).unwrap_err();
    assert!(
        matches!(&e, MapError::Value { rule, field: "occurred_at", path, .. } if rule == "rules[0]" && path == "t"),
        "{e:?}"
    );
    assert!(e.to_string().contains("not an RFC 3339 time"), "{e}");
    assert!(at(&s, json!("soon"))
        .unwrap_err()
        .to_string()
        .contains("not a number of seconds"));
    assert!(matches!(
        at(&ms, json!({"x": 1})),
        Err(MapError::Value { .. })
    ));
    assert_eq!(
        m("epoch_ms").apply(&json!({"id": "e", "task": "x"})),
        Err(MapError::Missing {
            rule: "rules[0]".into(),
            field: "occurred_at",
            path: "t".into()
        })
    );
    // Out of the codec's range [2000, 2100): rejected by its validation.
    assert!(matches!(
        at(&ms, json!(0)),
        Err(MapError::Invalid {
            error: DecodeError::Invalid { .. },
            ..
        })
    ));
}

#[test]
fn json_strings_alternatives_after_last_and_hash() {
    let m = mapping(
        r#"
name = "vendor"
json_strings = ["TaskAttributes", "WorkerAttributes"]
occurred_at = { path = "ts", format = "epoch_s" }

[[rules]]
name = "queued"
when = { path = "TaskAttributes.type", equals = "inbound" }
emit = "queued"
interaction_id = { paths = ["TaskSid", "detail.contactId"] }
queue = { path = "QueueArn", after_last = "/" }
channel = { const = "chat" }
priority = "TaskPriority"
customer_ref = { path = "TaskAttributes.from", hash = true }

[[rules]]
name = "worker"
emit = "agent_state_changed"
agent_id = "WorkerSid"
state = { const = "available" }
queues = "WorkerAttributes.routing.skills[*]"
"#,
    );
    let r = json!({
        "ts": "1772438400",
        "detail": {"contactId": "c-1"},
        "QueueArn": "arn:aws:connect:us-west-2:1:instance/i/queue/q-42",
        "TaskPriority": "3",
        "TaskAttributes": "{\"type\": \"inbound\", \"from\": \"+15550100\"}"
    });
    let e = m.apply(&r).unwrap().remove(0);
    let from_hash = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(b"+15550100"));
    assert_eq!(
        e.kind,
        ix(
            "c-1",
            InteractionEvent::Queued {
                queue: "q-42".into(),
                channel: Channel::Chat,
                priority: 3,
                customer_ref: Some(from_hash)
            }
        )
    );
    // No event id path: a hash of the record, stable under key order.
    assert!(e.event_id.starts_with("vendor:"), "{}", e.event_id);
    assert_eq!(e.event_id.len(), "vendor:".len() + 32);
    let reordered: serde_json::Value = serde_json::from_str(
        r#"{"TaskAttributes": "{\"type\": \"inbound\", \"from\": \"+15550100\"}",
            "TaskPriority": "3", "QueueArn": "arn:aws:connect:us-west-2:1:instance/i/queue/q-42",
            "detail": {"contactId": "c-1"}, "ts": "1772438400"}"#,
    )
    .unwrap();
    assert_eq!(m.apply(&reordered).unwrap()[0].event_id, e.event_id);
    let mut changed = r.clone();
    changed["TaskPriority"] = json!("4");
    assert_ne!(m.apply(&changed).unwrap()[0].event_id, e.event_id);

    let w = json!({"ts": 1_772_438_400, "WorkerSid": "WK1",
                   "WorkerAttributes": "{\"routing\": {\"skills\": [\"billing\", \"sales\"]}}"});
    assert_eq!(
        m.apply(&w).unwrap()[0].kind,
        EventKind::Agent(AgentStateChanged {
            agent_id: "WK1".into(),
            state: AgentState::Available,
            queues: vec!["billing".into(), "sales".into()]
        })
    );
    // A JSON string that does not parse: the error names the rule.
    let bad = json!({"ts": 1, "TaskAttributes": "{oops"});
    let e = m.apply(&bad).unwrap_err();
    assert!(
        matches!(&e, MapError::NestedJson { rule, field: "when", reason } if rule == "queued" && reason.starts_with("TaskAttributes")),
        "{e:?}"
    );
}

#[test]
fn missing_and_wrongly_typed_fields_name_the_rule_and_path() {
    let m = mapping(&format!(
        r#"{HEAD}
[[rules]]
name = "answer"
emit = "answered"
interaction_id = "task"
agent_id = {{ paths = ["agentInfo.agentArn", "AgentInfo.AgentArn"] }}
"#
    ));
    let e = m
        .apply(&json!({"id": "e", "ts": T0, "task": "t"}))
        .unwrap_err();
    assert_eq!(
        e,
        MapError::Missing {
            rule: "answer".into(),
            field: "agent_id",
            path: "agentInfo.agentArn | AgentInfo.AgentArn".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "rule \"answer\": agent_id: nothing at agentInfo.agentArn | AgentInfo.AgentArn"
    );
    assert_eq!(
        (e.rule(), e.path()),
        (
            Some("answer"),
            Some("agentInfo.agentArn | AgentInfo.AgentArn")
        )
    );
    // The second alternative is used when the first is absent.
    let ok = m
        .apply(&json!({"id": "e", "ts": T0, "task": "t", "AgentInfo": {"AgentArn": "a9"}}))
        .unwrap();
    assert_eq!(
        ok[0].kind,
        ix(
            "t",
            InteractionEvent::Answered {
                agent_id: "a9".into()
            }
        )
    );
    let e = m
        .apply(
            &json!({"id": "e", "ts": T0, "task": {"nested": 1}, "AgentInfo": {"AgentArn": "a9"}}),
        )
        .unwrap_err();
    assert!(
        matches!(&e, MapError::Value { field: "interaction_id", reason, .. } if reason.contains("an object")),
        "{e:?}"
    );
}

#[test]
fn events_built_pass_the_json_codecs_validation() {
    let m = mapping(&format!(
        r#"{HEAD}
[[rules]]
name = "q"
emit = "queued"
interaction_id = "task"
queue = "queue"
channel = {{ const = "email" }}
"#
    ));
    let e = m
        .apply(&json!({"id": "e", "ts": T0, "task": "t", "queue": ""}))
        .unwrap_err();
    assert_eq!(
        e,
        MapError::Invalid {
            rule: "q".into(),
            emit: "queued",
            error: DecodeError::Invalid {
                field: "interaction.queued.queue".into(),
                reason: "must not be empty".into()
            }
        }
    );
    assert_eq!(e.path(), Some("interaction.queued.queue"));
    // The caller's limits apply, as to JSON input.
    let limits = Limits {
        max_id_len: 16,
        ..Limits::default()
    };
    let long = json!({"id": "e", "ts": T0, "task": "t".repeat(17), "queue": "q"});
    assert!(matches!(
        m.apply_with(&long, &limits, None),
        Err(MapError::Invalid { error: DecodeError::Invalid { ref field, .. }, .. }) if field == "interaction.interaction_id"
    ));
    // And the reference time (too far in the future).
    assert!(matches!(
        m.apply_with(
            &json!({"id": "e", "ts": T0, "task": "t", "queue": "q"}),
            &limits,
            Some(T0 - 3_600_000)
        ),
        Err(MapError::Invalid {
            error: DecodeError::Future { .. },
            ..
        })
    ));
    // Scores out of range are the codec's to reject.
    let s = mapping(&format!(
        r#"{HEAD}
[[rules]]
emit = "survey_answered"
interaction_id = "task"
queue = {{ const = "billing" }}
channel = {{ const = "voice" }}
csat = "score"
"#
    ));
    let ok = s
        .apply(&json!({"id": "e", "ts": T0, "task": "t", "score": "5"}))
        .unwrap();
    assert!(matches!(&ok[0].kind, EventKind::Survey(a) if a.score == SurveyScore::Csat(5)));
    let bad = s
        .apply(&json!({"id": "e", "ts": T0, "task": "t", "score": 300}))
        .unwrap_err();
    assert!(
        bad.to_string()
            .contains("survey_answered.csat: must be 1 to 5"),
        "{bad}"
    );
}

#[test]
fn every_problem_of_a_mapping_is_reported_at_once_with_field_and_fix() {
    let found = issues(
        r#"
json_strings = ["a[*]"]

[maps.state]
values = { Available = "available", AVAILABLE = "busy", Gone = "vanished" }
default = "away"
keep_unmapped = true

[maps.empty]

[[rules]]
name = "dup"
when = { path = "a..b", equals = "x" }
emit = "queued"
interaction_id = "task"
channel = { const = "pigeon" }
agent_id = "agent"

[[rules]]
name = "dup"
when = { path = "x", equals = 1, exists = true }
emit = "agent_state_changed"
agent_id = "agents[*]"
state = { path = "s", map = "nope" }
occurred_at = { path = "t" }

[[rules]]
when = { all = [] }
emit = "transferred"
interaction_id = { path = "a", paths = ["b"] }
priority = { const = "x" }

[[rules]]
emit = "survey_answered"
interaction_id = "i"
queue = { hash = true }
channel = { path = "c", format = "epoch_s" }
csat = "x"
nps = "y"

[[rules]]
emit = "agent_state_changed"
agent_id = "a"
state = { path = "s", map = "state" }
"#,
    );
    let fields: Vec<&str> = found.iter().map(|i| i.field.as_str()).collect();
    for expected in [
        "json_strings[0]",
        "maps.state.values.Available",
        "maps.state.keep_unmapped",
        "maps.empty.values",
        "maps.state",
        "rules[0].when.path",
        "rules[0].queue",
        "rules[0].channel.const",
        "rules[0].agent_id",
        "rules[0].occurred_at",
        "rules[1].name",
        "rules[1].when",
        "rules[1].agent_id.path",
        "rules[1].state.map",
        "rules[1].occurred_at.format",
        "rules[2].when",
        "rules[2].interaction_id",
        "rules[2].priority",
        "rules[2].to_queue",
        "rules[3].queue",
        "rules[3].channel.format",
        "rules[3].csat",
    ] {
        assert!(
            fields.contains(&expected),
            "no issue for {expected}; found:\n{found:#?}"
        );
    }
    for i in &found {
        assert!(!i.problem.is_empty() && !i.fix.is_empty(), "{i:?}");
    }
    let text = |field: &str| {
        found
            .iter()
            .filter(|i| i.field == field)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(text("rules[0].channel.const").contains("voice, chat, email, web, social"));
    assert!(text("rules[0].agent_id").contains("not a field of emit = \"queued\""));
    assert!(text("rules[0].queue").contains("required by emit = \"queued\""));
    assert!(text("rules[1].agent_id.path").contains("[*]"));
    assert!(text("rules[1].state.map").contains("no map named \"nope\""));
    assert!(text("maps.state").contains("\"vanished\" is not a valid state"));
}

#[test]
fn no_rules_and_unknown_fields_are_refused() {
    let found = issues("name = \"x\"\n");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].field, "rules");
    // deny_unknown_fields, at every level: serde names the field.
    for bad in [
        "nmae = \"x\"",
        "[[rules]]\nemit = \"ended\"\ninteraction_idd = \"x\"",
        "[[rules]]\nemit = \"ended\"\ninteraction_id = { path = \"x\", mapp = \"y\" }",
        "[[rules]]\nemit = \"ended\"\nwhen = { path = \"x\", equal = 1 }",
        "[maps.m]\nvalue = {}",
        "[[rules]]\nemit = \"exploded\"",
    ] {
        let e = toml::from_str::<MappingSpec>(bad)
            .expect_err(bad)
            .to_string();
        assert!(e.contains("unknown"), "{bad}: {e}");
    }
}
