//! An effect id names one decision, once: on hostile logs (valid lives
//! mixed with altered copies of their events: new event ids, the same
//! interaction, shifted times, changed kinds, arriving late) no two emitted
//! effects share an id, the ids of a replay are byte-identical, and a
//! restore that re-applies the recorded decisions by id reaches the same
//! effects. The named scenarios are the shapes that used to repeat an id
//! (all need events applied out of order: late), and the one where the ids
//! depended on where the watermark stopped (so a restore missed them).

use std::collections::BTreeMap;

use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::Engine;
use ccpulse_core::event::codec::encode_effect_json;
use ccpulse_core::event::*;
use ccpulse_core::testkit::*;
use proptest::prelude::*;

/// First response 60 s, next reply 45 s, resolution 5 min; every target
/// reassigns, twice, then escalates. Events arriving 1 s behind the newest
/// are late (applied at once, out of order).
const ALWAYS: &str = r#"
[engine]
allowed_lateness = "1s"
[[sla.policies]]
name = "p"
first_response = "60s"
next_reply = "45s"
resolution = "5m"
max_reassignments = 2
reassign_on = ["first_response", "next_reply", "resolution"]
pause_statuses = ["waiting_on_customer"]
"#;

/// The same policy on a calendar with a closed gap: T0 (10:00 Berlin) to
/// 10:05 open, 10:05 to 10:10 closed, open again to 10:20. Clocks started
/// anywhere in the gap reach the same deadline.
const GAPPED: &str = r#"
[engine]
allowed_lateness = "1s"
[sla.calendars.gapped]
time_zone = "Europe/Berlin"
hours = { mon = ["10:00-10:05", "10:10-10:20"], tue = ["10:00-10:05", "10:10-10:20"] }
[[sla.policies]]
name = "p"
calendar = "gapped"
first_response = "60s"
next_reply = "45s"
resolution = "5m"
max_reassignments = 2
reassign_on = ["first_response", "next_reply", "resolution"]
pause_statuses = ["waiting_on_customer"]
"#;

const IDS: [&str; 2] = ["c0", "c1"];
const KINDS: u8 = 14;

fn kind(k: u8) -> InteractionEvent {
    match k % KINDS {
        0 => InteractionEvent::Queued {
            queue: "billing".into(),
            channel: Channel::Chat,
            priority: 0,
            customer_ref: None,
        },
        1 => InteractionEvent::Answered {
            agent_id: "op".into(),
        },
        2 => InteractionEvent::Message {
            direction: Direction::Customer,
            agent_id: None,
        },
        3 => InteractionEvent::Message {
            direction: Direction::Agent,
            agent_id: None,
        },
        4 => InteractionEvent::Resolved { agent_id: None },
        5 => InteractionEvent::Abandoned,
        6 => InteractionEvent::Reopened,
        7 => InteractionEvent::Transferred {
            to_queue: Some("sales".into()),
            to_agent: None,
        },
        8 => InteractionEvent::StatusChanged {
            status: "waiting_on_customer".into(),
        },
        9 => InteractionEvent::StatusChanged {
            status: "open".into(),
        },
        10 => InteractionEvent::HoldStarted,
        11 => InteractionEvent::HoldEnded,
        12 => InteractionEvent::Ended,
        _ => InteractionEvent::WrapUpDone { agent_id: None },
    }
}

fn ix(event_id: String, at: Millis, id: &str, event: InteractionEvent) -> Event {
    Event {
        event_id,
        occurred_at: at,
        tenant: None,
        kind: EventKind::Interaction {
            interaction_id: id.into(),
            event,
        },
    }
}

/// One interaction's life: a start, then steps (gap in 15 s units, kind).
/// Steps are any kinds: a queue again after a resolution, a reopen, a
/// transfer, pauses; what does not fit is ignored by the engine.
#[derive(Debug, Clone)]
struct Life {
    start: i64,
    steps: Vec<(i64, u8)>,
}

/// An altered copy of a good event: new event id, same interaction.
#[derive(Debug, Clone)]
struct Copy {
    of: prop::sample::Index,
    shift_ms: i64,
    kind: Option<u8>,
    /// Where it arrives among the good events (so often late).
    arrives: prop::sample::Index,
}

