//! The discrete-event core: a priority queue of future actions by
//! `(time, sequence)`, contacts that wait for real agents, agents that work
//! shifts, take breaks and wrap up.
//!
//! Scheduled contact actions carry the contact's *epoch*, a globally unique
//! number renewed whenever the contact's plans change (answered, ended,
//! …); an action whose epoch no longer matches is stale and skipped. That
//! is how an answer cancels the pending abandon without searching the heap.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use slab::Slab;

use super::arrivals::next_arrival;
use super::config::{rate_of, share_of, LogNormalSpec, QueueSpec, ShiftSpec, SimConfig, DAY, HOUR};
use super::survey::{ces, csat, nps, Experience};
use ccpulse_core::event::{
    AgentState, AgentStateChanged, Channel, Direction, Event, EventKind, InteractionEvent, Millis,
    SurveyAnswered, SurveyScore,
};

mod agents;

const NO_AGENT: u32 = u32::MAX;
const MINUTE: Millis = 60_000;
/// Repeat contacts come from customers seen within this window.
const REPEAT_WINDOW: Millis = 7 * DAY;
/// Bound on the remembered recent customers.
const RECENT_CAP: usize = 200_000;
/// A ticket waiting on the customer is closed after this long unanswered.
const AUTO_CLOSE: Millis = 3 * DAY;
/// Longest a reopen may come after the resolution (inside the engine's
/// 7-day memory of resolutions, so a reopen is never orphaned).
const MAX_REOPEN_DELAY: Millis = 6 * DAY;
/// Longest wait-on-customer loops per ticket.
const MAX_CUSTOMER_LOOPS: u8 = 2;
/// Longest identifier the codec accepts.
const MAX_ID_LEN: usize = 256;

/// Waiting order: higher priority first, then first come, then a unique
/// sequence number (deterministic ties).
type WaitKey = (Reverse<u32>, Millis, u64);

/// Voice, chat and tickets (email, web, social) wait in separate lines:
/// a busy chat agent only looks at chats, a free agent takes live contacts
/// before tickets.
const VOICE: usize = 0;
const CHAT: usize = 1;
const TICKET: usize = 2;

fn line_of(ch: Channel) -> usize {
    match ch {
        Channel::Voice => VOICE,
        Channel::Chat => CHAT,
        Channel::Email | Channel::Web | Channel::Social => TICKET,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    /// Voice only: offered to an agent, ringing; the caller still waits.
    Ringing,
    Connected,
    WrapUp,
    /// A ticket waiting on the customer's reply.
    OnCustomer,
    /// Resolved, kept only while a reopen is scheduled.
    Resolved,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Abandon,
    /// Voice: the agent picks up after ringing.
    Answer,
    HoldStart,
    HoldEnd,
    AgentMessage,
    CustomerMessage,
    /// The non-responding agent's stall is over: someone else takes it, or
    /// the agent finally replies.
    StallEnd,
    Transfer(u16),
    End,
    WrapDone,
    CustomerReply,
    AutoClose,
    Reopen,
    /// Back in the ticket line (a millisecond after the customer's message,
    /// so the message precedes any answer in the engine's canonical order).
    Requeue,
}

#[derive(Debug)]
enum Action {
    Arrival,
    /// Announce an off-shift agent (state `Offline`) at the start.
    Announce(u32),
    ShiftStart {
        agent: u32,
        planned_start: Millis,
        end: Millis,
    },
    ShiftEnd(u32),
    BreakDue {
        agent: u32,
        length: Millis,
    },
    BreakEnd(u32),
    /// An agent finishes the after-work of a contact it transferred away.
    DetachedWrapEnd {
        agent: u32,
        tag: u64,
    },
    Contact {
        slot: u32,
        epoch: u64,
        step: Step,
    },
    Survey(Box<SurveyAnswered>),
}

#[derive(Debug)]
struct Scheduled {
    at: Millis,
    seq: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: `BinaryHeap` is a max-heap and the earliest goes first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Debug)]
struct Contact {
    id: String,
    /// Unique for the run; names the agent's hold on this contact.
    uid: u64,
    channel: Channel,
    queue: u16,
    priority: u32,
    phase: Phase,
    epoch: u64,
    agent: u32,
    /// Who handled it last (for the survey and a late resolution).
    last_agent: u32,
    wait_since: Millis,
    wait_key: Option<WaitKey>,
    /// Total queue wait so far.
    waited: Millis,
    transferred: bool,
    reopened: bool,
    stalled: bool,
    /// This segment's reply asks the customer something.
    await_customer: bool,
    customer_loops: u8,
    survey_decided: bool,
}

/// What an agent is holding: a contact (by uid) or the after-work of one
/// it transferred away (by a fresh tag).
#[derive(Debug, Clone, Copy)]
struct Hold {
    tag: u64,
    chat: bool,
    wrapping: bool,
}

