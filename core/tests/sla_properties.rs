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
