//! The pure, deterministic fold: events in, state, a [`Snapshot`] and
//! effects out.
//!
//! # Time
//! The engine has no clock. Its time is the *watermark* `W`: every event
//! with event time `< W` has been applied, in the canonical order
//! `(occurred_at, kind rank, event_id)`. `W` follows the newest event time
//! seen minus the allowed lateness, and the shell may push it further with
//! [`Engine::advance`] (idle partitions follow the wall clock). Events
//! arriving with a time `>= W` wait in a reorder buffer, so any arrival
//! order within the allowed lateness yields the same state. Events arriving
//! with a time `< W` are *late*: counted, applied at once, and kept out of
//! window panes the ring no longer holds (cumulative figures still count
//! them).
//!
//! # State
//! Open interactions live in a slab addressed by `u32` slots, indexed by id
//! in a `HashTable<u32>` (the id is stored once). Per queue × channel and
//! per agent stats are in [`stats`]; their windows in [`window`].
//! Everything is bounded: queues and agents with own series are capped
//! (overflow folds into `other`), resolved interactions and customers are
//! remembered only for the repeat window and up to a cap, idle interactions
//! expire.

pub mod hist;
pub mod snapshot;
pub mod stats;
pub mod view;
pub mod window;

mod dedup;
mod erlang;
mod local_time;
mod sla;

use std::collections::VecDeque;
use std::hash::BuildHasher;

use compact_str::CompactString;
use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};
use serde::Serialize;
use slab::Slab;

use crate::config::EngineConfig;
use crate::event::{
    AgentState, AgentStateChanged, Channel, Direction, Effect, Event, EventKind, InteractionEvent,
    Millis, SurveyAnswered, SurveyScore,
};
use dedup::Dedup;
use local_time::LocalClock;
use stats::{AgentStats, HistKind, QueueStats};

use crate::event::SlaTarget;
use crate::sla::wheel::TimerWheel;
pub use sla::SlaOutcomes;

pub use snapshot::Snapshot;
pub use view::View;

/// "No time" marker inside compact state.
const NONE: Millis = Millis::MIN;
/// "No agent" marker.
const NO_AGENT: u32 = u32::MAX;
/// Label value that absorbs queues and agents beyond the caps.
pub const OTHER: &str = "other";
const HOUR: Millis = 3_600_000;

/// One duration observation, for exporting histograms as live samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub kind: SampleKind,
    /// Queue index ([`Engine::queue_label`]) or agent index
    /// ([`Engine::agent_label`]), by kind.
    pub key: u32,
    pub channel: Channel,
    pub ms: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    Queue(HistKind),
    AgentHandle,
}

/// What [`Engine::apply`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Held in the reorder buffer until the watermark passes it.
    Buffered,
    /// Seen before within the dedup horizon: ignored.
    Duplicate,
    /// Older than the watermark: applied at once, out of canonical order.
    Late,
}

/// Counters about the fold itself (not KPIs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessingStats {
    pub events_received: u64,
    pub events_applied: u64,
    pub duplicates: u64,
    pub late: u64,
    /// Late events too old for some window tier (cumulative figures still
    /// include them).
    pub late_beyond_window: u64,
    /// Events for an interaction the engine does not know (e.g. its
    /// creation predates the log's retention).
    pub orphaned: u64,
    /// Events that do not fit the interaction's state (e.g. an abandon
    /// after the answer): counted, not applied.
    pub ignored_transitions: u64,
    /// Agent events older than the agent's newest known state.
    pub stale_agent_events: u64,
    /// Interactions forgotten after `idle_ttl` without activity.
    pub expired_interactions: u64,
    /// Customers or resolutions not tracked because a cap was reached.
    pub tracking_overflow: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// In a queue; the customer waits.
    Waiting,
    /// With no queue and no open segment yet (transferred straight to an
    /// agent, or reopened).
    Routing,
    /// An agent is handling it.
    Connected,
    /// After-contact work.
    WrapUp,
    /// Handled, not resolved (e.g. a ticket waiting on the customer).
    Idle,
}

impl Phase {
    /// In queue or in progress: counts toward concurrency.
    fn is_active(self) -> bool {
        !matches!(self, Phase::Idle)
    }
}

const F_TRANSFERRED: u8 = 1;
const F_REOPENED: u8 = 2;
const F_CUSTOMER_PENDING: u8 = 4;
const F_REPEAT: u8 = 8;
const F_RESPONDED: u8 = 16;

/// One open interaction. Kept small: there may be millions.
#[derive(Debug, Clone)]
struct Interaction {
    id: CompactString,
    /// xxh3 of the hashed customer reference; 0 = none.
    customer: u64,
    created_at: Millis,
    queued_at: Millis,
    seg_start: Millis,
    hold_started: Millis,
    ended_at: Millis,
    last_activity: Millis,
    hold_ms: Millis,
    agent: u32,
    queue: u32,
    priority: u32,
    /// Index of this interaction's SLA clocks, or `u32::MAX`.
    sla: u32,
    exchanges: u16,
    channel: Channel,
    phase: Phase,
    flags: u8,
}

