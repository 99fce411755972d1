//! Integration tests of the wire codecs and event files: round trips,
//! determinism, the shipped examples, data-driven invalid cases, and the
//! file reader.

mod common;
#[path = "support/scratch.rs"]
mod scratch;

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufReader, Cursor, Write};
use std::path::{Path, PathBuf};

use ccpulse::sources::file::open;
use ccpulse_core::event::codec::{
    self, decode, decode_effect_json, decode_effect_protobuf, decode_json, decode_protobuf,
    encode_effect_json, encode_effect_protobuf, encode_json, encode_protobuf, wire, DecodeError,
    Format, Limits, MAX_OCCURRED_AT, MIN_OCCURRED_AT,
};
use ccpulse_core::event::file::{
    self, EventReader, FileError, FileFormat, Position, Record, MAX_RECORD_LEN,
};
use ccpulse_core::event::{Channel, Event, EventKind, InteractionEvent, SurveyScore};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use prost::Message as _;

fn manifest_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn decode_default(bytes: &[u8], format: Format) -> Result<Event, DecodeError> {
    decode(bytes, format, &Limits::default(), None)
}

fn field_of(err: &DecodeError) -> &str {
    err.field().unwrap_or("<malformed>")
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        // Regressions go next to this file (the crate root has no lib.rs
        // for proptest's default lookup).
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn json_round_trips(event in common::event()) {
        let json = encode_json(&event);
        prop_assert!(!json.contains('\n'));
        prop_assert_eq!(decode_json(json.as_bytes(), &Limits::default(), None), Ok(event));
    }

    #[test]
    fn protobuf_round_trips(event in common::event()) {
        let bytes = encode_protobuf(&event);
        prop_assert_eq!(decode_protobuf(&bytes, &Limits::default(), None), Ok(event));
    }

    #[test]
    fn event_encoding_is_deterministic_and_canonical(event in common::event()) {
        let json = encode_json(&event);
        let pb = encode_protobuf(&event);
        prop_assert_eq!(&encode_json(&event.clone()), &json);
        prop_assert_eq!(&encode_protobuf(&event.clone()), &pb);
        // Re-encoding what was decoded gives the same bytes, across formats.
        let via_pb = decode_default(&pb, Format::Protobuf).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(encode_json(&via_pb), json);
        let via_json = decode_default(encode_json(&event).as_bytes(), Format::Json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(encode_protobuf(&via_json), pb);
    }

    #[test]
    fn effects_round_trip(effect in common::effect()) {
        let json = encode_effect_json(&effect);
        prop_assert!(!json.contains('\n'));
        prop_assert_eq!(decode_effect_json(json.as_bytes()), Ok(effect.clone()));
        let pb = encode_effect_protobuf(&effect);
        prop_assert_eq!(decode_effect_protobuf(&pb), Ok(effect.clone()));
        prop_assert_eq!(encode_effect_json(&effect), json);
        prop_assert_eq!(encode_effect_protobuf(&effect), pb);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_default(&bytes, Format::Json);
        let _ = decode_default(&bytes, Format::Protobuf);
        let _ = decode_effect_json(&bytes);
        let _ = decode_effect_protobuf(&bytes);
    }

    /// Mutating one byte of a valid record either still decodes or fails
    /// with an error; it never panics.
    #[test]
    fn corrupted_records_never_panic(event in common::event(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        for (format, mut bytes) in [
            (Format::Json, encode_json(&event).into_bytes()),
            (Format::Protobuf, encode_protobuf(&event)),
        ] {
            let i = pos.index(bytes.len());
            bytes[i] = byte;
            let _ = decode_default(&bytes, format);
        }
    }
}

// ------------------------------------------------------------------ examples

fn example_lines() -> Vec<(usize, String)> {
    let text = fs::read_to_string(manifest_path("examples/all-kinds.jsonl"))
        .expect("examples/all-kinds.jsonl is readable");
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.to_owned()))
        .collect()
}

#[test]
fn every_example_line_decodes() {
    let lines = example_lines();
    assert!(!lines.is_empty());
    for (n, line) in &lines {
        if let Err(e) = decode_json(line.as_bytes(), &Limits::default(), None) {
            panic!("examples/all-kinds.jsonl line {n}: {e}");
        }
    }
}