fn life() -> impl Strategy<Value = Life> {
    (0i64..8, prop::collection::vec((0i64..8, 0u8..KINDS), 0..12))
        .prop_map(|(start, steps)| Life { start, steps })
}

fn copy() -> impl Strategy<Value = Copy> {
    let shift = prop_oneof![
        Just(0i64),
        Just(1),
        Just(-1),
        Just(15_000),
        Just(-15_000),
        Just(45_000),
        Just(-45_000),
        Just(-60_000),
        Just(60_000),
        Just(-300_000),
        -400_000i64..400_000,
    ];
    (
        any::<prop::sample::Index>(),
        shift,
        proptest::option::of(0u8..KINDS),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(of, shift_ms, kind, arrives)| Copy {
            of,
            shift_ms,
            kind,
            arrives,
        })
}

/// The log in arrival order: an available agent, the good events in time
/// order, and the altered copies inserted where they arrive.
fn hostile_log(lives: &[Life], copies: &[Copy]) -> Vec<Event> {
    let mut good = Vec::new();
    for (i, l) in lives.iter().enumerate() {
        let id = IDS[i % IDS.len()];
        let mut t = T0 + l.start * 15_000;
        good.push((t, ix(format!("g{i}-0"), t, id, kind(0))));
        for (n, (gap, k)) in l.steps.iter().enumerate() {
            t += gap * 15_000;
            good.push((t, ix(format!("g{i}-{}", n + 1), t, id, kind(*k))));
        }
    }
    good.sort_by_key(|(t, _)| *t);
    let mut log: Vec<Event> = good.into_iter().map(|(_, e)| e).collect();
    let originals = log.clone();
    for (n, c) in copies.iter().enumerate() {
        let src = c.of.get(&originals);
        let mut e = src.clone();
        e.event_id = format!("x{n}");
        e.occurred_at += c.shift_ms;
        if let (Some(k), EventKind::Interaction { event, .. }) = (c.kind, &mut e.kind) {
            *event = kind(k);
        }
        let at = c.arrives.index(log.len() + 1);
        log.insert(at, e);
    }
    let mut out = vec![Event {
        event_id: "agent-a1".into(),
        occurred_at: T0 - 60_000,
        tenant: None,
        kind: EventKind::Agent(AgentStateChanged {
            agent_id: "a1".into(),
            state: AgentState::Available,
            queues: vec!["billing".into(), "sales".into()],
        }),
    }];
    out.extend(log);
    out
}

/// Fold `log` in arrival order with `recorded` decisions installed (as a
/// restore does), then run the clocks out.
fn fold(cfg: &EngineConfig, log: &[Event], recorded: &[Effect]) -> Vec<Effect> {
    let mut e = Engine::new(cfg.clone());
    e.install_recorded_decisions(recorded.iter().cloned());
    let mut out = Vec::new();
    for ev in log {
        e.apply(ev.clone(), &mut out);
    }
    e.flush(&mut out);
    e.advance(T0 + 86_400_000, &mut out);
    out
}

/// Every id that names more than one emitted effect, with those effects.
fn repeated_ids(fx: &[Effect]) -> BTreeMap<&str, Vec<&Effect>> {
    let mut by_id: BTreeMap<&str, Vec<&Effect>> = BTreeMap::new();
    for e in fx {
        by_id.entry(e.effect_id()).or_default().push(e);
    }
    by_id.retain(|_, v| v.len() > 1);
    by_id
}

fn encoded(fx: &[Effect]) -> Vec<String> {
    fx.iter().map(encode_effect_json).collect()
}