#[derive(Debug)]
struct Agent {
    id: String,
    /// Serves a queue with voice or chat (so it blends tickets in).
    live: bool,
    queues: Vec<u16>,
    queue_names: Vec<String>,
    shift: usize,
    days_off: [bool; 7],
    holds: Vec<Hold>,
    on_shift: bool,
    away: bool,
    /// A break is due; it starts once the agent's hands are free.
    break_pending: Option<Millis>,
    /// Last state emitted.
    state: AgentState,
    /// When the agent last became free: routing prefers the longest idle.
    idle_since: Millis,
}

/// The simulator. See [`crate::sim`] for the model.
#[derive(Debug)]
pub struct Simulator {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    heap: BinaryHeap<Scheduled>,
    seq: u64,
    /// Time of the action being processed.
    time: Millis,
    /// Everything before this has been emitted.
    clock: Millis,
    /// Continuous time of the last arrival, in ms (the process is exact).
    arrival_clock: f64,
    out: Vec<Event>,
    event_seq: u64,
    id_seq: [u64; 5],
    next_uid: u64,
    epochs: u64,
    contacts: Slab<Contact>,
    queue_names: Vec<String>,
    /// Cumulative arrival shares over queues, and over channels per queue.
    queue_cdf: Vec<f64>,
    channel_cdf: Vec<Vec<(Channel, f64)>>,
    queue_agents: Vec<Vec<u32>>,
    waiting: Vec<[BTreeMap<WaitKey, u32>; 3]>,
    agents: Vec<Agent>,
    recent: VecDeque<(Millis, u64)>,
}

/// `cust-` and 16 hex digits of a 64-bit mix of the customer number: looks
/// like a hash, stable across runs and seeds.
pub fn customer_ref(n: u64) -> String {
    // The splitmix64 finaliser: a bijection, so distinct customers never
    // share a reference.
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("cust-{:016x}", z ^ (z >> 31))
}

fn secs(s: f64) -> Millis {
    // `as` saturates and maps NaN to 0.
    (s * 1000.0).round() as Millis
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_LEN
}

fn cdf(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    weights
        .map(|w| {
            acc += rate_of(w);
            acc
        })
        .collect()
}

/// Index drawn from a cumulative table with `u` uniform in `[0, 1)`.
fn pick(cdf: &[f64], u: f64) -> usize {
    let total = cdf.last().copied().unwrap_or(0.0);
    if total <= 0.0 {
        return 0;
    }
    let x = u * total;
    cdf.iter()
        .position(|&c| x < c)
        .unwrap_or(cdf.len().saturating_sub(1))
}

/// The config with every value made usable (see the config module docs).
fn sanitize(mut cfg: SimConfig) -> SimConfig {
    cfg.queues.retain(|q| valid_id(&q.name));
    for q in &mut cfg.queues {
        q.channels.retain(|&(_, w)| rate_of(w) > 0.0);
        if q.channels.is_empty() {
            q.channels.push((Channel::Voice, 1.0));
        }
    }
    if cfg.queues.is_empty() {
        cfg.queues
            .push(QueueSpec::new("default", 1.0, &[(Channel::Voice, 1.0)]));
    }
    cfg.queues.truncate(u16::MAX as usize);
    if cfg.tenant.as_deref().is_some_and(|t| !valid_id(t)) {
        cfg.tenant = None;
    }
    cfg.shifts
        .retain(|s| s.length_minutes > 0 && rate_of(s.share) > 0.0);
    for s in &mut cfg.shifts {
        s.start_minute %= 24 * 60;
        s.length_minutes = s.length_minutes.min(24 * 60);
    }
    if cfg.shifts.is_empty() {
        cfg.shifts.push(ShiftSpec {
            start_minute: 0,
            length_minutes: 24 * 60,
            share: 1.0,
        });
    }
    cfg.customers = cfg.customers.max(1);
    cfg.chat_concurrency = cfg.chat_concurrency.max(1);
    let (a, b) = (rate_of(cfg.ring_s.0), rate_of(cfg.ring_s.1));
    cfg.ring_s = (a.min(b), a.max(b));
    for spec in [
        &mut cfg.wrap_up,
        &mut cfg.handle.voice,
        &mut cfg.handle.chat,
        &mut cfg.handle.email,
        &mut cfg.handle.web,
    ] {
        if !(spec.median_s.is_finite() && spec.median_s > 0.0) {
            spec.median_s = 1.0;
        }
        spec.sigma = if spec.sigma.is_finite() {
            spec.sigma.clamp(0.0, 3.0)
        } else {
            0.0
        };
    }
    if cfg.mean_patience_s.is_nan() || cfg.mean_patience_s <= 0.0 {
        cfg.mean_patience_s = 0.001;
    }
    if !(cfg.chat_patience_factor.is_finite() && cfg.chat_patience_factor > 0.0) {
        cfg.chat_patience_factor = 1.0;
    }
    for s in [
        &mut cfg.repeat_share,
        &mut cfg.priority_share,
        &mut cfg.extra_skill_share,
        &mut cfg.absence_share,
        &mut cfg.ticket_reserve_share,
        &mut cfg.short_abandon_share,
        &mut cfg.hold_share,
        &mut cfg.transfer_share,
        &mut cfg.waiting_on_customer_share,
        &mut cfg.reopen_share,
        &mut cfg.non_responder_share,
        &mut cfg.survey_share,
    ] {
        *s = share_of(*s);
    }
    cfg.agents = cfg.agents.min(NO_AGENT as usize - 1);
    cfg
}

