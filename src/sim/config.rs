//! What a simulated contact center looks like: every knob of the model, with
//! defaults for a medium center and [`SimConfig::small`] for tests.
//!
//! Durations are in seconds (`_s`) unless typed [`Millis`]; shares are
//! probabilities in `0..=1`. Out-of-range values are not rejected: the
//! simulator clamps them to something sensible (see `Simulator::new`), so a
//! config can never make it panic.

use ccpulse_core::event::{Channel, Millis};

/// One queue (skill) and the channels its contacts arrive on.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    pub name: String,
    /// Relative share of all arrivals (normalised over the queues).
    pub share: f64,
    /// Channel mix of this queue's arrivals, relative weights.
    pub channels: Vec<(Channel, f64)>,
}

impl QueueSpec {
    pub fn new(name: &str, share: f64, channels: &[(Channel, f64)]) -> Self {
        QueueSpec {
            name: name.to_string(),
            share,
            channels: channels.to_vec(),
        }
    }
}

/// A shift template: agents assigned to it work `[start, start + length)`
/// in local time on their working days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShiftSpec {
    /// Minutes after local midnight.
    pub start_minute: u32,
    pub length_minutes: u32,
    /// Relative share of agents on this template.
    pub share: f64,
}

/// A log-normal duration given by its median (`exp(mu)`) and `sigma`; its
/// mean is `median * exp(sigma² / 2)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogNormalSpec {
    pub median_s: f64,
    pub sigma: f64,
}

impl LogNormalSpec {
    pub const fn new(median_s: f64, sigma: f64) -> Self {
        LogNormalSpec { median_s, sigma }
    }
}

/// Active agent time per segment, by channel: voice talk (hold included),
/// the whole chat conversation, the work on a ticket before its reply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HandleTimes {
    pub voice: LogNormalSpec,
    pub chat: LogNormalSpec,
    pub email: LogNormalSpec,
    /// Web tickets (and social posts, which are worked like them).
    pub web: LogNormalSpec,
}

impl HandleTimes {
    pub fn of(&self, channel: Channel) -> LogNormalSpec {
        match channel {
            Channel::Voice => self.voice,
            Channel::Chat => self.chat,
            Channel::Email => self.email,
            Channel::Web | Channel::Social => self.web,
        }
    }
}

/// A burst for the abandonment-alert demo: for `duration` from `at`,
/// arrivals are multiplied by `arrival_factor` and customer patience by
/// `patience_factor` (below 1: patience collapses).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spike {
    pub at: Millis,
    pub duration: Millis,
    pub arrival_factor: f64,
    pub patience_factor: f64,
}

impl Spike {
    /// Whether `t` falls inside the spike.
    pub fn covers(&self, t: Millis) -> bool {
        t >= self.at && t < self.at.saturating_add(self.duration)
    }
}

/// The whole model. See the module docs of [`crate::sim`] for how the
/// pieces fit.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub seed: u64,
    /// Simulated time starts here (event time, ms since the epoch).
    pub start: Millis,
    /// Carried on every event.
    pub tenant: Option<String>,
    /// Local time = UTC + this; the curves and shifts are in local time
    /// (no DST).
    pub utc_offset_minutes: i32,

    // ----- arrivals ---------------------------------------------------------
    /// Arrivals per hour where both curves are 1.0 (the busiest hour of the
    /// busiest weekday with the default curves).
    pub base_arrivals_per_hour: f64,
    /// Relative rate per local hour of day, constant within the hour.
    pub intraday: [f64; 24],
    /// Relative rate per local weekday, Monday first.
    pub weekday: [f64; 7],
    pub queues: Vec<QueueSpec>,
    /// Size of the customer population new contacts are drawn from.
    pub customers: u64,
    /// Share of arrivals from a customer who already contacted within the
    /// last 7 days (follow-ups, call-backs after an abandon).
    pub repeat_share: f64,
    /// Share of contacts queued with priority 1 (otherwise 0).
    pub priority_share: f64,

    // ----- agents -----------------------------------------------------------
    pub agents: usize,
    /// Chance of each extra skill beyond an agent's primary queue (up to two
    /// extra queues).
    pub extra_skill_share: f64,
    pub shifts: Vec<ShiftSpec>,
    /// Chance that an agent misses a scheduled working day.
    pub absence_share: f64,
    /// Blending reserve: an agent who also serves voice or chat takes a
    /// ticket (email, web) only while at least this share of the agents on
    /// shift stays idle for live contacts.
    pub ticket_reserve_share: f64,
    /// Chats one agent handles at once.
    pub chat_concurrency: usize,
    /// Voice ring time, uniform in `(min, max)` seconds; the caller still
    /// waits (and may hang up) while it rings.
    pub ring_s: (f64, f64),
    /// After-contact work per handled segment.
    pub wrap_up: LogNormalSpec,
    pub handle: HandleTimes,

    // ----- customers --------------------------------------------------------
    /// Mean voice patience (exponential); chat customers wait
    /// `chat_patience_factor` times longer. Email and web never abandon.
    pub mean_patience_s: f64,
    pub chat_patience_factor: f64,
    /// Share of voice/chat customers whose patience is only 0.5–4.5 s
    /// (misdials, instant hang-ups).
    pub short_abandon_share: f64,

    // ----- outcomes ---------------------------------------------------------
    /// Share of voice calls put on hold once.
    pub hold_share: f64,
    /// Share of answered segments transferred to another queue (at most
    /// once per contact).
    pub transfer_share: f64,
    /// Share of ticket replies that wait on the customer before closing.
    pub waiting_on_customer_share: f64,
    /// Share of resolved tickets the customer reopens within days.
    pub reopen_share: f64,
    /// Share of chats/tickets accepted by an agent who then does not reply
    /// for a long while.
    pub non_responder_share: f64,
    /// Share of resolved contacts whose customer answers a survey.
    pub survey_share: f64,

    pub spike: Option<Spike>,
}

