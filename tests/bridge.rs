//! `ccpulse bridge` as a real process against librdkafka's mock cluster:
//! the shipped Twilio TaskRouter mapping (examples/mappings/, unchanged) on
//! the callbacks of tests/data/mappings/twilio-taskrouter.jsonl produced to
//! a vendor topic. Every callback becomes the events worked out here by
//! hand, on the input topic of its kind and keyed by its interaction or
//! agent; what cannot be mapped goes to the dead-letter topic with the
//! reason in headers. Stopped with SIGTERM and restarted in the same
//! consumer group, the bridge carries on where its commits say, and a
//! redelivery (commits lost) repeats byte-identical events under the same
//! ids, never new ones.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ccpulse_core::event::codec::{decode_json, Limits};
use ccpulse_core::event::{
    AgentState, AgentStateChanged, Channel, Event, EventKind, InteractionEvent, Millis,
};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use support::kafka::{
    committed_total, mock_cluster, produce_raw, read_all, temp_dir, wait_until, Ccpulse, Read,
    AGENTS, DEAD_LETTER, INTERACTIONS,
};

const VENDOR: &str = "twilio.taskrouter";
/// Two partitions: the group consumer gets both, and a task's callbacks
/// (keyed by its sid) stay in order in one of them.
const VENDOR_PARTITIONS: i32 = 2;
const GROUP: &str = "itest-bridge";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_mapping() -> PathBuf {
    root().join("examples/mappings/twilio-taskrouter.toml")
}

/// The fixture's callbacks, line 1 first.
fn fixture() -> Vec<String> {
    std::fs::read_to_string(root().join("tests/data/mappings/twilio-taskrouter.jsonl"))
        .expect("twilio fixture")
        .lines()
        .map(str::to_string)
        .collect()
}

// ------------------------------------------------- expected, by hand

/// 2026-03-02T09:00:00Z, the first task entering its queue.
const NINE: Millis = 1_772_442_000_000;
const T1: &str = "WT11111111111111111111111111111111";
const T2: &str = "WT22222222222222222222222222222222";
const ALICE: &str = "WKaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BOB: &str = "WKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn s(secs: i64) -> Millis {
    NINE + secs * 1000
}

/// The mapping hashes the caller's number (`hash = true`: XXH3-128, hex).
fn xxh(s: &str) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(s.as_bytes()))
}

/// One expected event: the topic it must be on, its key, and the event.
struct Want {
    topic: &'static str,
    key: &'static str,
    kind: &'static str,
    event: Event,
}

fn task(id: &str, at: Millis, task: &'static str, kind: &'static str, e: InteractionEvent) -> Want {
    Want {
        topic: INTERACTIONS,
        key: task,
        kind,
        event: Event {
            event_id: id.into(),
            occurred_at: at,
            tenant: None,
            kind: EventKind::Interaction {
                interaction_id: task.into(),
                event: e,
            },
        },
    }
}

