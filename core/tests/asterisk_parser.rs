//! The queue_log parser and mapper, line by line: every event layout of
//! every Asterisk version, malformed lines with their numbers, stable ids,
//! same-second ordering, and the mapper's bounded, resumable state.

use ccpulse_core::adapters::asterisk::{MapperState, Outcome, QueueLogMapper};
use ccpulse_core::adapters::asterisk_error::LineProblem;
use ccpulse_core::adapters::asterisk_line::{parse, Exit, Kind, Transfer};
use ccpulse_core::event::codec::Limits;
use ccpulse_core::event::{AgentState, Event, EventKind, InteractionEvent};

fn kind(line: &str) -> Kind<'_> {
    parse(line).unwrap_or_else(|e| panic!("{line}: {e}")).kind
}

#[test]
fn every_layout_of_every_version_parses() {
    let cases: &[(&str, Kind<'_>)] = &[
        // ENTERQUEUE: 1.2–1.6 url|callerid, 1.8+ |position, 22+ |cidname.
        (
            "1|c|q|NONE|ENTERQUEUE||5551234",
            Kind::EnterQueue {
                callerid: "5551234",
            },
        ),
        (
            "1|c|q|NONE|ENTERQUEUE||5551234|2",
            Kind::EnterQueue {
                callerid: "5551234",
            },
        ),
        (
            "1|c|q|NONE|ENTERQUEUE||5551234|2|Jane Doe",
            Kind::EnterQueue {
                callerid: "5551234",
            },
        ),
        // CONNECT: 1.4 holdtime|bridged, 1.6+ |ringtime.
        ("1|c|q|a|CONNECT|12|1.2", Kind::Connect { holdtime: 12 }),
        ("1|c|q|a|CONNECT|12|1.2|3", Kind::Connect { holdtime: 12 }),
        (
            "1|c|q|a|COMPLETECALLER|12|200",
            Kind::Complete {
                by_caller: true,
                holdtime: 12,
                calltime: 200,
            },
        ),
        (
            "1|c|q|a|COMPLETEAGENT|12|200|1",
            Kind::Complete {
                by_caller: false,
                holdtime: 12,
                calltime: 200,
            },
        ),
        (
            "1|c|q|NONE|ABANDON|1|2|30",
            Kind::Exit {
                exit: Exit::Abandon,
            },
        ),
        (
            "1|c|q|NONE|EXITEMPTY|1|2|30",
            Kind::Exit { exit: Exit::Empty },
        ),
        (
            "1|c|q|NONE|EXITWITHTIMEOUT|1|2|30",
            Kind::Exit {
                exit: Exit::Timeout,
            },
        ),
        (
            "1|c|q|NONE|EXITWITHTIMEOUT|1",
            Kind::Exit {
                exit: Exit::Timeout,
            },
        ),
        ("1|c|q|NONE|EXITWITHKEY|9|1", Kind::Exit { exit: Exit::Key }),
        (
            "1|c|q|NONE|EXITWITHKEY|9|1|2|30",
            Kind::Exit { exit: Exit::Key },
        ),
        (
            "1|c|q|NONE|WITHDRAW|1|2|30|vip",
            Kind::Exit {
                exit: Exit::Withdraw,
            },
        ),
        (
            "1|c|q|a|SYSCOMPAT|",
            Kind::Exit {
                exit: Exit::SysCompat,
            },
        ),
        (
            "1|c|q|a|RINGNOANSWER|15000",
            Kind::RingNoAnswer { ring_ms: 15000 },
        ),
        (
            "1|c|q|a|TRANSFER|8000|default|12|60",
            Kind::Transfer {
                kind: Transfer::Legacy,
                target: "8000",
                holdtime: 12,
                calltime: 60,
            },
        ),
        (
            "1|c|q|a|TRANSFER|8000|default|12|60|1",
            Kind::Transfer {
                kind: Transfer::Legacy,
                target: "8000",
                holdtime: 12,
                calltime: 60,
            },
        ),
        (
            "1|c|q|a|BLINDTRANSFER|8000|default|12|60|1",
            Kind::Transfer {
                kind: Transfer::Blind,
                target: "8000",
                holdtime: 12,
                calltime: 60,
            },
        ),
        (
            "1|c|q|a|ATTENDEDTRANSFER|BRIDGE|b1|12|60|1",
            Kind::Transfer {
                kind: Transfer::Attended,
                target: "b1",
                holdtime: 12,
                calltime: 60,
            },
        ),
        (
            "1|c|q|a|ATTENDEDTRANSFER|APP|VoiceMail|12|60|1",
            Kind::Transfer {
                kind: Transfer::Attended,
                target: "VoiceMail",
                holdtime: 12,
                calltime: 60,
            },
        ),
        (
            "1|c|q|a|ATTENDEDTRANSFER|LINK|PJSIP/a-1|PJSIP/b-2|12|60|1",
            Kind::Transfer {
                kind: Transfer::Attended,
                target: "PJSIP/a-1",
                holdtime: 12,
                calltime: 60,
            },
        ),
        (
            "1|c|q|a|ATTENDEDTRANSFER|THREEWAY|PJSIP/a-1|12|60|1",
            Kind::Transfer {
                kind: Transfer::Attended,
                target: "PJSIP/a-1",
                holdtime: 12,
                calltime: 60,
            },
        ),
        ("1|c|NONE|Agent/1|AGENTLOGIN|SIP/1-1", Kind::AgentLogin),
        (
            "1|c|NONE|Agent/1|AGENTLOGOFF|SIP/1-1|600",
            Kind::AgentLogoff,
        ),
        (
            "1|c|NONE|Agent/1|AGENTCALLBACKLOGIN|1@default",
            Kind::AgentLogin,
        ),
        ("1|NONE|q|a|ADDMEMBER|", Kind::AddMember { paused: false }),
        (
            "1|NONE|q|a|ADDMEMBER|PAUSED",
            Kind::AddMember { paused: true },
        ),
        ("1|NONE|q|a|REMOVEMEMBER|", Kind::RemoveMember),
        (
            "1|NONE|q|a|PAUSE|Lunch",
            Kind::Pause {
                paused: true,
                all: false,
            },
        ),
        (
            "1|NONE|q|a|PAUSE",
            Kind::Pause {
                paused: true,
                all: false,
            },
        ),
        (
            "1|NONE|q|a|UNPAUSE|",
            Kind::Pause {
                paused: false,
                all: false,
            },
        ),
        (
            "1|NONE|NONE|a|PAUSEALL|",
            Kind::Pause {
                paused: true,
                all: true,
            },
        ),
        (
            "1|NONE|NONE|a|UNPAUSEALL|",
            Kind::Pause {
                paused: false,
                all: true,
            },
        ),
        ("1|NONE|NONE|NONE|QUEUESTART|", Kind::Known("QUEUESTART")),
        (
            "1|NONE|NONE|NONE|CONFIGRELOAD|",
            Kind::Known("CONFIGRELOAD"),
        ),
        ("1|c|q|NONE|DID|0800", Kind::Known("DID")),
        ("1|c|q|NONE|INFO|IVR|1", Kind::Known("INFO")),
        ("1|c|q|a|AGENTDUMP|", Kind::Known("AGENTDUMP")),
        ("1|c|q|a|RINGCANCELED|900", Kind::Known("RINGCANCELED")),
    ];
    for (line, want) in cases {
        assert_eq!(&kind(line), want, "{line}");
    }
    let l = parse("1710230400|1710230400.1|sales|Alice|CONNECT|12|x|3").expect("parse");
    assert_eq!(
        (l.time, l.callid, l.queue, l.agent),
        (1710230400, "1710230400.1", "sales", "Alice")
    );
}

#[test]
fn malformed_lines_say_what_is_wrong() {
    let bad: &[(&str, &str)] = &[
        ("1|c|q", "fields"),
        ("x|c|q|a|CONNECT|1|b|2", "time"),
        ("-5|c|q|a|CONNECT|1|b|2", "time"),
        ("1|c|q|a|CONNECT|one|b|2", "field"),
        ("1|c|q|a|CONNECT|1|b|2|3", "fields"),
        ("1|c|q|NONE|ENTERQUEUE|", "fields"),
        ("1|c|q|NONE|ENTERQUEUE||555|first", "field"),
        ("1|c|q|NONE|ABANDON|1|2", "fields"),
        ("1|c|q|a|COMPLETECALLER|1", "fields"),
        ("1|c|q|a|BLINDTRANSFER|8000|default|12|60", "fields"),
        ("1|c|q|a|ATTENDEDTRANSFER|SIDEWAYS|x|1|2|3", "fields"),
        ("1|c|q|a|ATTENDEDTRANSFER|LINK|a|1|2|3", "fields"),
        ("1|c|q|a|HOLDMUSIC|on", "unknown_event"),
    ];
    for (line, want) in bad {
        let e = parse(line).expect_err(line);
        let code = match e {
            LineProblem::Fields { .. } => "fields",
            LineProblem::Time(_) => "time",
            LineProblem::Field { .. } => "field",
            LineProblem::UnknownEvent(_) => "unknown_event",
            _ => "other",
        };
        assert_eq!(code, *want, "{line}: {e}");
    }
}

fn mapper() -> QueueLogMapper {
    QueueLogMapper::new(Limits::default())
}

fn events(m: &mut QueueLogMapper, n: u64, line: &str) -> Vec<Event> {
    match m.map_line(n, line.as_bytes(), None) {
        Ok(Outcome::Events(e)) => e,
        other => panic!("line {n} {line}: {other:?}"),
    }
}

fn ix(e: &Event) -> (&str, &InteractionEvent, i64) {
    match &e.kind {
        EventKind::Interaction {
            interaction_id,
            event,
        } => (interaction_id, event, e.occurred_at),
        other => panic!("not an interaction event: {other:?}"),
    }
}

#[test]
fn errors_carry_the_line_number_and_leave_the_state_alone() {
    let mut m = mapper();
    events(&mut m, 1, "1710230400|c1|sales|NONE|ENTERQUEUE||555|1");
    let before = m.state().clone();
    let cases: &[(u64, &str, &str)] = &[
        (
            2,
            "1710230401|NONE|sales|NONE|ENTERQUEUE||555|1",
            "no_call_id",
        ),
        (3, "1710230402|c1|sales|NONE|CONNECT|2|x|1", "no_agent"),
        (4, "1710230403|c2|NONE|NONE|ENTERQUEUE||555|1", "no_queue"),
        (5, "1710230404|NONE|sales|NONE|PAUSE|", "no_agent"),
        (6, "1710230405|c1|sales|Bob|HOLD|", "unknown_event"),
        (7, "99|c1|sales|Bob|CONNECT|2|x|1", "invalid_event"),
    ];
    for (n, line, code) in cases {
        let e = m.map_line(*n, line.as_bytes(), None).expect_err(line);
        assert_eq!((e.line, e.reason_code()), (*n, *code), "{e}");
        assert!(e.to_string().starts_with(&format!("line {n}: ")), "{e}");
    }
    assert_eq!(m.state(), &before, "failed lines change nothing");
    // An id longer than the limit is refused like on the live path.
    let long = format!(
        "1710230406|{}|sales|NONE|ENTERQUEUE||555|1",
        "x".repeat(300)
    );
    let e = m.map_line(8, long.as_bytes(), None).expect_err("long id");
    assert_eq!(e.reason_code(), "invalid_event");
    // Events ahead of the reference by more than the allowed skew.
    let e = m
        .map_line(
            9,
            b"1710230500|c9|sales|NONE|ENTERQUEUE||555|1",
            Some(1_000_000),
        )
        .expect_err("future");
    assert_eq!(e.reason_code(), "invalid_event");
}

#[test]
fn known_lines_without_figures_are_ignored_not_errors() {
    let mut m = mapper();
    for (line, name) in [
        ("1710230400|NONE|NONE|NONE|QUEUESTART|", "QUEUESTART"),
        ("1710230400|c|sales|NONE|DID|0800", "DID"),
        ("", "blank"),
        ("   \r\n", "blank"),
    ] {
        assert_eq!(
            m.map_line(1, line.as_bytes(), None),
            Ok(Outcome::Ignored(name))
        );
    }
}

#[test]
fn ids_are_stable_per_line_and_distinct_across_lines() {
    let line = "1710230400|c1|sales|NONE|ENTERQUEUE||555|1\n";
    let a = events(&mut mapper(), 1, line);
    let b = events(&mut mapper(), 99, line.trim_end());
    assert_eq!(a, b, "same line, same events and ids, whatever its number");
    let mut m = mapper();
    events(&mut m, 1, line);
    events(&mut m, 2, "1710230410|c1|sales|Alice|CONNECT|10|x|2");
    let done = events(
        &mut m,
        3,
        "1710230500|c1|sales|Alice|COMPLETECALLER|10|90|1",
    );
    let ids: Vec<&str> = done.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(
        ids.len(),
        4,
        "ended, wrap_up_done, resolved, agent: {ids:?}"
    );
    let prefix = ids[0].rsplit_once('-').expect("index").0;
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(*id, format!("{prefix}-{i}"));
    }
    assert_ne!(a[0].event_id, done[0].event_id);
}

