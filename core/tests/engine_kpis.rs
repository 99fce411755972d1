//! One scenario per KPI family; every expected figure is worked out by hand
//! in the comments next to it.

use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::{Engine, Orphaned, OrphanedEvent};
use ccpulse_core::event::{AgentState, Channel::*, Direction, InteractionEvent, SurveyScore};
use ccpulse_core::testkit::*;

fn cfg() -> EngineConfig {
    EngineConfig::default() // SL T = 20 s, short abandon < 5 s, lateness 5 s
}

#[test]
fn service_level_variants_and_abandonment_follow_their_definitions() {
    let mut s = Scenario::new();
    for id in ["c1", "c2", "c3", "c4", "c5"] {
        s.queued(0.0, id, "billing", Voice);
    }
    s.abandoned(3.0, "c3") // short (3 < 5) and within T (3 <= 20)
        .answered(10.0, "c1", "a1") // within T
        .transferred_to_queue(15.0, "c5", "sales") // dequeued within T
        .answered(25.0, "c2", "a2") // not within T
        .abandoned(30.0, "c4"); // neither short nor within T
    let snap = s.run_until(cfg(), 60.0).1;
    let b = &queue(&snap, "billing", Voice).total;
    let c = &b.counts;
    assert_eq!(
        (
            c.offered,
            c.answered,
            c.answered_within_sl,
            c.abandoned,
            c.abandoned_within_sl,
            c.short_abandoned
        ),
        (5, 2, 1, 2, 1, 1)
    );
    assert_eq!(
        (c.dequeued_by_transfer, c.dequeued_by_transfer_within_sl),
        (1, 1)
    );
    approx(b.service_level.answered, 1.0 / 2.0);
    approx(
        b.service_level.answered_and_abandoned,
        (1.0 + 1.0) / (2.0 + 2.0),
    );
    approx(
        b.service_level.excluding_short_abandons,
        1.0 / (2.0 + 2.0 - 1.0),
    );
    approx(
        b.service_level.removed_from_queue,
        (1.0 + 1.0 + 1.0) / (2.0 + 2.0 + 1.0),
    );
    approx(b.abandon_rate, 2.0 / 5.0);
    approx(b.abandon_rate_excluding_short, (2.0 - 1.0) / (5.0 - 1.0));
    approx(b.asa_seconds, (10.0 + 25.0) / 2.0);
    approx(b.abandon_time.mean_seconds, (3.0 + 30.0) / 2.0);
    // All five waited at once at t=0; c1 and c2 are still in progress.
    assert_eq!(b.peak_concurrent, 5);
    assert_eq!(queue(&snap, "billing", Voice).now.concurrent, 2);
    // c5 waits in sales since t=15; the snapshot is at t=60.
    let sales = queue(&snap, "sales", Voice);
    assert_eq!(sales.now.waiting, 1);
    approx(sales.now.oldest_waiting_age_seconds, 45.0);
    assert_eq!(sales.total.counts.offered, 1);
}

#[test]
fn handle_time_is_talk_plus_hold_plus_wrap_up() {
    let mut s = Scenario::new();
    s.queued(-10.0, "c1", "billing", Voice)
        .answered(0.0, "c1", "a1")
        .ix(10.0, "c1", InteractionEvent::HoldStarted)
        .ix(40.0, "c1", InteractionEvent::HoldEnded)
        .ended(100.0, "c1")
        .wrapped(130.0, "c1");
    let mut c = cfg();
    c.queue_defaults.cost_per_agent_hour = 36.0;
    let snap = s.run(c);
    let t = &queue(&snap, "billing", Voice).total;
    // answer 0 .. wrap done 130 = 130 s: hold 30, wrap 30, talk 70.
    approx(t.aht_seconds, 130.0);
    approx(t.mean_hold_seconds, 30.0);
    approx(t.mean_wrap_up_seconds, 30.0);
    approx(t.mean_talk_seconds, 70.0);
    // 36 per hour x 130/3600 h per contact.
    approx(t.cost_per_contact, 36.0 * 130.0 / 3600.0);
    let a1 = snap.agents.iter().find(|a| a.agent == "a1").unwrap();
    approx(a1.total.as_ref().unwrap().aht_seconds, 130.0);
    // Handled but not resolved: no longer concurrent.
    assert_eq!(queue(&snap, "billing", Voice).now.concurrent, 0);
}

#[test]
fn first_response_exchanges_and_resolution_time_for_a_ticket() {
    let mut s = Scenario::new();
    s.queued(0.0, "t1", "support", Email)
        .answered(60.0, "t1", "a1")
        .message(600.0, "t1", Direction::Agent) // first response: 600 s; exchange 1
        .message(700.0, "t1", Direction::Customer)
        .message(900.0, "t1", Direction::Agent) // exchange 2
        .message(950.0, "t1", Direction::Customer) // unanswered: no exchange
        .resolved(1000.0, "t1", "a1");
    let snap = s.run(cfg());
    let t = &queue(&snap, "support", Email).total;
    approx(t.first_response.mean_seconds, 600.0);
    approx(t.exchanges_per_resolution, 2.0);
    approx(t.resolution_time.mean_seconds, 1000.0);
    // The open segment (answer 60 .. resolve 1000) closes as handled.
    approx(t.aht_seconds, 940.0);
    let a1 = snap.agents.iter().find(|a| a.agent == "a1").unwrap();
    assert_eq!(a1.total.as_ref().unwrap().counts.closures, 1);
}