/// What each line of the fixture must give (index 0 is line 1).
fn expected_per_line() -> Vec<Vec<Want>> {
    use InteractionEvent::*;
    vec![
        // 1 worker.activity.update: alice Available, skills from the JSON
        //   string WorkerAttributes; an agent event, keyed by the worker.
        vec![Want {
            topic: AGENTS,
            key: ALICE,
            kind: "agent_state_changed",
            event: Event {
                event_id: "EV00000000000000000000000000000001".into(),
                occurred_at: s(-60),
                tenant: None,
                kind: EventKind::Agent(AgentStateChanged {
                    agent_id: ALICE.into(),
                    state: AgentState::Available,
                    queues: vec!["Support".into(), "Billing".into()],
                }),
            },
        }],
        // 2 task.created: "not needed", nothing.
        vec![],
        // 3 task-queue.entered: T1 queued in Support, voice.
        vec![task(
            "EV00000000000000000000000000000003",
            s(0),
            T1,
            "queued",
            Queued {
                queue: "Support".into(),
                channel: Channel::Voice,
                priority: 0,
                customer_ref: Some(xxh("+15550100")),
            },
        )],
        // 4 reservation.created: T1 offered to alice.
        vec![task(
            "EV00000000000000000000000000000004",
            s(10),
            T1,
            "offered",
            Offered {
                agent_id: ALICE.into(),
            },
        )],
        // 5 reservation.accepted: alice answers T1.
        vec![task(
            "EV00000000000000000000000000000005",
            s(15),
            T1,
            "answered",
            Answered {
                agent_id: ALICE.into(),
            },
        )],
        // 6 task-queue.entered: T2 queued.
        vec![task(
            "EV00000000000000000000000000000006",
            s(60),
            T2,
            "queued",
            Queued {
                queue: "Support".into(),
                channel: Channel::Voice,
                priority: 0,
                customer_ref: Some(xxh("+15550123")),
            },
        )],
        // 7 reservation.created: T2 offered to bob.
        vec![task(
            "EV00000000000000000000000000000007",
            s(70),
            T2,
            "offered",
            Offered {
                agent_id: BOB.into(),
            },
        )],
        // 8 reservation.rejected: "not needed", nothing.
        vec![],
        // 9 task.canceled: the caller hung up on T2.
        vec![task(
            "EV00000000000000000000000000000009",
            s(100),
            T2,
            "abandoned",
            Abandoned,
        )],
        // 10 task.wrapup: T1's talk ended.
        vec![task(
            "EV0000000000000000000000000000000a",
            s(255),
            T1,
            "ended",
            Ended,
        )],
        // 11 task.completed: T1's wrap-up done.
        vec![task(
            "EV0000000000000000000000000000000b",
            s(300),
            T1,
            "wrap_up_done",
            WrapUpDone { agent_id: None },
        )],
    ]
}

/// Not JSON at all.
const GARBAGE: &[u8] = b"Sid=EV00000000000000000000000000000fff&EventType=task.created";
/// A reservation.accepted without its WorkerSid: the rule "reservation
/// accepted" matches and its agent_id has nothing to read.
const NO_WORKER: &str = r#"{"Sid": "EV000000000000000000000000000000ff", "EventType": "reservation.accepted", "TimestampMs": "1772442016000", "TaskSid": "WT11111111111111111111111111111111"}"#;
/// An event type the mapping does not know: no rule, no event, and not a
/// dead letter either (it is counted as unmatched).
const UNKNOWN_TYPE: &str = r#"{"Sid": "EV000000000000000000000000000000ee", "EventType": "task.exploded", "TimestampMs": "1772442017000", "TaskSid": "WT22222222222222222222222222222222"}"#;

/// A dead letter wanted: its payload, its key, and headers by hand.
type DeadLetter = (Vec<u8>, &'static str, Vec<(&'static str, &'static str)>);

/// The dead letters wanted.
fn expected_dead_letters() -> Vec<DeadLetter> {
    vec![
        (
            GARBAGE.to_vec(),
            "garbage",
            vec![
                ("ccpulse-reason", "malformed_json"),
                ("ccpulse-mapping", "twilio-taskrouter"),
                ("ccpulse-source-topic", VENDOR),
            ],
        ),
        (
            NO_WORKER.as_bytes().to_vec(),
            T1,
            vec![
                ("ccpulse-reason", "mapping_missing_field"),
                ("ccpulse-mapping", "twilio-taskrouter"),
                ("ccpulse-rule", "reservation accepted"),
                ("ccpulse-field", "WorkerSid"),
                (
                    "ccpulse-error",
                    "rule \"reservation accepted\": agent_id: nothing at WorkerSid",
                ),
                ("ccpulse-source-topic", VENDOR),
            ],
        ),
    ]
}

// ------------------------------------------------------------ harness

/// A vendor record keyed by its task (or worker) sid, as a webhook relay
/// would key it: a task's callbacks stay in one partition, in order.
fn keyed(line: &str) -> (Vec<u8>, Vec<u8>) {
    let v: serde_json::Value = serde_json::from_str(line).expect("fixture line is JSON");
    let key = v
        .get("TaskSid")
        .or_else(|| v.get("WorkerSid"))
        .and_then(|k| k.as_str())
        .expect("a task or worker sid");
    (key.as_bytes().to_vec(), line.as_bytes().to_vec())
}

fn cluster() -> MockCluster<'static, DefaultProducerContext> {
    let c = mock_cluster(2);
    c.create_topic(VENDOR, VENDOR_PARTITIONS, 1)
        .expect("vendor topic");
    c
}