#[test]
fn a_call_maps_to_its_lifecycle() {
    let mut m = mapper();
    let q = events(
        &mut m,
        1,
        "1710230400|c1|sales|NONE|ENTERQUEUE||0612345678|1",
    );
    match ix(&q[0]) {
        (
            "c1",
            InteractionEvent::Queued {
                queue,
                customer_ref: Some(c),
                ..
            },
            1710230400000,
        ) => {
            assert_eq!(queue, "sales");
            assert!(!c.contains("0612345678"), "the number is hashed");
        }
        other => panic!("{other:?}"),
    }
    let anon = events(
        &mut m,
        2,
        "1710230400|c2|sales|NONE|ENTERQUEUE||anonymous|2",
    );
    assert!(matches!(
        ix(&anon[0]).1,
        InteractionEvent::Queued {
            customer_ref: None,
            ..
        }
    ));
    let rna = events(&mut m, 3, "1710230415|c1|sales|Bob|RINGNOANSWER|15000");
    assert!(matches!(ix(&rna[0]).1, InteractionEvent::Offered { agent_id } if agent_id == "Bob"));
    let conn = events(&mut m, 4, "1710230420|c1|sales|Alice|CONNECT|20|x|2");
    assert!(
        matches!(ix(&conn[0]).1, InteractionEvent::Answered { agent_id } if agent_id == "Alice")
    );
    match &conn[1].kind {
        EventKind::Agent(a) => {
            assert_eq!((a.agent_id.as_str(), a.state), ("Alice", AgentState::Busy));
            assert_eq!(a.queues, ["sales"]);
        }
        other => panic!("{other:?}"),
    }
    let ab = events(&mut m, 5, "1710230430|c2|sales|NONE|EXITWITHKEY|1|1|1|30");
    assert!(matches!(ix(&ab[0]).1, InteractionEvent::Abandoned));
    assert_eq!(m.state().calls(), 1, "the abandoned call is forgotten");
    let done = events(
        &mut m,
        6,
        "1710230520|c1|sales|Alice|COMPLETEAGENT|20|100|1",
    );
    let kinds: Vec<&str> = done.iter().map(Event::kind_name).collect();
    assert_eq!(
        kinds,
        ["ended", "wrap_up_done", "resolved", "agent_state_changed"]
    );
    assert_eq!(m.state().calls(), 0, "the completed call is forgotten");
}