#[test]
fn first_contact_resolution_is_voided_by_reopens_and_repeat_contacts() {
    const DAY: f64 = 86_400.0;
    let mut s = Scenario::new();
    // X: resolved, reopened, resolved again.
    s.queued_by(0.0, "A", "support", Voice, "X")
        .answered(10.0, "A", "a1")
        .resolved(100.0, "A", "a1")
        .ix(200.0, "A", InteractionEvent::Reopened)
        .resolved(300.0, "A", "a1");
    // Y: resolved, then contacts again two days later (a repeat).
    s.queued_by(0.0, "B", "support", Voice, "Y")
        .answered(10.0, "B", "a1")
        .resolved(100.0, "B", "a1")
        .queued_by(2.0 * DAY, "C", "support", Voice, "Y")
        .answered(2.0 * DAY + 10.0, "C", "a1")
        .resolved(2.0 * DAY + 100.0, "C", "a1");
    // Z: contacts again after eight days: outside the 7-day window.
    s.queued_by(0.0, "D", "support", Voice, "Z")
        .answered(10.0, "D", "a1")
        .resolved(100.0, "D", "a1")
        .queued_by(8.0 * DAY, "E", "support", Voice, "Z")
        .answered(8.0 * DAY + 10.0, "E", "a1")
        .resolved(8.0 * DAY + 100.0, "E", "a1");
    let snap = s.run(cfg());
    let t = &queue(&snap, "support", Voice).total;
    let c = &t.counts;
    // Resolutions: A twice, B, C, D, E = 6. Candidates: A(first), B, D, E = 4
    // (A's second follows a reopen, C is a repeat). Retracted: A, B.
    assert_eq!((c.resolved, c.fcr_candidates, c.fcr_retracted), (6, 4, 2));
    approx(t.fcr_rate, (4.0 - 2.0) / 6.0);
    approx(t.reopen_rate, 1.0 / 6.0);
    // Offered: A, B, C, D, E (a reopen is not a new offer); repeat: C.
    approx(t.repeat_contact_rate, 1.0 / 5.0);
}

#[test]
fn windows_count_only_the_slices_they_cover() {
    let mut s = Scenario::new();
    for (i, at) in [0.0, 100.0, 200.0, 400.0, 500.0].iter().enumerate() {
        s.queued(*at, &format!("c{i}"), "billing", Chat);
    }
    let snap = s.run_until(cfg(), 520.0).1;
    let q = queue(&snap, "billing", Chat);
    // 5m of 30 s slices read at 520 s: slices 8..=17 = [240 s, 540 s): 400, 500.
    assert_eq!(q.windows["5m"].counts.offered, 2);
    // 15m of 60 s slices at 520 s: slices -6..=8: all five.
    assert_eq!(q.windows["15m"].counts.offered, 5);
    assert_eq!(q.total.counts.offered, 5);
    assert_eq!(q.now.waiting, 5);
    approx(q.now.oldest_waiting_age_seconds, 520.0);
}

#[test]
fn occupancy_counts_busy_and_wrap_up_against_available_time() {
    let mut s = Scenario::new();
    s.agent(0.0, "a1", AgentState::Available, &["billing"])
        .agent(600.0, "a1", AgentState::Busy, &["billing"])
        .agent(900.0, "a1", AgentState::WrapUp, &["billing"])
        .agent(1000.0, "a1", AgentState::Available, &["billing"])
        .queued(1100.0, "c1", "billing", Voice);
    let snap = s.run_until(cfg(), 1200.0).1;
    let a1 = snap.agents.iter().find(|a| a.agent == "a1").unwrap();
    // Total at 1200: available 600 + 200 (open), busy 300, wrap-up 100.
    let tot = a1.total.as_ref().unwrap();
    assert_eq!(
        (
            tot.counts.available_ms,
            tot.counts.busy_ms,
            tot.counts.wrap_up_ms
        ),
        (800_000, 300_000, 100_000)
    );
    approx(tot.occupancy, 400.0 / 1200.0);
    // 5m window at 1200 covers [930, 1230): wrap-up 930..1000, available
    // 1000..1200 (open interval up to now).
    approx(a1.windows.as_ref().unwrap()["5m"].occupancy, 70.0 / 270.0);
    approx(snap.center.occupancy["total"], 400.0 / 1200.0);
    assert_eq!(queue(&snap, "billing", Voice).now.agents.available, 1);
    assert_eq!(snap.center.agents_by_state.available, 1);
}