impl Simulator {
    pub fn new(cfg: SimConfig) -> Self {
        let cfg = sanitize(cfg);
        let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let queue_names: Vec<String> = cfg.queues.iter().map(|q| q.name.clone()).collect();
        let queue_cdf = cdf(cfg.queues.iter().map(|q| q.share));
        let channel_cdf = cfg
            .queues
            .iter()
            .map(|q| {
                let c = cdf(q.channels.iter().map(|&(_, w)| w));
                q.channels.iter().map(|&(ch, _)| ch).zip(c).collect()
            })
            .collect();
        let nq = cfg.queues.len();
        let start = cfg.start;
        let mut sim = Simulator {
            rng,
            heap: BinaryHeap::new(),
            seq: 0,
            time: start,
            clock: start,
            arrival_clock: start as f64,
            out: Vec::new(),
            event_seq: 0,
            id_seq: [0; 5],
            next_uid: 0,
            epochs: 0,
            contacts: Slab::new(),
            queue_names,
            queue_cdf,
            channel_cdf,
            queue_agents: vec![Vec::new(); nq],
            waiting: (0..nq).map(|_| Default::default()).collect(),
            agents: Vec::new(),
            recent: VecDeque::new(),
            cfg,
        };
        sim.hire_agents();
        for a in 0..sim.agents.len() as u32 {
            sim.first_shift(a);
        }
        sim.schedule_next_arrival();
        sim
    }

    /// Everything with an event time before this has been emitted.
    pub fn now(&self) -> Millis {
        self.clock
    }

    /// The effective (sanitized) configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Run the simulation up to `until` (exclusive), appending every event
    /// with an event time `< until` to `out`, in event-time order. Calling it
    /// in steps yields exactly the stream of one call.
    pub fn advance_to(&mut self, until: Millis, out: &mut Vec<Event>) {
        while self.heap.peek().is_some_and(|s| s.at < until) {
            if let Some(s) = self.heap.pop() {
                self.time = s.at;
                self.act(s.action);
            }
        }
        self.clock = self.clock.max(until);
        out.append(&mut self.out);
    }

    // ----- plumbing --------------------------------------------------------

    fn at(&mut self, at: Millis, action: Action) {
        self.seq += 1;
        self.heap.push(Scheduled {
            at: at.max(self.time),
            seq: self.seq,
            action,
        });
    }

    fn after(&mut self, delay: Millis, action: Action) {
        self.at(self.time.saturating_add(delay.max(0)), action);
    }

    fn step_after(&mut self, slot: u32, delay: Millis, step: Step) {
        let epoch = self.contacts[slot as usize].epoch;
        self.after(delay, Action::Contact { slot, epoch, step });
    }

    /// A fresh epoch for `slot`: everything scheduled for it so far is void.
    fn renew(&mut self, slot: u32) {
        self.epochs += 1;
        self.contacts[slot as usize].epoch = self.epochs;
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.rng.random::<f64>()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }

    fn exp(&mut self, mean: f64) -> f64 {
        let e: f64 = Exp1.sample(&mut self.rng);
        e * mean
    }

    fn log_normal_ms(&mut self, spec: LogNormalSpec) -> Millis {
        let z: f64 = StandardNormal.sample(&mut self.rng);
        secs(spec.median_s * (spec.sigma * z).exp()).max(1_000)
    }

    fn emit(&mut self, kind: EventKind) {
        self.event_seq += 1;
        self.out.push(Event {
            event_id: format!("ev-{:x}-{:010}", self.cfg.seed, self.event_seq),
            occurred_at: self.time,
            tenant: self.cfg.tenant.clone(),
            kind,
        });
    }

    fn emit_ix(&mut self, slot: u32, event: InteractionEvent) {
        let interaction_id = self.contacts[slot as usize].id.clone();
        self.emit(EventKind::Interaction {
            interaction_id,
            event,
        });
    }

