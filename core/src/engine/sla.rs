//! SLA clocks per interaction, driven by event time.
//!
//! Each interaction whose policy sets targets gets a [`Clocks`] entry: one
//! clock per target (first response, next reply, resolution). A running
//! clock has a timer on the wheel for its next stage: first the at-risk
//! lead, then the deadline. Timers fire when processing reaches a time past
//! their deadline, so an action at exactly the deadline meets the target.
//!
//! On a breach the engine emits `SlaBreached` (once per target and
//! interaction) and, for targets the policy reassigns on, a
//! `ReassignmentRequested`: to the picked free operator, else a re-queue
//! with raised priority, and after `max_reassignments` an escalation. The
//! clock then re-arms with a fresh budget from the missed deadline, so an
//! operator who also does not act triggers the next attempt.
//!
//! Effect ids hash (kind, interaction, target, deadline, attempt, origin):
//! the origin is the event that started the clock's run (the `queued` or
//! `reopened` that opened the clocks; for next reply, the customer message),
//! so two runs that reach the same deadline (a second life of the same
//! interaction id, a next reply restarted by a late message) name two
//! decisions. Breaches carry their clock run's origin, reassignments the
//! opening's (attempts count per opening). All of it comes from the log: a
//! replay or a restore emits byte-identical effects.

use super::clocks::{
    effect_id, origin, payload, unpack, Clock, Clocks, State, AT_RISK, BREACH, OFF,
};
use super::fold::Fold;
use super::types::NONE;
use crate::event::{Effect, Millis, Reassignment, ReassignmentRequested, SlaBreached, SlaTarget};
use crate::sla::picker::{self, Candidate};

impl Fold {
    /// Open the clocks of a new (or reopened) interaction, by the event
    /// `event_id` at `t`.
    pub(super) fn sla_open(&mut self, slot: u32, t: Millis, event_id: &str, targets: &[SlaTarget]) {
        let it = &self.interactions[slot as usize];
        let qname = self.queue_names[it.queue as usize].clone();
        let Some(p) = self.cfg.policies.select(&qname, it.channel, it.priority) else {
            return;
        };
        let origin = origin(event_id, t);
        let sla = self.sla_clocks.insert(Clocks {
            interaction: slot,
            origin,
            policy: p as u16,
            attempts: 0,
            paused: 0,
            escalated: false,
            clocks: [OFF; 3],
        }) as u32;
        self.interactions[slot as usize].sla = sla;
        for &target in targets {
            self.sla_start_run(slot, target, t, origin);
        }
    }

    pub(super) fn sla_of(&self, slot: u32) -> Option<u32> {
        let s = self.interactions.get(slot as usize)?.sla;
        (s != u32::MAX).then_some(s)
    }

    /// Start `target`'s clock at `t`, by the event `event_id`, if the policy
    /// sets it and it is not already running.
    pub(super) fn sla_start(&mut self, slot: u32, target: SlaTarget, t: Millis, event_id: &str) {
        self.sla_start_run(slot, target, t, origin(event_id, t));
    }

    fn sla_start_run(&mut self, slot: u32, target: SlaTarget, t: Millis, origin: u64) {
        let Some(sla) = self.sla_of(slot) else { return };
        let c = &self.sla_clocks[sla as usize];
        let policy = &self.cfg.policies.list[c.policy as usize];
        if policy.target(target).is_none() || c.clocks[target as usize].state == State::Running {
            return;
        }
        let paused = c.paused != 0;
        let c = &mut self.sla_clocks[sla as usize].clocks[target as usize];
        *c = Clock {
            state: State::Running,
            started: if paused { NONE } else { t },
            origin,
            ..OFF
        };
        if !paused {
            self.sla_schedule(sla, target);
        }
    }

    /// Set the timer of a running, unpaused clock for its next stage.
    pub(super) fn sla_schedule(&mut self, sla: u32, target: SlaTarget) {
        let c = &self.sla_clocks[sla as usize];
        let policy = &self.cfg.policies.list[c.policy as usize];
        let clock = c.clocks[target as usize];
        let Some(budget) = policy.target(target) else {
            return;
        };
        let cal = &policy.calendar;
        let deadline = cal
            .add_business_millis(clock.started, budget - clock.consumed)
            .unwrap_or(NONE);
        let lead = (budget as f64 * policy.at_risk) as Millis;
        let (at, stage) = if !clock.at_risk && clock.consumed < lead {
            (
                cal.add_business_millis(clock.started, lead - clock.consumed)
                    .unwrap_or(NONE),
                AT_RISK,
            )
        } else {
            (deadline, BREACH)
        };
        let timer = (at != NONE).then(|| self.sla_wheel.schedule(at, payload(sla, target, stage)));
        let clock = &mut self.sla_clocks[sla as usize].clocks[target as usize];
        clock.deadline = deadline;
        if let Some(old) = std::mem::replace(&mut clock.timer, timer) {
            self.sla_wheel.cancel(old);
        }
    }