#[test]
fn survey_scores_give_csat_nps_and_ces() {
    let mut s = Scenario::new();
    for (i, v) in [5, 4, 3, 1].iter().enumerate() {
        let agent = if i % 2 == 0 { Some("a1") } else { None };
        s.survey(i as f64, "c1", agent, "billing", SurveyScore::Csat(*v));
    }
    for (i, v) in [10, 9, 8, 6, 0].iter().enumerate() {
        s.survey(10.0 + i as f64, "c1", None, "billing", SurveyScore::Nps(*v));
    }
    s.survey(20.0, "c1", None, "billing", SurveyScore::Ces(2))
        .survey(21.0, "c1", None, "billing", SurveyScore::Ces(4));
    let snap = s.run(cfg());
    let t = &queue(&snap, "billing", Voice).total;
    approx(t.csat, 2.0 / 4.0); // 5 and 4 are satisfied
    approx(t.csat_mean, (5.0 + 4.0 + 3.0 + 1.0) / 4.0);
    approx(t.nps, 100.0 * (2.0 - 2.0) / 5.0); // promoters 10, 9; detractors 6, 0
    approx(t.ces_mean, 3.0);
    // a1 got the 5 and the 3.
    let a1 = snap.agents.iter().find(|a| a.agent == "a1").unwrap();
    approx(a1.total.as_ref().unwrap().csat, 0.5);
}

#[test]
fn volume_is_bucketed_by_local_time_of_the_configured_zone() {
    let mut s = Scenario::new();
    // T0 = Monday 2026-11-02 09:00 UTC = 10:00 in Berlin (CET, UTC+1).
    s.queued(0.0, "c1", "billing", Voice)
        .queued(3599.0, "c2", "billing", Voice) // 10:59:59
        .queued(3600.0, "c3", "billing", Voice); // 11:00
    let mut c = cfg();
    c.time_zone = chrono_tz::Europe::Berlin;
    let snap = s.run(c);
    let v = &queue(&snap, "billing", Voice).volume;
    assert_eq!((v.by_hour[10], v.by_hour[11]), (2, 1));
    assert_eq!(v.by_weekday[0], 3); // Monday
    assert_eq!(v.by_month[10], 3); // November
}

#[test]
fn duplicates_are_ignored_and_late_events_still_count() {
    let mut s = Scenario::new();
    s.queued(0.0, "c1", "billing", Voice)
        .queued(100.0, "c2", "billing", Voice);
    let dup = s.events[0].clone();
    s.events.push(dup);
    // 50 s is behind the watermark (100 - 5 s lateness) when it arrives.
    s.queued(50.0, "c3", "billing", Voice);
    let snap = s.run(cfg());
    assert_eq!(snap.processing.stats.duplicates, 1);
    assert_eq!(snap.processing.stats.late, 1);
    assert_eq!(queue(&snap, "billing", Voice).total.counts.offered, 3);
}

#[test]
fn arrival_order_within_the_allowed_lateness_does_not_matter() {
    let mut s = Scenario::new();
    s.queued(0.0, "c1", "billing", Voice)
        .answered(4.0, "c1", "a1")
        .abandoned(2.0, "c1"); // arrives last but happened first
    let mut ordered = s.clone();
    ordered.events.sort_by_key(|e| e.occurred_at);
    let a = serde_json::to_string(&s.run(cfg())).unwrap();
    let b = serde_json::to_string(&ordered.run(cfg())).unwrap();
    assert_eq!(a, b);
    let snap = s.run(cfg());
    let c = &queue(&snap, "billing", Voice).total.counts;
    // In event-time order the abandon (2 s) closes c1; the answer (4 s)
    // then finds no open interaction: parked, not applied.
    assert_eq!((c.abandoned, c.answered), (1, 0));
    assert_eq!(snap.processing.parked_events, 1);
    assert_eq!(snap.processing.stats.orphaned, 0);
    // Nothing creates c1 again within the 5 min parking TTL: once the
    // watermark is past 4 s + 300 s, the answer is orphaned for good.
    let snap = s.run_until(cfg(), 305.0).1;
    assert_eq!(snap.processing.parked_events, 0);
    let p = &snap.processing.stats;
    assert_eq!((p.orphaned, p.parked_expired, p.parked_overflow), (1, 1, 0));
}

#[test]
fn queues_beyond_the_cap_fold_into_other() {
    let mut s = Scenario::new();
    for (i, q) in ["a", "b", "c", "d"].iter().enumerate() {
        s.queued(i as f64, &format!("c{i}"), q, Voice);
    }
    let mut c = cfg();
    c.max_queues = 3;
    let snap = s.run(c);
    let names: Vec<&str> = snap.queues.iter().map(|q| q.queue.as_str()).collect();
    assert_eq!(names, vec!["a", "b", "other"]);
    assert_eq!(queue(&snap, "other", Voice).total.counts.offered, 2);
}