    fn agent_name(&self, a: u32) -> Option<String> {
        self.agents.get(a as usize).map(|ag| ag.id.clone())
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Arrival => {
                self.arrive();
                self.schedule_next_arrival();
            }
            Action::Announce(a) => self.announce(a),
            Action::ShiftStart {
                agent,
                planned_start,
                end,
            } => self.shift_start(agent, planned_start, end),
            Action::ShiftEnd(a) => self.shift_end(a),
            Action::BreakDue { agent, length } => self.break_due(agent, length),
            Action::BreakEnd(a) => self.break_end(a),
            Action::DetachedWrapEnd { agent, tag } => {
                self.drop_hold(agent, tag);
                self.released(agent);
            }
            Action::Contact { slot, epoch, step } => {
                if self
                    .contacts
                    .get(slot as usize)
                    .is_some_and(|c| c.epoch == epoch)
                {
                    self.step(slot, step);
                }
            }
            Action::Survey(s) => self.emit(EventKind::Survey(*s)),
        }
    }

    // ----- contacts --------------------------------------------------------

    fn schedule_next_arrival(&mut self) {
        let e: f64 = Exp1.sample(&mut self.rng);
        if let Some(t) = next_arrival(&self.cfg, self.arrival_clock, e) {
            self.arrival_clock = t;
            self.at(t.floor() as Millis, Action::Arrival);
        }
    }

    fn arrive(&mut self) {
        let u = self.rng.random::<f64>();
        let q = pick(&self.queue_cdf, u);
        let u = self.rng.random::<f64>();
        let chans = &self.channel_cdf[q];
        let cdf: Vec<f64> = chans.iter().map(|&(_, c)| c).collect();
        let channel = chans[pick(&cdf, u)].0;

        while self
            .recent
            .front()
            .is_some_and(|&(t, _)| t < self.time - REPEAT_WINDOW)
            || self.recent.len() > RECENT_CAP
        {
            self.recent.pop_front();
        }
        let customer = if !self.recent.is_empty() && self.chance(self.cfg.repeat_share) {
            let i = self.rng.random_range(0..self.recent.len());
            self.recent[i].1
        } else {
            self.rng.random_range(0..self.cfg.customers)
        };
        self.recent.push_back((self.time, customer));
        let priority = u32::from(self.chance(self.cfg.priority_share));

        let (prefix, k) = match channel {
            Channel::Voice => ("call", 0),
            Channel::Chat => ("chat", 1),
            Channel::Email => ("email", 2),
            Channel::Web => ("web", 3),
            Channel::Social => ("social", 4),
        };
        self.id_seq[k] += 1;
        self.next_uid += 1;
        let slot = self.contacts.insert(Contact {
            id: format!("{prefix}-{:06}", self.id_seq[k]),
            uid: self.next_uid,
            channel,
            queue: q as u16,
            priority,
            phase: Phase::Waiting,
            epoch: 0,
            agent: NO_AGENT,
            last_agent: NO_AGENT,
            wait_since: self.time,
            wait_key: None,
            waited: 0,
            transferred: false,
            reopened: false,
            stalled: false,
            await_customer: false,
            customer_loops: 0,
            survey_decided: false,
        }) as u32;
        self.emit_ix(
            slot,
            InteractionEvent::Queued {
                queue: self.queue_names[q].clone(),
                channel,
                priority,
                customer_ref: Some(customer_ref(customer)),
            },
        );
        self.enqueue(slot, NO_AGENT);
    }

    /// Put the contact in its queue's line (live contacts get a patience
    /// deadline) and route it if an agent is free (other than `exclude`).
    fn enqueue(&mut self, slot: u32, exclude: u32) {
        self.renew(slot);
        self.seq += 1;
        let (queue, line, key) = {
            let now = self.time;
            let c = &mut self.contacts[slot as usize];
            c.phase = Phase::Waiting;
            c.agent = NO_AGENT;
            c.wait_since = now;
            let key = (Reverse(c.priority), now, self.seq);
            c.wait_key = Some(key);
            (c.queue, line_of(c.channel), key)
        };
        self.waiting[queue as usize][line].insert(key, slot);
        if line != TICKET {
            let patience = self.patience_ms(line);
            if let Some(p) = patience {
                self.step_after(slot, p, Step::Abandon);
            }
        }
        let ch = self.contacts[slot as usize].channel;
        if let Some(a) = self.free_agent(queue, ch, exclude) {
            self.dispatch(slot, a);
        }
    }

    fn patience_ms(&mut self, line: usize) -> Option<Millis> {
        if self.chance(self.cfg.short_abandon_share) {
            return Some(secs(self.uniform(0.5, 4.5)));
        }
        let mut mean = self.cfg.mean_patience_s;
        if line == CHAT {
            mean *= self.cfg.chat_patience_factor;
        }
        if let Some(s) = self.cfg.spike {
            if s.covers(self.time) {
                mean *= rate_of(s.patience_factor).max(1e-6);
            }
        }
        if !mean.is_finite() {
            return None;
        }
        Some(secs(self.exp(mean)))
    }

    fn leave_line(&mut self, slot: u32) {
        let c = &mut self.contacts[slot as usize];
        if let Some(key) = c.wait_key.take() {
            let line = line_of(c.channel);
            self.waiting[c.queue as usize][line].remove(&key);
        }
    }

    /// Give the waiting contact to agent `a`: voice rings first, the rest is
    /// accepted at once.
    fn dispatch(&mut self, slot: u32, a: u32) {
        self.leave_line(slot);
        let (uid, ch) = {
            let c = &mut self.contacts[slot as usize];
            c.agent = a;
            (c.uid, c.channel)
        };
        self.agents[a as usize].holds.push(Hold {
            tag: uid,
            chat: ch == Channel::Chat,
            wrapping: false,
        });
        if ch == Channel::Voice {
            self.contacts[slot as usize].phase = Phase::Ringing;
            let agent_id = self.agents[a as usize].id.clone();
            self.emit_ix(slot, InteractionEvent::Offered { agent_id });
            let (lo, hi) = self.cfg.ring_s;
            let ring = secs(self.uniform(lo, hi));
            // Same epoch: the patience deadline still runs while it rings.
            self.step_after(slot, ring, Step::Answer);
        } else {
            self.answer(slot);
        }
        self.refresh(a);
    }

    fn answer(&mut self, slot: u32) {
        let now = self.time;
        let a = {
            let c = &mut self.contacts[slot as usize];
            c.waited += now - c.wait_since;
            c.phase = Phase::Connected;
            c.agent
        };
        let agent_id = self.agent_name(a).unwrap_or_default();
        self.emit_ix(slot, InteractionEvent::Answered { agent_id });
        self.renew(slot);
        self.plan(slot, true);
    }

    /// Draw the handled segment and schedule its steps.
    fn plan(&mut self, slot: u32, may_stall: bool) {
        let (ch, stalled) = {
            let c = &self.contacts[slot as usize];
            (c.channel, c.stalled)
        };
        if ch != Channel::Voice
            && may_stall
            && !stalled
            && self.chance(self.cfg.non_responder_share)
        {
            self.contacts[slot as usize].stalled = true;
            let stall = if ch == Channel::Chat {
                self.uniform(3.0 * 60.0, 15.0 * 60.0)
            } else {
                self.uniform(45.0 * 60.0, 180.0 * 60.0)
            };
            self.step_after(slot, secs(stall), Step::StallEnd);
            return;
        }
        let work = self.log_normal_ms(self.cfg.handle.of(ch));
        let transfer = self.maybe_transfer(slot);
        match ch {
            Channel::Voice => {
                if self.chance(self.cfg.hold_share) {
                    let hs = (work as f64 * self.uniform(0.2, 0.45)) as Millis;
                    let he = hs + (work as f64 * self.uniform(0.05, 0.15)) as Millis;
                    self.step_after(slot, hs, Step::HoldStart);
                    self.step_after(slot, he, Step::HoldEnd);
                }
                match transfer {
                    Some(q) => {
                        let at = (work as f64 * self.uniform(0.65, 0.9)) as Millis;
                        self.step_after(slot, at, Step::Transfer(q));
                    }
                    None => self.step_after(slot, work, Step::End),
                }
            }
            Channel::Chat => {
                let first = secs(self.uniform(5.0, 40.0)).min(work * 3 / 10);
                self.step_after(slot, first, Step::AgentMessage);
                let turns = self.rng.random_range(0..=3usize);
                let mut times: Vec<Millis> = (0..2 * turns)
                    .map(|_| {
                        let u = self.rng.random::<f64>();
                        first + ((work * 95 / 100 - first) as f64 * u) as Millis
                    })
                    .collect();
                times.sort_unstable();
                for (i, t) in times.into_iter().enumerate() {
                    let step = if i % 2 == 0 {
                        Step::CustomerMessage
                    } else {
                        Step::AgentMessage
                    };
                    self.step_after(slot, t, step);
                }
                match transfer {
                    Some(q) => self.step_after(slot, work, Step::Transfer(q)),
                    None => self.step_after(slot, work, Step::End),
                }
            }
            Channel::Email | Channel::Web | Channel::Social => match transfer {
                Some(q) => self.step_after(slot, work, Step::Transfer(q)),
                None => {
                    let loops = self.contacts[slot as usize].customer_loops;
                    let ask = loops < MAX_CUSTOMER_LOOPS
                        && self.chance(self.cfg.waiting_on_customer_share);
                    self.contacts[slot as usize].await_customer = ask;
                    self.step_after(slot, work, Step::AgentMessage);
                    self.step_after(slot, work, Step::End);
                }
            },
        }
    }

    /// Whether this segment ends in a transfer, and to which queue (another
    /// one that takes the channel); at most one transfer per contact.
    fn maybe_transfer(&mut self, slot: u32) -> Option<u16> {
        let c = &self.contacts[slot as usize];
        if c.transferred {
            return None;
        }
        let (q, ch) = (c.queue, c.channel);
        if !self.chance(self.cfg.transfer_share) {
            return None;
        }
        let targets: Vec<u16> = (0..self.cfg.queues.len() as u16)
            .filter(|&t| {
                t != q
                    && self.cfg.queues[t as usize]
                        .channels
                        .iter()
                        .any(|x| x.0 == ch)
            })
            .collect();
        if targets.is_empty() {
            return None;
        }
        let i = self.rng.random_range(0..targets.len());
        Some(targets[i])
    }

    fn step(&mut self, slot: u32, step: Step) {
        let phase = self.contacts[slot as usize].phase;
        match (step, phase) {
            (Step::Abandon, Phase::Waiting | Phase::Ringing) => self.abandon(slot),
            (Step::Answer, Phase::Ringing) => self.answer(slot),
            (Step::HoldStart, Phase::Connected) => {
                self.emit_ix(slot, InteractionEvent::HoldStarted)
            }
            (Step::HoldEnd, Phase::Connected) => self.emit_ix(slot, InteractionEvent::HoldEnded),
            (Step::AgentMessage, Phase::Connected) => {
                let agent_id = self.agent_name(self.contacts[slot as usize].agent);
                self.emit_ix(
                    slot,
                    InteractionEvent::Message {
                        direction: Direction::Agent,
                        agent_id,
                    },
                );
            }
            (Step::CustomerMessage, Phase::Connected) => self.customer_message(slot),
            (Step::StallEnd, Phase::Connected) => self.stall_end(slot),
            (Step::Transfer(q), Phase::Connected) => self.transfer(slot, q),
            (Step::End, Phase::Connected) => self.end(slot),
            (Step::WrapDone, Phase::WrapUp) => self.wrap_done(slot),
            (Step::CustomerReply, Phase::OnCustomer) => {
                self.customer_message(slot);
                let status = "open".to_string();
                self.emit_ix(slot, InteractionEvent::StatusChanged { status });
                self.renew(slot);
                self.step_after(slot, 1, Step::Requeue);
            }
            (Step::AutoClose, Phase::OnCustomer) => self.resolve(slot, None, true),
            (Step::Reopen, Phase::Resolved) => {
                self.emit_ix(slot, InteractionEvent::Reopened);
                self.customer_message(slot);
                self.contacts[slot as usize].reopened = true;
                self.renew(slot);
                self.step_after(slot, 1, Step::Requeue);
            }
            (Step::Requeue, Phase::OnCustomer | Phase::Resolved) => self.enqueue(slot, NO_AGENT),
            // Every step is scheduled for the phase it expects; anything
            // else is a plan that was overtaken.
            _ => {}
        }
    }

    fn customer_message(&mut self, slot: u32) {
        self.emit_ix(
            slot,
            InteractionEvent::Message {
                direction: Direction::Customer,
                agent_id: None,
            },
        );
    }

    fn abandon(&mut self, slot: u32) {
        let ringing = self.contacts[slot as usize].phase == Phase::Ringing;
        self.leave_line(slot);
        self.emit_ix(slot, InteractionEvent::Abandoned);
        let c = self.contacts.remove(slot as usize);
        if ringing {
            self.drop_hold(c.agent, c.uid);
            self.released(c.agent);
        }
    }

    /// The non-responder's stall is over: a free colleague takes the contact
    /// over (a second `Answered`), or else the agent replies late.
    fn stall_end(&mut self, slot: u32) {
        let (q, ch, a, uid) = {
            let c = &self.contacts[slot as usize];
            (c.queue, c.channel, c.agent, c.uid)
        };
        if let Some(b) = self.free_agent(q, ch, a) {
            self.drop_hold(a, uid);
            self.agents[b as usize].holds.push(Hold {
                tag: uid,
                chat: ch == Channel::Chat,
                wrapping: false,
            });
            self.contacts[slot as usize].agent = b;
            let agent_id = self.agents[b as usize].id.clone();
            self.emit_ix(slot, InteractionEvent::Answered { agent_id });
            self.renew(slot);
            self.plan(slot, false);
            self.refresh(b);
            self.released(a);
        } else {
            self.renew(slot);
            self.plan(slot, false);
        }
    }

    fn transfer(&mut self, slot: u32, to: u16) {
        let to_queue = Some(self.queue_names[to as usize].clone());
        self.emit_ix(
            slot,
            InteractionEvent::Transferred {
                to_queue,
                to_agent: None,
            },
        );
        let (a, uid) = {
            let c = &mut self.contacts[slot as usize];
            c.transferred = true;
            c.last_agent = c.agent;
            c.queue = to;
            (c.agent, c.uid)
        };
        // The agent wraps up its part under a tag of its own; the contact
        // moves on without it.
        self.next_uid += 1;
        let tag = self.next_uid;
        if let Some(h) = self.hold_mut(a, uid) {
            h.tag = tag;
            h.wrapping = true;
        }
        let wrap = self.log_normal_ms(self.cfg.wrap_up) / 2;
        self.after(wrap, Action::DetachedWrapEnd { agent: a, tag });
        self.refresh(a);
        self.enqueue(slot, a);
    }

    fn end(&mut self, slot: u32) {
        if self.contacts[slot as usize].await_customer {
            let status = "waiting_on_customer".to_string();
            self.emit_ix(slot, InteractionEvent::StatusChanged { status });
        }
        self.emit_ix(slot, InteractionEvent::Ended);
        let (a, uid) = {
            let c = &mut self.contacts[slot as usize];
            c.phase = Phase::WrapUp;
            (c.agent, c.uid)
        };
        if let Some(h) = self.hold_mut(a, uid) {
            h.wrapping = true;
        }
        self.refresh(a);
        self.renew(slot);
        let wrap = self.log_normal_ms(self.cfg.wrap_up);
        self.step_after(slot, wrap, Step::WrapDone);
    }

    fn wrap_done(&mut self, slot: u32) {
        let (a, uid, ask) = {
            let c = &mut self.contacts[slot as usize];
            c.last_agent = c.agent;
            (c.agent, c.uid, c.await_customer)
        };
        let agent_id = self.agent_name(a);
        self.emit_ix(slot, InteractionEvent::WrapUpDone { agent_id });
        self.drop_hold(a, uid);
        self.contacts[slot as usize].agent = NO_AGENT;
        if ask {
            {
                let c = &mut self.contacts[slot as usize];
                c.await_customer = false;
                c.customer_loops += 1;
                c.phase = Phase::OnCustomer;
            }
            self.renew(slot);
            if self.chance(0.85) {
                let reply = secs(self.exp(3.0 * 3600.0)).clamp(5 * MINUTE, AUTO_CLOSE - MINUTE);
                self.step_after(slot, reply, Step::CustomerReply);
            } else {
                self.step_after(slot, AUTO_CLOSE, Step::AutoClose);
            }
        } else {
            self.resolve(slot, Some(a), false);
        }
        self.released(a);
    }

    fn resolve(&mut self, slot: u32, agent: Option<u32>, auto_closed: bool) {
        let agent_id = agent.and_then(|a| self.agent_name(a));
        self.emit_ix(slot, InteractionEvent::Resolved { agent_id });
        let (ch, decided) = {
            let c = &mut self.contacts[slot as usize];
            c.phase = Phase::Resolved;
            (c.channel, std::mem::replace(&mut c.survey_decided, true))
        };
        if !decided && self.chance(self.cfg.survey_share) {
            self.survey(slot, auto_closed);
        }
        let reopenable = line_of(ch) == TICKET && !self.contacts[slot as usize].reopened;
        if reopenable && self.chance(self.cfg.reopen_share) {
            self.renew(slot);
            let delay = secs(self.exp(20.0 * 3600.0)).clamp(10 * MINUTE, MAX_REOPEN_DELAY);
            self.step_after(slot, delay, Step::Reopen);
        } else {
            self.contacts.remove(slot as usize);
        }
    }

    /// Schedule the survey answers (CSAT always, NPS and CES sometimes) a
    /// while after the resolution, scored from the contact's experience.
    fn survey(&mut self, slot: u32, auto_closed: bool) {
        let c = &self.contacts[slot as usize];
        // What counts as a normal wait differs by channel.
        let normal_wait_s = match line_of(c.channel) {
            VOICE => 60.0,
            CHAT => 90.0,
            _ => 4.0 * 3600.0,
        };
        let experience = Experience {
            wait_ratio: c.waited as f64 / 1000.0 / normal_wait_s,
            transferred: c.transferred,
            reopened: c.reopened,
            stalled: c.stalled,
            auto_closed,
        };
        let template = SurveyAnswered {
            interaction_id: c.id.clone(),
            agent_id: self.agent_name(c.last_agent),
            queue: self.queue_names[c.queue as usize].clone(),
            channel: c.channel,
            score: SurveyScore::Csat(3),
        };
        let z: f64 = StandardNormal.sample(&mut self.rng);
        let x = experience.latent(z);
        let delay = (MINUTE + secs(self.exp(20.0 * 60.0))).min(6 * HOUR);
        let mut scores = vec![SurveyScore::Csat(csat(x))];
        if self.chance(0.5) {
            scores.push(SurveyScore::Nps(nps(x)));
        }
        if self.chance(0.4) {
            scores.push(SurveyScore::Ces(ces(x)));
        }
        for score in scores {
            let s = SurveyAnswered {
                score,
                ..template.clone()
            };
            self.after(delay, Action::Survey(Box::new(s)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::run;
    use ccpulse_core::event::codec::{decode_json, encode_json, Limits};

    #[test]
    fn customer_refs_look_hashed_and_never_collide() {
        let r = customer_ref(42);
        assert_eq!(r, customer_ref(42));
        assert_eq!(r.len(), "cust-".len() + 16);
        assert!(r[5..].bytes().all(|b| b.is_ascii_hexdigit()));
        let all: std::collections::HashSet<String> = (0..10_000).map(customer_ref).collect();
        assert_eq!(all.len(), 10_000);
    }

    #[test]
    fn pick_follows_the_cumulative_weights() {
        let c = cdf([1.0, 0.0, 3.0, f64::NAN, -2.0].into_iter());
        assert_eq!(c, vec![1.0, 1.0, 4.0, 4.0, 4.0]);
        assert_eq!(pick(&c, 0.0), 0);
        assert_eq!(pick(&c, 0.2499), 0);
        assert_eq!(pick(&c, 0.25), 2);
        assert_eq!(pick(&c, 0.999_999), 2);
        assert_eq!(pick(&[], 0.5), 0);
        assert_eq!(pick(&[0.0, 0.0], 0.5), 0);
    }

    #[test]
    fn a_broken_config_still_runs_and_emits_valid_events() {
        let cfg = SimConfig {
            tenant: Some(String::new()),
            queues: vec![
                QueueSpec::new("", 1.0, &[(Channel::Chat, 1.0)]),
                QueueSpec::new("only", f64::NAN, &[]),
            ],
            shifts: vec![],
            chat_concurrency: 0,
            ring_s: (9.0, f64::NAN),
            wrap_up: LogNormalSpec::new(-1.0, f64::INFINITY),
            mean_patience_s: f64::NAN,
            repeat_share: 7.0,
            survey_share: -1.0,
            non_responder_share: f64::NAN,
            agents: 3,
            ..SimConfig::small()
        };
        // The only queue left has no share: nothing arrives, but agents
        // still log in and out.
        let events = run(cfg.clone(), 2 * DAY);
        assert!(!events.is_empty());
        let limits = Limits::default();
        for e in &events {
            let back = decode_json(encode_json(e).as_bytes(), &limits, None);
            assert_eq!(back.as_ref(), Ok(e));
        }
        let with_share = SimConfig {
            queues: vec![QueueSpec::new("only", 1.0, &[])],
            ..cfg
        };
        let events = run(with_share, DAY);
        let queued = events.iter().filter(|e| e.kind_name() == "queued").count();
        assert!(queued > 100);
        for e in &events {
            let back = decode_json(encode_json(e).as_bytes(), &limits, None);
            assert_eq!(back.as_ref(), Ok(e));
        }
    }

    #[test]
    fn without_agents_calls_abandon_and_tickets_wait() {
        let cfg = SimConfig {
            agents: 0,
            ..SimConfig::small()
        };
        let events = run(cfg, DAY);
        let n = |name: &str| events.iter().filter(|e| e.kind_name() == name).count();
        assert_eq!(n("answered") + n("offered") + n("agent_state_changed"), 0);
        assert!(n("abandoned") > 0);
        assert!(n("queued") > n("abandoned"));
    }

    #[test]
    fn with_endless_patience_nobody_abandons() {
        let cfg = SimConfig {
            mean_patience_s: f64::INFINITY,
            short_abandon_share: 0.0,
            agents: 5,
            ..SimConfig::small()
        };
        let events = run(cfg, DAY);
        assert!(events.iter().all(|e| e.kind_name() != "abandoned"));
    }

    #[test]
    fn every_agent_is_announced_at_the_start() {
        // Monday 10:00: most day shifts are under way.
        let cfg = SimConfig {
            start: SimConfig::small().start + 10 * HOUR,
            ..SimConfig::small()
        };
        let start = cfg.start;
        let mut sim = Simulator::new(cfg.clone());
        let mut out = Vec::new();
        sim.advance_to(start + 1, &mut out);
        let mut seen = std::collections::HashSet::new();
        for e in &out {
            assert_eq!(e.occurred_at, start);
            if let EventKind::Agent(a) = &e.kind {
                assert!(matches!(
                    a.state,
                    AgentState::Offline | AgentState::Available
                ));
                assert!(!a.queues.is_empty());
                seen.insert(a.agent_id.clone());
            }
        }
        assert_eq!(seen.len(), cfg.agents);
        let on = out
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::Agent(a) if a.state == AgentState::Available))
            .count();
        assert!(on > cfg.agents / 3 && on < cfg.agents, "{on}");
    }
}