fn assert_ids_distinct(fx: &[Effect]) {
    let repeated = repeated_ids(fx);
    assert!(repeated.is_empty(), "effect ids repeated: {repeated:#?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_effect_id_is_emitted_twice_on_a_hostile_log(
        lives in prop::collection::vec(life(), 1..5),
        copies in prop::collection::vec(copy(), 0..8),
        gapped in any::<bool>(),
    ) {
        let cfg = engine_config_from_toml(if gapped { GAPPED } else { ALWAYS });
        let log = hostile_log(&lives, &copies);
        let fx = fold(&cfg, &log, &[]);
        let repeated = repeated_ids(&fx);
        prop_assert!(repeated.is_empty(), "effect ids repeated: {:#?}", repeated);
        // Same log, same ids, byte for byte.
        prop_assert_eq!(encoded(&fold(&cfg, &log, &[])), encoded(&fx));
        // A restore re-applies the recorded decisions by id and reaches the
        // same effects, though it does not see the agent directory the live
        // run picked from (here: no agent at all, so a fresh pick could only
        // requeue).
        let without_agents: Vec<Event> = log
            .iter()
            .filter(|e| !matches!(e.kind, EventKind::Agent(_)))
            .cloned()
            .collect();
        prop_assert_eq!(encoded(&fold(&cfg, &without_agents, &fx)), encoded(&fx));
    }
}

// The shapes that repeated an id, each reduced to its minimum.

/// Fold `on_time`, move the watermark to `at` seconds, then let `late`
/// arrive (its events are older than the watermark: applied at once), and
/// run the clocks out. Late events get their own ids (altered copies).
fn fold_with_late(toml_text: &str, on_time: &Scenario, at: f64, late: &Scenario) -> Vec<Effect> {
    let mut e = Engine::new(engine_config_from_toml(toml_text));
    let mut out = Vec::new();
    for ev in &on_time.events {
        e.apply(ev.clone(), &mut out);
    }
    e.advance(ms(at), &mut out);
    for ev in &late.events {
        let mut ev = ev.clone();
        ev.event_id = format!("late-{}", ev.event_id);
        assert!(ev.occurred_at < e.watermark(), "meant to be late");
        e.apply(ev, &mut out);
    }
    e.flush(&mut out);
    e.advance(ms(1000.0), &mut out);
    out
}

fn breach_keys(fx: &[Effect]) -> Vec<(SlaTarget, Millis)> {
    breaches(fx)
        .iter()
        .map(|b| (b.target, b.deadline))
        .collect()
}

fn ids_of(fx: &[Effect]) -> Vec<&str> {
    fx.iter().map(Effect::effect_id).collect()
}

#[test]
fn an_interaction_queued_again_after_it_was_resolved_gets_fresh_effect_ids() {
    // c1 is queued at 0, breaches first response at 60 s (and is requeued,
    // attempt 1), and is resolved at 100 s. A copy of its `queued` (another
    // event id, the same instant) arrives late and opens a second life at
    // 0: its first response runs out at the same 60 s, attempt 1 again.
    let mut on_time = Scenario::new();
    on_time
        .queued(0.0, "c1", "billing", Channel::Chat)
        .resolved(100.0, "c1", "a1");
    let mut late = Scenario::new();
    late.queued(0.0, "c1", "billing", Channel::Chat);
    let fx = fold_with_late(ALWAYS, &on_time, 400.0, &late);
    let fr_at_60: Vec<&Effect> = fx
        .iter()
        .filter(|e| match e {
            Effect::SlaBreached(b) => {
                (b.target, b.deadline) == (SlaTarget::FirstResponse, ms(60.0))
            }
            Effect::ReassignmentRequested(r) => {
                (r.reason, r.attempt, r.deadline) == (SlaTarget::FirstResponse, 1, ms(60.0))
            }
        })
        .collect();
    assert_eq!(
        fr_at_60.len(),
        4,
        "a breach and attempt 1 in each life: {fx:#?}"
    );
    assert_ids_distinct(&fx);
}

#[test]
fn an_interaction_queued_again_after_an_abandon_at_the_same_instant_gets_fresh_effect_ids() {
    // Late, in this arrival order: queued, abandoned and queued again, all
    // stamped 30 s. Each life breaches at 90 s and runs its attempts.
    let mut on_time = Scenario::new();
    on_time.queued(400.0, "c2", "billing", Channel::Chat);
    let mut late = Scenario::new();
    late.queued(30.0, "c1", "billing", Channel::Chat)
        .abandoned(30.0, "c1")
        .queued(30.0, "c1", "billing", Channel::Chat);
    let fx = fold_with_late(ALWAYS, &on_time, 399.0, &late);
    let c1: Vec<Effect> = fx.iter().filter(|e| e.key() == "c1").cloned().collect();
    assert_eq!(
        breach_keys(&c1),
        vec![
            (SlaTarget::FirstResponse, ms(90.0)),
            (SlaTarget::Resolution, ms(330.0)),
            (SlaTarget::FirstResponse, ms(90.0)),
            (SlaTarget::Resolution, ms(330.0)),
        ]
    );
    assert_ids_distinct(&fx);
}

