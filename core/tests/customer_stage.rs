//! Repeat contacts and first-contact resolution across partitions: the
//! interactions of a log split over any number of partition engines, their
//! customer facts re-keyed by customer into any number of stage engines in
//! any order, give merged figures equal to one engine over the whole log,
//! and both equal a brute-force count over the generated lives.

use std::collections::BTreeMap;

use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::{CustomerFact, Engine, View};
use ccpulse_core::event::*;
use ccpulse_core::testkit::*;
use proptest::prelude::*;

const QUEUES: [&str; 2] = ["billing", "sales"];
const CHANNELS: [Channel; 2] = [Channel::Voice, Channel::Chat];
/// Repeat window of these tests: short, so that a two-hour log has
/// contacts on both sides of it.
const W: Millis = 1_800_000;

#[derive(Debug, Clone)]
struct Life {
    queue: usize,
    channel: usize,
    /// Whole minutes, so that contacts at the same millisecond happen.
    start_ms: i64,
    wait_ms: i64,
    /// Open at most 25 min in all (see the property).
    handle_ms: i64,
    /// 0 abandoned, 1 resolved, 2 resolved, reopened and resolved again,
    /// 3 still waiting.
    outcome: u8,
    reopen_after_ms: i64,
    customer: Option<u8>,
}

fn life() -> impl Strategy<Value = Life> {
    (
        (0..QUEUES.len(), 0..CHANNELS.len()),
        (0i64..120, 0i64..300_000, 1_000i64..1_200_000),
        (0u8..4, 1i64..=W),
        proptest::option::of(0u8..5),
    )
        .prop_map(
            |((queue, channel), (minute, wait_ms, handle_ms), (outcome, reopen), customer)| Life {
                queue,
                channel,
                start_ms: minute * 60_000,
                wait_ms,
                handle_ms,
                outcome,
                reopen_after_ms: reopen,
                customer,
            },
        )
}

fn id(i: usize) -> String {
    format!("i{i}")
}

/// When life `i` resolved first, if it did.
fn resolved_at(l: &Life) -> Option<Millis> {
    matches!(l.outcome, 1 | 2).then(|| T0 + l.start_ms + l.wait_ms + l.handle_ms)
}

fn events_of(lives: &[Life]) -> Vec<Event> {
    let mut out = Vec::new();
    let mut n = 0;
    let mut push = |out: &mut Vec<Event>, t: Millis, id: &str, event: InteractionEvent| {
        n += 1;
        out.push(Event {
            event_id: format!("ev-{n}"),
            occurred_at: t,
            tenant: None,
            kind: EventKind::Interaction {
                interaction_id: id.to_string(),
                event,
            },
        });
    };
    for (i, l) in lives.iter().enumerate() {
        let id = id(i);
        let start = T0 + l.start_ms;
        push(
            &mut out,
            start,
            &id,
            InteractionEvent::Queued {
                queue: QUEUES[l.queue].into(),
                channel: CHANNELS[l.channel],
                priority: 0,
                customer_ref: l.customer.map(|c| format!("cust-{c}")),
            },
        );
        let answer = start + l.wait_ms;
        let agent = || Some(format!("a{}", i % 3));
        match l.outcome {
            0 => push(&mut out, answer, &id, InteractionEvent::Abandoned),
            1 | 2 => {
                let agent_id = format!("a{}", i % 3);
                push(
                    &mut out,
                    answer,
                    &id,
                    InteractionEvent::Answered { agent_id },
                );
                let r = resolved_at(l).expect("resolved");
                push(
                    &mut out,
                    r,
                    &id,
                    InteractionEvent::Resolved { agent_id: agent() },
                );
                if l.outcome == 2 {
                    let again = r + l.reopen_after_ms;
                    push(&mut out, again, &id, InteractionEvent::Reopened);
                    let done = InteractionEvent::Resolved { agent_id: agent() };
                    push(&mut out, again + 60_000, &id, done);
                }
            }
            _ => {}
        }
    }
    out.sort_by_key(|e| e.occurred_at);
    out
}

fn cfg() -> EngineConfig {
    EngineConfig {
        repeat_window: W,
        ..EngineConfig::default()
    }
}

/// The figures this property is about, per queue × channel: offered,
/// resolved, reopened, repeat contacts and net first-contact resolutions
/// (candidates less retractions; how they split depends on the order the
/// facts meet in, the net does not), for all time and for the 24 h window.
type Figures = BTreeMap<(String, Channel), [u64; 10]>;