#[test]
fn examples_cover_every_event_kind_and_score() {
    let events: Vec<Event> = example_lines()
        .iter()
        .filter_map(|(_, l)| decode_json(l.as_bytes(), &Limits::default(), None).ok())
        .collect();
    let seen: BTreeSet<&str> = events.iter().map(Event::kind_name).collect();
    let all: BTreeSet<&str> = common::ALL_KIND_NAMES.into_iter().collect();
    assert_eq!(seen, all);

    let mut scores = BTreeSet::new();
    for e in &events {
        if let EventKind::Survey(s) = &e.kind {
            scores.insert(match s.score {
                SurveyScore::Csat(_) => "csat",
                SurveyScore::Nps(_) => "nps",
                SurveyScore::Ces(_) => "ces",
            });
        }
    }
    assert_eq!(scores, BTreeSet::from(["csat", "nps", "ces"]));
}

#[test]
fn examples_are_coherent() {
    let events: Vec<Event> = example_lines()
        .iter()
        .map(|(_, l)| decode_json(l.as_bytes(), &Limits::default(), None).expect("valid"))
        .collect();
    let ids: BTreeSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
    assert!(
        events
            .windows(2)
            .all(|w| w[0].occurred_at <= w[1].occurred_at),
        "events are in time order"
    );
}

/// Every ```json block of examples/README.md is a valid event (```json
/// effect: a valid effect; ```json dead-letter: a dead-letter record), so the
/// JSON reference cannot drift from the schema.
#[test]
fn readme_examples_decode() {
    let text = fs::read_to_string(manifest_path("examples/README.md"))
        .expect("examples/README.md is readable");
    let mut blocks: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let line = line.trim_end();
        match &mut current {
            None => {
                if let Some(tag) = line.strip_prefix("```json") {
                    current = Some((tag.trim().to_owned(), String::new()));
                }
            }
            Some(_) if line == "```" => blocks.extend(current.take()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    let mut kinds = BTreeSet::new();
    let mut effects = 0;
    let mut dead_letters = 0;
    for (tag, body) in &blocks {
        let bytes = body.as_bytes();
        match tag.as_str() {
            "" => match decode_json(bytes, &Limits::default(), None) {
                Ok(e) => {
                    kinds.insert(e.kind_name());
                }
                Err(e) => panic!("README event does not decode: {e}\n{body}"),
            },
            "effect" => {
                let effect = decode_effect_json(bytes)
                    .unwrap_or_else(|e| panic!("README effect does not decode: {e}\n{body}"));
                // Written as ccpulse writes it (modulo layout).
                let shown: serde_json::Value = serde_json::from_str(body).expect("json");
                let written: serde_json::Value =
                    serde_json::from_str(&encode_effect_json(&effect)).expect("json");
                assert_eq!(written, shown);
                effects += 1;
            }
            "dead-letter" => {
                let dl: wire::DeadLetter = serde_json::from_slice(bytes)
                    .unwrap_or_else(|e| panic!("README dead letter does not decode: {e}\n{body}"));
                let original = decode_default(&dl.original_value, Format::Json)
                    .expect_err("the dead-lettered original is invalid");
                assert_eq!(original.to_string(), dl.error);
                assert_eq!(original.field(), Some(dl.error_field.as_str()));
                dead_letters += 1;
            }
            other => panic!("README: unknown block tag {other:?}"),
        }
    }
    let all: BTreeSet<&str> = common::ALL_KIND_NAMES.into_iter().collect();
    assert_eq!(kinds, all, "the README shows every event kind");
    assert_eq!((effects, dead_letters), (2, 1));
}

// ------------------------------------------------------------ invalid inputs

#[test]
fn data_driven_invalid_cases() {
    let dir = manifest_path("tests/data/invalid");
    let table = fs::read_to_string(dir.join("expected.tsv")).expect("expected.tsv is readable");
    let mut listed = BTreeSet::new();
    for line in table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let [name, field, reason] = cols[..] else {
            panic!("expected.tsv: bad line {line:?}");
        };
        listed.insert(name.to_owned());
        let bytes = fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Each case is an invalid JSON event, and the same event is invalid
        // in the same way when converted to protobuf first.
        for format in [Format::Json, Format::Protobuf] {
            let input = match format {
                Format::Json => bytes.clone(),
                Format::Protobuf => {
                    let w: wire::Envelope = serde_json::from_slice(&bytes)
                        .unwrap_or_else(|e| panic!("{name}: not proto3 JSON: {e}"));
                    w.encode_to_vec()
                }
            };
            match decode_default(&input, format) {
                Err(DecodeError::Invalid {
                    field: f,
                    reason: r,
                }) => {
                    assert_eq!(f, field, "{name} ({format})");
                    assert!(r.contains(reason), "{name} ({format}): reason {r:?}");
                }
                other => panic!("{name} ({format}): expected Invalid, got {other:?}"),
            }
        }
    }
    let on_disk: BTreeSet<String> = fs::read_dir(&dir)
        .expect("tests/data/invalid exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(
        listed, on_disk,
        "every case file has one line in expected.tsv"
    );
}

#[test]
fn error_messages_name_the_field() {
    let bytes = br#"{"eventId":"e1","occurredAt":"2026-03-02T08:00:00Z",
        "interaction":{"interactionId":"i1","queued":{"queue":"","channel":"CHANNEL_CHAT"}}}"#;
    let err = decode_default(bytes, Format::Json).expect_err("empty queue");
    assert_eq!(
        err.to_string(),
        "interaction.queued.queue: must not be empty"
    );
    assert_eq!(err.reason_code(), "invalid_field");
}

