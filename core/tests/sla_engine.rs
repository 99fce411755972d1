//! SLA scenarios with deadlines computed by hand (UTC instants in the
//! comments were worked out independently with Python's zoneinfo).
//! `T0` = Monday 2026-11-02 09:00 UTC = 10:00 in Berlin (CET).

use ccpulse_core::event::{
    AgentState, Channel::*, Direction, InteractionEvent, Reassignment, SlaTarget,
};
use ccpulse_core::testkit::*;

const OFFICE: &str = r#"
[sla.calendars.office]
time_zone = "Europe/Berlin"
hours = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }
"#;

fn policy(extra: &str) -> String {
    format!("{OFFICE}\n[[sla.policies]]\nname = \"p\"\n{extra}\n")
}

#[test]
fn resolving_one_millisecond_before_the_deadline_is_no_breach_and_one_after_is() {
    let mut s = Scenario::new();
    s.queued(0.0, "early", "billing", Email)
        .resolved(3599.999, "early", "a1")
        .queued(0.0, "exact", "billing", Email)
        .resolved(3600.0, "exact", "a1")
        .queued(0.0, "late", "billing", Email)
        .resolved(3600.001, "late", "a1");
    let (snap, fx) = run_toml(&s, &policy("resolution = \"1h\""), 4000.0);
    let b = breaches(&fx);
    assert_eq!(b.len(), 1, "{fx:?}");
    assert_eq!(b[0].interaction_id, "late");
    assert_eq!(b[0].target, SlaTarget::Resolution);
    assert_eq!(b[0].deadline, ms(3600.0));
    // Resolution breaches are reported, not reassigned (default reassign_on).
    assert!(reassignments(&fx).is_empty());
    let c = &queue(&snap, "billing", Email).total.counts;
    assert_eq!((c.sla_met, c.sla_breaches), (2, 1));
}

#[test]
fn business_time_skips_the_weekend() {
    // Queued Friday 16:00 Berlin (T0 + 367200 s); 2 business hours: one on
    // Friday, one from Monday 09:00 -> Monday 10:00 = T0 + 604800 s.
    let mut s = Scenario::new();
    s.queued(367_200.0, "c1", "billing", Voice);
    let (_, fx) = run_toml(
        &s,
        &policy("first_response = \"2h\"\ncalendar = \"office\""),
        700_000.0,
    );
    assert_eq!(breaches(&fx)[0].deadline, ms(604_800.0));
}

#[test]
fn business_time_skips_a_holiday() {
    // As above with Monday 2026-11-09 a holiday: Tuesday 10:00 = T0 + 691200 s.
    let cfg = policy("first_response = \"2h\"\ncalendar = \"office\"").replace(
        "[sla.calendars.office]",
        "[sla.calendars.office]\nholidays = [\"2026-11-09\"]",
    );
    let mut s = Scenario::new();
    s.queued(367_200.0, "c1", "billing", Voice);
    let (_, fx) = run_toml(&s, &cfg, 800_000.0);
    assert_eq!(breaches(&fx)[0].deadline, ms(691_200.0));
}

#[test]
fn a_lunch_break_in_a_split_shift_does_not_count() {
    // Mon 09-12 and 13-17. Queued 11:30 (T0 + 5400 s), 1 h: 30 min before
    // lunch, 30 min after -> 13:30 = T0 + 12600 s.
    let cfg = "[sla.calendars.split]\ntime_zone = \"Europe/Berlin\"\nhours = { mon = [\"09:00-12:00\", \"13:00-17:00\"] }\n\
         [[sla.policies]]\nname = \"p\"\nfirst_response = \"1h\"\ncalendar = \"split\"\n";
    let mut s = Scenario::new();
    s.queued(5400.0, "c1", "billing", Voice);
    let (_, fx) = run_toml(&s, cfg, 20_000.0);
    assert_eq!(breaches(&fx)[0].deadline, ms(12_600.0));
}

