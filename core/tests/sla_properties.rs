//! SLA properties over generated traffic, against a brute-force oracle.

use std::collections::{BTreeMap, BTreeSet};

use ccpulse_core::event::*;
use ccpulse_core::testkit::*;
use proptest::prelude::*;

const BUDGET_MS: i64 = 60_000;

/// (start, answer delay or none) per voice call; agents come and go.
fn calls() -> impl Strategy<Value = Vec<(i64, Option<i64>)>> {
    prop::collection::vec((0i64..600_000, proptest::option::of(0i64..120_000)), 1..60)
}

fn scenario(calls: &[(i64, Option<i64>)], agents: &[(i64, bool)]) -> Scenario {
    let mut s = Scenario::new();
    for (i, (at, avail)) in agents.iter().enumerate() {
        let state = if *avail {
            AgentState::Available
        } else {
            AgentState::Busy
        };
        s.agent(
            *at as f64 / 1000.0,
            &format!("ag{}", i % 3),
            state,
            &["billing"],
        );
    }
    for (i, (start, answer)) in calls.iter().enumerate() {
        let id = format!("c{i}");
        s.queued(*start as f64 / 1000.0, &id, "billing", Channel::Voice);
        if let Some(d) = answer {
            s.answered((*start + *d) as f64 / 1000.0, &id, "op");
        }
    }
    // In event-time order: the oracle describes on-time data.
    s.events.sort_by_key(|e| e.occurred_at);
    s
}

