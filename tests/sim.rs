//! The traffic simulator against its configuration and the engine.
//!
//! Every expected figure is computed here from the configured parameters
//! (rate curves, log-normal means, shares), never by asking the simulator.
//! Statistical checks state their tolerance and why it is wide enough:
//! the runs are deterministic (fixed seeds), so a check either always
//! passes or always fails; the tolerances are several standard errors so a
//! change of seed or model detail does not flip them by chance.

mod common;

use std::collections::{HashMap, HashSet};

use ccpulse::sim::{run, SimConfig, Simulator, Spike};
use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::Engine;
use ccpulse_core::event::codec::{decode_json, encode_json, Limits};
use ccpulse_core::event::{
    AgentState, Channel, Direction, Event, EventKind, InteractionEvent, Millis, SurveyScore,
};
use chrono::{Datelike, Timelike};

const MINUTE: Millis = 60_000;
const HOUR: Millis = 60 * MINUTE;
const DAY: Millis = 24 * HOUR;

/// Half the default center (300 contacts in the peak hour, 60 agents), so
/// five days give thousands of contacts per channel.
fn medium(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        base_arrivals_per_hour: 300.0,
        agents: 60,
        ..SimConfig::default()
    }
}

fn small(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        ..SimConfig::small()
    }
}

// ----- stream reading --------------------------------------------------------

/// What the stream says about one interaction.
#[derive(Debug, Clone)]
struct Ix {
    channel: Channel,
    queued_at: Millis,
    customer: String,
    first_answer: Option<Millis>,
    first_agent_message: Option<Millis>,
    answered_by: Vec<String>,
    transferred: bool,
    abandoned: bool,
    first_resolution: Option<Millis>,
}

fn interactions(events: &[Event]) -> HashMap<String, Ix> {
    let mut map: HashMap<String, Ix> = HashMap::new();
    for e in events {
        let EventKind::Interaction {
            interaction_id: id,
            event,
        } = &e.kind
        else {
            continue;
        };
        if let InteractionEvent::Queued {
            channel,
            customer_ref,
            ..
        } = event
        {
            map.insert(
                id.clone(),
                Ix {
                    channel: *channel,
                    queued_at: e.occurred_at,
                    customer: customer_ref.clone().unwrap_or_default(),
                    first_answer: None,
                    first_agent_message: None,
                    answered_by: Vec::new(),
                    transferred: false,
                    abandoned: false,
                    first_resolution: None,
                },
            );
            continue;
        }
        let Some(ix) = map.get_mut(id) else {
            panic!("{id}: {} before queued", event.name());
        };
        match event {
            InteractionEvent::Answered { agent_id } => {
                ix.first_answer.get_or_insert(e.occurred_at);
                ix.answered_by.push(agent_id.clone());
            }
            InteractionEvent::Message {
                direction: Direction::Agent,
                ..
            } => {
                ix.first_agent_message.get_or_insert(e.occurred_at);
            }
            InteractionEvent::Transferred { .. } => ix.transferred = true,
            InteractionEvent::Abandoned => ix.abandoned = true,
            InteractionEvent::Resolved { .. } => {
                ix.first_resolution.get_or_insert(e.occurred_at);
            }
            _ => {}
        }
    }
    map
}

fn count(events: &[Event], name: &str) -> usize {
    events.iter().filter(|e| e.kind_name() == name).count()
}