fn config(brokers: &str) -> String {
    format!(
        r#"
[kafka]
brokers = "{brokers}"
shutdown_timeout = "10s"

[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
"#
    )
}

fn start_bridge(dir: &Path, name: &str, brokers: &str) -> Ccpulse {
    let mapping = shipped_mapping();
    Ccpulse::start(
        dir,
        name,
        &config(brokers),
        &[
            "bridge",
            "--mapping",
            mapping.to_str().expect("utf-8 path"),
            "--topic",
            VENDOR,
            "--group-id",
            GROUP,
        ],
    )
}

/// SIGTERM: the bridge must exit 0 within a few seconds.
fn stop_cleanly(bridge: Ccpulse, what: &str) {
    let log = bridge.log.clone();
    let code = bridge.stop(Duration::from_secs(8));
    assert_eq!(
        code,
        Some(0),
        "{what}: SIGTERM must end the bridge with status 0 within 8 s\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn committed(brokers: &str) -> i64 {
    committed_total(brokers, GROUP, VENDOR, VENDOR_PARTITIONS)
}

fn wait_committed(brokers: &str, n: i64, bridge: &Ccpulse) {
    assert!(
        wait_until(Duration::from_secs(30), || committed(brokers) == n),
        "the bridge did not commit {n} vendor records in 30 s (committed {})\n{}",
        committed(brokers),
        bridge.log_text()
    );
}

/// One event as read from an input topic.
struct Got {
    topic: &'static str,
    key: Vec<u8>,
    value: Vec<u8>,
    event: Event,
}

fn read_events(brokers: &str) -> Vec<Got> {
    let mut out = Vec::new();
    for topic in [INTERACTIONS, AGENTS] {
        for r in read_all(brokers, topic) {
            let event = decode_json(&r.value, &Limits::default(), None).unwrap_or_else(|e| {
                panic!(
                    "{topic}: not a valid ccpulse JSON event ({e}): {}",
                    String::from_utf8_lossy(&r.value)
                )
            });
            out.push(Got {
                topic,
                key: r.key.unwrap_or_default(),
                value: r.value,
                event,
            });
        }
    }
    out
}

fn header<'a>(r: &'a Read, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| std::str::from_utf8(v).expect("utf-8 header"))
}