#[test]
fn a_transfer_into_another_queue_in_the_same_second_comes_after_the_wrap_up() {
    let mut m = mapper();
    events(&mut m, 1, "1710230400|c1|sales|NONE|ENTERQUEUE||555|1");
    events(&mut m, 2, "1710230410|c1|sales|Alice|CONNECT|10|x|2");
    let out = events(
        &mut m,
        3,
        "1710230500|c1|sales|Alice|BLINDTRANSFER|7002|from-internal|10|90|1",
    );
    let (_, _, wrap_at) = ix(&out[1]);
    assert_eq!(wrap_at, 1710230500000);
    let inq = events(&mut m, 4, "1710230500|c1|support|NONE|ENTERQUEUE||555|1");
    match ix(&inq[0]) {
        (_, InteractionEvent::Transferred { to_queue, to_agent }, t) => {
            assert_eq!(to_queue.as_deref(), Some("support"));
            assert!(to_agent.is_none());
            assert_eq!(t, wrap_at + 1, "1 ms after the wrap-up it ranks before");
        }
        other => panic!("{other:?}"),
    }
    // The answer in the same second keeps that millisecond (it ranks after).
    let conn = events(&mut m, 5, "1710230500|c1|support|Dave|CONNECT|0|y|1");
    assert_eq!(ix(&conn[0]).2, wrap_at + 1);
    // A later second starts on the second again.
    let done = events(
        &mut m,
        6,
        "1710230560|c1|support|Dave|COMPLETECALLER|0|60|1",
    );
    assert_eq!(ix(&done[0]).2, 1710230560000);
}