#[test]
fn required_agents_follow_erlang_c_for_the_window() {
    let mut s = Scenario::new();
    // 30 calls in the 5 minute window, each handled for 240 s.
    for i in 0..30 {
        let id = format!("c{i}");
        let at = i as f64 * 10.0;
        s.queued(at, &id, "billing", Voice)
            .answered(at, &id, "a1")
            .wrapped(at + 240.0, &id);
    }
    let snap = s.run_until(cfg(), 590.0).1;
    let w = &queue(&snap, "billing", Voice).windows["5m"];
    // The 5m window at 590 s is [300, 600): no arrivals there (0..290).
    // The 15m window [-300, 600) has all 30: 30/900 per s x 240 s = 8 Erlangs.
    assert_eq!(w.counts.offered, 0);
    let w15 = &queue(&snap, "billing", Voice).windows["15m"];
    assert_eq!(w15.counts.offered, 30);
    // Closed form with factorials (by hand in Python): 8 Erlangs, AHT 240 s,
    // T 20 s: 10 agents give SL 65.4 %, 11 give 80.9 %; target 80 % -> 11.
    assert_eq!(w15.required_agents, Some(11));
}

#[test]
fn a_reopen_and_the_message_that_caused_it_in_one_millisecond_both_apply() {
    let mut s = Scenario::new();
    s.queued(0.0, "t1", "support", Email)
        .answered(10.0, "t1", "a1")
        .resolved(100.0, "t1", "a1")
        // Same millisecond; the message is written (and arrives) first.
        .message(200.0, "t1", Direction::Customer)
        .ix(200.0, "t1", InteractionEvent::Reopened);
    let snap = s.run(cfg());
    assert_eq!(snap.processing.stats.orphaned, 0);
    assert_eq!(queue(&snap, "support", Email).total.counts.reopened, 1);
    assert_eq!(snap.processing.open_interactions, 1);
}

#[test]
fn the_sample_tap_sees_each_duration_once_and_only_while_on() {
    use ccpulse_core::engine::HistKind;
    use ccpulse_core::engine::{Engine, SampleKind};
    let mut s = Scenario::new();
    s.queued(0.0, "c1", "billing", Voice)
        .answered(12.0, "c1", "a1")
        .wrapped(100.0, "c1")
        .queued(200.0, "c2", "billing", Voice)
        .answered(203.0, "c2", "a1");
    let mut e = Engine::new(cfg());
    let mut out = Vec::new();
    // Off during c1 (as during a restore), on for c2.
    for ev in &s.events[..3] {
        e.apply(ev.clone(), &mut out);
    }
    e.advance(ms(150.0), &mut out);
    e.set_sample_tap(true);
    for ev in &s.events[3..] {
        e.apply(ev.clone(), &mut out);
    }
    e.flush(&mut out);
    let samples = e.take_samples();
    let got: Vec<(SampleKind, &str, i64)> = samples
        .iter()
        .flat_map(|x| x.ms.iter().map(|&ms| (x.kind, x.label.as_str(), ms)))
        .collect();
    assert_eq!(
        got,
        vec![(SampleKind::Queue(HistKind::QueueWait), "billing", 3_000)]
    );
    // A recycled buffer comes back with only what was taken since.
    e.recycle_samples(samples);
    assert!(e.take_samples().is_empty());
    let mut more = Scenario::new();
    more.queued(300.0, "c3", "billing", Voice)
        .answered(307.0, "c3", "a1");
    for ev in &more.events {
        e.apply(ev.clone(), &mut out);
    }
    e.flush(&mut out);
    let again: Vec<(SampleKind, i64)> = e
        .take_samples()
        .iter()
        .flat_map(|x| x.ms.iter().map(|&ms| (x.kind, ms)))
        .collect();
    assert_eq!(again, vec![(SampleKind::Queue(HistKind::QueueWait), 7_000)]);
}

#[test]
fn a_late_event_beyond_a_window_is_counted_once_and_fcr_retractions_apart() {
    const DAY: f64 = 86_400.0;
    let mut s = Scenario::new();
    s.queued(0.0, "c1", "billing", Voice)
        .queued(1000.0, "c2", "billing", Voice)
        .queued(1010.0, "c4", "billing", Voice) // applies c2 (watermark 1005 s)
        // Late and older than the 5m ring holds (ten 30 s slices back from
        // slice 33 at 1000 s: slices 24..=33):
        // one late event beyond a window, though it records twice (offered
        // and the repeat-contact count).
        .queued(100.0, "c3", "billing", Voice);
    // Y resolves at 2000 s and contacts again two days later: the repeat
    // retracts the FCR candidate at its resolution time, which no tier of
    // support holds any more (D, a day later, moved its 24h ring, the
    // longest, past it). Nothing is late.
    s.queued_by(1990.0, "B", "support", Voice, "Y")
        .answered(1995.0, "B", "a1")
        .resolved(2000.0, "B", "a1")
        .queued(DAY, "D", "support", Voice)
        .queued_by(2.0 * DAY, "C", "support", Voice, "Y");
    let snap = s.run(cfg());
    let p = &snap.processing.stats;
    assert_eq!((p.late, p.late_beyond_window), (1, 1));
    assert_eq!(p.fcr_retractions_beyond_window, 1);
    let t = &queue(&snap, "support", Voice).total.counts;
    assert_eq!((t.fcr_candidates, t.fcr_retracted), (1, 1));
    // The 24h window read two days on holds C only: no candidate, no
    // retraction there.
    let w = &queue(&snap, "support", Voice).windows["24h"].counts;
    assert_eq!((w.offered, w.fcr_candidates, w.fcr_retracted), (1, 0, 0));
}