#[test]
fn garbage_is_malformed_in_both_formats() {
    let json_garbage: [&[u8]; 6] = [
        b"",
        b"not json",
        b"{",
        b"[]",
        b"\xff\xfe\x00garbage",
        br#"{"eventId": 12}"#,
    ];
    for bytes in json_garbage {
        let err = decode_default(bytes, Format::Json).expect_err("garbage");
        assert!(
            matches!(
                err,
                DecodeError::Malformed {
                    format: Format::Json,
                    ..
                }
            ),
            "{bytes:?}: {err:?}"
        );
        assert_eq!(err.reason_code(), "malformed_json");
    }
    let valid = encode_protobuf(&sample_event());
    let pb_garbage: [&[u8]; 3] = [
        b"\xff\xff\xff\xff\xff\xff",
        b"not protobuf at all",
        &valid[..valid.len() - 1],
    ];
    for bytes in pb_garbage {
        let err = decode_default(bytes, Format::Protobuf).expect_err("garbage");
        assert!(
            matches!(
                err,
                DecodeError::Malformed {
                    format: Format::Protobuf,
                    ..
                }
            ),
            "{bytes:?}: {err:?}"
        );
        assert_eq!(err.reason_code(), "malformed_protobuf");
    }
}

#[test]
fn json_schema_violations_are_malformed() {
    let base = r#"{"eventId":"e1","occurredAt":"2026-03-02T08:00:00Z","#;
    for tail in [
        // Unknown enum name.
        r#""interaction":{"interactionId":"i1","queued":{"queue":"q","channel":"CHANNEL_FAX"}}}"#,
        // Two members of one oneof.
        r#""surveyAnswered":{"interactionId":"i1","queue":"q","channel":"CHANNEL_WEB","csat":3,"nps":4}}"#,
        // A field given twice.
        r#""eventId":"e2","agentStateChanged":{"agentId":"a","state":"AGENT_STATE_BUSY"}}"#,
        // A string where a number belongs.
        r#""surveyAnswered":{"interactionId":"i1","queue":"q","channel":"CHANNEL_WEB","nps":"high"}}"#,
    ] {
        let bytes = format!("{base}{tail}");
        let err = decode_default(bytes.as_bytes(), Format::Json).expect_err(tail);
        assert_eq!(err.reason_code(), "malformed_json", "{tail}: {err}");
    }
    let not_a_timestamp = br#"{"eventId":"e1","occurredAt":"yesterday","interaction":{"interactionId":"i1","ended":{}}}"#;
    let err = decode_default(not_a_timestamp, Format::Json).expect_err("timestamp");
    assert_eq!(err.reason_code(), "malformed_json", "{err}");
}