/// Everything on the input topics is one of `want` (by id), on its topic,
/// keyed by its key, equal to it; every wanted id is there; copies of an
/// id are byte-identical; and each key's events come in the order wanted.
/// Returns how many times each id was read.
fn check_events(got: &[Got], want: &[&Want]) -> BTreeMap<String, usize> {
    let by_id: BTreeMap<&str, &Want> = want
        .iter()
        .map(|w| (w.event.event_id.as_str(), *w))
        .collect();
    assert_eq!(by_id.len(), want.len(), "the expectation repeats an id");
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    let mut first: BTreeMap<&str, &[u8]> = BTreeMap::new();
    for g in got {
        let id = g.event.event_id.as_str();
        let w = by_id.get(id).unwrap_or_else(|| {
            panic!(
                "{}: an event under an id no record gives: {}",
                g.topic,
                String::from_utf8_lossy(&g.value)
            )
        });
        assert_eq!(g.topic, w.topic, "{id}: on the wrong topic");
        assert_eq!(
            std::str::from_utf8(&g.key).ok(),
            Some(w.key),
            "{id}: wrong key"
        );
        assert_eq!(g.event.kind_name(), w.kind, "{id}: wrong kind");
        assert_eq!(g.event, w.event, "{id}: not the event worked out by hand");
        let seen = first.entry(id).or_insert(&g.value);
        assert_eq!(
            *seen,
            g.value.as_slice(),
            "{id}: a repeat is not a byte-identical copy"
        );
        *copies.entry(id.to_string()).or_default() += 1;
    }
    let missing: Vec<&&str> = by_id
        .keys()
        .filter(|id| !copies.contains_key(**id))
        .collect();
    assert!(missing.is_empty(), "events never bridged: {missing:?}");
    // Per key, the first copies come in the order of the callbacks.
    let keys: BTreeSet<&str> = want.iter().map(|w| w.key).collect();
    for key in keys {
        let wanted: Vec<&str> = want
            .iter()
            .filter(|w| w.key == key)
            .map(|w| w.event.event_id.as_str())
            .collect();
        let mut seen = Vec::new();
        for g in got.iter().filter(|g| g.key == key.as_bytes()) {
            if !seen.contains(&g.event.event_id.as_str()) {
                seen.push(g.event.event_id.as_str());
            }
        }
        assert_eq!(seen, wanted, "{key}: events out of the callbacks' order");
    }
    copies
}

/// The dead-letter topic holds exactly the wanted records (copies of one
/// byte-identical, headers included), each with its reason headers.
/// Returns how many copies of each were read, in the order wanted.
fn check_dead_letters(got: &[Read]) -> Vec<usize> {
    let want = expected_dead_letters();
    let mut copies = vec![0; want.len()];
    let mut first: Vec<Option<&Read>> = vec![None; want.len()];
    for r in got {
        let i = want
            .iter()
            .position(|(payload, _, _)| *payload == r.value)
            .unwrap_or_else(|| {
                panic!(
                    "an unexpected dead letter: {}",
                    String::from_utf8_lossy(&r.value)
                )
            });
        let (_, key, headers) = &want[i];
        assert_eq!(r.key.as_deref(), Some(key.as_bytes()), "dead letter key");
        for (name, value) in headers {
            assert_eq!(
                header(r, name),
                Some(*value),
                "dead letter {}: header {name} (headers: {:?})",
                String::from_utf8_lossy(&r.value),
                r.headers
            );
        }
        let partition: i32 = header(r, "ccpulse-source-partition")
            .and_then(|p| p.parse().ok())
            .expect("ccpulse-source-partition");
        assert!((0..VENDOR_PARTITIONS).contains(&partition));
        assert!(header(r, "ccpulse-source-offset")
            .and_then(|o| o.parse::<i64>().ok())
            .is_some_and(|o| o >= 0));
        match first[i] {
            None => first[i] = Some(r),
            Some(f) => assert_eq!(
                (&f.key, &f.headers),
                (&r.key, &r.headers),
                "a repeated dead letter differs"
            ),
        }
        copies[i] += 1;
    }
    copies
}

// -------------------------------------------------------------- tests