#[test]
fn every_mean_comes_with_its_raw_sum() {
    let mut s = Scenario::new();
    s.queued(0.0, "c1", "billing", Voice)
        .queued(0.0, "c2", "billing", Voice)
        .answered(12.0, "c1", "a1") // waited 12 s
        .answered(20.0, "c2", "a2") // waited 20 s
        .ended(50.0, "c1")
        .wrapped(60.0, "c1"); // handled 12..60 = 48 s
    let snap = s.run(cfg());
    let t = &queue(&snap, "billing", Voice).total;
    assert_eq!((t.queue_wait.count, t.queue_wait.sum_ms), (2, 32_000));
    approx(t.asa_seconds, 32.0 / 2.0);
    assert_eq!((t.handle_time.count, t.handle_time.sum_ms), (1, 48_000));
    assert_eq!(t.counts.handle_ms, 48_000);
    // Quantiles stay within the samples: both waits lie in the (10 s,
    // 15 s] and (15 s, 20 s] buckets, and p99 interpolates to at most
    // 20 s, the largest wait; the one handle time of 48 s (bucket (45 s,
    // 60 s]) is every quantile of its distribution.
    let w = &queue(&snap, "billing", Voice).windows["5m"];
    assert!(w.queue_wait.quantiles.p99_seconds.unwrap() <= 20.0);
    assert_eq!(w.handle_time.quantiles.p50_seconds, Some(48.0));
    assert_eq!(w.handle_time.quantiles.p99_seconds, Some(48.0));
    assert_eq!(t.handle_time.quantiles.p99_seconds, Some(48.0));
}

/// After-call work after a transfer counts for the agent who did it (as
/// Genesys and Amazon Connect count ACW on transferred contacts): their
/// segment ends with their wrap-up done, not at the transfer.
#[test]
fn after_call_work_after_a_transfer_counts_for_the_transferring_agent() {
    let wrapped_by = |agent: &str| InteractionEvent::WrapUpDone {
        agent_id: Some(agent.into()),
    };
    let mut s = Scenario::new();
    // A call: ann talks from 10 s, holds 30..40 s, transfers to sales at
    // 70 s (her leg ends with it), wraps up until 100 s. Bob answers in
    // sales at 80 s, ends at 200 s, wraps up until 215 s.
    s.queued(0.0, "c1", "billing", Voice)
        .answered(10.0, "c1", "ann")
        .ix(30.0, "c1", InteractionEvent::HoldStarted)
        .ix(40.0, "c1", InteractionEvent::HoldEnded)
        .transferred_to_queue(70.0, "c1", "sales")
        .ended(70.0, "c1")
        .answered(80.0, "c1", "bob")
        .ix(100.0, "c1", wrapped_by("ann"))
        .ended(200.0, "c1")
        .ix(215.0, "c1", wrapped_by("bob"));
    // A chat: ann from 5 s, ends her part at 20 s, transfers to sales at
    // 30 s; her unnamed wrap-up done at 45 s comes while the chat waits in
    // sales (nobody else has a segment), so it is hers.
    s.queued(0.0, "c2", "billing", Chat)
        .answered(5.0, "c2", "ann")
        .ended(20.0, "c2")
        .transferred_to_queue(30.0, "c2", "sales")
        .wrapped(45.0, "c2");
    // A ticket: ann from 0 s, transfers it to sales at 100 s and answers
    // it again there herself at 110 s; her wrap-up done at 150 s closes the
    // segment she is in now (110..150 = 40 s), and with it her first one,
    // without after-call work (0..100 = 100 s); cal takes it over at 200 s
    // and ends and wraps up at 260 s and 270 s. None of it is ignored.
    s.queued(0.0, "t1", "billing", Email)
        .answered(0.0, "t1", "ann")
        .transferred_to_queue(100.0, "t1", "sales")
        .answered(110.0, "t1", "ann")
        .ix(150.0, "t1", wrapped_by("ann"))
        .answered(200.0, "t1", "cal")
        .ended(260.0, "t1")
        .ix(270.0, "t1", wrapped_by("cal"));
    let snap = s.run(cfg());
    assert_eq!(snap.processing.stats.ignored_transitions, 0);
    let be = &queue(&snap, "billing", Email).total.counts;
    assert_eq!((be.handled, be.handle_ms, be.wrap_up_ms), (1, 100_000, 0));
    // Sales: ann 110..150 = 40 s, then cal 200..270 = 70 s (10 s wrap-up).
    let se = &queue(&snap, "sales", Email).total.counts;
    assert_eq!(
        (se.handled, se.handle_ms, se.wrap_up_ms),
        (2, 110_000, 10_000)
    );

    // c1, ann in billing: handle 10..100 = 90 s; hold 40 - 30 = 10 s;
    // wrap-up 70..100 = 30 s; talk 90 - 10 - 30 = 50 s.
    let bv = &queue(&snap, "billing", Voice).total.counts;
    assert_eq!(
        (
            bv.handled,
            bv.handle_ms,
            bv.talk_ms,
            bv.hold_ms,
            bv.wrap_up_ms
        ),
        (1, 90_000, 50_000, 10_000, 30_000)
    );
    // c1, bob in sales: handle 80..215 = 135 s; talk 80..200 = 120 s;
    // wrap-up 200..215 = 15 s.
    let sv = &queue(&snap, "sales", Voice).total.counts;
    assert_eq!(
        (
            sv.handled,
            sv.handle_ms,
            sv.talk_ms,
            sv.hold_ms,
            sv.wrap_up_ms
        ),
        (1, 135_000, 120_000, 0, 15_000)
    );
    // c2, ann in billing chat: handle 5..45 = 40 s; talk 5..20 = 15 s;
    // wrap-up 20..45 = 25 s (from the end of her part, before the transfer).
    let bc = &queue(&snap, "billing", Chat).total.counts;
    assert_eq!(
        (bc.handled, bc.handle_ms, bc.talk_ms, bc.wrap_up_ms),
        (1, 40_000, 15_000, 25_000)
    );
    // Ann: 90 + 40 (c1, c2) + 100 + 40 (t1) = 270 s in four segments;
    // bob: 135 s; cal: 70 s.
    let agent = |id: &str| {
        let a = snap.agents.iter().find(|a| a.agent == id).unwrap();
        let c = &a.total.as_ref().unwrap().counts;
        (c.handled, c.handle_ms)
    };
    assert_eq!(agent("ann"), (4, 270_000));
    assert_eq!(agent("bob"), (1, 135_000));
    assert_eq!(agent("cal"), (1, 70_000));
}