#[test]
fn protobuf_only_violations_are_invalid() {
    // Values JSON cannot express: unknown enum numbers, bad nanos, scores
    // beyond u8.
    let mut w = wire::Envelope::from(&sample_event());
    if let Some(wire::envelope::Kind::Interaction(i)) = &mut w.kind {
        if let Some(wire::interaction_event::Event::Queued(q)) = &mut i.event {
            q.channel = 42;
        }
    }
    let err = decode_default(&w.encode_to_vec(), Format::Protobuf).expect_err("channel 42");
    assert_eq!(err.field(), Some("interaction.queued.channel"));
    assert!(err.to_string().contains("unknown enum value 42"), "{err}");

    let mut w = wire::Envelope::from(&sample_event());
    w.occurred_at = Some(pbjson_types::Timestamp {
        seconds: 1_772_438_400,
        nanos: -5,
    });
    let err = decode_default(&w.encode_to_vec(), Format::Protobuf).expect_err("nanos");
    assert_eq!(field_of(&err), "occurred_at");

    let survey = wire::Envelope {
        kind: Some(wire::envelope::Kind::SurveyAnswered(wire::SurveyAnswered {
            interaction_id: "i1".into(),
            agent_id: None,
            queue: "q".into(),
            channel: wire::Channel::Voice.into(),
            score: Some(wire::survey_answered::Score::Nps(u32::MAX)),
        })),
        ..wire::Envelope::from(&sample_event())
    };
    let err = decode_default(&survey.encode_to_vec(), Format::Protobuf).expect_err("nps");
    assert_eq!(field_of(&err), "survey_answered.nps");
}

// ------------------------------------------------------ lenient on purpose

fn sample_event() -> Event {
    Event {
        event_id: "evt-1".into(),
        occurred_at: 1_772_438_530_250, // 2026-03-02T08:02:10.250Z
        tenant: Some("acme".into()),
        kind: EventKind::Interaction {
            interaction_id: "call-1001".into(),
            event: InteractionEvent::Queued {
                queue: "billing".into(),
                channel: Channel::Voice,
                priority: 0,
                customer_ref: None,
            },
        },
    }
}

#[test]
fn json_shape_is_proto3_json() {
    assert_eq!(
        encode_json(&sample_event()),
        r#"{"eventId":"evt-1","occurredAt":"2026-03-02T08:02:10.250+00:00","tenant":"acme","interaction":{"interactionId":"call-1001","queued":{"queue":"billing","channel":"CHANNEL_VOICE"}}}"#
    );
}

#[test]
fn accepts_proto3_json_variants() {
    // snake_case names, an offset timestamp, an enum by number, unknown
    // fields, empty optional strings, and an unknown queue name.
    let bytes = br#"{"event_id":"evt-1","occurred_at":"2026-03-02T09:02:10.250+01:00",
        "tenant":"","future_field":{"x":1},
        "interaction":{"interaction_id":"call-1001",
          "queued":{"queue":"billing","channel":1,"customer_ref":""}}}"#;
    let event = decode_default(bytes, Format::Json).expect("valid");
    assert_eq!(
        event,
        Event {
            tenant: None,
            ..sample_event()
        }
    );

    let bytes = br#"{"eventId":"e2","occurredAt":"2026-03-02T08:00:00Z","interaction":{
        "interactionId":"i2","message":{"direction":"DIRECTION_AGENT","agentId":""}}}"#;
    let event = decode_default(bytes, Format::Json).expect("valid");
    assert_eq!(
        event.kind,
        EventKind::Interaction {
            interaction_id: "i2".into(),
            event: InteractionEvent::Message {
                direction: ccpulse_core::event::Direction::Agent,
                agent_id: None,
            },
        }
    );
}

#[test]
fn empty_optional_strings_encode_as_absent() {
    let with_empty = Event {
        tenant: Some(String::new()),
        ..sample_event()
    };
    let without = Event {
        tenant: None,
        ..sample_event()
    };
    assert_eq!(encode_json(&with_empty), encode_json(&without));
    assert_eq!(encode_protobuf(&with_empty), encode_protobuf(&without));
}

