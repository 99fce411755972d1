//! Specification of the timer wheel (`ccpulse_core::sla::wheel`).

use ccpulse_core::event::Millis;
use ccpulse_core::sla::wheel::{TimerId, TimerWheel};
use proptest::prelude::*;

const SEC: Millis = 1_000;
const HOUR: Millis = 3_600 * SEC;
const DAY: Millis = 24 * HOUR;
const WEEK: Millis = 7 * DAY;

/// 2026-01-01T00:00:00Z.
const T0: Millis = 1_767_225_600_000;

/// Advances and returns what fired, as (deadline, payload).
fn advance<T>(wheel: &mut TimerWheel<T>, now: Millis) -> Vec<(Millis, T)> {
    let mut fired = Vec::new();
    wheel.advance(now, |_, deadline, payload| fired.push((deadline, payload)));
    fired
}

#[test]
fn a_timer_never_fires_before_its_deadline_and_fires_at_it() {
    let mut wheel = TimerWheel::new(T0);
    wheel.schedule(T0 + 1_000, "a");
    assert_eq!(advance(&mut wheel, T0 + 999), []);
    assert_eq!(wheel.len(), 1);
    assert_eq!(advance(&mut wheel, T0 + 1_000), [(T0 + 1_000, "a")]);
    assert!(wheel.is_empty());
}

#[test]
fn a_far_timer_never_fires_one_ms_early_either() {
    // 3 days ahead: scheduled on a high level, cascaded down on the way.
    let mut wheel = TimerWheel::new(T0);
    let deadline = T0 + 3 * DAY + 12_345;
    wheel.schedule(deadline, ());
    for now in [
        T0 + DAY,
        T0 + 3 * DAY,
        deadline - 64,
        deadline - 2,
        deadline - 1,
    ] {
        assert_eq!(advance(&mut wheel, now), [], "at {now}");
    }
    assert_eq!(advance(&mut wheel, deadline), [(deadline, ())]);
}

#[test]
fn a_timer_fires_exactly_once() {
    let mut wheel = TimerWheel::new(T0);
    let id = wheel.schedule(T0 + 10, 7);
    assert_eq!(advance(&mut wheel, T0 + 10), [(T0 + 10, 7)]);
    assert_eq!(advance(&mut wheel, T0 + 10), []);
    assert_eq!(advance(&mut wheel, T0 + WEEK), []);
    assert_eq!(wheel.cancel(id), None);
    assert!(!wheel.reschedule(id, T0 + WEEK + 1));
    assert!(!wheel.contains(id));
}

#[test]
fn advance_reports_the_id_and_exact_deadline() {
    let mut wheel = TimerWheel::new(T0);
    let id = wheel.schedule(T0 + 5 * HOUR + 17, 'x');
    let mut fired = Vec::new();
    wheel.advance(T0 + DAY, |id, deadline, payload| {
        fired.push((id, deadline, payload))
    });
    assert_eq!(fired, [(id, T0 + 5 * HOUR + 17, 'x')]);
}

#[test]
fn a_cancelled_timer_never_fires_and_its_id_stays_stale() {
    let mut wheel = TimerWheel::new(T0);
    let a = wheel.schedule(T0 + 100, "a");
    let b = wheel.schedule(T0 + 100, "b");
    assert_eq!(wheel.cancel(a), Some("a"));
    assert_eq!(wheel.cancel(a), None);
    assert_eq!(wheel.len(), 1);
    // The freed slot is reused by the next timer, but not the id.
    let c = wheel.schedule(T0 + 50, "c");
    assert_ne!(c, a);
    assert_eq!(wheel.cancel(a), None);
    assert!(wheel.contains(c));
    assert_eq!(
        advance(&mut wheel, T0 + 1_000),
        [(T0 + 50, "c"), (T0 + 100, "b")]
    );
    assert_eq!(wheel.cancel(b), None);
}