/// If the interaction moves on (here: is resolved) before the transferring
/// agent's wrap-up done, their segment closes then, without after-call
/// work: none was seen, and none is invented.
#[test]
fn a_transferred_away_segment_without_wrap_up_closes_without_after_call_work() {
    let mut s = Scenario::new();
    // Ann 0..20 s, transfers straight to bob at 20 s, who resolves at 50 s.
    s.queued(0.0, "t1", "support", Email)
        .answered(0.0, "t1", "ann")
        .ix(
            20.0,
            "t1",
            InteractionEvent::Transferred {
                to_queue: None,
                to_agent: Some("bob".into()),
            },
        )
        .answered(25.0, "t1", "bob")
        .resolved(50.0, "t1", "bob");
    let snap = s.run(cfg());
    let c = &queue(&snap, "support", Email).total.counts;
    // Ann: 0..20 = 20 s of talk, no wrap-up; bob: 25..50 = 25 s.
    assert_eq!(
        (c.handled, c.handle_ms, c.talk_ms, c.wrap_up_ms),
        (2, 45_000, 20_000 + 25_000, 0)
    );
    assert_eq!(snap.processing.stats.ignored_transitions, 0);
}

/// An event whose interaction is not known yet waits for it, and applies
/// in canonical order once it appears: the figures are those of the
/// ordered stream.
#[test]
fn events_before_their_interaction_wait_for_it_and_then_apply_in_order() {
    let mut s = Scenario::new();
    // c1's answer, end and wrap-up arrive first; its queueing at 0 s
    // arrives 60 s later (long after the 5 s lateness: late), after c2's
    // events moved the watermark to 55 s.
    s.answered(10.0, "c1", "a1")
        .wrapped(40.0, "c1")
        .ended(30.0, "c1")
        .queued(50.0, "c2", "billing", Voice)
        .queued(60.0, "c3", "billing", Voice)
        .queued(0.0, "c1", "billing", Voice);
    let (e, snap) = s.run_until(cfg(), 70.0);
    let p = &snap.processing.stats;
    // Late: the end (30 s, behind the wrap-up's watermark of 35 s) and
    // the queueing.
    assert_eq!((p.late, p.orphaned, p.ignored_transitions), (2, 0, 0));
    assert_eq!(snap.processing.parked_events, 0);
    assert_eq!(e.parked(), 0);
    let c = &queue(&snap, "billing", Voice).total.counts;
    // c1: waited 10 s (within the 20 s SL), handled 10..40 = 30 s (talk
    // 20 s, wrap-up 10 s); c2, c3 offered and waiting.
    assert_eq!(
        (c.offered, c.answered, c.answered_within_sl, c.handled),
        (3, 1, 1, 1)
    );
    assert_eq!(
        (c.handle_ms, c.talk_ms, c.wrap_up_ms),
        (30_000, 20_000, 10_000)
    );

    // While c1's queueing has not arrived, its three events are parked.
    let mut early = s.clone();
    early.events.pop();
    let snap = early.run_until(cfg(), 70.0).1;
    assert_eq!(snap.processing.parked_events, 3);
    assert_eq!(snap.processing.stats.orphaned, 0);
}

