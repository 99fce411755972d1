//! The shipped mappings (`examples/mappings/`), as a user gets them, on the
//! vendors' published example payloads (`tests/data/mappings/`, sources in
//! its SOURCES.md): each record gives the events worked out here by hand,
//! and a small Twilio morning folds to hand-computed figures.

#[path = "support/scratch.rs"]
mod scratch;

use std::path::{Path, PathBuf};

use ccpulse::sources::mapped::{self, Counts, Position};
use ccpulse_core::adapters::mapping::Mapping;
use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::Engine;
use ccpulse_core::event::codec::Limits;
use ccpulse_core::event::{
    AgentState, AgentStateChanged, Channel, Event, EventKind, InteractionEvent, Millis,
};
use ccpulse_core::testkit::{approx, queue};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped(name: &str) -> Mapping {
    mapped::load(&root().join("examples/mappings").join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/data/mappings").join(name)
}

/// Every record of a fixture: its line and its events (`None`: no events,
/// with the rule that matched).
fn map_file(mapping: Mapping, name: &str) -> Vec<(Position, Result<Vec<Event>, String>)> {
    mapped::open(&fixture(name), mapping, Limits::default())
        .expect("open fixture")
        .map(|item| {
            (
                item.at,
                item.outcome.map(|m| m.events).map_err(|e| e.to_string()),
            )
        })
        .collect()
}

fn rfc(s: &str) -> Millis {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("a time")
        .timestamp_millis()
}

fn ev(id: &str, at: Millis, kind: EventKind) -> Event {
    Event {
        event_id: id.into(),
        occurred_at: at,
        tenant: None,
        kind,
    }
}

fn ix(id: &str, event: InteractionEvent) -> EventKind {
    EventKind::Interaction {
        interaction_id: id.into(),
        event,
    }
}

fn xxh(s: &str) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(s.as_bytes()))
}

#[test]
fn every_shipped_mapping_is_valid() {
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("examples/mappings")).expect("examples/mappings") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            mapped::load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 2, "expected the shipped mappings, found {n}");
}

// ------------------------------------------------------------------- Twilio

/// 2026-03-02T09:00:00Z, the fixture's first task entering its queue.
const NINE: Millis = 1_772_442_000_000;

fn s(secs: i64) -> Millis {
    NINE + secs * 1000
}

fn sid(n: u32) -> String {
    format!("EV{n:032x}")
}

const T1: &str = "WT11111111111111111111111111111111";
const T2: &str = "WT22222222222222222222222222222222";
const ALICE: &str = "WKaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BOB: &str = "WKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn twilio_expected() -> Vec<Option<Event>> {
    use InteractionEvent::*;
    vec![
        // worker.activity.update: alice Available, skills from the JSON
        // string WorkerAttributes.
        Some(ev(
            &sid(1),
            s(-60),
            EventKind::Agent(AgentStateChanged {
                agent_id: ALICE.into(),
                state: AgentState::Available,
                queues: vec!["Support".into(), "Billing".into()],
            }),
        )),
        None, // task.created: the queue is not known yet
        Some(ev(
            &sid(3),
            s(0),
            ix(
                T1,
                Queued {
                    queue: "Support".into(),
                    channel: Channel::Voice,
                    priority: 0,
                    customer_ref: Some(xxh("+15550100")),
                },
            ),
        )),
        Some(ev(
            &sid(4),
            s(10),
            ix(
                T1,
                Offered {
                    agent_id: ALICE.into(),
                },
            ),
        )),
        Some(ev(
            &sid(5),
            s(15),
            ix(
                T1,
                Answered {
                    agent_id: ALICE.into(),
                },
            ),
        )),
        Some(ev(
            &sid(6),
            s(60),
            ix(
                T2,
                Queued {
                    queue: "Support".into(),
                    channel: Channel::Voice,
                    priority: 0,
                    customer_ref: Some(xxh("+15550123")),
                },
            ),
        )),
        Some(ev(
            &sid(7),
            s(70),
            ix(
                T2,
                Offered {
                    agent_id: BOB.into(),
                },
            ),
        )),
        None, // reservation.rejected
        Some(ev(&sid(9), s(100), ix(T2, Abandoned))),
        Some(ev(&sid(10), s(255), ix(T1, Ended))),
        Some(ev(&sid(11), s(300), ix(T1, WrapUpDone { agent_id: None }))),
    ]
}

