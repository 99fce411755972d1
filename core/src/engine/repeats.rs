//! Resolutions and reopens. A resolution is an FCR candidate unless the
//! interaction was reopened; whether the customer's other contacts void it
//! (and which contacts are repeats) is the customer stage's decision
//! (`customers.rs`), told by facts. A resolution with no customer is
//! decided here: retracted (at the resolution's time) when the interaction
//! reopens within the repeat window. Bounded by `limits.max_tracked_*`.

use std::hash::BuildHasher;

use rustc_hash::FxBuildHasher;

use super::fold::Fold;
use super::records::{Interaction, Phase, Resolved, F_CUSTOMER_PENDING, F_REOPENED, F_RESPONDED};
use super::stats::HistKind;
use super::types::{id_hash, FactKind, NONE, NO_AGENT};
use crate::event::{Millis, SlaTarget};

impl Fold {
    /// Void a first-contact resolution with no customer if it lies within
    /// the repeat window before `t`; the retraction is attributed to the
    /// resolution's time.
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
            self.stats.fcr_retractions_beyond_window += 1;
        }
    }

    pub(super) fn on_resolved(&mut self, t: Millis, slot: u32, agent: Option<&str>) {
        let agent = match agent {
            Some(a) => self.agent_id(a),
            None => self.interactions[slot as usize].agent,
        };
        // An agent who transferred it away and whose wrap-up done has not
        // come: their segment ends here, without after-call work.
        self.close_leg(t, slot, false);
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
        // With a customer, the stage decides (`customers.rs`); without
        // one, only a reopen can void it.
        let reopened = it.flags & F_REOPENED != 0;
        let local_fcr = !reopened && it.customer == 0;
        let resolution = (t - it.created_at).max(0);
        let exchanges = it.exchanges as u64;
        self.record_q_at(q, ch, t, |c| {
            c.resolved += 1;
            c.fcr_candidates += local_fcr as u64;
            c.exchanges += exchanges;
        });
        self.observe_at(q, ch, HistKind::Resolution, t, resolution);
        if let Some(a) = self.agents.get(agent as usize) {
            let s = a.stats as usize;
            self.agent_stats[s].record(t, |p| p.c.closures += 1);
        }
        let key = id_hash(&it.id);
        if it.customer != 0 && !reopened {
            let created_at = it.created_at;
            self.customer_fact(
                FactKind::Resolved { created_at },
                it.customer,
                key,
                t,
                q,
                ch,
            );
        }
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
                fcr_candidate: local_fcr,
            },
        );
    }

    pub(super) fn on_reopened(&mut self, t: Millis, event_id: &str, id: &str) {
        let key = id_hash(id);
        let Some(r) = self.resolved.get(&key).cloned() else {
            // Parked before it gets here (`parking`).
            self.stats.orphaned += 1;
            return;
        };
        if r.customer == 0 {
            self.retract_fcr(key, t);
        } else {
            let resolved_at = r.resolved_at;
            self.customer_fact(
                FactKind::Reopened { resolved_at },
                r.customer,
                key,
                t,
                r.queue,
                r.channel,
            );
        }
        self.resolved.remove(&key);
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
            self.sla_open(slot, t, event_id, &[SlaTarget::Resolution]);
        }
    }
}