fn figures(view: &View) -> Figures {
    let snap = view.snapshot();
    snap.queues
        .iter()
        .map(|q| {
            let t = &q.total.counts;
            let d = &q.windows["24h"].counts;
            (
                (q.queue.clone(), q.channel),
                [
                    t.offered,
                    t.resolved,
                    t.reopened,
                    t.repeat_contacts,
                    t.fcr_candidates - t.fcr_retracted,
                    d.offered,
                    d.resolved,
                    d.reopened,
                    d.repeat_contacts,
                    d.fcr_candidates - d.fcr_retracted,
                ],
            )
        })
        .collect()
}

fn end_of(evs: &[Event]) -> Millis {
    evs.last().map_or(T0, |e| e.occurred_at) + 1
}

/// One engine over the whole log, deciding customers itself.
fn one_engine(evs: &[Event]) -> View {
    let mut e = Engine::new(cfg());
    let mut out = Vec::new();
    for ev in evs {
        e.apply(ev.clone(), &mut out);
    }
    e.flush(&mut out);
    e.advance(end_of(evs), &mut out);
    e.view()
}

/// A partition engine over its events, handing its customer facts out;
/// its view and its facts in the order stated.
fn partition(evs: &[Event], end: Millis) -> (View, Vec<CustomerFact>) {
    let mut e = Engine::new(cfg());
    e.route_customer_facts();
    let (mut out, mut facts) = (Vec::new(), Vec::new());
    for ev in evs {
        e.apply(ev.clone(), &mut out);
        e.drain_customer_facts(&mut facts);
    }
    e.flush(&mut out);
    e.advance(end, &mut out);
    e.drain_customer_facts(&mut facts);
    (e.view(), facts)
}