#[test]
fn twilio_taskrouter_callbacks_map_to_the_hand_computed_events() {
    let got = map_file(shipped("twilio-taskrouter.toml"), "twilio-taskrouter.jsonl");
    let expected = twilio_expected();
    assert_eq!(got.len(), expected.len());
    for (n, ((at, got), want)) in got.into_iter().zip(expected).enumerate() {
        assert_eq!(at, Position::Line(n + 1));
        assert_eq!(got, Ok(want.into_iter().collect::<Vec<_>>()), "{at}");
    }
}

#[test]
fn twilio_ids_fall_back_to_a_hash_of_the_record_stable_under_redelivery() {
    let m = shipped("twilio-taskrouter.toml");
    let line = std::fs::read_to_string(fixture("twilio-taskrouter.jsonl")).expect("fixture");
    let mut rec: serde_json::Value =
        serde_json::from_str(line.lines().nth(4).expect("line 5")).expect("JSON");
    rec.as_object_mut().expect("object").remove("Sid");
    let a = m.apply(&rec).expect("maps");
    let b = m.apply(&rec.clone()).expect("maps");
    assert_eq!(a, b);
    assert!(
        a[0].event_id.starts_with("twilio-taskrouter:"),
        "{}",
        a[0].event_id
    );
    // An unknown event type is not an error: no rule, no events, counted.
    let mut counts = Counts::default();
    let odd = mapped::map_bytes(
        &m,
        br#"{"EventType": "task.exploded", "TimestampMs": "1772442000000"}"#,
        &Limits::default(),
        None,
    );
    counts.add(&odd);
    assert_eq!(odd.map(|m| (m.events.len(), m.rule)), Ok((0, None)));
    assert_eq!(counts.unmatched, 1);
    // A required field missing: the error names the rule and the path.
    let e = mapped::map_bytes(
        &m,
        br#"{"EventType": "reservation.accepted", "TimestampMs": "1772442000000", "TaskSid": "WT1"}"#,
        &Limits::default(),
        None,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "rule \"reservation accepted\": agent_id: nothing at WorkerSid"
    );
}

/// Task 1 waits 15 s and is handled (talk 09:00:15-09:04:15, wrap-up to
/// 09:05:00); task 2 is offered to bob, who rejects it, and the caller
/// hangs up after 40 s. Every callback is delivered twice (a webhook
/// retry): same event ids, so the copies are dropped.
#[test]
fn a_twilio_morning_folds_to_the_hand_computed_figures() {
    let got = map_file(shipped("twilio-taskrouter.toml"), "twilio-taskrouter.jsonl");
    let mut engine = Engine::new(EngineConfig::default()); // SL threshold 20 s
    let mut effects = Vec::new();
    for (_, events) in got {
        for e in events.expect("maps") {
            engine.apply(e.clone(), &mut effects);
            engine.apply(e, &mut effects);
        }
    }
    engine.flush(&mut effects);
    engine.advance(s(3600), &mut effects);
    let snap = engine.snapshot();
    let q = &queue(&snap, "Support", Channel::Voice).total;
    let c = &q.counts;
    assert_eq!(
        (
            c.offered,
            c.answered,
            c.answered_within_sl,
            c.abandoned,
            c.short_abandoned
        ),
        (2, 1, 1, 1, 0)
    );
    approx(q.asa_seconds, 15.0);
    approx(q.abandon_time.mean_seconds, 40.0);
    approx(q.abandon_rate, 0.5);
    approx(q.aht_seconds, 285.0); // 09:00:15 -> 09:05:00
    approx(q.mean_talk_seconds, 240.0); // -> 09:04:15
    approx(q.mean_wrap_up_seconds, 45.0);
    approx(q.service_level.answered, 1.0);
}

// ----------------------------------------------------------- Amazon Connect

