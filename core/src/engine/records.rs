//! What the engine remembers per entity: an open interaction and its phase,
//! a resolved interaction (for reopens and FCR), a customer (for repeat
//! contacts), an agent of the directory. Plain data, kept small: there may
//! be millions of open interactions. A leaf.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::event::{AgentState, Channel, Millis};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Phase {
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
    pub(super) fn is_active(self) -> bool {
        !matches!(self, Phase::Idle)
    }
}

/// The handled segment of an agent who transferred an interaction away,
/// kept open for their after-call work: it closes with their wrap-up done,
/// or without after-call work when the interaction moves on first (the
/// next segment closes, it ends or expires). At most one per interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Leg {
    pub(super) agent: u32,
    /// The queue the segment was handled in (before the transfer).
    pub(super) queue: u32,
    pub(super) start: Millis,
    pub(super) hold_ms: Millis,
    /// When their contact ended: their `ended`, or the transfer.
    pub(super) talk_end: Millis,
    /// Their leg's `ended` after the transfer was seen (one is accepted).
    pub(super) ended_seen: bool,
}

pub(super) const F_TRANSFERRED: u8 = 1;
pub(super) const F_REOPENED: u8 = 2;
pub(super) const F_CUSTOMER_PENDING: u8 = 4;
pub(super) const F_RESPONDED: u8 = 16;

/// One open interaction. Kept small: there may be millions.
#[derive(Debug, Clone)]
pub(super) struct Interaction {
    pub(super) id: CompactString,
    /// xxh3 of the hashed customer reference; 0 = none.
    pub(super) customer: u64,
    pub(super) created_at: Millis,
    pub(super) queued_at: Millis,
    pub(super) seg_start: Millis,
    pub(super) hold_started: Millis,
    pub(super) ended_at: Millis,
    pub(super) last_activity: Millis,
    pub(super) hold_ms: Millis,
    pub(super) agent: u32,
    pub(super) queue: u32,
    pub(super) priority: u32,
    /// Index of this interaction's SLA clocks, or `u32::MAX`.
    pub(super) sla: u32,
    pub(super) exchanges: u16,
    pub(super) channel: Channel,
    pub(super) phase: Phase,
    pub(super) flags: u8,
}

/// What is remembered of a resolved interaction, for reopens and FCR.
#[derive(Debug, Clone)]
pub(super) struct Resolved {
    pub(super) customer: u64,
    pub(super) created_at: Millis,
    pub(super) resolved_at: Millis,
    pub(super) queue: u32,
    pub(super) priority: u32,
    pub(super) channel: Channel,
    pub(super) fcr_candidate: bool,
}

/// What the customer stage (`customers.rs`) remembers of one customer:
/// their contacts and their resolutions counted as first-contact, within
/// reach of the repeat window. Usually one or two of each, so they are
/// kept inline (a fact then touches one map entry, not two more
/// allocations); more spill to the heap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Customer {
    /// In contact order: `(at, interaction)`.
    pub(super) contacts: SmallVec<[Contact; 2]>,
    pub(super) resolutions: SmallVec<[FcrResolution; 1]>,
}

/// A customer's contact: an interaction created for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Contact {
    pub(super) at: Millis,
    /// Id hash of the interaction it created.
    pub(super) interaction: u64,
    pub(super) queue: u32,
    pub(super) channel: Channel,
    /// Counted as a repeat contact.
    pub(super) repeat: bool,
}

/// A resolution counted as an FCR candidate, retracted at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FcrResolution {
    pub(super) interaction: u64,
    pub(super) created_at: Millis,
    pub(super) resolved_at: Millis,
    pub(super) queue: u32,
    pub(super) channel: Channel,
    pub(super) retracted: bool,
}

/// Directory entry of one agent (every agent seen, capped or not).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Agent {
    pub(super) id: CompactString,
    pub(super) state: AgentState,
    /// When `state` began; `NONE` until the first state event.
    pub(super) since: Millis,
    pub(super) queues: Vec<u32>,
    /// Index into `agent_stats` (0 = the shared `other` bucket).
    pub(super) stats: u32,
    /// Open interactions assigned to this agent.
    pub(super) open: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usual_customer_lives_in_its_map_entry() {
        let contact = Contact {
            at: 0,
            interaction: 1,
            queue: 0,
            channel: Channel::Voice,
            repeat: false,
        };
        let mut c = Customer::default();
        c.contacts.push(contact);
        c.contacts.push(Contact { at: 1, ..contact });
        c.resolutions.push(FcrResolution {
            interaction: 1,
            created_at: 0,
            resolved_at: 2,
            queue: 0,
            channel: Channel::Voice,
            retracted: false,
        });
        assert!(!c.contacts.spilled() && !c.resolutions.spilled());
        // A third contact moves to the heap and stays in order.
        c.contacts.push(Contact { at: 2, ..contact });
        assert!(c.contacts.spilled());
        let times: Vec<Millis> = c.contacts.iter().map(|x| x.at).collect();
        assert_eq!(times, [0, 1, 2]);
    }
}