/// 2026-11-02T00:00:00Z, a Monday.
pub const DEFAULT_START: Millis = 1_793_577_600_000;

/// Default intraday curve: night trickle, morning ramp, lunch dip,
/// afternoon peak at 15:00, evening tail.
pub const INTRADAY: [f64; 24] = [
    0.03, 0.02, 0.02, 0.02, 0.03, 0.06, 0.15, 0.35, 0.60, 0.78, 0.88, 0.85, 0.68, 0.76, 0.93, 1.00,
    0.92, 0.76, 0.56, 0.40, 0.28, 0.18, 0.10, 0.05,
];

/// Default weekday curve: Monday busiest, weekend low.
pub const WEEKDAY: [f64; 7] = [1.00, 0.93, 0.90, 0.88, 0.85, 0.45, 0.30];

impl Default for SimConfig {
    /// A medium center: 120 agents, about 600 contacts in the Monday
    /// afternoon peak hour, five queues.
    fn default() -> Self {
        use Channel::*;
        SimConfig {
            seed: 1,
            start: DEFAULT_START,
            tenant: None,
            utc_offset_minutes: 0,
            base_arrivals_per_hour: 600.0,
            intraday: INTRADAY,
            weekday: WEEKDAY,
            queues: vec![
                QueueSpec::new("billing", 0.25, &[(Voice, 0.7), (Chat, 0.3)]),
                QueueSpec::new(
                    "tech_support",
                    0.30,
                    &[(Voice, 0.45), (Chat, 0.25), (Email, 0.15), (Web, 0.15)],
                ),
                QueueSpec::new("sales", 0.18, &[(Voice, 0.6), (Chat, 0.4)]),
                QueueSpec::new("retention", 0.07, &[(Voice, 1.0)]),
                QueueSpec::new("claims", 0.20, &[(Email, 0.55), (Web, 0.45)]),
            ],
            customers: 200_000,
            repeat_share: 0.12,
            priority_share: 0.05,
            agents: 120,
            extra_skill_share: 0.5,
            shifts: [
                (6 * 60, 0.11),
                (7 * 60, 0.12),
                (8 * 60, 0.14),
                (9 * 60, 0.13),
                (10 * 60, 0.11),
                (12 * 60, 0.05),
                (14 * 60, 0.13),
                (15 * 60, 0.15),
                (22 * 60, 0.06),
            ]
            .iter()
            .map(|&(start_minute, share)| ShiftSpec {
                start_minute,
                length_minutes: 510,
                share,
            })
            .collect(),
            absence_share: 0.04,
            ticket_reserve_share: 0.1,
            chat_concurrency: 2,
            ring_s: (2.0, 6.0),
            wrap_up: LogNormalSpec::new(30.0, 0.5),
            handle: HandleTimes {
                voice: LogNormalSpec::new(240.0, 0.6),
                chat: LogNormalSpec::new(420.0, 0.6),
                email: LogNormalSpec::new(300.0, 0.7),
                web: LogNormalSpec::new(240.0, 0.7),
            },
            mean_patience_s: 240.0,
            chat_patience_factor: 2.0,
            short_abandon_share: 0.02,
            hold_share: 0.15,
            transfer_share: 0.06,
            waiting_on_customer_share: 0.3,
            reopen_share: 0.06,
            non_responder_share: 0.02,
            survey_share: 0.2,
            spike: None,
        }
    }
}

impl SimConfig {
    /// A small center for tests: 30 agents, about 80 contacts in the peak
    /// hour, the default queues, model and curves.
    pub fn small() -> Self {
        SimConfig {
            base_arrivals_per_hour: 80.0,
            agents: 30,
            extra_skill_share: 0.8,
            customers: 20_000,
            ..SimConfig::default()
        }
    }

    /// Arrivals per hour at `t` (local curves, weekday and spike applied):
    /// the rate the arrival process follows, constant within each local
    /// hour and spike edge.
    pub fn arrival_rate_at(&self, t: Millis) -> f64 {
        let local = t.saturating_add(self.utc_offset_minutes as Millis * 60_000);
        let day = local.div_euclid(DAY);
        let hour = (local.rem_euclid(DAY) / HOUR) as usize;
        // 1970-01-01 was a Thursday (index 3 with Monday = 0).
        let weekday = (day + 3).rem_euclid(7) as usize;
        let mut rate = rate_of(self.base_arrivals_per_hour)
            * rate_of(self.intraday[hour])
            * rate_of(self.weekday[weekday]);
        if let Some(s) = &self.spike {
            if s.covers(t) {
                rate *= rate_of(s.arrival_factor);
            }
        }
        rate
    }
}

pub(crate) const HOUR: Millis = 3_600_000;
pub(crate) const DAY: Millis = 24 * HOUR;

/// A rate or factor made safe: negative or non-finite counts as zero.
pub(crate) fn rate_of(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        x
    } else {
        0.0
    }
}

/// A probability made safe: clamped to `0..=1`, non-finite counts as zero.
pub(crate) fn share_of(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}
