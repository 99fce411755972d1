//! Input events: the domain type every decoder produces and the engine folds.
//!
//! The wire schema lives in `proto/ccpulse/v1/events.proto`; protobuf and its
//! proto3 JSON mapping are both decoded (in [`codec`]) into these types, and
//! every value that reaches the engine has passed [`codec`]'s validation. The
//! engine never sees wire types, so a schema change touches one module.
//!
//! Times are milliseconds since the Unix epoch, UTC ([`Millis`]); event time
//! (`occurred_at`) is when the thing happened, not when it was received.

pub mod codec;
pub mod effect;
pub mod file;

mod input;

pub use effect::{Effect, Reassignment, ReassignmentRequested, SlaBreached, SlaTarget};
pub use input::{
    AgentState, AgentStateChanged, Channel, Direction, Event, EventKind, InteractionEvent, Millis,
    SurveyAnswered, SurveyScore,
};