/// What is remembered of a resolved interaction, for reopens and FCR.
#[derive(Debug, Clone)]
struct Resolved {
    customer: u64,
    created_at: Millis,
    resolved_at: Millis,
    queue: u32,
    priority: u32,
    channel: Channel,
    fcr_candidate: bool,
}

#[derive(Debug, Clone, Default)]
struct Customer {
    last_contact: Millis,
    /// Id hash of the customer's last resolution still counted as FCR.
    fcr_resolution: u64,
}

/// Directory entry of one agent (every agent seen, capped or not).
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    pub(crate) id: CompactString,
    pub(crate) state: AgentState,
    /// When `state` began; `NONE` until the first state event.
    pub(crate) since: Millis,
    pub(crate) queues: Vec<u32>,
    /// Index into `agent_stats` (0 = the shared `other` bucket).
    pub(crate) stats: u32,
    /// Open interactions assigned to this agent.
    pub(crate) open: u32,
}

/// A buffered event with its canonical sort key.
#[derive(Debug, Clone)]
struct Pending {
    t: Millis,
    class: u8,
    rank: u8,
    ev: Event,
}

impl Pending {
    fn new(ev: Event) -> Self {
        let (class, rank) = match &ev.kind {
            EventKind::Agent(_) => (0, 0),
            EventKind::Interaction { event, .. } => (1, event.lifecycle_rank()),
            EventKind::Survey(_) => (2, 0),
        };
        Pending {
            t: ev.occurred_at,
            class,
            rank,
            ev,
        }
    }

    fn key(&self) -> (Millis, u8, u8, &str) {
        (self.t, self.class, self.rank, self.ev.event_id.as_str())
    }
}

/// The fold. See the module docs for its time model.
#[derive(Debug, Clone)]
pub struct Engine {
    cfg: EngineConfig,
    buffer: VecDeque<Pending>,
    max_seen: Millis,
    /// Newest event time of any kind, for `flush`.
    max_any: Millis,
    watermark: Millis,
    dedup: Dedup,
    interactions: Slab<Interaction>,
    index: HashTable<u32>,
    queue_ids: FxHashMap<CompactString, u32>,
    queue_names: Vec<CompactString>,
    queues: Vec<[Option<Box<QueueStats>>; 5]>,
    agent_ids: FxHashMap<CompactString, u32>,
    agents: Vec<Agent>,
    agent_stats: Vec<AgentStats>,
    resolved: FxHashMap<u64, Resolved>,
    customers: FxHashMap<u64, Customer>,
    local: LocalClock,
    stats: ProcessingStats,
    housekeeping_hour: i64,
    sla_wheel: TimerWheel<u64>,
    sla_clocks: Slab<sla::Clocks>,
    sla_detail: sla::SlaDetail,
    /// Duration samples since the last drain, when the shell asked for them.
    tap: Option<Vec<Sample>>,
    /// Reassignment decisions already emitted (by effect id), installed
    /// before a restore so the rebuilt state agrees with what was published.
    recorded: FxHashMap<String, crate::event::Reassignment>,
}