#[test]
fn a_reopen_stamped_with_the_creation_instant_gets_fresh_effect_ids() {
    // c1's resolution clock (5 min from 0) breaches at 300 s (attempt 1) and
    // c1 is resolved at 400 s; a late `reopened` stamped 0 (a `queued` copy
    // with its kind changed) opens a resolution clock that runs out at the
    // same 300 s, attempt 1 of the new opening.
    let mut on_time = Scenario::new();
    on_time
        .queued(0.0, "c1", "billing", Channel::Chat)
        .answered(10.0, "c1", "a1")
        .message(20.0, "c1", Direction::Agent)
        .resolved(400.0, "c1", "a1");
    let mut late = Scenario::new();
    late.ix(0.0, "c1", InteractionEvent::Reopened);
    let fx = fold_with_late(ALWAYS, &on_time, 500.0, &late);
    assert_eq!(
        breach_keys(&fx),
        vec![
            (SlaTarget::Resolution, ms(300.0)),
            (SlaTarget::Resolution, ms(300.0)),
        ]
    );
    let r: Vec<(u32, Millis)> = reassignments(&fx)
        .iter()
        .map(|r| (r.attempt, r.deadline))
        .collect();
    // Attempt 1 of each opening at 300 s, then the reopened one's 2 and 3.
    assert_eq!(
        r,
        vec![
            (1, ms(300.0)),
            (1, ms(300.0)),
            (2, ms(600.0)),
            (3, ms(900.0))
        ]
    );
    assert_ids_distinct(&fx);
}

#[test]
fn a_next_reply_restarted_by_a_late_copy_of_its_message_gets_a_fresh_breach_id() {
    // The customer writes at 20 s; nobody replies by 65 s (breach), the
    // agent replies at 100 s. A copy of the 20 s message arrives late and
    // restarts next reply at 20 s: the same 65 s deadline again.
    let mut on_time = Scenario::new();
    on_time
        .queued(0.0, "c1", "billing", Channel::Chat)
        .answered(5.0, "c1", "a1")
        .message(10.0, "c1", Direction::Agent)
        .message(20.0, "c1", Direction::Customer)
        .message(100.0, "c1", Direction::Agent);
    let mut late = Scenario::new();
    late.message(20.0, "c1", Direction::Customer);
    let fx = fold_with_late(ALWAYS, &on_time, 200.0, &late);
    let nr: Vec<_> = breach_keys(&fx)
        .into_iter()
        .filter(|(t, _)| *t == SlaTarget::NextReply)
        .collect();
    assert_eq!(
        nr,
        vec![
            (SlaTarget::NextReply, ms(65.0)),
            (SlaTarget::NextReply, ms(65.0)),
        ]
    );
    assert_ids_distinct(&fx);
}

#[test]
fn two_late_customer_messages_of_one_instant_get_distinct_breach_ids() {
    // First response is escalated (60, 120, 180 s) before the late messages
    // are applied; the first message starts next reply at 120 s, which
    // breaches at once (165 s) and stays breached (escalated); the second
    // message of the same instant starts it again: 165 s again.
    let mut on_time = Scenario::new();
    on_time.queued(0.0, "c1", "billing", Channel::Chat);
    on_time.queued(400.0, "c2", "billing", Channel::Chat);
    let mut late = Scenario::new();
    late.message(120.0, "c1", Direction::Customer)
        .message(120.0, "c1", Direction::Customer);
    let fx = fold_with_late(ALWAYS, &on_time, 399.0, &late);
    let nr: Vec<_> = breach_keys(&fx)
        .into_iter()
        .filter(|(t, _)| *t == SlaTarget::NextReply)
        .collect();
    assert_eq!(
        nr,
        vec![
            (SlaTarget::NextReply, ms(165.0)),
            (SlaTarget::NextReply, ms(165.0)),
        ]
    );
    assert_ids_distinct(&fx);
}