/// A reopen that arrives before the life it reopens waits for it: the
/// interaction's history arrives late, its creation last, and everything
/// applies in canonical order once it is created.
#[test]
fn a_reopen_before_its_resolution_waits_for_it() {
    let mut s = Scenario::new();
    s.ix(200.0, "t1", InteractionEvent::Reopened)
        .message(201.0, "t1", Direction::Customer)
        .queued(260.0, "t9", "support", Email) // watermark 255 s
        .resolved(100.0, "t1", "a1") // late, like the two below
        .answered(10.0, "t1", "a1")
        .queued(0.0, "t1", "support", Email);
    let snap = s.run(cfg());
    let c = &queue(&snap, "support", Email).total.counts;
    // Resolved at 100 s, then reopened at 200 s: one resolution, not a
    // first-contact one any more (retracted), one reopen; t1 open again.
    assert_eq!(
        (c.resolved, c.fcr_candidates, c.fcr_retracted, c.reopened),
        (1, 1, 1, 1)
    );
    let p = &snap.processing;
    assert_eq!((p.stats.orphaned, p.parked_events), (0, 0));
    assert_eq!(p.open_interactions, 2); // t1 again, t9
}

/// The parking area is bounded: past `limits.max_parked_events`, an event
/// for an unknown interaction is orphaned at once (overflow); a parked one
/// that waits longer than `engine.parking_ttl` past the watermark expires.
#[test]
fn parking_is_bounded_by_count_and_by_event_time() {
    let toml = "[engine]\nparking_ttl = \"1m\"\n[limits]\nmax_parked_events = 2\n";
    let mut s = Scenario::new();
    s.answered(0.0, "x1", "a1")
        .answered(1.0, "x2", "a1")
        .answered(2.0, "x3", "a1") // the third: overflow
        .queued(30.0, "c1", "billing", Voice);
    let (snap, _) = run_toml(&s, toml, 30.0);
    let p = &snap.processing;
    assert_eq!((p.parked_events, p.stats.parked_overflow), (2, 1));
    assert_eq!(p.stats.orphaned, 1);
    // At a watermark of 61 s, x1 (0 s) is more than 60 s old; x2 (1 s) is
    // exactly 60 s old and still waits.
    let (snap, _) = run_toml(&s, toml, 61.0);
    let p = &snap.processing;
    assert_eq!((p.parked_events, p.stats.parked_expired), (1, 1));
    assert_eq!(p.stats.orphaned, 2);
}

/// When the shell collects them, each orphaned event is handed out with
/// its reason, once: the overflowing one at once, the expired one when
/// the watermark passes its TTL (same scenario as above).
#[test]
fn orphaned_events_are_handed_out_with_their_reason_for_the_dead_letter_topic() {
    let toml = "[engine]\nparking_ttl = \"1m\"\n[limits]\nmax_parked_events = 2\n";
    let mut s = Scenario::new();
    s.answered(0.0, "x1", "a1")
        .answered(1.0, "x2", "a1")
        .answered(2.0, "x3", "a1") // the third: overflow
        .queued(30.0, "c1", "billing", Voice);
    let mut e = Engine::new(engine_config_from_toml(toml));
    e.collect_orphans();
    let (mut out, mut orphans) = (Vec::new(), Vec::new());
    for ev in &s.events {
        e.apply(ev.clone(), &mut out);
    }
    e.drain_orphans(&mut orphans);
    // x3 could not park; x1 and x2 wait (watermark 25 s).
    let got = |o: &[OrphanedEvent]| -> Vec<(String, Orphaned)> {
        o.iter()
            .map(|o| (o.event.key().to_string(), o.reason))
            .collect()
    };
    assert_eq!(got(&orphans), [("x3".to_string(), Orphaned::Overflow)]);
    orphans.clear();
    // At 61 s x1 (0 s) expires; x2 (exactly 60 s old) still waits.
    e.advance(ms(61.0), &mut out);
    e.drain_orphans(&mut orphans);
    assert_eq!(got(&orphans), [("x1".to_string(), Orphaned::Expired)]);
    assert_eq!(orphans[0].event, s.events[0]);
    orphans.clear();
    e.advance(ms(61.0), &mut out);
    e.drain_orphans(&mut orphans);
    assert!(orphans.is_empty(), "each is handed out once");
    // Not collected: nothing is kept for it.
    let mut quiet = Engine::new(engine_config_from_toml(toml));
    for ev in &s.events {
        quiet.apply(ev.clone(), &mut out);
    }
    quiet.advance(ms(61.0), &mut out);
    quiet.drain_orphans(&mut orphans);
    assert!(orphans.is_empty());
    assert_eq!(quiet.processing().orphaned, 2);
}

/// A redelivered copy of a parked event, once the dedup horizon (2 min)
/// forgot its id, is still a duplicate: the parked copy applies once.
#[test]
fn a_redelivered_parked_event_applies_once() {
    let mut s = Scenario::new();
    s.answered(0.0, "c1", "a1") // parks: c1 is not known yet
        .queued(200.0, "c2", "billing", Voice); // watermark 195 s
    let copy = s.events[0].clone();
    s.events.push(copy); // late, and older than the dedup horizon
    s.queued(-10.0, "c1", "billing", Voice); // late: creates c1
    let snap = s.run(cfg());
    let p = &snap.processing.stats;
    assert_eq!((p.duplicates, p.orphaned), (1, 0));
    let c = &queue(&snap, "billing", Voice).total.counts;
    // c1 waited 10 s and was answered once.
    assert_eq!((c.offered, c.answered), (2, 1));
    approx(queue(&snap, "billing", Voice).total.asa_seconds, 10.0);
}

