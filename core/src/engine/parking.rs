//! Parking: an interaction event that finds no interaction to apply to
//! (its creating event, or the resolution a reopen needs, is still to come)
//! waits here by interaction id instead of being dropped. When an event of
//! that interaction is applied (it was created, resolved, reopened), its
//! parked events are applied after it in canonical order; one that still
//! finds no interaction parks again.
//!
//! Bounded: an event parks for `engine.parking_ttl` of event time (it
//! expires once the watermark is more than that past its time; never the
//! wall clock, so a replay decides as the live run did) and the area holds
//! at most `limits.max_parked_events`; a further event does not park.
//! Only those two count as orphaned (`parked_expired`, `parked_overflow`;
//! `orphaned` is their sum). When the shell asks
//! ([`super::Engine::collect_orphans`]), each orphaned event is also handed
//! out with its reason, for the dead-letter topic.

use compact_str::CompactString;

use super::fold::Fold;
use super::reorder::Pending;
use super::types::{id_hash, Orphaned, OrphanedEvent, NONE};
use crate::event::{Event, EventKind, InteractionEvent, Millis};

/// How many times a drain may re-open itself (an interaction that is
/// created, resolved and reopened within its own parked events); deeper
/// ones wait for the next event of the interaction, or expire.
const MAX_NESTED_DRAINS: u8 = 16;

impl Fold {
    /// Whether `event` of interaction `id` finds nothing to apply to.
    fn must_park(&self, id: &str, event: &InteractionEvent) -> bool {
        match event {
            InteractionEvent::Queued { .. } => false,
            InteractionEvent::Reopened => {
                self.find(id).is_none() && !self.resolved.contains_key(&id_hash(id))
            }
            _ => self.find(id).is_none(),
        }
    }

    /// Park `ev` if it finds nothing to apply to; gives it back otherwise.
    pub(super) fn park_if_unknown(&mut self, ev: Event) -> Option<Event> {
        let EventKind::Interaction {
            interaction_id,
            event,
        } = &ev.kind
        else {
            return Some(ev);
        };
        if !self.must_park(interaction_id, event) {
            return Some(ev);
        }
        if self.parked_len >= self.cfg.max_parked_events {
            self.stats.parked_overflow += 1;
            self.stats.orphaned += 1;
            if let Some(out) = &mut self.orphans_out {
                out.push(OrphanedEvent {
                    event: ev,
                    reason: Orphaned::Overflow,
                });
            }
            return None;
        }
        let id = CompactString::from(interaction_id.as_str());
        let p = Pending::new(ev);
        let (t, first) = (p.t, self.parked_len == 0);
        let list = self.parked.entry(id).or_default();
        // A redelivery the dedup horizon no longer remembers, while the
        // first copy still waits here.
        if list.iter().any(|q| q.ev.event_id == p.ev.event_id) {
            self.stats.duplicates += 1;
            return None;
        }
        let pos = list.partition_point(|q| q.key() <= p.key());
        list.insert(pos, p);
        self.parked_oldest = if first { t } else { self.parked_oldest.min(t) };
        self.parked_len += 1;
        None
    }

    /// After an event of `id` was applied: apply its parked events, in
    /// canonical order.
    pub(super) fn unpark(&mut self, id: &str) {
        if self.parked_len > 0 && self.parked.contains_key(id) {
            self.drain_parked(id, 0);
        }
    }

    fn drain_parked(&mut self, id: &str, depth: u8) {
        let Some(list) = self.parked.remove(id) else {
            return;
        };
        self.parked_len -= list.len();
        for p in list {
            let existed = self.find(id).is_some();
            // Parks again if it still finds nothing.
            let applied = self.apply_one(p.ev);
            // Those parked again before it were waiting for the interaction
            // it just (re)created: their turn, before the later ones.
            if applied && !existed && self.find(id).is_some() && depth < MAX_NESTED_DRAINS {
                self.drain_parked(id, depth + 1);
            }
        }
        if self.parked_len == 0 {
            self.parked_oldest = NONE;
        }
    }

    /// Expire the parked events more than `parking_ttl` older than the
    /// watermark: orphaned for good.
    pub(super) fn expire_parked(&mut self) {
        if self.parked_len == 0 {
            return;
        }
        let cut = self.watermark.saturating_sub(self.cfg.parking_ttl);
        if self.parked_oldest >= cut {
            return;
        }
        let mut expired = 0u64;
        let mut oldest = Millis::MAX;
        let out = &mut self.orphans_out;
        self.parked.retain(|_, list| {
            let before = list.len();
            match out {
                Some(out) => {
                    let (gone, keep): (Vec<Pending>, Vec<Pending>) =
                        std::mem::take(list).into_iter().partition(|p| p.t < cut);
                    *list = keep;
                    out.extend(gone.into_iter().map(|p| OrphanedEvent {
                        event: p.ev,
                        reason: Orphaned::Expired,
                    }));
                }
                None => list.retain(|p| p.t >= cut),
            }
            expired += (before - list.len()) as u64;
            if let Some(p) = list.first() {
                oldest = oldest.min(p.t);
            }
            !list.is_empty()
        });
        self.parked_len -= expired as usize;
        self.parked_oldest = if self.parked_len == 0 { NONE } else { oldest };
        self.stats.parked_expired += expired;
        self.stats.orphaned += expired;
    }

    /// Events waiting in the parking area.
    pub fn parked(&self) -> usize {
        self.parked_len
    }
}