#[test]
fn amazon_connect_agent_events_map_to_the_hand_computed_events() {
    let got = map_file(
        shipped("amazon-connect.toml"),
        "amazon-connect-agent-events.jsonl",
    );
    let queues = vec![
        "queue-ARN-for-BasicQueue".to_string(),
        "queue-ARN-for-agent".to_string(),
    ];
    let agent = |id: &str, at: &str, state, queues: &Vec<String>| {
        vec![ev(
            id,
            rfc(at),
            EventKind::Agent(AgentStateChanged {
                agent_id: "agent-ARN".into(),
                state,
                queues: queues.clone(),
            }),
        )]
    };
    let expected = vec![
        // The published sample: status Available, no contact.
        agent(
            "EventId-ARN",
            "2019-08-13T20:58:44.031Z",
            AgentState::Available,
            &queues,
        ),
        agent(
            "EventId-connected",
            "2019-08-13T21:00:05.000Z",
            AgentState::Busy,
            &queues,
        ),
        agent(
            "EventId-acw",
            "2019-08-13T21:04:00.000Z",
            AgentState::WrapUp,
            &queues,
        ),
        agent(
            "EventId-heartbeat",
            "2019-08-13T21:06:00.000Z",
            AgentState::Available,
            &queues,
        ),
        agent(
            "EventId-logout",
            "2019-08-13T22:00:00.000Z",
            AgentState::Offline,
            &vec![],
        ),
    ];
    assert_eq!(got.len(), expected.len());
    for ((at, got), want) in got.into_iter().zip(expected) {
        assert_eq!(got, Ok(want), "{at}");
    }
}

#[test]
fn amazon_connect_contact_events_map_to_the_hand_computed_events() {
    use InteractionEvent::*;
    let got = map_file(
        shipped("amazon-connect.toml"),
        "amazon-connect-contact-events.jsonl",
    );
    let sample_id = "abcabcab-abca-abca-abca-abcabcabcabc";
    let c1 = "11111111-1111-1111-1111-111111111111";
    let c2 = "22222222-2222-2222-2222-222222222222";
    let expected: Vec<Vec<Event>> = vec![
        // The published samples: their ARNs are the placeholder "arn".
        vec![ev(
            sample_id,
            rfc("2021-08-04T17:29:09.000Z"),
            ix(
                c1,
                Answered {
                    agent_id: "arn".into(),
                },
            ),
        )],
        vec![ev(
            sample_id,
            rfc("2021-08-04T17:18:37.000Z"),
            ix(c1, Ended),
        )],
        vec![], // INITIATED
        vec![ev(
            "ce-0002",
            rfc("2021-08-04T18:00:20.000Z"),
            ix(
                c2,
                Queued {
                    queue: "q-billing".into(),
                    channel: Channel::Voice,
                    priority: 0,
                    customer_ref: None,
                },
            ),
        )],
        vec![ev(
            "ce-0003",
            rfc("2021-08-04T18:01:05.000Z"),
            ix(c2, Abandoned),
        )],
        vec![], // never queued (IVR only)
    ];
    assert_eq!(got.len(), expected.len());
    for ((at, got), want) in got.into_iter().zip(expected) {
        assert_eq!(got, Ok(want), "{at}");
    }
}

#[test]
fn a_json_array_file_is_read_with_record_positions() {
    let dir = scratch::Scratch::new("mapped");
    let path = dir.join("records.json");
    std::fs::write(
        &path,
        r#"
        [
          {"EventType": "task.wrapup", "Sid": "EV1", "TimestampMs": "1772442000000", "TaskSid": "WT1"},
          {"EventType": "task.wrapup", "Sid": "EV2", "TimestampMs": "soon", "TaskSid": "WT1"}
        ]"#,
    )
    .expect("write");
    let items: Vec<_> = mapped::open(&path, shipped("twilio-taskrouter.toml"), Limits::default())
        .expect("open")
        .collect();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].at, Position::Item(1));
    assert_eq!(items[0].outcome.as_ref().map(|m| m.events.len()), Ok(1));
    assert_eq!(items[1].at, Position::Item(2));
    let e = items[1].outcome.as_ref().unwrap_err().to_string();
    assert!(e.starts_with("rule \"task wrapup\": occurred_at"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_shipped_mapping_passes_check_config_as_shipped_and_a_broken_one_names_its_field() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mappings");
    let mut shipped: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/mappings")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    shipped.sort();
    assert_eq!(shipped.len(), 2, "{shipped:?}");
    for path in &shipped {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ccpulse"))
            .arg("check-config")
            .arg(path)
            .output()
            .expect("run ccpulse");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.ends_with(": ok (mapping)\n"), "{stdout}");
    }

    let dir = scratch::Scratch::new("broken-mapping");
    let broken = dir.join("broken.toml");
    std::fs::write(
        &broken,
        "name = \"x\"\noccurred_at = \"at\"\n[[rules]]\nemit = \"queued\"\ninteraction_id = \"id\"\nchannel = \"ch\"\n",
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ccpulse"))
        .arg("check-config")
        .arg(&broken)
        .output()
        .expect("run ccpulse");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("rules[0].queue: required by emit = \"queued\""),
        "{stderr}"
    );
}