#[test]
fn reschedule_moves_a_timer_earlier_or_later() {
    let mut wheel = TimerWheel::new(T0);
    let early = wheel.schedule(T0 + DAY, "to-earlier");
    let late = wheel.schedule(T0 + 10, "to-later");
    assert!(wheel.reschedule(early, T0 + 5));
    assert!(wheel.reschedule(late, T0 + 2 * DAY));
    assert_eq!(wheel.deadline(early), Some(T0 + 5));
    assert_eq!(advance(&mut wheel, T0 + 5), [(T0 + 5, "to-earlier")]);
    assert_eq!(advance(&mut wheel, T0 + 2 * DAY - 1), []);
    assert_eq!(
        advance(&mut wheel, T0 + 2 * DAY),
        [(T0 + 2 * DAY, "to-later")]
    );
}

#[test]
fn a_rescheduled_timer_keeps_its_place_in_schedule_order() {
    let mut wheel = TimerWheel::new(T0);
    let first = wheel.schedule(T0 + 900, 1);
    wheel.schedule(T0 + 500, 2);
    assert!(wheel.reschedule(first, T0 + 500));
    assert_eq!(
        advance(&mut wheel, T0 + 500),
        [(T0 + 500, 1), (T0 + 500, 2)]
    );
}

#[test]
fn timers_fire_by_deadline_then_schedule_order() {
    let mut wheel = TimerWheel::new(T0);
    // Payload = expected firing position.
    wheel.schedule(T0 + 5_000, 2);
    wheel.schedule(T0 + 100, 0);
    wheel.schedule(T0 + 5_000, 3);
    wheel.schedule(T0 + 3 * WEEK, 5);
    wheel.schedule(T0 + 100, 1);
    wheel.schedule(T0 + 2 * DAY, 4);
    wheel.schedule(T0 + 3 * WEEK, 6);
    let fired: Vec<i32> = advance(&mut wheel, T0 + 4 * WEEK)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert_eq!(fired, [0, 1, 2, 3, 4, 5, 6]);
}

#[test]
fn schedule_order_wins_over_the_level_a_timer_sits_on() {
    let d = T0 + 10 * DAY + 777;
    let mut wheel = TimerWheel::new(T0);
    // Scheduled 10 days ahead: a high level.
    wheel.schedule(d, "scheduled first");
    // Just before the deadline both of these land on level 0 directly,
    // while the first one only gets there by cascading.
    assert_eq!(advance(&mut wheel, d - 3), []);
    wheel.schedule(d, "scheduled second");
    wheel.schedule(d - 1, "earlier deadline");
    assert_eq!(
        advance(&mut wheel, d),
        [
            (d - 1, "earlier deadline"),
            (d, "scheduled first"),
            (d, "scheduled second")
        ]
    );
}

#[test]
fn deadlines_already_past_fire_on_the_next_advance_first() {
    let mut wheel = TimerWheel::new(T0);
    assert_eq!(advance(&mut wheel, T0 + HOUR), []);
    wheel.schedule(T0 + HOUR + 1, "future");
    wheel.schedule(T0 + HOUR, "now");
    wheel.schedule(T0 - DAY, "yesterday");
    wheel.schedule(Millis::MIN, "dawn of time");
    assert_eq!(wheel.next_deadline(), Some(Millis::MIN));
    // Even an advance to the same time fires the ones already due.
    assert_eq!(
        advance(&mut wheel, T0 + HOUR),
        [
            (Millis::MIN, "dawn of time"),
            (T0 - DAY, "yesterday"),
            (T0 + HOUR, "now")
        ]
    );
    // A clock going backwards stays where it is.
    assert_eq!(advance(&mut wheel, T0), []);
    assert_eq!(wheel.now(), T0 + HOUR);
    assert_eq!(
        advance(&mut wheel, T0 + HOUR + 1),
        [(T0 + HOUR + 1, "future")]
    );
}

#[test]
fn a_jump_of_weeks_fires_everything_due_in_order() {
    let mut wheel = TimerWheel::new(T0);
    // One timer per hour for 3 weeks (13 ms past each hour), scheduled in a
    // scrambled order: k * 5 mod 504 visits every hour once, 5 and 504 being
    // coprime.
    let hours = 3 * 7 * 24; // 504
    for k in 0..hours {
        let h = (k * 5) % hours;
        wheel.schedule(T0 + h * HOUR + 13, h);
    }
    // Plus one timer beyond the jump.
    wheel.schedule(T0 + 5 * WEEK, -1);
    let fired = advance(&mut wheel, T0 + 4 * WEEK);
    let expected: Vec<(Millis, i64)> = (0..hours).map(|h| (T0 + h * HOUR + 13, h)).collect();
    assert_eq!(fired, expected);
    assert_eq!(wheel.len(), 1);
    assert_eq!(wheel.next_deadline(), Some(T0 + 5 * WEEK));
}