/// Durations of handled segments per channel: from an `Answered` to the
/// `Ended` that follows it (segments cut by a transfer do not end so).
fn segment_durations(events: &[Event]) -> HashMap<Channel, Vec<f64>> {
    let mut channel: HashMap<&str, Channel> = HashMap::new();
    let mut open: HashMap<&str, Millis> = HashMap::new();
    let mut out: HashMap<Channel, Vec<f64>> = HashMap::new();
    for e in events {
        let EventKind::Interaction {
            interaction_id: id,
            event,
        } = &e.kind
        else {
            continue;
        };
        match event {
            InteractionEvent::Queued { channel: c, .. } => {
                channel.insert(id, *c);
            }
            InteractionEvent::Answered { .. } => {
                open.insert(id, e.occurred_at);
            }
            InteractionEvent::Transferred { .. } => {
                open.remove(id.as_str());
            }
            InteractionEvent::Ended => {
                if let Some(t) = open.remove(id.as_str()) {
                    let ms = (e.occurred_at - t) as f64;
                    out.entry(channel[id.as_str()])
                        .or_default()
                        .push(ms / 1000.0);
                }
            }
            _ => {}
        }
    }
    out
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// The mean of a log-normal given by its median and sigma:
/// `exp(mu + sigma² / 2)` with `mu = ln(median)`.
fn log_normal_mean(median: f64, sigma: f64) -> f64 {
    (median.ln() + sigma * sigma / 2.0).exp()
}

fn within(got: f64, want: f64, rel: f64, what: &str) {
    eprintln!(
        "{what}: got {got:.3}, want {want:.3} ({:+.2} %)",
        (got / want - 1.0) * 100.0
    );
    assert!(
        (got - want).abs() <= rel * want,
        "{what}: got {got:.3}, want {want:.3} ± {:.0} %",
        rel * 100.0
    );
}

// ----- determinism -----------------------------------------------------------

#[test]
fn the_same_seed_gives_the_same_stream_and_another_seed_another() {
    let a = run(small(7), DAY);
    assert!(a.len() > 5_000, "{}", a.len());
    assert_eq!(a, run(small(7), DAY));
    assert_ne!(a, run(small(8), DAY));
}

#[test]
fn advancing_in_steps_gives_the_stream_of_one_run() {
    let cfg = small(3);
    let whole = run(cfg.clone(), DAY);
    let mut sim = Simulator::new(cfg.clone());
    assert_eq!(sim.now(), cfg.start);
    let mut steps = Vec::new();
    let mut t = cfg.start;
    // Uneven steps: single milliseconds, minutes, hours.
    for (i, step) in [1, 999, 7 * MINUTE, HOUR + 13, 1, 3 * HOUR]
        .iter()
        .cycle()
        .enumerate()
    {
        t = (t + step).min(cfg.start + DAY);
        let before = steps.len();
        sim.advance_to(t, &mut steps);
        assert_eq!(sim.now(), t);
        assert!(steps[before..].iter().all(|e| e.occurred_at < t));
        if t == cfg.start + DAY || i > 10_000 {
            break;
        }
    }
    assert_eq!(steps, whole);
    // Going back is a no-op.
    let mut none = Vec::new();
    sim.advance_to(cfg.start, &mut none);
    assert!(none.is_empty());
    assert_eq!(sim.now(), cfg.start + DAY);
}

// ----- validity ----------------------------------------------------------------

#[test]
fn every_event_round_trips_through_the_json_codec_in_time_order() {
    let events = run(SimConfig::default(), DAY);
    let limits = Limits::default();
    let mut ids = HashSet::new();
    let mut last = Millis::MIN;
    for e in &events {
        let json = encode_json(e);
        let back = decode_json(json.as_bytes(), &limits, None);
        assert_eq!(back.as_ref(), Ok(e), "{json}");
        assert!(e.occurred_at >= last, "out of order: {json}");
        last = e.occurred_at;
        assert!(
            ids.insert(e.event_id.clone()),
            "duplicate id {}",
            e.event_id
        );
        if let EventKind::Interaction {
            interaction_id: id, ..
        } = &e.kind
        {
            let (prefix, digits) = id.split_once('-').unwrap_or(("", ""));
            assert!(["call", "chat", "email", "web"].contains(&prefix), "{id}");
            assert!(digits.len() >= 6 && digits.bytes().all(|b| b.is_ascii_digit()));
        }
        if let EventKind::Interaction {
            event:
                InteractionEvent::Queued {
                    customer_ref: Some(c),
                    ..
                },
            ..
        } = &e.kind
        {
            let hex = c.strip_prefix("cust-").unwrap_or("");
            assert!(hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }
    // The default center's Monday: thousands of contacts, every kind.
    assert!(count(&events, "queued") > 5_000);
    for kind in common::ALL_KIND_NAMES {
        assert!(count(&events, kind) > 0, "no {kind}");
    }
}

/// Interaction state as the engine would see it.
#[derive(Debug, Clone, PartialEq)]
enum St {
    Waiting,
    Ringing(String),
    Connected(String),
    WrapUp(String),
    Idle,
    Resolved,
    Reopened,
    Gone,
}

#[derive(Debug, Clone)]
struct Track {
    st: St,
    queue: String,
    channel: Channel,
    on_hold: bool,
}

/// The agents' side of the stream: state, queues served, and the
/// interactions each one holds (from offer/answer to wrap-up done,
/// transfer, abandon or takeover).
#[derive(Default)]
struct Agents {
    state: HashMap<String, (AgentState, Vec<String>)>,
    holds: HashMap<String, HashSet<String>>,
    since_login: HashMap<String, Millis>,
    longest_online: Millis,
    logins: HashMap<String, usize>,
    max_held: usize,
}

impl Agents {
    fn on_state(&mut self, t: Millis, agent: &str, state: AgentState, queues: &[String]) {
        let held = self.holds.entry(agent.to_string()).or_default();
        match state {
            AgentState::Busy => assert!(!held.is_empty(), "{agent} busy with nothing"),
            AgentState::WrapUp => {}
            _ => assert!(held.is_empty(), "{agent} {state:?} still holds {held:?}"),
        }
        let prev = self
            .state
            .insert(agent.to_string(), (state, queues.to_vec()));
        let was_off = prev.is_none_or(|p| p.0 == AgentState::Offline);
        if was_off && state != AgentState::Offline {
            *self.logins.entry(agent.to_string()).or_default() += 1;
            self.since_login.insert(agent.to_string(), t);
        }
        if !was_off && state == AgentState::Offline {
            let span = t - self.since_login[agent];
            self.longest_online = self.longest_online.max(span);
        }
    }

    /// `agent` takes `id` (from `prev` on a takeover): it must be working
    /// (not offline, not on a break), serve the queue, and stay within the
    /// concurrency limit (chats up to `limit`, anything else alone).
    fn take(
        &mut self,
        agent: &str,
        id: &str,
        ix: &Track,
        prev: Option<&str>,
        limit: usize,
        channels: &HashMap<String, Channel>,
    ) {
        let (s, served) = &self.state[agent];
        assert!(
            matches!(
                s,
                AgentState::Available | AgentState::Busy | AgentState::WrapUp
            ),
            "{agent} takes {id} while {s:?}"
        );
        assert!(
            served.contains(&ix.queue),
            "{agent} takes {id} of {}",
            ix.queue
        );
        if let Some(p) = prev {
            self.release(p, id);
        }
        let held = self.holds.entry(agent.to_string()).or_default();
        held.insert(id.to_string());
        let chats = held
            .iter()
            .filter(|i| channels[*i] == Channel::Chat)
            .count();
        assert!(held.len() <= limit, "{agent} holds {held:?}");
        assert!(
            chats == held.len() || held.len() == 1,
            "{agent} mixes {held:?}"
        );
        self.max_held = self.max_held.max(held.len());
    }

    fn release(&mut self, agent: &str, id: &str) {
        self.holds.entry(agent.to_string()).or_default().remove(id);
    }
}

/// The lifecycle the engine expects, checked as a state machine per
/// interaction, and the agents' side of it: holds within the concurrency
/// limit, only in their queues, only while on shift and not on a break.
#[test]
fn lifecycles_and_agents_are_consistent() {
    let cfg = SimConfig {
        chat_concurrency: 3,
        non_responder_share: 0.05,
        ..small(11)
    };
    let limit = cfg.chat_concurrency;
    let events = run(cfg, 7 * DAY);
    let mut ixs: HashMap<String, Track> = HashMap::new();
    let mut channels: HashMap<String, Channel> = HashMap::new();
    let mut resolved_once: HashSet<String> = HashSet::new();
    let mut ag = Agents::default();

    for e in &events {
        let (id, event) = match &e.kind {
            EventKind::Agent(a) => {
                ag.on_state(e.occurred_at, &a.agent_id, a.state, &a.queues);
                continue;
            }
            EventKind::Survey(s) => {
                assert!(resolved_once.contains(&s.interaction_id), "{s:?}");
                continue;
            }
            EventKind::Interaction {
                interaction_id,
                event,
            } => (interaction_id, event),
        };
        use InteractionEvent as I;
        if let I::Queued { queue, channel, .. } = event {
            assert!(!ixs.contains_key(id), "{id} queued twice");
            channels.insert(id.clone(), *channel);
            let track = Track {
                st: St::Waiting,
                queue: queue.clone(),
                channel: *channel,
                on_hold: false,
            };
            ixs.insert(id.clone(), track);
            continue;
        }
        let Some(mut ix) = ixs.get(id).cloned() else {
            panic!("{id}: {} before queued", event.name());
        };
        let ch = ix.channel;
        ix.st = match (event, &ix.st) {
            (I::Offered { agent_id }, St::Waiting) => {
                assert_eq!(ch, Channel::Voice);
                ag.take(agent_id, id, &ix, None, limit, &channels);
                St::Ringing(agent_id.clone())
            }
            (I::Answered { agent_id }, St::Ringing(a)) if agent_id == a => St::Connected(a.clone()),
            (I::Answered { agent_id }, St::Waiting | St::Idle | St::Reopened) => {
                assert!(ch != Channel::Voice || ix.st != St::Waiting, "unrung call");
                ag.take(agent_id, id, &ix, None, limit, &channels);
                St::Connected(agent_id.clone())
            }
            // A colleague takes over a contact its agent left silent.
            (I::Answered { agent_id }, St::Connected(a)) if agent_id != a => {
                assert_ne!(ch, Channel::Voice);
                let prev = a.clone();
                ag.take(agent_id, id, &ix, Some(&prev), limit, &channels);
                St::Connected(agent_id.clone())
            }
            (
                I::Message {
                    direction: Direction::Agent,
                    agent_id: Some(m),
                },
                St::Connected(a),
            ) if m == a => ix.st.clone(),
            (
                I::Message {
                    direction: Direction::Customer,
                    agent_id: None,
                },
                St::Connected(_) | St::Idle | St::Reopened,
            ) => ix.st.clone(),
            (I::HoldStarted, St::Connected(_)) if !ix.on_hold => {
                ix.on_hold = true;
                ix.st.clone()
            }
            (I::HoldEnded, St::Connected(_)) if ix.on_hold => {
                ix.on_hold = false;
                ix.st.clone()
            }
            (
                I::Transferred {
                    to_queue: Some(q),
                    to_agent: None,
                },
                St::Connected(a),
            ) if !ix.on_hold && *q != ix.queue => {
                ag.release(a, id);
                ix.queue = q.clone();
                St::Waiting
            }
            (I::Abandoned, St::Waiting) if matches!(ch, Channel::Voice | Channel::Chat) => St::Gone,
            (I::Abandoned, St::Ringing(a)) => {
                ag.release(a, id);
                St::Gone
            }
            (I::StatusChanged { status }, St::Connected(_)) if status == "waiting_on_customer" => {
                ix.st.clone()
            }
            (I::StatusChanged { status }, St::Idle) if status == "open" => St::Idle,
            (I::Ended, St::Connected(a)) if !ix.on_hold => St::WrapUp(a.clone()),
            (I::WrapUpDone { agent_id: Some(w) }, St::WrapUp(a)) if w == a => {
                ag.release(a, id);
                St::Idle
            }
            (I::Resolved { .. }, St::Idle) => {
                resolved_once.insert(id.clone());
                St::Resolved
            }
            (I::Reopened, St::Resolved) if matches!(ch, Channel::Email | Channel::Web) => {
                St::Reopened
            }
            _ => panic!("{id} ({ch:?}): {event:?} while {:?}", ix.st),
        };
        ixs.insert(id.clone(), ix);
    }
    // Chats did run concurrently up to the limit.
    assert_eq!(ag.max_held, limit);
    // Five working days a week, plus a shift under way at the start.
    assert!(ag.logins.values().all(|&n| n <= 6), "{:?}", ag.logins);
    assert_eq!(ag.logins.len(), 30);
    // 8.5 h shifts; overtime only to finish what is in hand (at worst a
    // silent ticket of up to 3 h).
    assert!(ag.longest_online <= 13 * HOUR, "{}", ag.longest_online);
    assert!(ag.longest_online >= 8 * HOUR);
    let gone = ixs.values().filter(|i| i.st == St::Gone).count();
    let resolved = ixs.values().filter(|i| i.st == St::Resolved).count();
    assert!(gone > 0 && resolved > gone);
}

// ----- the model against its parameters ----------------------------------------

/// Expected arrivals per (local = UTC) hour, straight from the curves:
/// `base × intraday[hour] × weekday[day]`, the weekday from chrono.
fn expected_per_hour(cfg: &SimConfig, hours: i64) -> Vec<(Millis, f64)> {
    (0..hours)
        .map(|h| {
            let t = cfg.start + h * HOUR;
            let dt = chrono::DateTime::from_timestamp_millis(t).expect("in range");
            let weekday = dt.weekday().num_days_from_monday() as usize;
            let rate = cfg.base_arrivals_per_hour
                * cfg.intraday[dt.hour() as usize]
                * cfg.weekday[weekday];
            (t, rate)
        })
        .collect()
}

/// Arrivals over a week match the integral of the rate curve (±5 %; the
/// Poisson standard error is ~1 %), and their spread over hours of the day
/// and days of the week matches the curves (chi-square below the 0.1 %
/// critical value: 51.2 for 24 degrees of freedom, 24.3 for 7).
#[test]
fn arrivals_follow_the_rate_curves() {
    let cfg = small(5);
    let events = run(cfg.clone(), 7 * DAY);
    let expected = expected_per_hour(&cfg, 7 * 24);
    let total: f64 = expected.iter().map(|e| e.1).sum();
    let mut by_hour = [0.0f64; 24];
    let mut by_day = [0.0f64; 7];
    let (mut want_hour, mut want_day) = ([0.0f64; 24], [0.0f64; 7]);
    for (i, (_, rate)) in expected.iter().enumerate() {
        want_hour[i % 24] += rate;
        want_day[i / 24] += rate;
    }
    let mut arrivals = 0.0;
    for e in &events {
        if let EventKind::Interaction {
            event: InteractionEvent::Queued { .. },
            ..
        } = &e.kind
        {
            let offset = e.occurred_at - cfg.start;
            by_hour[((offset / HOUR) % 24) as usize] += 1.0;
            by_day[(offset / DAY) as usize] += 1.0;
            arrivals += 1.0;
        }
    }
    within(arrivals, total, 0.05, "arrivals over the week");
    let chi2 = |got: &[f64], want: &[f64]| -> f64 {
        got.iter()
            .zip(want)
            .map(|(o, e)| (o - e) * (o - e) / e)
            .sum()
    };
    let hourly = chi2(&by_hour, &want_hour);
    let daily = chi2(&by_day, &want_day);
    eprintln!("chi2 hourly {hourly} daily {daily}");
    assert!(
        hourly < 51.2,
        "hour-of-day chi2 {hourly}: {by_hour:?} vs {want_hour:?}"
    );
    assert!(
        daily < 24.3,
        "weekday chi2 {daily}: {by_day:?} vs {want_day:?}"
    );
    // Monday is the busiest day, Sunday the quietest.
    assert!(by_day[0] > by_day[4] && by_day[4] > by_day[5] && by_day[5] > by_day[6]);
}

/// Handled segments last what the log-normals say: mean of `Answered` →
/// `Ended` per channel and of `Ended` → `WrapUpDone` within ±5 % of
/// `exp(mu + sigma²/2)` (standard errors 0.5–1.6 % at these counts). No
/// silent agents here, so a segment is exactly one draw.
#[test]
fn handle_and_wrap_up_times_match_their_log_normal_means() {
    let cfg = SimConfig {
        non_responder_share: 0.0,
        ..medium(21)
    };
    let events = run(cfg.clone(), 5 * DAY);
    let segments = segment_durations(&events);
    for (ch, spec) in [
        (Channel::Voice, cfg.handle.voice),
        (Channel::Chat, cfg.handle.chat),
        (Channel::Email, cfg.handle.email),
        (Channel::Web, cfg.handle.web),
    ] {
        let xs = &segments[&ch];
        assert!(xs.len() > 1_500, "{ch:?}: only {}", xs.len());
        let want = log_normal_mean(spec.median_s, spec.sigma);
        within(mean(xs), want, 0.05, &format!("{ch:?} handle mean"));
    }
    // Wrap-up: from each `Ended` to the `WrapUpDone` that follows.
    let mut ended: HashMap<&str, Millis> = HashMap::new();
    let mut wraps = Vec::new();
    for e in &events {
        if let EventKind::Interaction {
            interaction_id: id,
            event,
        } = &e.kind
        {
            match event {
                InteractionEvent::Ended => {
                    ended.insert(id, e.occurred_at);
                }
                InteractionEvent::WrapUpDone { .. } => {
                    if let Some(t) = ended.remove(id.as_str()) {
                        wraps.push((e.occurred_at - t) as f64 / 1000.0);
                    }
                }
                _ => {}
            }
        }
    }
    assert!(wraps.len() > 10_000);
    let want = log_normal_mean(cfg.wrap_up.median_s, cfg.wrap_up.sigma);
    within(mean(&wraps), want, 0.05, "wrap-up mean");
}

/// Abandonment is what exponential patience implies for the waits actually
/// seen. With exponential patience, the maximum-likelihood mean patience is
/// (total time callers spent waiting, answered or not) ÷ (abandons): every
/// waiting spell (queued or transferred → answered, abandoned or still
/// waiting at the end) is exposure. Understaffed so a week has >2,000
/// abandons (standard error ~2 %); tolerance ±10 %.
#[test]
fn abandons_match_the_patience_model_for_the_waits_seen() {
    let cfg = SimConfig {
        base_arrivals_per_hour: 150.0,
        agents: 12,
        short_abandon_share: 0.0,
        ..small(31)
    };
    let end = cfg.start + 7 * DAY;
    let events = run(cfg.clone(), 7 * DAY);
    let mut channel: HashMap<&str, Channel> = HashMap::new();
    let mut waiting_since: HashMap<&str, Millis> = HashMap::new();
    let (mut exposure, mut abandons) = (0.0f64, 0usize);
    for e in &events {
        let EventKind::Interaction {
            interaction_id: id,
            event,
        } = &e.kind
        else {
            continue;
        };
        if let InteractionEvent::Queued { channel: c, .. } = event {
            channel.insert(id, *c);
        }
        if channel[id.as_str()] != Channel::Voice {
            continue;
        }
        match event {
            InteractionEvent::Queued { .. } | InteractionEvent::Transferred { .. } => {
                waiting_since.insert(id, e.occurred_at);
            }
            InteractionEvent::Answered { .. } | InteractionEvent::Abandoned => {
                if let Some(t) = waiting_since.remove(id.as_str()) {
                    exposure += (e.occurred_at - t) as f64 / 1000.0;
                }
                abandons += usize::from(matches!(event, InteractionEvent::Abandoned));
            }
            _ => {}
        }
    }
    exposure += waiting_since
        .values()
        .map(|&t| (end - t) as f64 / 1000.0)
        .sum::<f64>();
    eprintln!("abandons {abandons}");
    assert!(abandons > 2_000, "{abandons}");
    within(
        exposure / abandons as f64,
        cfg.mean_patience_s,
        0.10,
        "estimated mean patience",
    );
}

fn live_abandon_share(events: &[Event]) -> f64 {
    let ixs = interactions(events);
    let live: Vec<_> = ixs
        .values()
        .filter(|i| matches!(i.channel, Channel::Voice | Channel::Chat))
        .collect();
    live.iter().filter(|i| i.abandoned).count() as f64 / live.len() as f64
}

/// More agents, fewer abandons. With agents to spare no one waits, so only
/// callers whose patience runs out while it rings (at most 6 s: probability
/// `1 - exp(-6 / 240)` = 2.5 % of calls, about half the live contacts) can
/// abandon; with three agents for a whole center most do.
#[test]
fn abandonment_falls_as_agents_are_added() {
    let share = |agents: usize| {
        let cfg = SimConfig {
            agents,
            short_abandon_share: 0.0,
            ..small(41)
        };
        live_abandon_share(&run(cfg, 2 * DAY))
    };
    let (few, some, enough, plenty) = (share(3), share(12), share(30), share(1_000));
    assert!(
        few > some && some > enough && enough > plenty,
        "{few} {some} {enough} {plenty}"
    );
    eprintln!("abandon shares {few} {some} {enough} {plenty}");
    assert!(few > 0.3, "{few}");
    let ring_bound = 1.0 - (-6.0f64 / 240.0).exp();
    assert!(plenty <= ring_bound, "{plenty} > {ring_bound}");
}

/// Surveys: the configured share of resolved contacts answers (±3 pp;
/// standard error ~0.5 pp), and satisfaction falls with the wait and after
/// a transfer.
#[test]
fn surveys_follow_the_share_and_the_experience() {
    let cfg = SimConfig {
        base_arrivals_per_hour: 120.0,
        agents: 30,
        ..small(51)
    };
    let end = cfg.start + 7 * DAY;
    let events = run(cfg.clone(), 7 * DAY);
    let ixs = interactions(&events);
    let mut csat: HashMap<String, u8> = HashMap::new();
    let mut surveyed = HashSet::new();
    for e in &events {
        if let EventKind::Survey(s) = &e.kind {
            surveyed.insert(s.interaction_id.clone());
            if let SurveyScore::Csat(v) = s.score {
                assert!(csat.insert(s.interaction_id.clone(), v).is_none());
            }
        }
    }
    // Surveys come within 6 h of the first resolution.
    let resolved: Vec<&String> = ixs
        .iter()
        .filter(|(_, i)| i.first_resolution.is_some_and(|t| t < end - 6 * HOUR))
        .map(|(id, _)| id)
        .collect();
    assert!(resolved.len() > 5_000, "{}", resolved.len());
    let share =
        resolved.iter().filter(|id| surveyed.contains(**id)).count() as f64 / resolved.len() as f64;
    eprintln!("survey share {share}");
    assert!(
        (share - cfg.survey_share).abs() <= 0.03,
        "survey share {share}"
    );
    // Every survey carries a CSAT.
    assert_eq!(csat.len(), surveyed.len());

    let mean_csat = |pred: &dyn Fn(&Ix) -> bool| {
        let xs: Vec<f64> = csat
            .iter()
            .filter(|(id, _)| pred(&ixs[*id]))
            .map(|(_, &v)| f64::from(v))
            .collect();
        assert!(xs.len() >= 50, "only {} answers", xs.len());
        mean(&xs)
    };
    let wait = |i: &Ix| i.first_answer.map(|t| t - i.queued_at).unwrap_or(0);
    let live = |i: &Ix| matches!(i.channel, Channel::Voice | Channel::Chat);
    let quick = mean_csat(&|i| live(i) && !i.transferred && wait(i) <= 10_000);
    let slow = mean_csat(&|i| live(i) && !i.transferred && wait(i) >= 90_000);
    let direct = mean_csat(&|i| !i.transferred);
    let bounced = mean_csat(&|i| i.transferred);
    eprintln!("csat quick {quick} slow {slow} direct {direct} bounced {bounced}");
    assert!(slow + 0.3 < quick, "CSAT slow {slow} vs quick {quick}");
    assert!(
        bounced + 0.2 < direct,
        "CSAT transferred {bounced} vs {direct}"
    );
}

/// Repeat contacts: at least the configured share of arrivals comes from a
/// customer seen within the previous 7 days (the finite population adds
/// chance repeats on top), after a first day to build up history.
#[test]
fn customers_come_back() {
    let cfg = small(61);
    let events = run(cfg.clone(), 5 * DAY);
    let mut ixs: Vec<Ix> = interactions(&events).into_values().collect();
    ixs.sort_by_key(|i| i.queued_at);
    let mut last_seen: HashMap<&str, Millis> = HashMap::new();
    let (mut n, mut repeats) = (0usize, 0usize);
    for i in &ixs {
        if i.queued_at >= cfg.start + DAY {
            n += 1;
            repeats += usize::from(
                last_seen
                    .get(i.customer.as_str())
                    .is_some_and(|&t| i.queued_at - t <= 7 * DAY),
            );
        }
        last_seen.insert(&i.customer, i.queued_at);
    }
    let share = repeats as f64 / n as f64;
    eprintln!("repeat share {share}");
    assert!(share >= cfg.repeat_share - 0.02, "{share}");
    assert!(share <= cfg.repeat_share + 0.25, "{share}");
}

/// The non-responding operator: some chats are accepted and then left
/// without a reply for minutes, and a colleague takes some of them over;
/// without non-responders every chat gets its first reply within 40 s.
#[test]
fn silent_agents_leave_contacts_unanswered_for_a_long_while() {
    let first_reply_gaps = |share: f64| {
        let cfg = SimConfig {
            non_responder_share: share,
            ..small(71)
        };
        let ixs = interactions(&run(cfg, 5 * DAY));
        let chats: Vec<&Ix> = ixs
            .values()
            .filter(|i| i.channel == Channel::Chat && i.first_answer.is_some())
            .collect();
        let gaps: Vec<Millis> = chats
            .iter()
            .filter_map(|i| Some(i.first_agent_message? - i.first_answer?))
            .collect();
        let takeovers = ixs
            .values()
            .filter(|i| i.channel == Channel::Chat && !i.transferred && i.answered_by.len() > 1)
            .count();
        (gaps, takeovers)
    };
    let (gaps, takeovers) = first_reply_gaps(0.0);
    assert!(gaps.len() > 500);
    assert!(gaps.iter().all(|&g| g <= 40_000), "{:?}", gaps.iter().max());
    assert_eq!(takeovers, 0);
    let (gaps, takeovers) = first_reply_gaps(0.3);
    let silent = gaps.iter().filter(|&&g| g >= 3 * MINUTE).count();
    let share = silent as f64 / gaps.len() as f64;
    eprintln!(
        "silent share {share} takeovers {takeovers} of {}",
        gaps.len()
    );
    assert!(share > 0.1 && share < 0.5, "{share}");
    assert!(takeovers > 10, "{takeovers}");
}

/// The abandonment spike: while it lasts, arrivals surge and patience
/// collapses, so the abandon rate of contacts queued in it jumps.
#[test]
fn a_spike_makes_abandonment_jump() {
    // Monday 11:00 for 30 minutes.
    let at = SimConfig::default().start + 11 * HOUR;
    let spike = Spike {
        at,
        duration: 30 * MINUTE,
        arrival_factor: 3.0,
        patience_factor: 0.1,
    };
    let in_window = |cfg: SimConfig| {
        let ixs = interactions(&run(cfg, 14 * HOUR));
        let live: Vec<Ix> = ixs
            .into_values()
            .filter(|i| i.channel == Channel::Voice)
            .filter(|i| i.queued_at >= at && i.queued_at < at + 30 * MINUTE)
            .collect();
        let abandoned = live.iter().filter(|i| i.abandoned).count();
        (live.len() as f64, abandoned as f64 / live.len() as f64)
    };
    let calm_cfg = SimConfig {
        seed: 81,
        ..SimConfig::default()
    };
    let (calm_n, calm) = in_window(calm_cfg.clone());
    let (spike_n, spiked) = in_window(SimConfig {
        spike: Some(spike),
        ..calm_cfg
    });
    eprintln!("spike {spike_n} {spiked} calm {calm_n} {calm}");
    // Three times the arrivals (Poisson: within ±30 % of 3× is > 4 sigma).
    assert!(
        (spike_n / calm_n - 3.0).abs() < 0.9,
        "{spike_n} vs {calm_n}"
    );
    assert!(spiked > 0.3 && spiked > calm + 0.2, "{spiked} vs {calm}");
}

// ----- the engine ----------------------------------------------------------------

fn fold(events: Vec<Event>) -> ccpulse_core::engine::Snapshot {
    let mut engine = Engine::new(EngineConfig::default());
    let mut effects = Vec::new();
    for e in events {
        engine.apply(e, &mut effects);
    }
    engine.flush(&mut effects);
    engine.snapshot()
}

/// A day of the default center folds without a single orphaned event or
/// impossible transition, and the engine counts what was generated.
#[test]
fn a_day_folds_into_the_engine_coherently() {
    let events = run(SimConfig::default(), DAY);
    let queued = count(&events, "queued") as u64;
    let transfers = count(&events, "transferred") as u64;
    let n = events.len() as u64;
    let snap = fold(events);
    let p = &snap.processing.stats;
    assert_eq!((p.orphaned, p.ignored_transitions), (0, 0), "{p:?}");
    assert_eq!((p.events_applied, p.duplicates, p.late), (n, 0, 0));
    let offered: u64 = snap.queues.iter().map(|q| q.total.counts.offered).sum();
    // Offered counts each queue entry: arrivals plus transfers into a queue.
    assert_eq!(offered, queued + transfers);
}

/// A week of the small center (reopens days later, tickets auto-closed
/// after 3 days, weekend shifts) folds just as coherently.
#[test]
fn a_week_folds_into_the_engine_coherently() {
    let events = run(
        SimConfig {
            non_responder_share: 0.05,
            ..small(91)
        },
        7 * DAY,
    );
    assert!(count(&events, "reopened") > 20);
    let snap = fold(events);
    let p = &snap.processing.stats;
    assert_eq!((p.orphaned, p.ignored_transitions), (0, 0), "{p:?}");
}