#[test]
fn future_skew_is_checked_against_the_reference_only() {
    let limits = Limits::default();
    let e = sample_event();
    let pb = encode_protobuf(&e);
    let at = e.occurred_at;
    let skew = limits.max_future_skew;
    assert!(decode_protobuf(&pb, &limits, Some(at - skew)).is_ok());
    let err = decode_protobuf(&pb, &limits, Some(at - skew - 1)).expect_err("too far ahead");
    assert_eq!(field_of(&err), "occurred_at");
    // Arbitrarily late is fine: late events are the engine's business.
    assert!(decode_protobuf(&pb, &limits, Some(at + 365 * 86_400_000)).is_ok());
    // No reference: only the absolute bounds.
    assert!(decode_protobuf(&pb, &limits, None).is_ok());
    let tight = Limits {
        max_future_skew: 0,
        ..limits
    };
    assert!(decode_protobuf(&pb, &tight, Some(at)).is_ok());
    assert!(decode_protobuf(&pb, &tight, Some(at - 1)).is_err());
}

#[test]
fn absolute_bounds_are_half_open() {
    for (at, ok) in [
        (MIN_OCCURRED_AT - 1, false),
        (MIN_OCCURRED_AT, true),
        (MAX_OCCURRED_AT - 1, true),
        (MAX_OCCURRED_AT, false),
    ] {
        let e = Event {
            occurred_at: at,
            ..sample_event()
        };
        assert_eq!(
            decode_default(&encode_protobuf(&e), Format::Protobuf).is_ok(),
            ok,
            "{at}"
        );
    }
}

#[test]
fn id_limit_is_configurable() {
    let e = Event {
        event_id: "x".repeat(10),
        ..sample_event()
    };
    let pb = encode_protobuf(&e);
    let limits = Limits {
        max_id_len: 10,
        ..Limits::default()
    };
    assert!(decode_protobuf(&pb, &limits, None).is_ok());
    let limits = Limits {
        max_id_len: 9,
        ..limits
    };
    let err = decode_protobuf(&pb, &limits, None).expect_err("id too long");
    assert_eq!(field_of(&err), "event_id");
}