#[test]
fn extreme_deadlines_are_handled() {
    let mut wheel = TimerWheel::new(0);
    wheel.schedule(Millis::MAX, "end of time");
    wheel.schedule(1 << 50, "far");
    assert_eq!(advance(&mut wheel, Millis::MAX - 1), [(1 << 50, "far")]);
    assert_eq!(
        advance(&mut wheel, Millis::MAX),
        [(Millis::MAX, "end of time")]
    );
}

#[test]
fn next_deadline_is_exact() {
    let mut wheel = TimerWheel::new(T0);
    assert_eq!(wheel.next_deadline(), None);
    let a = wheel.schedule(T0 + 2 * DAY + 5, ());
    let b = wheel.schedule(T0 + 2 * DAY + 9, ());
    wheel.schedule(T0 + 2 * DAY + 70_000, ());
    assert_eq!(wheel.next_deadline(), Some(T0 + 2 * DAY + 5));
    wheel.cancel(a);
    assert_eq!(wheel.next_deadline(), Some(T0 + 2 * DAY + 9));
    wheel.reschedule(b, T0 + 3 * DAY);
    assert_eq!(wheel.next_deadline(), Some(T0 + 2 * DAY + 70_000));
    advance(&mut wheel, T0 + 2 * DAY);
    assert_eq!(wheel.next_deadline(), Some(T0 + 2 * DAY + 70_000));
    wheel.schedule(T0 + DAY, ());
    assert_eq!(wheel.next_deadline(), Some(T0 + DAY));
}