fn agent(e: &Event) -> (&str, AgentState, Vec<&str>, i64) {
    match &e.kind {
        EventKind::Agent(a) => (
            a.agent_id.as_str(),
            a.state,
            a.queues.iter().map(String::as_str).collect(),
            e.occurred_at,
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn agent_states_follow_membership_pauses_and_calls() {
    let mut m = mapper();
    let add = events(&mut m, 1, "1710230400|NONE|sales|Carol|ADDMEMBER|");
    assert_eq!(
        agent(&add[0]),
        ("Carol", AgentState::Available, vec!["sales"], 1710230400000)
    );
    let add2 = events(&mut m, 2, "1710230400|NONE|billing|Carol|ADDMEMBER|PAUSED");
    assert_eq!(
        agent(&add2[0]),
        (
            "Carol",
            AgentState::Available,
            vec!["billing", "sales"],
            1710230400001
        ),
        "paused in one queue, available in the other; 1 ms after the previous"
    );
    let p = events(&mut m, 3, "1710230500|NONE|sales|Carol|PAUSE|Lunch");
    assert_eq!(agent(&p[0]).1, AgentState::Away, "paused everywhere");
    let again = events(&mut m, 4, "1710230501|NONE|sales|Carol|PAUSE|Lunch");
    assert!(again.is_empty(), "no change, no event");
    let u = events(&mut m, 5, "1710230600|NONE|NONE|Carol|UNPAUSEALL|");
    assert_eq!(agent(&u[0]).1, AgentState::Available);
    let pa = events(&mut m, 6, "1710230700|NONE|NONE|Carol|PAUSEALL|");
    assert_eq!(agent(&pa[0]).1, AgentState::Away);
    events(&mut m, 7, "1710230800|NONE|sales|Carol|REMOVEMEMBER|");
    let rm = events(&mut m, 8, "1710230801|NONE|billing|Carol|REMOVEMEMBER|");
    assert_eq!(
        agent(&rm[0]),
        ("Carol", AgentState::Offline, vec![], 1710230801000)
    );
    let login = events(
        &mut m,
        9,
        "1710230900|1.1|NONE|Agent/1001|AGENTLOGIN|SIP/1001-1",
    );
    assert_eq!(agent(&login[0]).1, AgentState::Available);
    let logoff = events(
        &mut m,
        10,
        "1710231900|1.1|NONE|Agent/1001|AGENTLOGOFF|SIP/1001-1|1000",
    );
    assert_eq!(agent(&logoff[0]).1, AgentState::Offline);
}

#[test]
fn the_state_resumes_exactly_and_stays_bounded() {
    let lines = [
        "1710230400|c1|sales|NONE|ENTERQUEUE||555|1",
        "1710230410|c1|sales|Alice|CONNECT|10|x|2",
        "1710230500|c1|sales|Alice|BLINDTRANSFER|7002|from-internal|10|90|1",
        "1710230501|c1|support|NONE|ENTERQUEUE||555|1",
        "1710230510|c1|support|Dave|CONNECT|9|y|1",
        "1710230600|c1|support|Dave|COMPLETECALLER|9|90|1",
    ];
    let mut straight = mapper();
    let all: Vec<Event> = lines
        .iter()
        .enumerate()
        .flat_map(|(i, l)| events(&mut straight, i as u64 + 1, l))
        .collect();
    for cut in 0..lines.len() {
        let mut first = mapper();
        let mut got: Vec<Event> = Vec::new();
        for (i, l) in lines[..cut].iter().enumerate() {
            got.extend(events(&mut first, i as u64 + 1, l));
        }
        let saved = serde_json::to_string(first.state()).expect("serialize");
        let state: MapperState = serde_json::from_str(&saved).expect("deserialize");
        let mut resumed = QueueLogMapper::with_state(Limits::default(), state);
        for (i, l) in lines[cut..].iter().enumerate() {
            got.extend(events(&mut resumed, (cut + i) as u64 + 1, l));
        }
        assert_eq!(got, all, "resumed after line {cut}");
    }
    // Calls without a line for a day are forgotten.
    let mut m = mapper();
    events(&mut m, 1, "1710230400|old|sales|NONE|ENTERQUEUE||555|1");
    events(&mut m, 2, "1710403200|new|sales|NONE|ENTERQUEUE||556|1");
    assert_eq!(m.state().calls(), 1);
}