#[test]
fn shipped_twilio_mapping_bridges_every_callback_and_dead_letters_the_rest() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let dir = temp_dir("bridge-shipped");
    let lines = fixture();
    let per_line = expected_per_line();
    assert_eq!(lines.len(), per_line.len(), "one expectation per callback");

    let mut records: Vec<(Vec<u8>, Vec<u8>)> = lines.iter().map(|l| keyed(l)).collect();
    records.insert(4, (b"garbage".to_vec(), GARBAGE.to_vec()));
    records.insert(6, (T1.as_bytes().to_vec(), NO_WORKER.as_bytes().to_vec()));
    records.push((T2.as_bytes().to_vec(), UNKNOWN_TYPE.as_bytes().to_vec()));
    produce_raw(&brokers, VENDOR, &records);

    let bridge = start_bridge(&dir, "bridge", &brokers);
    wait_committed(&brokers, records.len() as i64, &bridge);
    stop_cleanly(bridge, "the bridge");

    let want: Vec<&Want> = per_line.iter().flatten().collect();
    assert_eq!(want.len(), 9);
    let copies = check_events(&read_events(&brokers), &want);
    // One run, nothing failed: each event once.
    assert!(
        copies.values().all(|&n| n == 1),
        "an event bridged twice in one clean run: {copies:?}"
    );
    assert_eq!(
        check_dead_letters(&read_all(&brokers, DEAD_LETTER)),
        vec![1, 1],
        "the garbage and the failing record, once each"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bridge_restarted_in_its_group_resumes_and_redelivers_only_identical_events() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let dir = temp_dir("bridge-restart");
    let lines = fixture();
    let per_line = expected_per_line();
    assert_eq!(lines.len(), per_line.len(), "one expectation per callback");

    // Run 1: lines 1-6 and the garbage; stopped once all are committed.
    let mut batch1: Vec<(Vec<u8>, Vec<u8>)> = lines[..6].iter().map(|l| keyed(l)).collect();
    batch1.push((b"garbage".to_vec(), GARBAGE.to_vec()));
    produce_raw(&brokers, VENDOR, &batch1);
    let bridge = start_bridge(&dir, "bridge-1", &brokers);
    wait_committed(&brokers, batch1.len() as i64, &bridge);
    stop_cleanly(bridge, "run 1");

    // While it is down: lines 7-11 and the record failing its rule.
    let mut batch2: Vec<(Vec<u8>, Vec<u8>)> = lines[6..].iter().map(|l| keyed(l)).collect();
    batch2.insert(2, (T1.as_bytes().to_vec(), NO_WORKER.as_bytes().to_vec()));
    produce_raw(&brokers, VENDOR, &batch2);
    let total = (batch1.len() + batch2.len()) as i64;

    // Run 2, same group: it resumes after run 1's commits and bridges the
    // new records, but every one of its commits is refused (as if it
    // crashed before they landed)...
    cluster.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE; 500],
    );
    let want: Vec<&Want> = per_line.iter().flatten().collect();
    let bridge = start_bridge(&dir, "bridge-2", &brokers);
    let all_out = || {
        let ids: BTreeSet<String> = read_events(&brokers)
            .into_iter()
            .map(|g| g.event.event_id)
            .collect();
        ids.len() == want.len() && read_all(&brokers, DEAD_LETTER).len() >= 2
    };
    assert!(
        wait_until(Duration::from_secs(30), all_out),
        "run 2 did not bridge the new records in 30 s\n{}",
        bridge.log_text()
    );
    stop_cleanly(bridge, "run 2");
    assert_eq!(
        committed(&brokers),
        batch1.len() as i64,
        "run 2's commits were refused: the group is where run 1 left it"
    );
    cluster.clear_request_errors(RDKafkaApiKey::OffsetCommit);

    // ...so run 3 gets the new records again, and commits them.
    let bridge = start_bridge(&dir, "bridge-3", &brokers);
    wait_committed(&brokers, total, &bridge);
    stop_cleanly(bridge, "run 3");

    let copies = check_events(&read_events(&brokers), &want);
    for w in &per_line[..6] {
        for w in w {
            assert_eq!(
                copies[&w.event.event_id], 1,
                "{}: committed by run 1, so never redelivered",
                w.event.event_id
            );
        }
    }
    for w in &per_line[6..] {
        for w in w {
            assert_eq!(
                copies[&w.event.event_id], 2,
                "{}: bridged by run 2, redelivered to run 3",
                w.event.event_id
            );
        }
    }
    assert_eq!(
        check_dead_letters(&read_all(&brokers, DEAD_LETTER)),
        vec![1, 2],
        "the garbage once (run 1), the failing record twice (runs 2 and 3)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
