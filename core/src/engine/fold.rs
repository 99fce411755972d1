//! The [`Engine`]: its state, the canonical ordering of events against the
//! watermark (reorder buffer, dedup, late events), interning of queues,
//! the interaction table, and hourly housekeeping. What each kind of event
//! does is in the sibling files: `interactions`, `repeats`, `agents`,
//! `surveys`, `sla`.

use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasher;

use compact_str::CompactString;
use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use super::clocks::{Clocks, SlaDetail};
use super::dedup::Dedup;
use super::local_time::LocalClock;
use super::records::{Agent, Customer, Interaction, Leg, Phase, Resolved};
use super::reorder::Pending;
use super::settings::EngineConfig;
use super::slots::Slots;
use super::stats::{self, AgentStats, HistKind, QueueStats};
use super::tap::SampleTap;
use super::tracked::Tracked;
use super::types::{
    CustomerFact, LabelledSeries, OrphanedEvent, Outcome, ProcessingStats, SampleKind, HOUR, NONE,
    NO_AGENT, OTHER,
};
use crate::event::{Channel, Effect, Event, EventKind, Millis};
use crate::sla::wheel::TimerWheel;

/// The fold. See the module docs for its time model.
#[derive(Debug, Clone)]
pub struct Fold {
    /// The tenant, unless it is the default one (it then names its
    /// effects' ids).
    pub(super) tenant: Option<CompactString>,
    pub(super) cfg: EngineConfig,
    pub(super) buffer: VecDeque<Pending>,
    pub(super) max_seen: Millis,
    /// Newest event time of any kind, for `flush`.
    pub(super) max_any: Millis,
    pub(super) watermark: Millis,
    pub(super) dedup: Dedup,
    pub(super) interactions: Slots<Interaction>,
    pub(super) index: HashTable<u32>,
    /// Segments of agents who transferred an interaction away, open for
    /// their after-call work, by the interaction's slot.
    pub(super) legs: BTreeMap<u32, Leg>,
    /// Events waiting for their interaction, by its id, each list in
    /// canonical order (see `parking`).
    pub(super) parked: BTreeMap<CompactString, Vec<Pending>>,
    /// Events in `parked`.
    pub(super) parked_len: usize,
    /// Oldest event time in `parked` (`NONE` when empty).
    pub(super) parked_oldest: Millis,
    pub(super) queue_ids: FxHashMap<CompactString, u32>,
    pub(super) queue_names: Vec<CompactString>,
    pub(super) queues: Vec<[Option<Box<QueueStats>>; 5]>,
    pub(super) agent_ids: FxHashMap<CompactString, u32>,
    pub(super) agents: Vec<Agent>,
    /// The agents serving each queue, by queue id, in ascending agent
    /// index: a reassignment looks at these instead of every agent.
    /// Derived from the agents' queue lists (`agents.rs` keeps it in step,
    /// a restore rebuilds it), so checkpoints do not carry it.
    pub(super) serving: Vec<Vec<u32>>,
    pub(super) agent_stats: Vec<AgentStats>,
    pub(super) resolved: Tracked<Resolved>,
    /// The customer stage's state (`customers.rs`).
    pub(super) customers: Tracked<Customer>,
    /// Facts for the customer stage, when the engine routes them instead of
    /// deciding here (`None`: decided here). Drained by the shell after
    /// every call; never saved.
    pub(super) facts_out: Option<Vec<CustomerFact>>,
    /// Events given up (parked too long, or no room to park), when the
    /// shell collects them for the dead-letter topic; never saved.
    pub(super) orphans_out: Option<Vec<OrphanedEvent>>,
    pub(super) local: LocalClock,
    pub(super) stats: ProcessingStats,
    pub(super) housekeeping_hour: i64,
    pub(super) sla_wheel: TimerWheel<u64>,
    pub(super) sla_clocks: Slots<Clocks>,
    pub(super) sla_detail: SlaDetail,
    /// Duration samples since the last drain, when the shell asked for them.
    pub(super) tap: Option<SampleTap>,
    /// Reassignment decisions already emitted (by effect id), installed
    /// before a restore so the rebuilt state agrees with what was published.
    pub(super) recorded: FxHashMap<String, crate::event::Reassignment>,
    /// Set while applying one event when some record missed a window tier;
    /// transient (only meaningful inside `apply`, never saved).
    pub(super) missed_window: bool,
}

