//! The reorder buffer's entries: an event with its canonical sort key
//! `(occurred_at, class, lifecycle rank, event_id)`. A leaf.

use crate::event::{Event, EventKind, Millis};

/// A buffered event with its canonical sort key.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub(super) t: Millis,
    pub(super) class: u8,
    pub(super) rank: u8,
    pub(super) ev: Event,
}

impl Pending {
    pub(super) fn new(ev: Event) -> Self {
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

    pub(super) fn key(&self) -> (Millis, u8, u8, &str) {
        (self.t, self.class, self.rank, self.ev.event_id.as_str())
    }
}
