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
//! Open interactions live in a slab (`slots`) addressed by `u32` slots,
//! indexed by id in a `HashTable<u32>` (the id is stored once). Per queue ×
//! channel and per agent stats are in `stats`; their windows in `window`.
//! Everything is bounded: queues and agents with own series are capped
//! (overflow folds into `other`), resolved interactions are remembered
//! only for the repeat window and customers for twice that, each up to a
//! cap, idle interactions expire.
//!
//! The whole state can be saved as a [`checkpoint`] and restored, exactly
//! equivalent to having folded the log ([`Engine::checkpoint`],
//! [`Engine::restore`]).

//!
//! # Layout
//! The front door re-exports the API; the rooms behind it:
//!
//! | file | owns |
//! |---|---|
//! | `settings` | the engine's config sections and their validation ([`EngineConfig`]) |
//! | `types` | shared markers, samples, [`Outcome`], [`ProcessingStats`], [`StateCounts`] |
//! | `records` | per-entity data: open and resolved interactions, customers, agents |
//! | `reorder` | reorder-buffer entries and the canonical order |
//! | `tenants` | [`Engine`]: one fold per tenant (routing, the tenant cap, a view per tenant) |
//! | `fold` | one tenant's fold: its state, ordering against the watermark, interning, housekeeping |
//! | `interactions` | the interaction state machine |
//! | `repeats` | resolutions and reopens |
//! | `customers` | the customer stage: repeat contacts and FCR decided from customer facts ([`CustomerFact`]), here or where the facts of every partition meet |
//! | `agents`, `surveys` | the agent directory and state time; survey answers |
//! | `clocks`, `sla` | SLA clock data; clocks driven by the watermark, breaches and reassignments |
//! | `stats`, `window`, `hist` | counters per queue × channel and agent, sliding windows from slices, histograms |
//! | `view` | [`View`], the raw mergeable read side, and [`Publication`] |
//! | `snapshot` | [`Snapshot`]: every derived figure (`erlang`: Erlang C) |
//! | `parking` | events waiting for their interaction to appear (TTL, cap), applied when it does |
//! | `dedup`, `local_time` | the dedup horizon; local hour / weekday / month |
//! | `slots` | the slab of interactions and SLA clocks (slots and their reuse order can be saved) |
//! | `tracked` | the map behind resolutions and customers: shared by the provisional view's copy, which keeps its own writes apart |
//! | `checkpoint` | the checkpoint format: save, restore, inspect |

pub mod checkpoint;
pub mod settings;
pub mod snapshot;
pub mod view;

mod agents;
mod checkpoint_v1;
mod clocks;
mod customers;
mod dedup;
mod erlang;
mod fold;
mod hist;
mod interactions;
mod local_time;
mod parking;
mod records;
mod reorder;
mod repeats;
mod sla;
mod slots;
mod stats;
mod surveys;
mod tap;
mod tenants;
mod tracked;
mod types;
mod window;

pub use checkpoint::{CheckpointError, CheckpointInfo};
pub use clocks::SlaOutcomes;
pub use hist::{Buckets, Hdr, Quantiles, BOUNDS_MS};
pub use settings::EngineConfig;
pub use snapshot::Snapshot;
pub use stats::{AgentCounters, AgentPane, HistKind, QueueCounters, QueuePane, Volume};
pub use tenants::Engine;
pub use types::{
    CustomerFact, FactKind, LabelledSeries, Orphaned, OrphanedEvent, Outcome, ProcessingStats,
    SampleKind, StateCounts, OTHER,
};
pub use view::{Publication, TenantView, View};
pub use window::WindowSpec;