/// The brute-force count, from the lives alone (same tie rule as the
/// stage: contacts at the same millisecond in the order of their
/// interaction id's 64-bit xxh3).
fn oracle(lives: &[Life]) -> BTreeMap<(String, Channel), (u64, u64)> {
    let key = |i: usize| {
        (
            lives[i].start_ms,
            xxhash_rust::xxh3::xxh3_64(id(i).as_bytes()),
        )
    };
    let same = |i: usize, j: usize| {
        i != j && lives[i].customer.is_some() && lives[i].customer == lives[j].customer
    };
    let mut out: BTreeMap<(String, Channel), (u64, u64)> = BTreeMap::new();
    for (i, l) in lives.iter().enumerate() {
        let repeat = (0..lives.len())
            .any(|j| same(i, j) && key(j) < key(i) && l.start_ms - lives[j].start_ms <= W);
        let slot = out
            .entry((QUEUES[l.queue].to_string(), CHANNELS[l.channel]))
            .or_default();
        slot.0 += repeat as u64;
        let Some(r) = resolved_at(l) else { continue };
        let r = r - T0;
        let later_contact =
            (0..lives.len()).any(|j| same(i, j) && key(j) > key(i) && lives[j].start_ms <= r + W);
        let reopened_within = l.outcome == 2 && l.reopen_after_ms <= W;
        slot.1 += (!repeat && !later_contact && !reopened_within) as u64;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any assignment of interactions to 1–4 partitions, their facts keyed
    /// by customer into 1–3 stages and delivered in any order within a
    /// repeat window (the stage's slack; interactions here stay open less
    /// than 25 minutes, within the other half of its memory): the merged
    /// figures are one engine's, and repeats and FCR are the brute-force
    /// count's.
    #[test]
    fn n_partitions_and_a_customer_stage_give_one_engines_figures(
        lives in prop::collection::vec(life(), 1..50),
        partitions in 1usize..5,
        stages in 1u64..4,
        assign in prop::collection::vec(any::<u8>(), 50),
        order in prop::collection::vec(any::<u32>(), 300),
        idle_at in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let evs = events_of(&lives);
        let end = end_of(&evs);
        let whole = one_engine(&evs);

        let part_of = |ev: &Event| {
            let i: usize = ev.key()[1..].parse().expect("i<n>");
            assign[i] as usize % partitions
        };
        let mut merged: Option<View> = None;
        let mut facts = Vec::new();
        for p in 0..partitions {
            let mine: Vec<Event> = evs.iter().filter(|e| part_of(e) == p).cloned().collect();
            let (view, f) = partition(&mine, end);
            facts.extend(f);
            match &mut merged {
                Some(m) => m.merge(&view),
                None => merged = Some(view),
            }
        }
        // Any order among facts up to one repeat window apart (a partition
        // lagging up to that far behind the others): each fact is
        // delivered at its time plus a delay of up to W.
        let mut shuffled: Vec<(Millis, CustomerFact)> = facts
            .into_iter()
            .enumerate()
            .map(|(k, f)| (f.at + (order[k % order.len()] as i64 + k as i64) % (W + 1), f))
            .collect();
        shuffled.sort_by_key(|(k, _)| *k);
        let mut stage: Vec<Engine> = (0..stages).map(|_| Engine::new(cfg())).collect();
        // An idle stage partition follows the wall clock: here, at some
        // point of the delivery, a month past the log (a rebalance or a
        // lagging partition sends the rest after it). The facts after that
        // are late for its windows; the totals must not change.
        let idle_at = idle_at.map(|i| i.index(shuffled.len().max(1)));
        for (k, (_, f)) in shuffled.iter().enumerate() {
            if idle_at == Some(k) {
                for s in &mut stage {
                    s.advance(end + 60 * W, &mut Vec::new());
                }
            }
            stage[(f.customer % stages) as usize].apply_customer_fact(f);
        }
        let mut merged = merged.expect("one partition at least");
        for s in &mut stage {
            s.advance(end, &mut Vec::new());
            merged.merge(&s.view());
        }

        let (one, mut many) = (figures(&whole), figures(&merged));
        if idle_at.is_some() {
            // Windows read at the stages' clock hold none of it.
            let mut one = one.clone();
            for f in one.values_mut().chain(many.values_mut()) {
                f[5..].fill(0);
            }
            prop_assert_eq!(&one, &many);
        } else {
            prop_assert_eq!(&one, &many);
        }
        for (k, (repeats, fcr)) in oracle(&lives) {
            let f = one.get(&k).copied().unwrap_or_default();
            prop_assert_eq!((f[3], f[4]), (repeats, fcr), "{:?}", k);
        }
    }

    /// A fact delivered twice (at-least-once) changes nothing.
    #[test]
    fn a_fact_delivered_twice_counts_once(lives in prop::collection::vec(life(), 1..40)) {
        let evs = events_of(&lives);
        let end = end_of(&evs);
        let (view, facts) = partition(&evs, end);
        let run = |twice: bool| {
            let mut s = Engine::new(cfg());
            for f in &facts {
                s.apply_customer_fact(f);
                if twice {
                    s.apply_customer_fact(f);
                }
            }
            s.advance(end, &mut Vec::new());
            let mut v = view.clone();
            v.merge(&s.view());
            figures(&v)
        };
        prop_assert_eq!(run(false), run(true));
    }
}

/// The worked example of the module docs: a customer calls at 10:00
/// (resolved 10:05), calls again at 10:20 (a repeat: it voids the first
/// resolution) and a third time the next day (outside the window: first
/// contact, resolved). Each call on its own partition.
#[test]
fn a_repeat_on_another_partition_voids_the_first_resolution() {
    let mut s = Scenario::new();
    let h = 3600.0;
    s.queued_by(0.0, "c1", "billing", Channel::Voice, "cust-9")
        .answered(10.0, "c1", "ann")
        .resolved(300.0, "c1", "ann")
        .queued_by(1200.0, "c2", "billing", Channel::Voice, "cust-9")
        .answered(1210.0, "c2", "bob")
        .resolved(1500.0, "c2", "bob")
        .queued_by(24.0 * h, "c3", "billing", Channel::Voice, "cust-9")
        .answered(24.0 * h + 10.0, "c3", "ann")
        .resolved(24.0 * h + 300.0, "c3", "ann");
    let end = ms(25.0 * h);
    let cfg = EngineConfig {
        repeat_window: 3_600_000, // 1 h
        ..EngineConfig::default()
    };
    let mut views = Vec::new();
    let mut facts = Vec::new();
    for call in ["c1", "c2", "c3"] {
        let mut e = Engine::new(cfg.clone());
        e.route_customer_facts();
        let mut out = Vec::new();
        for ev in s.events.iter().filter(|e| e.key() == call) {
            e.apply(ev.clone(), &mut out);
        }
        e.flush(&mut out);
        e.advance(end, &mut out);
        e.drain_customer_facts(&mut facts);
        views.push(e.view());
    }
    // Three contacts and three resolutions, stated as facts.
    assert_eq!(facts.len(), 6);
    let mut stage = Engine::new(cfg);
    for f in facts.iter().rev() {
        stage.apply_customer_fact(f);
    }
    stage.advance(end, &mut Vec::new());
    let mut v = stage.view();
    for p in &views {
        v.merge(p);
    }
    let snap = v.snapshot();
    let c = &queue(&snap, "billing", Channel::Voice).total.counts;
    assert_eq!((c.offered, c.resolved, c.repeat_contacts), (3, 3, 1));
    // c1 voided by c2, c2 a repeat, c3 first contact: 1 of 3.
    assert_eq!(c.fcr_candidates - c.fcr_retracted, 1);
    let rate = queue(&snap, "billing", Channel::Voice).total.fcr_rate;
    approx(rate, 1.0 / 3.0);
}