impl Fold {
    pub fn new(cfg: EngineConfig) -> Self {
        let windows = cfg.windows.clone();
        Fold {
            tenant: None,
            dedup: Dedup::new(cfg.dedup_horizon),
            local: LocalClock::new(cfg.time_zone),
            buffer: VecDeque::new(),
            max_seen: NONE,
            max_any: NONE,
            watermark: NONE,
            interactions: Slots::new(),
            index: HashTable::new(),
            legs: BTreeMap::new(),
            parked: BTreeMap::new(),
            parked_len: 0,
            parked_oldest: NONE,
            queue_ids: FxHashMap::default(),
            queue_names: Vec::new(),
            queues: Vec::new(),
            agent_ids: FxHashMap::default(),
            agents: Vec::new(),
            serving: Vec::new(),
            agent_stats: vec![AgentStats::new(&windows)],
            resolved: Tracked::default(),
            customers: Tracked::default(),
            facts_out: None,
            orphans_out: None,
            stats: ProcessingStats::default(),
            housekeeping_hour: NONE,
            sla_wheel: TimerWheel::new(0),
            sla_clocks: Slots::new(),
            sla_detail: Default::default(),
            tap: None,
            recorded: FxHashMap::default(),
            missed_window: false,
            cfg,
        }
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
        self.tap = on.then(SampleTap::default);
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

    /// Move the series sampled since the last take, labelled with
    /// `tenant`, to `out`; each keeps collecting into a buffer from `spare`
    /// (room handed back by the shell) or a new one.
    pub fn take_samples_into(
        &mut self,
        tenant: &CompactString,
        spare: &mut Vec<Vec<Millis>>,
        out: &mut Vec<LabelledSeries>,
    ) {
        let Some(mut tap) = self.tap.take() else {
            return;
        };
        let label = |kind: SampleKind, key: u32| match kind {
            SampleKind::Queue(_) => self.queue_label(key),
            SampleKind::AgentHandle => self.agent_label(key),
        };
        tap.take_into(tenant, label, spare, out);
        self.tap = Some(tap);
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

    pub(super) fn tap(&mut self, kind: SampleKind, key: u32, channel: Channel, ms: Millis) {
        if let Some(t) = self.tap.as_mut() {
            t.push(kind, key, channel, ms);
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
            self.missed_window = false;
            self.process(ev, out);
            // Once per late event, however many records it made.
            if std::mem::take(&mut self.missed_window) {
                self.stats.late_beyond_window += 1;
            }
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
        if self.buffer.back().is_none_or(|b| b.key() <= p.key()) {
            self.buffer.push_back(p);
        } else {
            let pos = self.buffer.partition_point(|b| b.key() <= p.key());
            self.buffer.insert(pos, p);
        }
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
        self.expire_parked();
        self.housekeeping();
    }

    /// End of input (replay): apply everything buffered.
    pub fn flush(&mut self, out: &mut Vec<Effect>) {
        if self.max_any != NONE {
            self.advance(self.max_any.saturating_add(1), out);
        }
    }

    pub(super) fn process(&mut self, ev: Event, _out: &mut Vec<Effect>) {
        // Effects come from timers only (see `sla_fire`); events change
        // state.
        let parked_for = match &ev.kind {
            EventKind::Interaction { interaction_id, .. } if self.parked_len > 0 => {
                Some(interaction_id.clone())
            }
            _ => None,
        };
        if self.apply_one(ev) {
            if let Some(id) = parked_for {
                self.unpark(&id);
            }
        }
    }

    /// Apply one event, or park it (see `parking`); true if applied.
    pub(super) fn apply_one(&mut self, ev: Event) -> bool {
        let Some(ev) = self.park_if_unknown(ev) else {
            return false;
        };
        self.stats.events_applied += 1;
        let t = ev.occurred_at;
        match ev.kind {
            EventKind::Interaction {
                interaction_id,
                event,
            } => self.on_interaction(t, &ev.event_id, &interaction_id, event),
            EventKind::Agent(a) => self.on_agent(t, a),
            EventKind::Survey(s) => self.on_survey(t, s),
        }
        true
    }

    pub(super) fn queue_id(&mut self, name: &str) -> u32 {
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

    pub(super) fn queue_stats(&mut self, q: u32, ch: Channel) -> &mut QueueStats {
        // The settings are looked up (by name) only for a new queue ×
        // channel: this runs several times per event.
        let (cfg, names) = (&self.cfg, &self.queue_names);
        self.queues[q as usize][ch.index()].get_or_insert_with(|| {
            let settings = cfg.queue(&names[q as usize]).clone();
            Box::new(QueueStats::new(settings, &cfg.windows))
        })
    }

    pub(super) fn find(&self, id: &str) -> Option<u32> {
        let h = FxBuildHasher.hash_one(id);
        self.index
            .find(h, |&s| {
                self.interactions
                    .get(s as usize)
                    .is_some_and(|i| i.id == id)
            })
            .copied()
    }

    pub(super) fn remove(&mut self, slot: u32) -> Interaction {
        self.sla_close(slot);
        self.legs.remove(&slot);
        let it = self.interactions.remove(slot as usize);
        let h = FxBuildHasher.hash_one(it.id.as_str());
        if let Ok(e) = self.index.find_entry(h, |&s| s == slot) {
            e.remove();
        }
        self.set_agent_of(&it, NO_AGENT);
        it
    }

    pub(super) fn qc(&self, slot: u32) -> (u32, Channel) {
        let it = &self.interactions[slot as usize];
        (it.queue, it.channel)
    }

    /// Record into the queue × channel of `slot`, noting a missed window
    /// tier (counted once per late event in `apply`).
    pub(super) fn record_q(&mut self, slot: u32, t: Millis, f: impl Fn(&mut stats::QueueCounters)) {
        let (q, ch) = self.qc(slot);
        if !self.queue_stats(q, ch).record(t, f) {
            self.missed_window = true;
        }
    }

    pub(super) fn record_q_at(
        &mut self,
        q: u32,
        ch: Channel,
        t: Millis,
        f: impl Fn(&mut stats::QueueCounters),
    ) {
        if !self.queue_stats(q, ch).record(t, f) {
            self.missed_window = true;
        }
    }

    pub(super) fn observe_q(&mut self, slot: u32, kind: HistKind, t: Millis, v: Millis) {
        let (q, ch) = self.qc(slot);
        self.observe_at(q, ch, kind, t, v);
    }

    pub(super) fn observe_at(&mut self, q: u32, ch: Channel, kind: HistKind, t: Millis, v: Millis) {
        if !self.queue_stats(q, ch).observe(kind, t, v) {
            self.missed_window = true;
        }
        self.tap(SampleKind::Queue(kind), q, ch, v);
    }

    /// Once per hour of watermark: forget what the horizons no longer need.
    pub(super) fn housekeeping(&mut self) {
        self.dedup.prune(self.watermark);
        let hour = self.watermark.div_euclid(HOUR);
        if hour == self.housekeeping_hour {
            return;
        }
        self.housekeeping_hour = hour;
        let wm = self.watermark;
        let horizon = wm.saturating_sub(self.cfg.repeat_window);
        self.resolved.retain(|_, r| r.resolved_at >= horizon);
        // By the facts' time, not a watermark the wall clock moved (an idle
        // partition's): facts from a partition that lags, or replays after a
        // rebalance, may still come for what an idle advance would forget.
        self.prune_customers(wm.min(self.max_seen));
        let ttl_cut = wm.saturating_sub(self.cfg.idle_ttl);
        let expired: Vec<u32> = self
            .interactions
            .iter()
            .filter(|(_, i)| i.last_activity < ttl_cut)
            .map(|(s, _)| s as u32)
            .collect();
        for slot in expired {
            // A transferring agent whose wrap-up done never came: their
            // segment ends without after-call work.
            self.close_leg(wm, slot, false);
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