#[test]
fn clocks_started_at_different_closed_hours_reach_one_deadline_with_distinct_ids() {
    // On the gapped calendar (closed 300-600 s) the customer writes at
    // 320 s: next reply is due at 645 s (breach, attempts, escalation); the
    // agent replies at 700 s. A late copy shifted to 360 s starts next
    // reply at the same business instant: due at 645 s again.
    let mut on_time = Scenario::new();
    on_time
        .queued(0.0, "c1", "billing", Channel::Chat)
        .answered(5.0, "c1", "a1")
        .message(10.0, "c1", Direction::Agent)
        .message(320.0, "c1", Direction::Customer)
        .message(700.0, "c1", Direction::Agent);
    let mut late = Scenario::new();
    late.message(360.0, "c1", Direction::Customer);
    let fx = fold_with_late(GAPPED, &on_time, 800.0, &late);
    let nr: Vec<_> = breach_keys(&fx)
        .into_iter()
        .filter(|(t, _)| *t == SlaTarget::NextReply)
        .collect();
    assert_eq!(
        nr,
        vec![
            (SlaTarget::NextReply, ms(645.0)),
            (SlaTarget::NextReply, ms(645.0)),
        ]
    );
    assert_ids_distinct(&fx);
}

#[test]
fn effect_ids_depend_only_on_the_log() {
    // The same log folded twice, and folded after an unrelated interaction
    // that stays open (so c1 gets other slab slots and timer ids): c1's
    // effects carry the same ids.
    let mut s = Scenario::new();
    s.queued(0.0, "c1", "billing", Channel::Chat)
        .answered(5.0, "c1", "a1")
        .message(10.0, "c1", Direction::Agent)
        .message(20.0, "c1", Direction::Customer);
    let (_, a) = run_toml(&s, ALWAYS, 1000.0);
    let (_, b) = run_toml(&s, ALWAYS, 1000.0);
    assert_eq!(encoded(&a), encoded(&b));
    let mut busier = Scenario::new();
    busier.queued(-5.0, "c0", "sales", Channel::Voice);
    busier.events[0].event_id = "other".into();
    busier.events.extend(s.events.iter().cloned());
    let (_, c) = run_toml(&busier, ALWAYS, 1000.0);
    let c1: Vec<Effect> = c.into_iter().filter(|e| e.key() == "c1").collect();
    assert!(!a.is_empty());
    assert_eq!(ids_of(&c1), ids_of(&a));
}

#[test]
fn one_jump_of_the_watermark_fires_re_armed_clocks_in_deadline_order() {
    // c1: first response due at 60 s, re-armed at 120 and 180 s (attempts 1,
    // 2, then the escalation); resolution due at 300 s, after the
    // escalation (so no attempt of its own). A jump of the watermark from 0
    // to 400 s must decide the same as steps: a restore merges agent events
    // in at other points than the live run did, so the points where the
    // watermark stops differ, and the recorded decisions are found by id.
    let mut s = Scenario::new();
    s.queued(0.0, "c1", "billing", Channel::Chat);
    let cfg = engine_config_from_toml(ALWAYS);
    let run = |stops: &[f64]| {
        let mut e = Engine::new(cfg.clone());
        let mut out = Vec::new();
        for ev in &s.events {
            e.apply(ev.clone(), &mut out);
        }
        for at in stops {
            e.advance(ms(*at), &mut out);
        }
        out
    };
    let steps = run(&[100.0, 150.0, 200.0, 400.0]);
    let jump = run(&[400.0]);
    assert_eq!(encoded(&jump), encoded(&steps));
    let r: Vec<(SlaTarget, u32, Millis)> = reassignments(&jump)
        .iter()
        .map(|r| (r.reason, r.attempt, r.deadline))
        .collect();
    assert_eq!(
        r,
        vec![
            (SlaTarget::FirstResponse, 1, ms(60.0)),
            (SlaTarget::FirstResponse, 2, ms(120.0)),
            (SlaTarget::FirstResponse, 3, ms(180.0)),
        ]
    );
    assert_eq!(
        breach_keys(&jump),
        vec![
            (SlaTarget::FirstResponse, ms(60.0)),
            (SlaTarget::Resolution, ms(300.0)),
        ]
    );
}
