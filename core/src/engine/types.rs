//! Small types the whole engine shares: markers, the samples it taps for
//! the shells, what `apply` reports, the fold's own counters, and the
//! customer facts the fold states (`customers.rs`). A leaf.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::stats::HistKind;
use crate::event::{AgentState, Channel, Millis};

/// "No time" marker inside compact state.
pub(super) const NONE: Millis = Millis::MIN;
/// "No agent" marker.
pub(super) const NO_AGENT: u32 = u32::MAX;
/// Label value that absorbs queues and agents beyond the caps.
pub const OTHER: &str = "other";
pub(super) const HOUR: Millis = 3_600_000;

/// The duration samples of one series (queue × channel × kind, or agent)
/// folded since the last publication, labelled: what the shells export,
/// without reaching into the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledSeries {
    /// The tenant whose fold took them.
    pub tenant: CompactString,
    pub kind: SampleKind,
    /// Queue name for queue samples, agent id for agent samples (`other`
    /// past the caps).
    pub label: CompactString,
    pub channel: Channel,
    /// The durations, in the order folded.
    pub ms: Vec<Millis>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessingStats {
    pub events_received: u64,
    pub events_applied: u64,
    pub duplicates: u64,
    pub late: u64,
    /// Late events (older than the watermark on arrival) too old for some
    /// window tier: counted once per event (cumulative figures still
    /// include them). Nothing but late events counts here.
    pub late_beyond_window: u64,
    /// FCR retractions (a reopen or a repeat contact voiding a
    /// first-contact resolution) attributed to a resolution time some window
    /// tier no longer holds: that window keeps the candidate, cumulative
    /// figures include the retraction. Not late events: the retraction is
    /// dated at the resolution by definition.
    pub fcr_retractions_beyond_window: u64,
    /// Events for an interaction the engine does not know (e.g. its
    /// creation predates the log's retention) that were not applied for
    /// good: `parked_expired + parked_overflow`. (Waiting ones are parked,
    /// not orphaned.)
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
    /// Parked events whose interaction did not appear within
    /// `engine.parking_ttl` of event time (orphaned).
    pub parked_expired: u64,
    /// Events for an unknown interaction not parked because the parking
    /// area held `limits.max_parked_events` (orphaned).
    pub parked_overflow: u64,
}

impl ProcessingStats {
    /// Add another part's counters (another partition or tenant).
    pub fn add(&mut self, q: &ProcessingStats) {
        self.events_received += q.events_received;
        self.events_applied += q.events_applied;
        self.duplicates += q.duplicates;
        self.late += q.late;
        self.late_beyond_window += q.late_beyond_window;
        self.fcr_retractions_beyond_window += q.fcr_retractions_beyond_window;
        self.orphaned += q.orphaned;
        self.ignored_transitions += q.ignored_transitions;
        self.stale_agent_events += q.stale_agent_events;
        self.expired_interactions += q.expired_interactions;
        self.tracking_overflow += q.tracking_overflow;
        self.parked_expired += q.parked_expired;
        self.parked_overflow += q.parked_overflow;
    }
}

/// A stable 64-bit hash of an id (customer references, resolved interactions).
pub(super) fn id_hash(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

/// Agents by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StateCounts {
    pub offline: u64,
    pub available: u64,
    pub busy: u64,
    pub wrap_up: u64,
    pub away: u64,
}

impl StateCounts {
    pub(crate) fn add(&mut self, s: AgentState) {
        match s {
            AgentState::Offline => self.offline += 1,
            AgentState::Available => self.available += 1,
            AgentState::Busy => self.busy += 1,
            AgentState::WrapUp => self.wrap_up += 1,
            AgentState::Away => self.away += 1,
        }
    }
}

/// What a fold tells the customer stage (`customers.rs`). The customer and interaction are
/// 64-bit hashes (the customer reference never leaves the fold in clear).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerFact {
    /// `None`: the default tenant.
    pub tenant: Option<CompactString>,
    pub customer: u64,
    pub interaction: u64,
    /// The contact's creation, the resolution, or the reopen.
    pub at: Millis,
    /// The queue the contact was created in or the resolution counted in.
    pub queue: CompactString,
    pub channel: Channel,
    pub kind: FactKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FactKind {
    /// The interaction was created for the customer at `at`.
    Contact,
    /// The interaction, created at `created_at` and never reopened, was
    /// resolved at `at`.
    Resolved { created_at: Millis },
    /// The interaction resolved at `resolved_at` was reopened at `at`.
    Reopened { resolved_at: Millis },
}

/// Why a parked event was given up (`parking.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphaned {
    /// Its interaction did not appear within `engine.parking_ttl`.
    Expired,
    /// The parking area was full (`limits.max_parked_events`).
    Overflow,
}

impl Orphaned {
    /// Bounded code, for the dead-letter reason and metric labels.
    pub fn code(self) -> &'static str {
        match self {
            Orphaned::Expired => "parked_expired",
            Orphaned::Overflow => "parked_overflow",
        }
    }
}

/// An event given up for good, handed to the shell for the dead-letter
/// topic when it asks for them ([`Engine::collect_orphans`](super::Engine::collect_orphans)).
#[derive(Debug, Clone, PartialEq)]
pub struct OrphanedEvent {
    pub event: crate::event::Event,
    pub reason: Orphaned,
}