#[test]
fn dead_letter_carries_the_error_and_the_original() {
    let original = br#"{"eventId":""}"#.to_vec();
    let err = decode_default(&original, Format::Json).expect_err("empty id");
    let dl = wire::DeadLetter {
        source_topic: "ccpulse.events".into(),
        source_partition: 3,
        source_offset: 1234,
        ..err.to_dead_letter(original.clone())
    };
    assert_eq!(dl.original_value, original);
    assert_eq!(dl.reason, "invalid_field");
    assert_eq!(dl.error_field, "event_id");
    assert_eq!(dl.error, "event_id: must not be empty");
    let back = wire::DeadLetter::decode(dl.encode_to_vec().as_slice()).expect("round trip");
    assert_eq!(back, dl);
    let json = serde_json::to_string(&dl).expect("serializes");
    assert!(json.contains(r#""sourceOffset":"1234""#), "{json}");
}

// -------------------------------------------------------------- event files

/// A file named `name` in a scratch directory of its own, which goes
/// with it.
struct TempFile {
    path: PathBuf,
    _dir: scratch::Scratch,
}

impl TempFile {
    fn new(name: &str) -> Self {
        let dir = scratch::Scratch::new("codec-tests");
        TempFile {
            path: dir.join(name),
            _dir: dir,
        }
    }
}

fn split(records: Vec<Record>) -> (Vec<Event>, Vec<(Position, DecodeError)>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for r in records {
        match r.event {
            Ok(e) => good.push(e),
            Err(e) => bad.push((r.position, e)),
        }
    }
    (good, bad)
}

#[test]
fn jsonl_reader_reports_bad_lines_and_keeps_going() {
    let e1 = sample_event();
    let e2 = Event {
        event_id: "evt-2".into(),
        ..sample_event()
    };
    let e3 = Event {
        event_id: "evt-3".into(),
        ..sample_event()
    };
    let tmp = TempFile::new("mixed.jsonl");
    let mut text = String::new();
    text.push_str("# a comment\n");
    text.push('\n');
    text.push_str(&encode_json(&e1));
    text.push('\n');
    text.push_str("{this is not json\n"); // line 4
    text.push_str("   \n");
    text.push_str(&encode_json(&e2));
    text.push_str("\r\n"); // CRLF line ending
    text.push_str(r#"{"eventId":"bad","occurredAt":"2026-03-02T08:00:00Z","surveyAnswered":{"interactionId":"i","queue":"q","channel":"CHANNEL_WEB","csat":6}}"#);
    text.push('\n'); // line 7
    text.push_str(&encode_json(&e3)); // no final newline
    fs::write(&tmp.path, &text).expect("write");

    let records: Vec<Record> = open(&tmp.path)
        .expect("open")
        .collect::<Result<_, _>>()
        .expect("no file errors");
    let positions: Vec<Position> = records.iter().map(|r| r.position).collect();
    assert_eq!(
        positions,
        [3, 4, 6, 7, 8].map(Position::Line).to_vec(),
        "blank and comment lines are skipped"
    );
    assert_eq!(records[0].len, encode_json(&e1).len());
    assert_eq!(records[2].len, encode_json(&e2).len(), "CR is not counted");
    let (good, bad) = split(records);
    assert_eq!(good, vec![e1, e2, e3]);
    assert_eq!(bad.len(), 2);
    assert_eq!(bad[0].0, Position::Line(4));
    assert_eq!(bad[0].1.reason_code(), "malformed_json");
    assert_eq!(bad[1].0, Position::Line(7));
    assert_eq!(bad[1].1.field(), Some("survey_answered.csat"));
}

#[test]
fn jsonl_reader_skips_a_leading_bom() {
    let text = format!("\u{feff}{}\n", encode_json(&sample_event()));
    let reader = EventReader::new(Cursor::new(text), FileFormat::JsonLines, Limits::default());
    let events: Vec<Event> = reader
        .map(|r| r.expect("readable").event.expect("valid"))
        .collect();
    assert_eq!(events, vec![sample_event()]);
}

#[test]
fn jsonl_lines_split_across_small_reads_are_read_whole() {
    // A 7-byte buffer: every line and most line endings span reads.
    let (e1, e2) = (
        sample_event(),
        Event {
            event_id: "evt-2".into(),
            ..sample_event()
        },
    );
    let text = format!("{}\r\n\n{}", encode_json(&e1), encode_json(&e2));
    let reader = EventReader::new(
        BufReader::with_capacity(7, Cursor::new(text)),
        FileFormat::JsonLines,
        Limits::default(),
    );
    let records: Vec<Record> = reader.collect::<Result<_, _>>().expect("no file errors");
    let positions: Vec<Position> = records.iter().map(|r| r.position).collect();
    assert_eq!(positions, [1, 3].map(Position::Line).to_vec());
    assert_eq!(records[0].len, encode_json(&e1).len(), "CR is not counted");
    let (good, bad) = split(records);
    assert_eq!((good, bad.len()), (vec![e1, e2], 0));
}

#[test]
fn overlong_line_is_one_bad_record() {
    let good = encode_json(&sample_event());
    let long = format!("{{\"eventId\":\"{}\"}}", "x".repeat(MAX_RECORD_LEN));
    let text = format!("{good}\n{long}\n{good}\n");
    let reader = EventReader::new(
        BufReader::with_capacity(1024, Cursor::new(text)),
        FileFormat::JsonLines,
        Limits::default(),
    );
    let records: Vec<Record> = reader.collect::<Result<_, _>>().expect("no file errors");
    assert_eq!(records.len(), 3);
    assert!(records[0].event.is_ok() && records[2].event.is_ok());
    assert_eq!(records[1].position, Position::Line(2));
    assert_eq!(records[1].len, long.len());
    // The same rejection as a Kafka record over the limit.
    assert_eq!(
        records[1].event,
        Err(DecodeError::TooLarge {
            len: long.len(),
            max: MAX_RECORD_LEN
        })
    );
}

fn example_events() -> Vec<Event> {
    open(manifest_path("examples/all-kinds.jsonl"))
        .expect("open examples")
        .map(|r| r.expect("readable").event.expect("valid"))
        .collect()
}

#[test]
fn delimited_protobuf_round_trips() {
    let events = example_events();
    let tmp = TempFile::new("events.pb");
    let mut f = fs::File::create(&tmp.path).expect("create");
    file::write_delimited(&events, &mut f).expect("write");
    drop(f);

    let records: Vec<Record> = open(&tmp.path)
        .expect("open")
        .collect::<Result<_, _>>()
        .expect("no file errors");
    // Offsets account for each record's varint prefix and body.
    let mut offset = 0u64;
    for r in &records {
        assert_eq!(r.position, Position::Offset(offset));
        offset += (prost::length_delimiter_len(r.len) + r.len) as u64;
    }
    assert_eq!(offset, fs::metadata(&tmp.path).expect("metadata").len());
    let (good, bad) = split(records);
    assert!(bad.is_empty());
    assert_eq!(good, events);
}

#[test]
fn jsonl_writer_round_trips() {
    let events = example_events();
    let tmp = TempFile::new("events.jsonl");
    file::write_jsonl(&events, fs::File::create(&tmp.path).expect("create")).expect("write");
    let back: Vec<Event> = open(&tmp.path)
        .expect("open")
        .map(|r| r.expect("readable").event.expect("valid"))
        .collect();
    assert_eq!(back, events);
}

#[test]
fn delimited_reader_keeps_going_after_a_bad_record_and_stops_at_broken_framing() {
    let e = sample_event();
    let mut bytes = Vec::new();
    file::write_delimited([&e], &mut bytes).expect("write");
    // A well-framed record that is not an envelope.
    bytes.push(3);
    bytes.extend_from_slice(b"\xff\xff\xff");
    file::write_delimited([&e], &mut bytes).expect("write");
    // A record whose prefix promises more than there is.
    bytes.extend_from_slice(&[50, 1, 2, 3]);

    let items: Vec<Result<Record, FileError>> =
        EventReader::new(Cursor::new(bytes), FileFormat::Delimited, Limits::default()).collect();
    assert_eq!(items.len(), 4, "the iterator ends after a framing error");
    assert!(matches!(&items[0], Ok(r) if r.event.as_ref() == Ok(&e)));
    assert!(matches!(&items[1], Ok(r) if r.event.is_err()));
    assert!(matches!(&items[2], Ok(r) if r.event.as_ref() == Ok(&e)));
    assert!(matches!(&items[3], Err(FileError::Framing { .. })));
}

#[test]
fn oversized_length_prefix_is_a_framing_error() {
    let mut bytes = Vec::new();
    prost::encode_length_delimiter(MAX_RECORD_LEN + 1, &mut bytes).expect("encode");
    let mut reader = EventReader::new(Cursor::new(bytes), FileFormat::Delimited, Limits::default());
    assert!(matches!(
        reader.next(),
        Some(Err(FileError::Framing {
            position: Position::Offset(0),
            ..
        }))
    ));
    assert!(reader.next().is_none());
}

#[test]
fn open_picks_the_format_from_the_extension() {
    assert!(matches!(
        open("events.csv"),
        Err(FileError::UnknownFormat { .. })
    ));
    assert!(matches!(
        open("/nonexistent/events.jsonl"),
        Err(FileError::Open { .. })
    ));
    for (name, format) in [
        ("a.jsonl", FileFormat::JsonLines),
        ("a.ndjson", FileFormat::JsonLines),
        ("a.pb", FileFormat::Delimited),
        ("a.bin", FileFormat::Delimited),
    ] {
        assert_eq!(FileFormat::from_path(Path::new(name)), Some(format));
    }
    let tmp = TempFile::new("empty.bin");
    fs::File::create(&tmp.path)
        .and_then(|mut f| f.write_all(b""))
        .expect("create");
    let reader = open(&tmp.path).expect("open");
    assert_eq!(reader.format(), FileFormat::Delimited);
    assert_eq!(reader.count(), 0);
}

#[test]
fn codec_format_names() {
    assert_eq!(Format::Json.to_string(), "json");
    assert_eq!(codec::Format::Protobuf.as_str(), "protobuf");
}