    /// The target was met at `t` (an agent replied, resolved…).
    pub(super) fn sla_meet(&mut self, slot: u32, target: SlaTarget, t: Millis) {
        let Some(sla) = self.sla_of(slot) else { return };
        let c = &mut self.sla_clocks[sla as usize];
        let clock = &mut c.clocks[target as usize];
        if clock.state != State::Running {
            return;
        }
        let breached = clock.breached;
        clock.state = State::Met;
        if let Some(id) = clock.timer.take() {
            self.sla_wheel.cancel(id);
        }
        let key = (self.interactions[slot as usize].queue, c.policy, target);
        if !breached {
            self.sla_detail.entry(key).or_default().met += 1;
            self.record_q(slot, t, |q| q.sla_met += 1);
        }
    }

    pub(super) fn sla_next_reply_due(&self, slot: u32) -> bool {
        self.sla_of(slot).is_some_and(|sla| {
            let c = &self.sla_clocks[sla as usize].clocks;
            c[SlaTarget::FirstResponse as usize].state != State::Running
                && c[SlaTarget::NextReply as usize].state != State::Running
        })
    }

    /// Stop (`on = true`) or restart the clocks for `reason` at `t`.
    pub(super) fn sla_pause(&mut self, slot: u32, reason: u8, on: bool, t: Millis) {
        let Some(sla) = self.sla_of(slot) else { return };
        let c = &mut self.sla_clocks[sla as usize];
        let was = c.paused != 0;
        if on {
            c.paused |= reason;
        } else {
            c.paused &= !reason;
        }
        let now = c.paused != 0;
        if was == now {
            return;
        }
        let cal = self.cfg.policies.list[c.policy as usize].calendar.clone();
        for target in SlaTarget::ALL {
            let clock = &mut self.sla_clocks[sla as usize].clocks[target as usize];
            if clock.state != State::Running {
                continue;
            }
            if now {
                clock.consumed += cal.business_millis_between(clock.started, t);
                clock.started = NONE;
                clock.deadline = NONE;
                if let Some(id) = clock.timer.take() {
                    self.sla_wheel.cancel(id);
                }
            } else {
                clock.started = t;
                self.sla_schedule(sla, target);
            }
        }
    }

    /// Drop the clocks of an interaction that closed.
    pub(super) fn sla_close(&mut self, slot: u32) {
        let Some(sla) = self.sla_of(slot) else { return };
        let c = self.sla_clocks.remove(sla as usize);
        for clock in c.clocks {
            if let Some(id) = clock.timer {
                self.sla_wheel.cancel(id);
            }
        }
        self.interactions[slot as usize].sla = u32::MAX;
    }

    /// Does the policy of `slot` pause on `status`?
    pub(super) fn sla_pauses_on(&self, slot: u32, status: &str) -> bool {
        self.sla_of(slot).is_some_and(|sla| {
            let p = self.sla_clocks[sla as usize].policy as usize;
            self.cfg.policies.list[p].pauses_on(status)
        })
    }

    /// Fire every timer with a deadline before `until`, in deadline order.
    ///
    /// One deadline at a time: a firing re-arms its clock (a fresh budget
    /// from the missed deadline), and that new deadline can come before
    /// other timers already due; it must fire before them, as it would have
    /// had the watermark stopped in between. Otherwise where the watermark
    /// stops (ticks, the agent events a restore merges in at other points)
    /// would change which target gets which attempt, hence the effects and
    /// their ids.
    pub(super) fn sla_fire(&mut self, until: Millis, out: &mut Vec<Effect>) {
        let now = until.saturating_sub(1);
        let mut fired = Vec::new();
        // The bound, not the exact next deadline: no slot scans (a lower
        // bound only makes a step fire nothing and refine the wheel).
        while let Some(d) = self.sla_wheel.next_deadline_bound().filter(|&d| d <= now) {
            self.sla_wheel
                .advance(d, |_, deadline, p| fired.push((deadline, p)));
            for (deadline, p) in fired.drain(..) {
                self.sla_on_timer(deadline, p, out);
            }
        }
        // Nothing is due up to `now` any more: this only moves the wheel's
        // clock, as one jump would have.
        self.sla_wheel
            .advance(now, |_, deadline, p| fired.push((deadline, p)));
        for (deadline, p) in fired {
            self.sla_on_timer(deadline, p, out);
        }
    }