#[test]
fn tenants_with_the_same_ids_are_folded_apart_under_their_own_settings() {
    // acme's calls wait up to 45 s within its service level and get a
    // minute to first response; everyone else (the default tenant, events
    // naming no tenant) 20 s and 30 s.
    let toml = r#"
        [[sla.policies]]
        name = "everyone"
        first_response = "30s"
        [tenants.acme.queue_defaults]
        service_level_threshold = "45s"
        [[tenants.acme.sla.policies]]
        name = "acme"
        first_response = "1m"
    "#;
    // The same call in both tenants, same event and interaction ids: c1
    // waits 40 s in billing and is answered by a1.
    let mut call = Scenario::new();
    call.queued(0.0, "c1", "billing", Voice)
        .answered(40.0, "c1", "a1");
    let s = call.of_tenant("acme").and(&call);
    let (snap, fx) = run_toml(&s, toml, 100.0);

    assert_eq!(snap.tenants, ["acme", "default"]);
    let acme = &tenant_queue(&snap, "acme", "billing", Voice).total.counts;
    let plain = &tenant_queue(&snap, "default", "billing", Voice)
        .total
        .counts;
    // Neither event is a duplicate of the other tenant's: each offered 1,
    // answered 1.
    assert_eq!((acme.offered, acme.answered), (1, 1));
    assert_eq!((plain.offered, plain.answered), (1, 1));
    assert_eq!(snap.processing.stats.duplicates, 0);
    // 40 s <= 45 s: within acme's service level; > 20 s: not by default.
    assert_eq!((acme.answered_within_sl, plain.answered_within_sl), (1, 0));
    // acme's first response (1 min) is met at 40 s; the default tenant's
    // (30 s) breaches at 30 s: the only breach (and its reassignment of
    // the waiting call, also the default tenant's).
    let b = breaches(&fx);
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].policy.as_str(), b[0].deadline),
        ("everyone", ms(30.0))
    );
    assert!(fx.iter().all(|f| f.key() == "c1"));
    assert_eq!(fx.len(), 2, "{fx:?}");
    // The default tenant's effects name no tenant (as before tenants).
    assert_eq!(b[0].tenant, None);
    let rows: Vec<(&str, &str)> = snap
        .sla
        .iter()
        .map(|r| (r.tenant.as_str(), r.policy.as_str()))
        .collect();
    assert_eq!(rows, [("acme", "acme"), ("default", "everyone")]);
}

#[test]
fn effects_name_their_tenant_and_their_ids_differ_between_tenants() {
    let toml = "[[sla.policies]]\nname = \"p\"\nfirst_response = \"30s\"\n";
    let mut call = Scenario::new();
    call.queued(0.0, "c1", "billing", Voice);
    let s = call.of_tenant("acme").and(&call.of_tenant("globex"));
    let (_, fx) = run_toml(&s, toml, 100.0);
    let b = breaches(&fx);
    let tenants: Vec<Option<&str>> = b.iter().map(|x| x.tenant.as_deref()).collect();
    assert_eq!(tenants, [Some("acme"), Some("globex")]);
    // The same interaction, target and deadline in two tenants: two
    // decisions, two ids.
    assert_ne!(b[0].effect_id, b[1].effect_id);
}

#[test]
fn tenants_past_the_cap_share_the_tenant_other() {
    let mut call = Scenario::new();
    call.queued(0.0, "c1", "billing", Voice);
    let s = call
        .of_tenant("t1")
        .and(&call.of_tenant("t2"))
        .and(&call.of_tenant("t3"))
        .and(&call);
    let (snap, _) = run_toml(&s, "[limits]\nmax_tenants = 3", 10.0);
    // t1 and t2 fill the cap (3 with `other`); t3 folds into `other`; the
    // default tenant always has its own.
    assert_eq!(snap.tenants, ["default", "other", "t1", "t2"]);
    assert_eq!(
        tenant_queue(&snap, "other", "billing", Voice)
            .total
            .counts
            .offered,
        1
    );
}

#[test]
fn a_tenant_first_seen_after_the_partition_time_moved_on_starts_there() {
    use ccpulse_core::engine::Engine;
    let mut e = Engine::new(cfg());
    let mut out = Vec::new();
    let mut early = Scenario::new();
    early.queued(0.0, "c1", "billing", Voice);
    let mut late = Scenario::new();
    late.queued(10.0, "c2", "billing", Voice);
    for ev in early.of_tenant("acme").events {
        e.apply(ev, &mut out);
    }
    // The shell moves the partition's time to 60 s (an idle tick).
    e.advance(ms(60.0), &mut out);
    // globex's first event, at 10 s, is behind that time: late, applied
    // at once, like any event behind its fold's watermark.
    for ev in late.of_tenant("globex").events {
        e.apply(ev, &mut out);
    }
    let snap = e.snapshot();
    assert_eq!(snap.processing.stats.late, 1);
    let g = tenant_queue(&snap, "globex", "billing", Voice);
    assert_eq!((g.total.counts.offered, g.now.waiting), (1, 1));
    assert_eq!(e.watermark(), ms(60.0));
}