#[test]
fn ids_are_unique_and_ordered_by_schedule_order() {
    let mut wheel = TimerWheel::new(T0);
    let mut ids: Vec<TimerId> = Vec::new();
    for i in 0..100 {
        let id = wheel.schedule(T0 + (i % 7), i);
        if i % 3 == 0 {
            wheel.cancel(id);
        }
        ids.push(id);
    }
    advance(&mut wheel, T0 + 10);
    for i in 0..100 {
        ids.push(wheel.schedule(T0 + 20, i));
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

// ---------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------

fn round_trip(wheel: &TimerWheel<u32>) -> TimerWheel<u32> {
    let json = serde_json::to_string(wheel).expect("serializes");
    serde_json::from_str(&json).expect("deserializes")
}

#[test]
fn a_restored_wheel_behaves_identically() {
    let mut original = TimerWheel::new(T0);
    let mut ids = Vec::new();
    for i in 0..200u32 {
        let deadline = T0 + Millis::from(i % 17) * 37_001 + Millis::from(i) * 3 * HOUR;
        ids.push(original.schedule(deadline, i));
    }
    for id in ids.iter().step_by(5) {
        original.cancel(*id);
    }
    advance(&mut original, T0 + 2 * DAY);
    original.schedule(T0 - 1, 1_000); // already due

    let mut restored = round_trip(&original);
    assert_eq!(restored.len(), original.len());
    assert_eq!(restored.now(), original.now());
    assert_eq!(restored.next_deadline(), original.next_deadline());
    // Same ids for new timers (free slots reused in the same order).
    for i in 0..30 {
        let deadline = T0 + 3 * DAY + i * HOUR;
        assert_eq!(
            original.schedule(deadline, 2_000),
            restored.schedule(deadline, 2_000)
        );
    }
    // Old ids still work, and stale ones stay stale.
    assert_eq!(original.cancel(ids[199]), Some(199));
    assert_eq!(restored.cancel(ids[199]), Some(199));
    assert_eq!(original.cancel(ids[0]), None);
    assert_eq!(restored.cancel(ids[0]), None);
    let pending = original.len();
    let mut fired_a = Vec::new();
    let mut fired_b = Vec::new();
    original.advance(T0 + 100 * DAY, |id, d, p| fired_a.push((id, d, p)));
    restored.advance(T0 + 100 * DAY, |id, d, p| fired_b.push((id, d, p)));
    assert_eq!(fired_a.len(), pending);
    assert_eq!(fired_a, fired_b);
    // And the checkpoint of a checkpoint is the same bytes.
    assert_eq!(
        serde_json::to_string(&original).ok(),
        serde_json::to_string(&round_trip(&original)).ok()
    );
}

#[test]
fn a_corrupt_checkpoint_is_rejected() {
    let cases = [
        (
            r#"{"now":0,"next_seq":2,"timers":[{"seq":1,"deadline":5,"payload":1},{"seq":1,"deadline":6,"payload":2}],"free":[]}"#,
            "share a sequence number",
        ),
        (
            r#"{"now":0,"next_seq":1,"timers":[{"seq":1,"deadline":5,"payload":1}],"free":[]}"#,
            "not below next_seq",
        ),
        (
            r#"{"now":0,"next_seq":1,"timers":[{"seq":0,"deadline":5,"payload":1}],"free":[0]}"#,
            "not a free entry",
        ),
        (
            r#"{"now":0,"next_seq":1,"timers":[null,null],"free":[1,1]}"#,
            "not a free entry, or repeated",
        ),
        (
            r#"{"now":0,"next_seq":1,"timers":[null,null],"free":[9]}"#,
            "not a free entry",
        ),
        (
            r#"{"now":0,"next_seq":1,"timers":[null,null],"free":[0]}"#,
            "misses free entries",
        ),
    ];
    for (json, message) in cases {
        let err = serde_json::from_str::<TimerWheel<u32>>(json).expect_err(json);
        assert!(err.to_string().contains(message), "{json}: {err}");
    }
}

// ---------------------------------------------------------------------------
// Against a brute-force oracle
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Schedule(Millis),
    Cancel(usize),
    Reschedule(usize, Millis),
    Advance(Millis),
    Checkpoint,
}

/// Offsets from the current time: mostly near, some far, some in the past,
/// a few at the extremes of the `i64` range.
fn offset() -> impl Strategy<Value = Millis> {
    prop_oneof![
        4 => 0..200i64,
        3 => 0..10 * SEC,
        2 => 0..2 * DAY,
        1 => 0..60 * WEEK,
        1 => -DAY..0,
        1 => prop_oneof![Just(Millis::MIN), Just(Millis::MAX), Just(1i64 << 40), Just(1i64 << 62)],
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => offset().prop_map(Op::Schedule),
        2 => any::<usize>().prop_map(Op::Cancel),
        2 => (any::<usize>(), offset()).prop_map(|(i, o)| Op::Reschedule(i, o)),
        3 => prop_oneof![0..100i64, 0..5 * SEC, 0..3 * DAY, 0..20 * WEEK, -HOUR..0].prop_map(Op::Advance),
        1 => Just(Op::Checkpoint),
    ]
}

/// The obviously-correct model: a list of pending timers.
#[derive(Default)]
struct Oracle {
    /// (deadline, schedule order, payload, id)
    pending: Vec<(Millis, u64, u32, TimerId)>,
    next_seq: u64,
}

impl Oracle {
    fn advance(&mut self, now: Millis) -> Vec<(TimerId, Millis, u32)> {
        let (mut due, rest): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|t| t.0 <= now);
        self.pending = rest;
        due.sort_by_key(|&(deadline, seq, ..)| (deadline, seq));
        due.into_iter().map(|(d, _, p, id)| (id, d, p)).collect()
    }

    fn remove(&mut self, id: TimerId) -> Option<(Millis, u64, u32, TimerId)> {
        let i = self.pending.iter().position(|t| t.3 == id)?;
        Some(self.pending.swap_remove(i))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_wheel_fires_exactly_what_a_sorted_list_would(ops in prop::collection::vec(op(), 1..250)) {
        let mut wheel: TimerWheel<u32> = TimerWheel::new(T0);
        // The same calls without checkpoints: ids must match too.
        let mut twin: TimerWheel<u32> = TimerWheel::new(T0);
        let mut oracle = Oracle::default();
        let mut ids: Vec<TimerId> = Vec::new();
        let mut now = T0;
        let mut payload = 0u32;
        for op in ops {
            match op {
                Op::Schedule(offset) => {
                    let deadline = now.saturating_add(offset);
                    let id = wheel.schedule(deadline, payload);
                    prop_assert_eq!(twin.schedule(deadline, payload), id);
                    prop_assert!(!ids.contains(&id), "id reused");
                    oracle.pending.push((deadline, oracle.next_seq, payload, id));
                    oracle.next_seq += 1;
                    ids.push(id);
                    payload += 1;
                }
                Op::Cancel(i) if !ids.is_empty() => {
                    let id = ids[i % ids.len()];
                    let expected = oracle.remove(id).map(|t| t.2);
                    prop_assert_eq!(wheel.cancel(id), expected);
                    prop_assert_eq!(twin.cancel(id), expected);
                }
                Op::Reschedule(i, offset) if !ids.is_empty() => {
                    let id = ids[i % ids.len()];
                    let deadline = now.saturating_add(offset);
                    let expected = match oracle.remove(id) {
                        Some((_, seq, p, id)) => {
                            oracle.pending.push((deadline, seq, p, id));
                            true
                        }
                        None => false,
                    };
                    prop_assert_eq!(wheel.reschedule(id, deadline), expected);
                    prop_assert_eq!(twin.reschedule(id, deadline), expected);
                }
                Op::Advance(delta) => {
                    // The oracle's clock, like the wheel's, never goes back.
                    let target = now.saturating_add(delta);
                    now = now.max(target);
                    let expected = oracle.advance(now);
                    let mut fired = Vec::new();
                    wheel.advance(target, |id, d, p| fired.push((id, d, p)));
                    prop_assert_eq!(&fired, &expected);
                    let mut fired = Vec::new();
                    twin.advance(target, |id, d, p| fired.push((id, d, p)));
                    prop_assert_eq!(&fired, &expected);
                }
                Op::Checkpoint => wheel = round_trip(&wheel),
                Op::Cancel(_) | Op::Reschedule(..) => {}
            }
            prop_assert_eq!(wheel.len(), oracle.pending.len());
            prop_assert_eq!(wheel.next_deadline(), oracle.pending.iter().map(|t| t.0).min());
            prop_assert_eq!(twin.next_deadline(), wheel.next_deadline());
            prop_assert_eq!(wheel.now(), now);
        }
        // Finally everything left fires, in order.
        let expected = oracle.advance(Millis::MAX);
        let mut fired = Vec::new();
        wheel.advance(Millis::MAX, |id, d, p| fired.push((id, d, p)));
        prop_assert_eq!(fired, expected);
        prop_assert!(wheel.is_empty());
    }
}

/// Stepping to `next_deadline_bound` (what the engine does) fires every
/// timer in deadline order even after the earliest timers of a far slot
/// were cancelled, when the bound is below the true earliest deadline.
#[test]
fn stepping_to_the_bound_fires_in_deadline_order_after_the_earliest_are_cancelled() {
    let mut wheel = TimerWheel::new(T0);
    // Pairs with equal deadlines three days out, one of each cancelled:
    // the cancelled one was its slot's earliest.
    let mut expected = Vec::new();
    for i in 0..200 {
        let d = T0 + 3 * DAY + i * 7 * SEC;
        let cancelled = wheel.schedule(d, u32::MAX);
        wheel.schedule(d, i as u32);
        wheel.cancel(cancelled);
        expected.push((d, i as u32));
    }
    let bound = wheel.next_deadline_bound().expect("a bound");
    let exact = wheel.next_deadline().expect("a deadline");
    assert!(bound <= exact, "a lower bound: {bound} > {exact}");
    let until = T0 + 4 * DAY;
    let mut fired = Vec::new();
    while let Some(d) = wheel.next_deadline_bound().filter(|&d| d <= until) {
        fired.extend(advance(&mut wheel, d));
    }
    fired.extend(advance(&mut wheel, until));
    assert_eq!(fired, expected);
}