    pub(super) fn sla_on_timer(&mut self, at: Millis, p: u64, out: &mut Vec<Effect>) {
        let (sla, target, stage) = unpack(p);
        let Some(c) = self.sla_clocks.get_mut(sla as usize) else {
            return;
        };
        let clock = &mut c.clocks[target as usize];
        if clock.state != State::Running {
            return;
        }
        clock.timer = None;
        if stage == AT_RISK {
            clock.at_risk = true;
            self.sla_schedule(sla, target);
            return;
        }
        let slot = c.interaction;
        let policy_ix = c.policy;
        let (run, opening) = (clock.origin, c.origin);
        let first = !clock.breached;
        clock.breached = true;
        let deadline = at;
        let it = &self.interactions[slot as usize];
        let (q, ch, priority, agent) = (it.queue, it.channel, it.priority, it.agent);
        let id = it.id.to_string();
        let qname = self.queue_names[q as usize].to_string();
        // What the policy decides here, read without cloning it (its
        // calendar is a list of days): a breach is on the hot path.
        let policy = &self.cfg.policies.list[policy_ix as usize];
        let (reassigns, max_reassignments) =
            (policy.reassigns_on(target), policy.max_reassignments);
        let from_agent = self.agents.get(agent as usize).map(|a| a.id.to_string());
        let key = (q, policy_ix, target);
        if first {
            self.sla_detail.entry(key).or_default().breached += 1;
            self.record_q(slot, deadline, |c| c.sla_breaches += 1);
            out.push(Effect::SlaBreached(SlaBreached {
                effect_id: effect_id(
                    self.tenant.as_deref(),
                    "breach",
                    &id,
                    target,
                    deadline,
                    0,
                    run,
                ),
                interaction_id: id.clone(),
                queue: qname.clone(),
                channel: ch,
                priority,
                policy: self.cfg.policies.list[policy_ix as usize].name.clone(),
                target,
                deadline,
                assigned_agent: from_agent.clone(),
                tenant: self.tenant.as_ref().map(|t| t.to_string()),
            }));
        }
        let c = &mut self.sla_clocks[sla as usize];
        if !reassigns || c.escalated {
            c.clocks[target as usize].state = State::Breached;
            return;
        }
        c.attempts += 1;
        let attempt = c.attempts;
        let effect_id = effect_id(
            self.tenant.as_deref(),
            "reassign",
            &id,
            target,
            deadline,
            attempt,
            opening,
        );
        let action = match self.recorded.remove(&effect_id) {
            // Restoring: re-apply what was published rather than re-decide.
            Some(recorded) => recorded,
            None if attempt > max_reassignments => Reassignment::Escalate {
                to: self.cfg.policies.list[policy_ix as usize]
                    .escalate_to
                    .clone(),
            },
            None => {
                let serving = self.serving.get(q as usize).map_or(&[][..], Vec::as_slice);
                let picked = picker::pick(
                    serving
                        .iter()
                        .filter_map(|&a| self.agents.get(a as usize))
                        .map(|a| Candidate {
                            id: a.id.as_str(),
                            state: a.state,
                            open: a.open,
                            since: a.since,
                        }),
                    from_agent.as_deref(),
                );
                match picked {
                    Some(agent_id) => Reassignment::ToAgent {
                        agent_id: agent_id.to_string(),
                    },
                    None => Reassignment::Requeue {
                        priority: priority.saturating_add(1),
                    },
                }
            }
        };
        let detail = self.sla_detail.entry(key).or_default();
        match &action {
            Reassignment::ToAgent { agent_id } => {
                detail.reassigned += 1;
                let a = self.agent_id(agent_id);
                self.assign(slot, a);
                self.record_q(slot, deadline, |c| c.sla_reassigned += 1);
            }
            Reassignment::Requeue { priority } => {
                detail.requeued += 1;
                self.interactions[slot as usize].priority = *priority;
                self.record_q(slot, deadline, |c| c.sla_requeued += 1);
            }
            Reassignment::Escalate { .. } => {
                detail.escalated += 1;
                self.sla_clocks[sla as usize].escalated = true;
                self.record_q(slot, deadline, |c| c.sla_escalated += 1);
            }
        }
        let escalated = matches!(action, Reassignment::Escalate { .. });
        out.push(Effect::ReassignmentRequested(ReassignmentRequested {
            effect_id,
            interaction_id: id,
            queue: qname,
            channel: ch,
            from_agent,
            action,
            reason: target,
            attempt,
            deadline,
            tenant: self.tenant.as_ref().map(|t| t.to_string()),
        }));
        let clock = &mut self.sla_clocks[sla as usize].clocks[target as usize];
        if escalated {
            clock.state = State::Breached;
        } else {
            // A fresh budget for whoever has it now.
            clock.started = deadline;
            clock.consumed = 0;
            clock.at_risk = false;
            self.sla_schedule(sla, target);
        }
    }

    /// Per open interaction with running clocks: (queue, channel, at risk,
    /// ms to the nearest deadline), as of `now`.
    pub(super) fn sla_open_view(
        &self,
        now: Millis,
    ) -> Vec<(u32, crate::event::Channel, bool, Option<Millis>)> {
        let mut v = Vec::new();
        for (_, c) in self.sla_clocks.iter() {
            let it = &self.interactions[c.interaction as usize];
            let running = c.clocks.iter().filter(|k| k.state == State::Running);
            let mut at_risk = false;
            let mut nearest: Option<Millis> = None;
            let mut any = false;
            for k in running {
                any = true;
                at_risk |= k.at_risk;
                if k.deadline != NONE {
                    let left = (k.deadline - now).max(0);
                    nearest = Some(nearest.map_or(left, |n| n.min(left)));
                }
            }
            if any {
                v.push((it.queue, it.channel, at_risk, nearest));
            }
        }
        v
    }
}