#[test]
fn deadlines_follow_the_dst_change_of_the_calendar_zone() {
    // Open 08:00-20:00 daily in Berlin. Queued Saturday 2026-10-24 19:00
    // CEST (T0 - 748800 s), 2 h: one until 20:00 CEST; Sunday (clocks went
    // back at 03:00) opens 08:00 CET = 07:00 UTC, +1 h -> 09:00 CET =
    // T0 - 694800 s (an hour later in UTC than had the zone stayed CEST).
    let cfg = "[sla.calendars.daily]\ntime_zone = \"Europe/Berlin\"\n\
        hours = { mon = [\"08:00-20:00\"], tue = [\"08:00-20:00\"], wed = [\"08:00-20:00\"], thu = [\"08:00-20:00\"], fri = [\"08:00-20:00\"], sat = [\"08:00-20:00\"], sun = [\"08:00-20:00\"] }\n\
        [[sla.policies]]\nname = \"p\"\nfirst_response = \"2h\"\ncalendar = \"daily\"\n";
    let mut s = Scenario::new();
    s.queued(-748_800.0, "c1", "billing", Voice);
    let (_, fx) = run_toml(&s, cfg, -600_000.0);
    assert_eq!(breaches(&fx)[0].deadline, ms(-694_800.0));
}

#[test]
fn a_paused_status_stops_the_clock_until_it_changes() {
    // 10 min calendar time; paused 120 s .. 420 s -> deadline 600 + 300 = 900 s.
    let mut s = Scenario::new();
    s.queued(0.0, "t1", "billing", Email)
        .ix(
            120.0,
            "t1",
            InteractionEvent::StatusChanged {
                status: "waiting_on_customer".into(),
            },
        )
        .ix(
            420.0,
            "t1",
            InteractionEvent::StatusChanged {
                status: "open".into(),
            },
        );
    let (_, fx) = run_toml(&s, &policy("first_response = \"10m\""), 2000.0);
    assert_eq!(breaches(&fx)[0].deadline, ms(900.0));
}

#[test]
fn each_customer_message_starts_next_reply_and_an_agent_reply_meets_it() {
    // NR 5 min. Customer 100 -> due 400; agent 350 meets it. Customer 500 ->
    // due 800; nobody replies: breach at 800 and a reassignment.
    let mut s = Scenario::new();
    s.agent(-10.0, "a2", AgentState::Available, &["billing"])
        .queued(0.0, "c1", "billing", Chat)
        .answered(10.0, "c1", "a1")
        .message(20.0, "c1", Direction::Agent)
        .message(100.0, "c1", Direction::Customer)
        .message(350.0, "c1", Direction::Agent)
        .message(500.0, "c1", Direction::Customer);
    let (_, fx) = run_toml(
        &s,
        &policy("first_response = \"1m\"\nnext_reply = \"5m\""),
        1000.0,
    );
    let b = breaches(&fx);
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].target, b[0].deadline),
        (SlaTarget::NextReply, ms(800.0))
    );
    assert_eq!(b[0].assigned_agent.as_deref(), Some("a1"));
    let r = reassignments(&fx);
    assert_eq!(
        r[0].action,
        Reassignment::ToAgent {
            agent_id: "a2".into()
        }
    );
    assert_eq!((r[0].from_agent.as_deref(), r[0].attempt), (Some("a1"), 1));
}

#[test]
fn the_picker_takes_an_available_agent_of_the_queue_fewest_open_then_longest_idle_then_id() {
    let mut s = Scenario::new();
    s.agent(-100.0, "zed", AgentState::Available, &["billing"])
        .agent(-50.0, "x2", AgentState::Available, &["billing"])
        .agent(-50.0, "x1", AgentState::Available, &["billing"])
        .agent(-200.0, "sales-only", AgentState::Available, &["sales"])
        .agent(-300.0, "busy", AgentState::Busy, &["billing"])
        // zed is the longest idle but already has an open interaction.
        .queued(-40.0, "other", "billing", Chat)
        .answered(-30.0, "other", "zed")
        .message(-20.0, "other", Direction::Agent)
        .queued(0.0, "c1", "billing", Chat)
        .answered(5.0, "c1", "a1"); // accepted, but no reply within 60 s
    let (_, fx) = run_toml(&s, &policy("first_response = \"1m\""), 100.0);
    let r = reassignments(&fx);
    assert_eq!(r.len(), 1, "{fx:?}");
    // x1 and x2 tie (0 open, idle since -50 s): x1 < x2.
    assert_eq!(
        r[0].action,
        Reassignment::ToAgent {
            agent_id: "x1".into()
        }
    );
}