fn id_hash(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

impl Engine {
    pub fn new(cfg: EngineConfig) -> Self {
        let windows = cfg.windows.clone();
        Engine {
            dedup: Dedup::new(cfg.dedup_horizon),
            local: LocalClock::new(cfg.time_zone),
            buffer: VecDeque::new(),
            max_seen: NONE,
            max_any: NONE,
            watermark: NONE,
            interactions: Slab::new(),
            index: HashTable::new(),
            queue_ids: FxHashMap::default(),
            queue_names: Vec::new(),
            queues: Vec::new(),
            agent_ids: FxHashMap::default(),
            agents: Vec::new(),
            agent_stats: vec![AgentStats::new(&windows)],
            resolved: FxHashMap::default(),
            customers: FxHashMap::default(),
            stats: ProcessingStats::default(),
            housekeeping_hour: NONE,
            sla_wheel: TimerWheel::new(0),
            sla_clocks: Slab::new(),
            sla_detail: Default::default(),
            tap: None,
            recorded: FxHashMap::default(),
            cfg,
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Everything with an event time below this has been applied.
    pub fn watermark(&self) -> Millis {
        self.watermark
    }

    /// Newest event time seen (`Millis::MIN` before any event).
    pub fn max_event_time(&self) -> Millis {
        self.max_seen
    }

    pub fn processing(&self) -> &ProcessingStats {
        &self.stats
    }

    pub fn open_interactions(&self) -> usize {
        self.interactions.len()
    }

    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Collect duration samples for live export (off by default; the shell
    /// turns it on once a partition is restored, so history is not
    /// re-exported).
    pub fn set_sample_tap(&mut self, on: bool) {
        self.tap = on.then(Vec::new);
    }

    /// Install decisions read back from the effects topic: when a restore
    /// reaches the same breach (same effect id), the recorded action is
    /// applied instead of a fresh pick, whose inputs (the replicated agent
    /// directory at that moment) a replay cannot reproduce exactly.
    pub fn install_recorded_decisions(&mut self, effects: impl IntoIterator<Item = Effect>) {
        for e in effects {
            if let Effect::ReassignmentRequested(r) = e {
                self.recorded.insert(r.effect_id, r.action);
            }
        }
    }

    /// Move the samples collected so far into `into`.
    pub fn drain_samples(&mut self, into: &mut Vec<Sample>) {
        if let Some(t) = self.tap.as_mut() {
            into.append(t);
        }
    }

    /// Label of a queue index (`other` for queues past the cap).
    pub fn queue_label(&self, q: u32) -> &str {
        self.queue_names
            .get(q as usize)
            .map_or(OTHER, |n| n.as_str())
    }

    /// Label of an agent index (`other` for agents past the cap).
    pub fn agent_label(&self, a: u32) -> &str {
        match self.agents.get(a as usize) {
            Some(ag) if ag.stats != 0 => ag.id.as_str(),
            _ => OTHER,
        }
    }

    fn tap(&mut self, kind: SampleKind, key: u32, channel: Channel, ms: Millis) {
        if let Some(t) = self.tap.as_mut() {
            t.push(Sample {
                kind,
                key,
                channel,
                ms,
            });
        }
    }

    /// Take one event. Effects decided on the way are appended to `out`.
    pub fn apply(&mut self, ev: Event, out: &mut Vec<Effect>) -> Outcome {
        self.stats.events_received += 1;
        if !self.dedup.insert(&ev.event_id, ev.occurred_at) {
            self.stats.duplicates += 1;
            return Outcome::Duplicate;
        }
        if ev.occurred_at < self.watermark {
            self.stats.late += 1;
            self.process(ev, out);
            // A late event can start a clock whose deadline already passed:
            // it fires now, as the watermark is beyond it.
            self.sla_fire(self.watermark, out);
            return Outcome::Late;
        }
        // Agent events are replicated to every partition and arrive at
        // wall-clock-dependent points; only the partition's own events move
        // its watermark, so a replay of the partition moves it identically.
        if !matches!(ev.kind, EventKind::Agent(_)) {
            self.max_seen = self.max_seen.max(ev.occurred_at);
        }
        self.max_any = self.max_any.max(ev.occurred_at);
        let p = Pending::new(ev);
        // In-order streams append at the back in O(1).
        let pos = if self.buffer.back().is_none_or(|b| b.key() <= p.key()) {
            self.buffer.len()
        } else {
            self.buffer.partition_point(|b| b.key() <= p.key())
        };
        self.buffer.insert(pos, p);
        let wm = self.max_seen.saturating_sub(self.cfg.allowed_lateness);
        self.advance(wm, out);
        Outcome::Buffered
    }

    /// Move the watermark to `wm` (never backwards): apply buffered events
    /// older than it, in canonical order.
    pub fn advance(&mut self, wm: Millis, out: &mut Vec<Effect>) {
        if wm <= self.watermark {
            return;
        }
        while self.buffer.front().is_some_and(|p| p.t < wm) {
            if let Some(p) = self.buffer.pop_front() {
                // Deadlines before this event's time pass first: an action
                // at exactly the deadline still meets it.
                self.sla_fire(p.t, out);
                self.process(p.ev, out);
            }
        }
        self.sla_fire(wm, out);
        self.watermark = wm;
        self.housekeeping();
    }

    /// End of input (replay): apply everything buffered.
    pub fn flush(&mut self, out: &mut Vec<Effect>) {
        if self.max_any != NONE {
            self.advance(self.max_any.saturating_add(1), out);
        }
    }

    fn process(&mut self, ev: Event, _out: &mut Vec<Effect>) {
        // Effects come from timers only (see `sla_fire`); events change
        // state.
        self.stats.events_applied += 1;
        let t = ev.occurred_at;
        match ev.kind {
            EventKind::Interaction {
                interaction_id,
                event,
            } => self.on_interaction(t, &interaction_id, event),
            EventKind::Agent(a) => self.on_agent(t, a),
            EventKind::Survey(s) => self.on_survey(t, s),
        }
    }

    // ----- interning -------------------------------------------------------

    fn queue_id(&mut self, name: &str) -> u32 {
        if let Some(&q) = self.queue_ids.get(name) {
            return q;
        }
        let name = if self.queue_names.len() + 1 >= self.cfg.max_queues {
            // Keep one slot for `other`; everything past the cap lands there.
            match self.queue_ids.get(OTHER) {
                Some(&q) => return q,
                None => OTHER,
            }
        } else {
            name
        };
        let q = self.queue_names.len() as u32;
        self.queue_names.push(name.into());
        self.queue_ids.insert(name.into(), q);
        self.queues.push(Default::default());
        q
    }

    fn queue_stats(&mut self, q: u32, ch: Channel) -> &mut QueueStats {
        let settings = self.cfg.queue(&self.queue_names[q as usize]).clone();
        let windows = &self.cfg.windows;
        self.queues[q as usize][ch.index()]
            .get_or_insert_with(|| Box::new(QueueStats::new(settings, windows)))
    }

    fn agent_id(&mut self, name: &str) -> u32 {
        if let Some(&a) = self.agent_ids.get(name) {
            return a;
        }
        let stats = if self.agent_stats.len() <= self.cfg.max_agents {
            self.agent_stats.push(AgentStats::new(&self.cfg.windows));
            (self.agent_stats.len() - 1) as u32
        } else {
            0
        };
        let a = self.agents.len() as u32;
        self.agents.push(Agent {
            id: name.into(),
            state: AgentState::Offline,
            since: NONE,
            queues: Vec::new(),
            stats,
            open: 0,
        });
        self.agent_ids.insert(name.into(), a);
        a
    }

    fn find(&self, id: &str) -> Option<u32> {
        let h = FxBuildHasher.hash_one(id);
        self.index
            .find(h, |&s| {
                self.interactions
                    .get(s as usize)
                    .is_some_and(|i| i.id == id)
            })
            .copied()
    }

    fn remove(&mut self, slot: u32) -> Interaction {
        self.sla_close(slot);
        let it = self.interactions.remove(slot as usize);
        let h = FxBuildHasher.hash_one(it.id.as_str());
        if let Ok(e) = self.index.find_entry(h, |&s| s == slot) {
            e.remove();
        }
        self.set_agent_of(&it, NO_AGENT);
        it
    }

    /// Reassign `slot` to `agent`, keeping the agents' open counts.
    fn assign(&mut self, slot: u32, agent: u32) {
        let old = self.interactions[slot as usize].agent;
        if old == agent {
            return;
        }
        if let Some(a) = self.agents.get_mut(old as usize) {
            a.open = a.open.saturating_sub(1);
        }
        if let Some(a) = self.agents.get_mut(agent as usize) {
            a.open += 1;
        }
        self.interactions[slot as usize].agent = agent;
    }

    fn set_agent_of(&mut self, it: &Interaction, agent: u32) {
        if it.agent != agent {
            if let Some(a) = self.agents.get_mut(it.agent as usize) {
                a.open = a.open.saturating_sub(1);
            }
        }
    }

    // ----- interactions ----------------------------------------------------

    fn on_interaction(&mut self, t: Millis, id: &str, event: InteractionEvent) {
        let slot = match event {
            InteractionEvent::Queued {
                queue,
                channel,
                priority,
                customer_ref,
            } => {
                if self.find(id).is_some() {
                    self.stats.ignored_transitions += 1;
                } else {
                    self.on_queued(t, id, &queue, channel, priority, customer_ref.as_deref());
                }
                return;
            }
            InteractionEvent::Reopened => {
                if self.find(id).is_some() {
                    self.stats.ignored_transitions += 1;
                } else {
                    self.on_reopened(t, id);
                }
                return;
            }
            _ => match self.find(id) {
                Some(s) => s,
                None => {
                    self.stats.orphaned += 1;
                    return;
                }
            },
        };
        self.interactions[slot as usize].last_activity = t;
        let ok = match event {
            InteractionEvent::Offered { agent_id } => self.on_offered(slot, &agent_id),
            InteractionEvent::Answered { agent_id } => self.on_answered(t, slot, &agent_id),
            InteractionEvent::Message { direction, .. } => {
                self.on_message(t, slot, direction);
                true
            }
            InteractionEvent::HoldStarted => {
                let it = &mut self.interactions[slot as usize];
                let ok = matches!(it.phase, Phase::Connected) && it.hold_started == NONE;
                if ok {
                    it.hold_started = t;
                    if self.sla_pauses_on(slot, "on_hold") {
                        self.sla_pause(slot, sla::PAUSE_HOLD, true, t);
                    }
                }
                ok
            }
            InteractionEvent::HoldEnded => {
                let it = &mut self.interactions[slot as usize];
                let ok = it.hold_started != NONE;
                if ok {
                    it.hold_ms += t - it.hold_started;
                    it.hold_started = NONE;
                    self.sla_pause(slot, sla::PAUSE_HOLD, false, t);
                }
                ok
            }
            InteractionEvent::Transferred { to_queue, to_agent } => {
                self.on_transferred(t, slot, to_queue.as_deref(), to_agent.as_deref())
            }
            InteractionEvent::Abandoned => self.on_abandoned(t, slot),
            InteractionEvent::Ended => {
                let it = &mut self.interactions[slot as usize];
                let ok = it.phase == Phase::Connected;
                if ok {
                    if it.hold_started != NONE {
                        it.hold_ms += t - it.hold_started;
                        it.hold_started = NONE;
                    }
                    it.ended_at = t;
                    it.phase = Phase::WrapUp;
                    self.sla_pause(slot, sla::PAUSE_HOLD, false, t);
                }
                ok
            }
            InteractionEvent::WrapUpDone { agent_id } => {
                let it = &self.interactions[slot as usize];
                let ok = matches!(it.phase, Phase::Connected | Phase::WrapUp);
                if ok {
                    let agent = agent_id.map(|a| self.agent_id(&a));
                    self.close_segment(t, slot, agent);
                    self.interactions[slot as usize].phase = Phase::Idle;
                    let (q, ch) = self.qc(slot);
                    self.queue_stats(q, ch).shift_concurrency(t, false);
                }
                ok
            }
            InteractionEvent::Resolved { agent_id } => {
                self.on_resolved(t, slot, agent_id.as_deref());
                true
            }
            InteractionEvent::StatusChanged { status } => {
                let pause = self.sla_pauses_on(slot, &status);
                self.sla_pause(slot, sla::PAUSE_STATUS, pause, t);
                true
            }
            InteractionEvent::Queued { .. } | InteractionEvent::Reopened => true,
        };
        if !ok {
            self.stats.ignored_transitions += 1;
        }
    }

    fn qc(&self, slot: u32) -> (u32, Channel) {
        let it = &self.interactions[slot as usize];
        (it.queue, it.channel)
    }

    /// Record into the queue × channel of `slot`, counting late-beyond-window.
    fn record_q(&mut self, slot: u32, t: Millis, f: impl Fn(&mut stats::QueueCounters)) {
        let (q, ch) = self.qc(slot);
        if !self.queue_stats(q, ch).record(t, f) {
            self.stats.late_beyond_window += 1;
        }
    }

    fn observe_q(&mut self, slot: u32, kind: HistKind, t: Millis, v: Millis) {
        let (q, ch) = self.qc(slot);
        self.observe_at(q, ch, kind, t, v);
    }

    fn observe_at(&mut self, q: u32, ch: Channel, kind: HistKind, t: Millis, v: Millis) {
        self.queue_stats(q, ch).observe(kind, t, v);
        self.tap(SampleKind::Queue(kind), q, ch, v);
    }

    fn on_queued(
        &mut self,
        t: Millis,
        id: &str,
        queue: &str,
        channel: Channel,
        priority: u32,
        customer_ref: Option<&str>,
    ) {
        let q = self.queue_id(queue);
        let customer = customer_ref.map(id_hash).unwrap_or(0);
        let repeat = customer != 0 && self.note_contact(customer, t);
        let mut flags = F_CUSTOMER_PENDING;
        if repeat {
            flags |= F_REPEAT;
        }
        let slot = self.interactions.insert(Interaction {
            id: id.into(),
            customer,
            created_at: t,
            queued_at: t,
            seg_start: NONE,
            hold_started: NONE,
            ended_at: NONE,
            last_activity: t,
            hold_ms: 0,
            agent: NO_AGENT,
            queue: q,
            priority,
            sla: u32::MAX,
            exchanges: 0,
            channel,
            phase: Phase::Waiting,
            flags,
        }) as u32;
        let h = FxBuildHasher.hash_one(id);
        let interactions = &self.interactions;
        self.index.insert_unique(h, slot, |&s| {
            FxBuildHasher.hash_one(interactions[s as usize].id.as_str())
        });
        self.enter_queue(t, slot);
        let (hour, wd, month) = self.local.position(t);
        let late = !self.queue_stats(q, channel).record(t, |c| {
            c.repeat_contacts += repeat as u64;
        });
        if late {
            self.stats.late_beyond_window += 1;
        }
        let qs = self.queue_stats(q, channel);
        qs.volume.by_hour[hour as usize] += 1;
        qs.volume.by_weekday[wd as usize] += 1;
        qs.volume.by_month[month as usize] += 1;
        qs.shift_concurrency(t, true);
        if !self.cfg.policies.is_empty() {
            self.sla_open(slot, t, &[SlaTarget::FirstResponse, SlaTarget::Resolution]);
        }
    }

    /// Put `slot` in its queue's waiting set and count it offered there.
    fn enter_queue(&mut self, t: Millis, slot: u32) {
        let it = &mut self.interactions[slot as usize];
        it.phase = Phase::Waiting;
        it.queued_at = t;
        let (q, ch) = (it.queue, it.channel);
        let qs = self.queue_stats(q, ch);
        qs.waiting.insert((t, slot));
        if !qs.record(t, |c| c.offered += 1) {
            self.stats.late_beyond_window += 1;
        }
    }

    /// Take `slot` out of its queue's waiting set; returns its wait.
    fn leave_queue(&mut self, t: Millis, slot: u32) -> Millis {
        let it = &self.interactions[slot as usize];
        let (q, ch, since) = (it.queue, it.channel, it.queued_at);
        self.queue_stats(q, ch).waiting.remove(&(since, slot));
        (t - since).max(0)
    }

    /// Leave the queue at `t`: the wait, and whether it was within the
    /// queue's service-level threshold T (`<=`).
    fn leave_queue_within_sl(&mut self, t: Millis, slot: u32) -> (Millis, bool) {
        let wait = self.leave_queue(t, slot);
        let (q, ch) = self.qc(slot);
        let threshold = self.queue_stats(q, ch).settings.service_level_threshold;
        (wait, wait <= threshold)
    }

    /// Remember a contact; true if it repeats one within the repeat window.
    /// A repeat also voids the customer's last first-contact resolution.
    fn note_contact(&mut self, customer: u64, t: Millis) -> bool {
        let window = self.cfg.repeat_window;
        let (repeat, void) = match self.customers.get_mut(&customer) {
            Some(c) => {
                let repeat = (t - c.last_contact).abs() <= window;
                c.last_contact = c.last_contact.max(t);
                (repeat, std::mem::take(&mut c.fcr_resolution))
            }
            None => {
                if self.customers.len() >= self.cfg.max_tracked_customers {
                    self.stats.tracking_overflow += 1;
                } else {
                    self.customers.insert(
                        customer,
                        Customer {
                            last_contact: t,
                            fcr_resolution: 0,
                        },
                    );
                }
                (false, 0)
            }
        };
        if void != 0 {
            self.retract_fcr(void, t);
        }
        repeat
    }

    /// Void a first-contact resolution if it lies within the repeat window
    /// before `t`; the retraction is attributed to the resolution's time.
    fn retract_fcr(&mut self, resolution: u64, t: Millis) {
        let window = self.cfg.repeat_window;
        let Some(r) = self.resolved.get_mut(&resolution) else {
            return;
        };
        if !r.fcr_candidate || t - r.resolved_at > window {
            return;
        }
        r.fcr_candidate = false;
        let (q, ch, at) = (r.queue, r.channel, r.resolved_at);
        if !self.queue_stats(q, ch).record(at, |c| c.fcr_retracted += 1) {
            self.stats.late_beyond_window += 1;
        }
    }

    fn on_offered(&mut self, slot: u32, agent: &str) -> bool {
        let phase = self.interactions[slot as usize].phase;
        if !matches!(phase, Phase::Waiting | Phase::Routing) {
            return false;
        }
        let a = self.agent_id(agent);
        self.assign(slot, a);
        true
    }

    fn on_answered(&mut self, t: Millis, slot: u32, agent: &str) -> bool {
        let a = self.agent_id(agent);
        let phase = self.interactions[slot as usize].phase;
        match phase {
            Phase::Waiting => {
                let (wait, within) = self.leave_queue_within_sl(t, slot);
                self.record_q(slot, t, |c| {
                    c.answered += 1;
                    c.answered_within_sl += within as u64;
                });
                self.observe_q(slot, HistKind::QueueWait, t, wait);
            }
            Phase::Routing => {}
            Phase::Idle => {
                let (q, ch) = self.qc(slot);
                self.queue_stats(q, ch).shift_concurrency(t, true);
            }
            Phase::Connected | Phase::WrapUp => {
                // A takeover by another agent mid-segment: the segment
                // continues under the new agent.
                self.assign(slot, a);
                return true;
            }
        }
        self.assign(slot, a);
        if self.interactions[slot as usize].channel == Channel::Voice {
            // On a call, answering is the first response.
            self.sla_meet(slot, SlaTarget::FirstResponse, t);
        }
        let it = &mut self.interactions[slot as usize];
        it.phase = Phase::Connected;
        it.seg_start = t;
        it.hold_ms = 0;
        it.hold_started = NONE;
        it.ended_at = NONE;
        true
    }

    fn on_message(&mut self, t: Millis, slot: u32, direction: Direction) {
        match direction {
            Direction::Customer => {
                if self.sla_next_reply_due(slot) {
                    self.sla_start(slot, SlaTarget::NextReply, t);
                }
            }
            Direction::Agent => {
                self.sla_meet(slot, SlaTarget::FirstResponse, t);
                self.sla_meet(slot, SlaTarget::NextReply, t);
            }
        }
        let it = &mut self.interactions[slot as usize];
        match direction {
            Direction::Customer => it.flags |= F_CUSTOMER_PENDING,
            Direction::Agent => {
                if it.flags & F_CUSTOMER_PENDING != 0 {
                    it.exchanges = it.exchanges.saturating_add(1);
                    it.flags &= !F_CUSTOMER_PENDING;
                }
                if it.flags & F_RESPONDED == 0 {
                    it.flags |= F_RESPONDED;
                    let frt = (t - it.created_at).max(0);
                    self.record_q(slot, t, |c| c.first_responses += 1);
                    self.observe_q(slot, HistKind::FirstResponse, t, frt);
                }
            }
        }
    }

    /// Close the open handling segment at `t`: one handled contact.
    fn close_segment(&mut self, t: Millis, slot: u32, agent: Option<u32>) {
        let it = &mut self.interactions[slot as usize];
        if it.seg_start == NONE {
            return;
        }
        let handle = (t - it.seg_start).max(0);
        let mut hold = it.hold_ms;
        if it.hold_started != NONE {
            hold += t - it.hold_started;
        }
        let wrap = if it.ended_at != NONE {
            t - it.ended_at
        } else {
            0
        };
        let hold = hold.clamp(0, handle);
        let wrap = wrap.clamp(0, handle - hold);
        let talk = handle - hold - wrap;
        let agent = agent.unwrap_or(it.agent);
        it.seg_start = NONE;
        it.hold_started = NONE;
        it.ended_at = NONE;
        it.hold_ms = 0;
        self.record_q(slot, t, |c| {
            c.handled += 1;
            c.handle_ms += handle as u64;
            c.talk_ms += talk as u64;
            c.hold_ms += hold as u64;
            c.wrap_up_ms += wrap as u64;
        });
        self.observe_q(slot, HistKind::Handle, t, handle);
        if let Some(a) = self.agents.get(agent as usize) {
            let s = a.stats as usize;
            self.agent_stats[s].record(t, |p| {
                p.c.handled += 1;
                p.c.handle_ms += handle as u64;
                p.handle.record(handle);
            });
            let ch = self.interactions[slot as usize].channel;
            self.tap(SampleKind::AgentHandle, agent, ch, handle);
        }
    }

    fn on_transferred(
        &mut self,
        t: Millis,
        slot: u32,
        to_queue: Option<&str>,
        to_agent: Option<&str>,
    ) -> bool {
        if to_queue.is_none() && to_agent.is_none() {
            return false;
        }
        let first = self.interactions[slot as usize].flags & F_TRANSFERRED == 0;
        self.interactions[slot as usize].flags |= F_TRANSFERRED;
        self.record_q(slot, t, |c| {
            c.transfers += 1;
            c.transferred_interactions += first as u64;
        });
        let phase = self.interactions[slot as usize].phase;
        match phase {
            Phase::Waiting => {
                let (_, within) = self.leave_queue_within_sl(t, slot);
                self.record_q(slot, t, |c| {
                    c.dequeued_by_transfer += 1;
                    c.dequeued_by_transfer_within_sl += within as u64;
                });
            }
            Phase::Connected | Phase::WrapUp => self.close_segment(t, slot, None),
            Phase::Routing | Phase::Idle => {}
        }
        let was_active = phase.is_active();
        let (q, ch) = self.qc(slot);
        if let Some(name) = to_queue {
            let nq = self.queue_id(name);
            if was_active {
                self.queue_stats(q, ch).shift_concurrency(t, false);
            }
            self.interactions[slot as usize].queue = nq;
            self.queue_stats(nq, ch).shift_concurrency(t, true);
            self.enter_queue(t, slot);
        } else {
            if !was_active {
                self.queue_stats(q, ch).shift_concurrency(t, true);
            }
            self.interactions[slot as usize].phase = Phase::Routing;
        }
        let agent = match to_agent {
            Some(a) => self.agent_id(a),
            None => NO_AGENT,
        };
        self.assign(slot, agent);
        true
    }

    fn on_abandoned(&mut self, t: Millis, slot: u32) -> bool {
        if self.interactions[slot as usize].phase != Phase::Waiting {
            return false;
        }
        let wait = self.leave_queue(t, slot);
        let (q, ch) = self.qc(slot);
        let s = self.queue_stats(q, ch).settings.clone();
        self.record_q(slot, t, |c| {
            c.abandoned += 1;
            c.abandoned_within_sl += (wait <= s.service_level_threshold) as u64;
            c.short_abandoned += (wait < s.short_abandon_threshold) as u64;
        });
        self.observe_q(slot, HistKind::Abandon, t, wait);
        self.queue_stats(q, ch).shift_concurrency(t, false);
        self.remove(slot);
        true
    }

    fn on_resolved(&mut self, t: Millis, slot: u32, agent: Option<&str>) {
        let agent = match agent {
            Some(a) => self.agent_id(a),
            None => self.interactions[slot as usize].agent,
        };
        let phase = self.interactions[slot as usize].phase;
        match phase {
            Phase::Waiting => {
                self.leave_queue(t, slot);
            }
            Phase::Connected | Phase::WrapUp => self.close_segment(t, slot, Some(agent)),
            Phase::Routing | Phase::Idle => {}
        }
        let (q, ch) = self.qc(slot);
        if phase.is_active() {
            self.queue_stats(q, ch).shift_concurrency(t, false);
        }
        self.sla_meet(slot, SlaTarget::Resolution, t);
        let it = self.remove(slot);
        // First contact: not a reopen, not a repeat, and no later contact
        // from the same customer so far.
        let later_contact = it.customer != 0
            && self
                .customers
                .get(&it.customer)
                .is_some_and(|c| c.last_contact > it.created_at);
        let fcr = it.flags & (F_REOPENED | F_REPEAT) == 0 && !later_contact;
        let resolution = (t - it.created_at).max(0);
        let exchanges = it.exchanges as u64;
        self.record_q_at(q, ch, t, |c| {
            c.resolved += 1;
            c.fcr_candidates += fcr as u64;
            c.exchanges += exchanges;
        });
        self.observe_at(q, ch, HistKind::Resolution, t, resolution);
        if let Some(a) = self.agents.get(agent as usize) {
            let s = a.stats as usize;
            self.agent_stats[s].record(t, |p| p.c.closures += 1);
        }
        let key = id_hash(&it.id);
        if self.resolved.len() >= self.cfg.max_tracked_resolved && !self.resolved.contains_key(&key)
        {
            self.stats.tracking_overflow += 1;
            return;
        }
        self.resolved.insert(
            key,
            Resolved {
                customer: it.customer,
                created_at: it.created_at,
                resolved_at: t,
                queue: q,
                priority: it.priority,
                channel: ch,
                fcr_candidate: fcr,
            },
        );
        if fcr && it.customer != 0 {
            if let Some(c) = self.customers.get_mut(&it.customer) {
                c.fcr_resolution = key;
            }
        }
    }

    fn record_q_at(
        &mut self,
        q: u32,
        ch: Channel,
        t: Millis,
        f: impl Fn(&mut stats::QueueCounters),
    ) {
        if !self.queue_stats(q, ch).record(t, f) {
            self.stats.late_beyond_window += 1;
        }
    }

    fn on_reopened(&mut self, t: Millis, id: &str) {
        let key = id_hash(id);
        let Some(r) = self.resolved.get(&key).cloned() else {
            self.stats.orphaned += 1;
            return;
        };
        self.retract_fcr(key, t);
        self.resolved.remove(&key);
        if let Some(c) = self.customers.get_mut(&r.customer) {
            if c.fcr_resolution == key {
                c.fcr_resolution = 0;
            }
        }
        let slot = self.interactions.insert(Interaction {
            id: id.into(),
            customer: r.customer,
            created_at: r.created_at,
            queued_at: NONE,
            seg_start: NONE,
            hold_started: NONE,
            ended_at: NONE,
            last_activity: t,
            hold_ms: 0,
            agent: NO_AGENT,
            queue: r.queue,
            priority: r.priority,
            sla: u32::MAX,
            exchanges: 0,
            channel: r.channel,
            phase: Phase::Routing,
            flags: F_REOPENED | F_RESPONDED | F_CUSTOMER_PENDING,
        }) as u32;
        let h = FxBuildHasher.hash_one(id);
        let interactions = &self.interactions;
        self.index.insert_unique(h, slot, |&s| {
            FxBuildHasher.hash_one(interactions[s as usize].id.as_str())
        });
        self.record_q(slot, t, |c| c.reopened += 1);
        let (q, ch) = self.qc(slot);
        self.queue_stats(q, ch).shift_concurrency(t, true);
        if !self.cfg.policies.is_empty() {
            self.sla_open(slot, t, &[SlaTarget::Resolution]);
        }
    }

    // ----- agents and surveys ----------------------------------------------

    fn on_agent(&mut self, t: Millis, e: AgentStateChanged) {
        let a = self.agent_id(&e.agent_id);
        let queues: Vec<u32> = e.queues.iter().map(|q| self.queue_id(q)).collect();
        let agent = &mut self.agents[a as usize];
        if agent.since != NONE && t < agent.since {
            // Superseded by a newer state we already applied.
            self.stats.stale_agent_events += 1;
            return;
        }
        let (old, since, s) = (agent.state, agent.since, agent.stats as usize);
        agent.state = e.state;
        agent.since = t;
        agent.queues = queues;
        if since != NONE {
            self.agent_stats[s].add_state_time(old, since, t);
        }
    }

    fn on_survey(&mut self, t: Millis, s: SurveyAnswered) {
        let q = self.queue_id(&s.queue);
        let score = s.score;
        let late = !self.queue_stats(q, s.channel).record(t, |c| match score {
            SurveyScore::Csat(v) => {
                c.csat_responses += 1;
                c.csat_sum += v as u64;
                c.csat_satisfied += (v >= 4) as u64;
            }
            SurveyScore::Nps(v) => {
                c.nps_responses += 1;
                c.nps_promoters += (v >= 9) as u64;
                c.nps_detractors += (v <= 6) as u64;
            }
            SurveyScore::Ces(v) => {
                c.ces_responses += 1;
                c.ces_sum += v as u64;
            }
        });
        if late {
            self.stats.late_beyond_window += 1;
        }
        if let (Some(agent), SurveyScore::Csat(v)) = (s.agent_id, score) {
            let a = self.agent_id(&agent);
            let st = self.agents[a as usize].stats as usize;
            self.agent_stats[st].record(t, |p| {
                p.c.csat_responses += 1;
                p.c.csat_sum += v as u64;
                p.c.csat_satisfied += (v >= 4) as u64;
            });
        }
    }

    // ----- housekeeping ------------------------------------------------------

    /// Once per hour of watermark: forget what the horizons no longer need.
    fn housekeeping(&mut self) {
        self.dedup.prune(self.watermark);
        let hour = self.watermark.div_euclid(HOUR);
        if hour == self.housekeeping_hour {
            return;
        }
        self.housekeeping_hour = hour;
        let wm = self.watermark;
        let horizon = wm.saturating_sub(self.cfg.repeat_window);
        self.resolved.retain(|_, r| r.resolved_at >= horizon);
        self.customers.retain(|_, c| c.last_contact >= horizon);
        let ttl_cut = wm.saturating_sub(self.cfg.idle_ttl);
        let expired: Vec<u32> = self
            .interactions
            .iter()
            .filter(|(_, i)| i.last_activity < ttl_cut)
            .map(|(s, _)| s as u32)
            .collect();
        for slot in expired {
            let phase = self.interactions[slot as usize].phase;
            if phase == Phase::Waiting {
                self.leave_queue(wm, slot);
            }
            if phase.is_active() {
                let (q, ch) = self.qc(slot);
                self.queue_stats(q, ch).shift_concurrency(wm, false);
            }
            self.remove(slot);
            self.stats.expired_interactions += 1;
        }
    }
}