const CFG: &str =
    "[[sla.policies]]\nname = \"p\"\nfirst_response = \"60s\"\nmax_reassignments = 2\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn breaches_fire_exactly_for_calls_not_answered_by_their_deadline(
        calls in calls(),
        agents in prop::collection::vec((0i64..600_000, any::<bool>()), 0..10),
    ) {
        let s = scenario(&calls, &agents);
        let end = 900.0; // seconds; past every deadline
        let (_, fx) = run_toml(&s, CFG, end);
        // Oracle: a call breaches iff not answered at or before start + 60 s.
        let mut want = BTreeMap::new();
        for (i, (start, answer)) in calls.iter().enumerate() {
            let deadline = T0 + start + BUDGET_MS;
            if answer.is_none_or(|d| *start + d > *start + BUDGET_MS) {
                want.insert(format!("c{i}"), deadline);
            }
        }
        let got: BTreeMap<String, i64> = breaches(&fx).iter().map(|b| (b.interaction_id.clone(), b.deadline)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn no_interaction_gets_two_reassignments_for_the_same_target_and_attempt(
        calls in calls(),
        agents in prop::collection::vec((0i64..600_000, any::<bool>()), 0..10),
    ) {
        let s = scenario(&calls, &agents);
        let (_, fx) = run_toml(&s, CFG, 900.0);
        let mut seen = BTreeSet::new();
        for r in reassignments(&fx) {
            prop_assert!(seen.insert((r.interaction_id.clone(), r.reason, r.attempt)), "duplicate {:?}", r);
            // Attempts count up from 1 and stop at max_reassignments + 1.
            prop_assert!((1..=3).contains(&r.attempt));
        }
    }

    #[test]
    fn replay_gives_byte_identical_effects(
        calls in calls(),
        agents in prop::collection::vec((0i64..600_000, any::<bool>()), 0..10),
    ) {
        let s = scenario(&calls, &agents);
        let enc = |fx: &[Effect]| fx.iter().map(ccpulse_core::event::codec::encode_effect_json).collect::<Vec<_>>();
        let (_, a) = run_toml(&s, CFG, 900.0);
        let (_, b) = run_toml(&s, CFG, 900.0);
        prop_assert_eq!(enc(&a), enc(&b));
    }

    #[test]
    fn no_timer_fires_before_the_watermark_passes_its_deadline(
        calls in calls(),
        stop in 0i64..700_000,
    ) {
        // Stop the watermark at `stop`: only deadlines before it may fire.
        let s = scenario(&calls, &[]);
        let mut e = ccpulse_core::engine::Engine::new(
            engine_config_from_toml(CFG),
        );
        let mut out = Vec::new();
        for ev in s.events.iter().filter(|e| e.occurred_at < T0 + stop) {
            e.apply(ev.clone(), &mut out);
        }
        e.advance(T0 + stop, &mut out);
        for b in breaches(&out) {
            prop_assert!(b.deadline < T0 + stop, "fired at {} before its deadline {}", stop, b.deadline - T0);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// What lets the pipeline record only the idle ticks that emitted
    /// effects: with no events in between, advancing the watermark in
    /// steps leaves the same state and emits the same effects as one jump,
    /// also when more traffic follows.
    #[test]
    fn advancing_in_steps_equals_one_jump(
        calls in calls(),
        agents in prop::collection::vec((0i64..600_000, any::<bool>()), 0..10),
        pause in 0i64..600_000,
        steps in prop::collection::vec(1i64..120_000, 1..8),
    ) {
        let s = scenario(&calls, &agents);
        let cfg = engine_config_from_toml(CFG);
        let (before, after): (Vec<Event>, Vec<Event>) =
            s.events.iter().cloned().partition(|e| e.occurred_at < T0 + pause);
        let jump = T0 + pause + steps.iter().sum::<i64>();
        let run = |stepwise: bool| {
            let mut e = ccpulse_core::engine::Engine::new(cfg.clone());
            let mut out = Vec::new();
            for ev in &before {
                e.apply(ev.clone(), &mut out);
            }
            if stepwise {
                let mut wm = T0 + pause;
                for st in &steps {
                    wm += st;
                    e.advance(wm, &mut out);
                }
            } else {
                e.advance(jump, &mut out);
            }
            for ev in &after {
                e.apply(ev.clone(), &mut out);
            }
            e.flush(&mut out);
            e.advance(T0 + 2_000_000, &mut out);
            let fx: Vec<String> = out.iter().map(ccpulse_core::event::codec::encode_effect_json).collect();
            (serde_json::to_string(&e.snapshot()).expect("snapshot"), fx)
        };
        prop_assert_eq!(run(true), run(false));
    }
}

/// Queues of the picker property; an agent serves any subset of them.
const PICK_QUEUES: [&str; 3] = ["billing", "sales", "claims"];

/// One agent state event: (second, agent, state index into
/// `AgentState::ALL`, 5 and up meaning available, queue bit mask, whether
/// the first queue is named twice).
type AgentStep = (i64, usize, usize, u8, bool);

fn agent_steps() -> impl Strategy<Value = Vec<AgentStep>> {
    prop::collection::vec(
        (0i64..900, 0usize..4, 0usize..8, 0u8..8, any::<bool>()),
        0..40,
    )
}

/// The queues a bit mask names, the first twice when `dup`.
fn served(mask: u8, dup: bool) -> Vec<&'static str> {
    let mut qs: Vec<&str> = (0..3)
        .filter(|b| mask & (1 << b) != 0)
        .map(|b| PICK_QUEUES[b])
        .collect();
    if dup {
        if let Some(&first) = qs.first() {
            qs.push(first);
        }
    }
    qs
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The operator a reassignment names is the one a scan of every agent
    /// finds at the deadline: available, serving the interaction's queue
    /// (as its latest state event says), not the one it is taken from;
    /// fewest open interactions, then longest idle, then smallest id. And
    /// a requeue means nobody was eligible. Agents move between queues, so
    /// the fold's per-queue lists of serving agents must follow.
    #[test]
    fn a_reassignment_names_the_agent_a_scan_of_every_agent_would(
        calls in prop::collection::vec((0i64..900, 0usize..3), 1..40),
        steps in agent_steps(),
    ) {
        let mut s = Scenario::new();
        // Agent events at .5 s plus their index in ms, calls and deadlines
        // on whole seconds: no agent event shares a millisecond with a
        // deadline or with another agent event.
        let at = |sec: i64, i: usize| sec as f64 + 0.5 + i as f64 / 1000.0;
        for (i, &(sec, agent, state, mask, dup)) in steps.iter().enumerate() {
            let state = AgentState::ALL.get(state).copied().unwrap_or(AgentState::Available);
            s.agent(at(sec, i), &format!("ag{agent}"), state, &served(mask, dup));
        }
        for (i, &(sec, q)) in calls.iter().enumerate() {
            s.queued(sec as f64, &format!("c{i}"), PICK_QUEUES[q], Channel::Chat);
        }
        s.events.sort_by_key(|e| e.occurred_at);
        let cfg = "[[sla.policies]]\nname = \"p\"\nfirst_response = \"60s\"\nmax_reassignments = 2\n";
        let (_, fx) = run_toml(&s, cfg, 2000.0);

        // The oracle: agents' latest state before a deadline, from the
        // steps themselves; open interactions from the reassignments
        // already emitted (nothing is answered or closed here).
        let mut holder: BTreeMap<String, String> = BTreeMap::new();
        let mut checked = 0;
        for r in reassignments(&fx) {
            if matches!(r.action, Reassignment::Escalate { .. }) {
                continue;
            }
            let mut latest: BTreeMap<usize, (i64, AgentState, Vec<&str>)> = BTreeMap::new();
            for (i, &(sec, agent, state, mask, dup)) in steps.iter().enumerate() {
                let t = ms(at(sec, i));
                if t < r.deadline && latest.get(&agent).is_none_or(|l| l.0 < t) {
                    let state = AgentState::ALL.get(state).copied().unwrap_or(AgentState::Available);
                    latest.insert(agent, (t, state, served(mask, dup)));
                }
            }
            let best = latest
                .iter()
                .map(|(a, (since, state, queues))| (format!("ag{a}"), *since, *state, queues))
                .filter(|(id, _, state, queues)| {
                    *state == AgentState::Available
                        && queues.contains(&r.queue.as_str())
                        && r.from_agent.as_deref() != Some(id.as_str())
                })
                .map(|(id, since, _, _)| {
                    let open = holder.values().filter(|h| **h == id).count();
                    (open, since, id)
                })
                .min();
            match (&r.action, best) {
                (Reassignment::ToAgent { agent_id }, Some((_, _, want))) => {
                    prop_assert_eq!(agent_id, &want, "{:?}", r);
                    holder.insert(r.interaction_id.clone(), agent_id.clone());
                }
                (Reassignment::Requeue { .. }, None) => {}
                (action, want) => prop_assert!(false, "{:?} where the scan finds {:?}: {:?}", action, want, r),
            }
            checked += 1;
        }
        // Every unanswered call is reassigned twice, then escalated.
        prop_assert_eq!(checked, 2 * calls.len());
    }
}