#[test]
fn with_nobody_free_it_requeues_with_raised_priority_then_escalates() {
    // FR 60 s re-armed after each attempt: deadlines 60, 120, 180 s.
    let mut s = Scenario::new();
    s.queued(0.0, "c1", "billing", Voice);
    let (snap, fx) = run_toml(
        &s,
        &policy("first_response = \"1m\"\nmax_reassignments = 2\nescalate_to = \"supervisors\""),
        1000.0,
    );
    let r = reassignments(&fx);
    let got: Vec<(Reassignment, u32, i64)> = r
        .iter()
        .map(|r| (r.action.clone(), r.attempt, r.deadline))
        .collect();
    assert_eq!(
        got,
        vec![
            (Reassignment::Requeue { priority: 1 }, 1, ms(60.0)),
            (Reassignment::Requeue { priority: 2 }, 2, ms(120.0)),
            (
                Reassignment::Escalate {
                    to: "supervisors".into()
                },
                3,
                ms(180.0)
            ),
        ]
    );
    assert_eq!(
        breaches(&fx).len(),
        1,
        "one breach per target, however many attempts"
    );
    let c = &queue(&snap, "billing", Voice).total.counts;
    assert_eq!((c.sla_requeued, c.sla_escalated), (2, 1));
    assert_eq!(snap.sla[0].outcomes.escalated, 1);
}

#[test]
fn at_risk_is_marked_at_the_lead_and_shows_time_to_breach() {
    // FR 100 s, at_risk 0.8: at risk from 80 s; at 90 s, 10 s are left.
    let mut s = Scenario::new();
    s.queued(0.0, "c1", "billing", Voice);
    let (snap, fx) = run_toml(
        &s,
        &policy("first_response = \"100s\"\nat_risk = 0.8"),
        90.0,
    );
    assert!(fx.is_empty());
    let now = &queue(&snap, "billing", Voice).now;
    assert_eq!((now.sla_running, now.sla_at_risk), (1, 1));
    approx(now.time_to_breach.mean_seconds, 10.0);
    let (snap, _) = run_toml(
        &s,
        &policy("first_response = \"100s\"\nat_risk = 0.8"),
        79.0,
    );
    assert_eq!(queue(&snap, "billing", Voice).now.sla_at_risk, 0);
}

#[test]
fn effect_ids_are_deterministic_and_distinct_per_attempt() {
    let mut s = Scenario::new();
    s.queued(0.0, "c1", "billing", Voice);
    let cfg = policy("first_response = \"1m\"\nmax_reassignments = 2");
    let (_, a) = run_toml(&s, &cfg, 1000.0);
    let (_, b) = run_toml(&s, &cfg, 1000.0);
    assert_eq!(a, b);
    let mut ids: Vec<&str> = a.iter().map(|e| e.effect_id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), a.len());
}

#[test]
fn a_late_event_whose_deadline_already_passed_breaches_at_once() {
    // c2 (queued at 0) arrives after c1 moved the watermark to 295 s: its
    // 60 s deadline is long past, so the breach fires on arrival.
    let mut s = Scenario::new();
    s.queued(300.0, "c1", "billing", Email)
        .queued(0.0, "c2", "billing", Email);
    let (snap, fx) = run_toml(
        &s,
        &policy("first_response = \"1m\"\nreassign_on = []"),
        300.0,
    );
    assert_eq!(snap.processing.stats.late, 1);
    let b = breaches(&fx);
    assert_eq!(
        (b.len(), b[0].interaction_id.as_str(), b[0].deadline),
        (1, "c2", ms(60.0))
    );
}
