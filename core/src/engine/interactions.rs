//! The interaction state machine: what each interaction event does to the
//! interaction, its queue's counters and histograms, and its SLA clocks.
//! Impossible transitions are counted (`ignored_transitions`), not applied.

use std::hash::BuildHasher;

use rustc_hash::FxBuildHasher;

use super::clocks::{PAUSE_HOLD, PAUSE_STATUS};
use super::fold::Fold;
use super::records::{Interaction, Leg, Phase, F_CUSTOMER_PENDING, F_RESPONDED, F_TRANSFERRED};
use super::stats::HistKind;
use super::types::{id_hash, FactKind, SampleKind, NONE, NO_AGENT};
use crate::event::{Channel, Direction, InteractionEvent, Millis, SlaTarget};

impl Fold {
    /// Apply `event` (the event `event_id` at `t`) to the interaction `id`.
    pub(super) fn on_interaction(
        &mut self,
        t: Millis,
        event_id: &str,
        id: &str,
        event: InteractionEvent,
    ) {
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
                    let customer_ref = customer_ref.as_deref();
                    let slot = self.on_queued(t, id, &queue, channel, priority, customer_ref);
                    if !self.cfg.policies.is_empty() {
                        // This event opens the clocks: their effect ids
                        // name it (a second life of `id` gets its own).
                        let targets = [SlaTarget::FirstResponse, SlaTarget::Resolution];
                        self.sla_open(slot, t, event_id, &targets);
                    }
                }
                return;
            }
            InteractionEvent::Reopened => {
                if self.find(id).is_some() {
                    self.stats.ignored_transitions += 1;
                } else {
                    self.on_reopened(t, event_id, id);
                }
                return;
            }
            _ => match self.find(id) {
                Some(s) => s,
                // Parked before it gets here (`parking`).
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
                self.on_message(t, event_id, slot, direction);
                true
            }
            InteractionEvent::HoldStarted => {
                let it = &mut self.interactions[slot as usize];
                let ok = matches!(it.phase, Phase::Connected) && it.hold_started == NONE;
                if ok {
                    it.hold_started = t;
                    if self.sla_pauses_on(slot, "on_hold") {
                        self.sla_pause(slot, PAUSE_HOLD, true, t);
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
                    self.sla_pause(slot, PAUSE_HOLD, false, t);
                }
                ok
            }
            InteractionEvent::Transferred { to_queue, to_agent } => {
                self.on_transferred(t, slot, to_queue.as_deref(), to_agent.as_deref())
            }
            InteractionEvent::Abandoned => self.on_abandoned(t, slot),
            InteractionEvent::Ended => {
                let ok = self.interactions[slot as usize].phase == Phase::Connected;
                if !ok {
                    // The transferring agent's leg hanging up after the
                    // transfer: their contact ended at the transfer.
                    let theirs = self.leg_ended(slot);
                    self.count_ignored(theirs);
                    return;
                }
                let it = &mut self.interactions[slot as usize];
                if it.hold_started != NONE {
                    it.hold_ms += t - it.hold_started;
                    it.hold_started = NONE;
                }
                it.ended_at = t;
                it.phase = Phase::WrapUp;
                self.sla_pause(slot, PAUSE_HOLD, false, t);
                true
            }
            InteractionEvent::WrapUpDone { agent_id } => {
                let agent = agent_id.map(|a| self.agent_id(&a));
                let it = &self.interactions[slot as usize];
                let own = matches!(it.phase, Phase::Connected | Phase::WrapUp);
                let current = it.agent;
                // The transferring agent's wrap-up done: naming them (unless
                // they handle the interaction again now: then it is that
                // segment's), or naming nobody while nobody has a segment
                // in progress.
                let theirs = self.legs.get(&slot).is_some_and(|l| match agent {
                    Some(a) => a == l.agent && !(own && a == current),
                    None => !own,
                });
                if theirs {
                    self.close_leg(t, slot, true);
                    return;
                }
                let ok = own;
                if ok {
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
                self.sla_pause(slot, PAUSE_STATUS, pause, t);
                true
            }
            InteractionEvent::Queued { .. } | InteractionEvent::Reopened => true,
        };
        self.count_ignored(ok);
    }

    fn count_ignored(&mut self, ok: bool) {
        if !ok {
            self.stats.ignored_transitions += 1;
        }
    }

    /// An `ended` while the interaction has no segment connected: accepted
    /// once if an agent who transferred it away still has their segment
    /// open (it changes no figure: their talk ended at the transfer).
    fn leg_ended(&mut self, slot: u32) -> bool {
        match self.legs.get_mut(&slot) {
            Some(l) if !l.ended_seen => {
                l.ended_seen = true;
                true
            }
            _ => false,
        }
    }

    /// Keep the open segment of `slot` as the transferring agent's leg,
    /// open for their after-call work (closing a previous leg at `t`).
    fn open_leg(&mut self, t: Millis, slot: u32) {
        self.close_leg(t, slot, false);
        let it = &mut self.interactions[slot as usize];
        if it.seg_start == NONE {
            return;
        }
        let mut hold_ms = it.hold_ms;
        if it.hold_started != NONE {
            hold_ms += t - it.hold_started;
        }
        let leg = Leg {
            agent: it.agent,
            queue: it.queue,
            start: it.seg_start,
            hold_ms,
            talk_end: if it.ended_at != NONE { it.ended_at } else { t },
            ended_seen: false,
        };
        it.seg_start = NONE;
        it.hold_started = NONE;
        it.ended_at = NONE;
        it.hold_ms = 0;
        self.legs.insert(slot, leg);
    }

    /// Close the transferring agent's leg of `slot`, if any, counted at
    /// `t`: one handled segment for them and the queue they handled it in:
    /// talk and hold up to their contact's end, then, with `acw` (their
    /// wrap-up done at `t`), wrap-up from there to `t`; without (the
    /// interaction moved on first), no wrap-up.
    pub(super) fn close_leg(&mut self, t: Millis, slot: u32, acw: bool) {
        let Some(l) = self.legs.remove(&slot) else {
            return;
        };
        let t = t.max(l.talk_end);
        let end = if acw { t } else { l.talk_end };
        let ch = self.interactions[slot as usize].channel;
        let handle = (end - l.start).max(0);
        let hold = l.hold_ms.clamp(0, handle);
        let wrap = (end - l.talk_end).clamp(0, handle - hold);
        let talk = handle - hold - wrap;
        self.record_segment(l.queue, ch, l.agent, t, [handle, talk, hold, wrap]);
    }

    /// One handled segment of `[handle, talk, hold, wrap]` ms, closed at
    /// `t`, for queue `q` × `ch` and `agent`.
    fn record_segment(&mut self, q: u32, ch: Channel, agent: u32, t: Millis, d: [Millis; 4]) {
        let [handle, talk, hold, wrap] = d;
        self.record_q_at(q, ch, t, |c| {
            c.handled += 1;
            c.handle_ms += handle as u64;
            c.talk_ms += talk as u64;
            c.hold_ms += hold as u64;
            c.wrap_up_ms += wrap as u64;
        });
        self.observe_at(q, ch, HistKind::Handle, t, handle);
        if let Some(a) = self.agents.get(agent as usize) {
            let s = a.stats as usize;
            self.agent_stats[s].record(t, |p| {
                p.c.handled += 1;
                p.c.handle_ms += handle as u64;
                p.handle.record(handle);
            });
            self.tap(SampleKind::AgentHandle, agent, ch, handle);
        }
    }

    /// A new interaction waits in `queue`; returns its slot. (The caller
    /// opens its SLA clocks.)
    pub(super) fn on_queued(
        &mut self,
        t: Millis,
        id: &str,
        queue: &str,
        channel: Channel,
        priority: u32,
        customer_ref: Option<&str>,
    ) -> u32 {
        let q = self.queue_id(queue);
        let customer = customer_ref.map(id_hash).unwrap_or(0);
        let flags = F_CUSTOMER_PENDING;
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
        if customer != 0 {
            let ix = id_hash(id);
            self.customer_fact(FactKind::Contact, customer, ix, t, q, channel);
        }
        let (hour, wd, month) = self.local.position(t);
        let qs = self.queue_stats(q, channel);
        qs.volume.by_hour[hour as usize] += 1;
        qs.volume.by_weekday[wd as usize] += 1;
        qs.volume.by_month[month as usize] += 1;
        qs.shift_concurrency(t, true);
        slot
    }

    /// Put `slot` in its queue's waiting set and count it offered there.
    pub(super) fn enter_queue(&mut self, t: Millis, slot: u32) {
        let it = &mut self.interactions[slot as usize];
        it.phase = Phase::Waiting;
        it.queued_at = t;
        let (q, ch) = (it.queue, it.channel);
        let qs = self.queue_stats(q, ch);
        qs.waiting.insert((t, slot));
        if !qs.record(t, |c| c.offered += 1) {
            self.missed_window = true;
        }
    }

    /// Take `slot` out of its queue's waiting set; returns its wait.
    pub(super) fn leave_queue(&mut self, t: Millis, slot: u32) -> Millis {
        let it = &self.interactions[slot as usize];
        let (q, ch, since) = (it.queue, it.channel, it.queued_at);
        self.queue_stats(q, ch).waiting.remove(&(since, slot));
        (t - since).max(0)
    }

    /// Leave the queue at `t`: the wait, and whether it was within the
    /// queue's service-level threshold T (`<=`).
    pub(super) fn leave_queue_within_sl(&mut self, t: Millis, slot: u32) -> (Millis, bool) {
        let wait = self.leave_queue(t, slot);
        let (q, ch) = self.qc(slot);
        let threshold = self.queue_stats(q, ch).settings.service_level_threshold;
        (wait, wait <= threshold)
    }

    pub(super) fn on_offered(&mut self, slot: u32, agent: &str) -> bool {
        let phase = self.interactions[slot as usize].phase;
        if !matches!(phase, Phase::Waiting | Phase::Routing) {
            return false;
        }
        let a = self.agent_id(agent);
        self.assign(slot, a);
        true
    }

    pub(super) fn on_answered(&mut self, t: Millis, slot: u32, agent: &str) -> bool {
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

    pub(super) fn on_message(
        &mut self,
        t: Millis,
        event_id: &str,
        slot: u32,
        direction: Direction,
    ) {
        match direction {
            Direction::Customer => {
                if self.sla_next_reply_due(slot) {
                    self.sla_start(slot, SlaTarget::NextReply, t, event_id);
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
    pub(super) fn close_segment(&mut self, t: Millis, slot: u32, agent: Option<u32>) {
        // The next agent's segment ends before the transferring agent's
        // wrap-up done came: theirs ends without after-call work.
        self.close_leg(t, slot, false);
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
        let (q, ch) = (it.queue, it.channel);
        it.seg_start = NONE;
        it.hold_started = NONE;
        it.ended_at = NONE;
        it.hold_ms = 0;
        self.record_segment(q, ch, agent, t, [handle, talk, hold, wrap]);
    }

    pub(super) fn on_transferred(
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
            // The transferring agent's segment stays open for their
            // after-call work (see `close_leg`).
            Phase::Connected | Phase::WrapUp => self.open_leg(t, slot),
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

    pub(super) fn on_abandoned(&mut self, t: Millis, slot: u32) -> bool {
        if self.interactions[slot as usize].phase != Phase::Waiting {
            return false;
        }
        self.close_leg(t, slot, false);
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
}
