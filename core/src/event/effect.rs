//! Output events: what the engine decides, for the shell to publish.
//!
//! Every effect carries an `effect_id` that names one decision: a hash of
//! (kind, interaction, target, deadline, attempt, origin), where the origin
//! is the event that started the clock (its id and time). It depends only
//! on the log, so a replay or a retry produces byte-identical events and
//! downstream consumers can de-duplicate; and two decisions never share
//! one, even when a hostile log starts the same clock twice.

use serde::{Deserialize, Serialize};

use super::input::{Channel, Millis};

/// One emitted event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    SlaBreached(SlaBreached),
    ReassignmentRequested(ReassignmentRequested),
}

impl Effect {
    pub fn effect_id(&self) -> &str {
        match self {
            Effect::SlaBreached(e) => &e.effect_id,
            Effect::ReassignmentRequested(e) => &e.effect_id,
        }
    }

    /// The partition key of the output record: the interaction, so effects
    /// are co-partitioned with the input that caused them.
    pub fn key(&self) -> &str {
        match self {
            Effect::SlaBreached(e) => &e.interaction_id,
            Effect::ReassignmentRequested(e) => &e.interaction_id,
        }
    }
}

/// Which SLA clock ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaTarget {
    /// Creation to the first agent reply.
    FirstResponse,
    /// A customer message to the next agent reply.
    NextReply,
    /// Creation to resolution.
    Resolution,
}

impl SlaTarget {
    pub const ALL: [SlaTarget; 3] = [
        SlaTarget::FirstResponse,
        SlaTarget::NextReply,
        SlaTarget::Resolution,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SlaTarget::FirstResponse => "first_response",
            SlaTarget::NextReply => "next_reply",
            SlaTarget::Resolution => "resolution",
        }
    }
}

/// An SLA target was missed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaBreached {
    pub effect_id: String,
    pub interaction_id: String,
    pub queue: String,
    pub channel: Channel,
    pub priority: u32,
    /// Name of the policy that set the target.
    pub policy: String,
    pub target: SlaTarget,
    /// When the target ran out (event time, ms).
    pub deadline: Millis,
    /// The agent assigned when it ran out, if any.
    pub assigned_agent: Option<String>,
    /// The interaction's tenant; `None` for the default tenant.
    pub tenant: Option<String>,
}

/// What to do with an interaction whose assigned operator did not act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reassignment {
    /// Give it to this free, eligible operator.
    ToAgent { agent_id: String },
    /// Nobody eligible is free: put it back in its queue, more urgent.
    Requeue { priority: u32 },
    /// Attempts exhausted: hand it to a supervisor queue or agent.
    Escalate { to: String },
}

/// Downstream routing should move this interaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReassignmentRequested {
    pub effect_id: String,
    pub interaction_id: String,
    pub queue: String,
    pub channel: Channel,
    /// The operator who did not act in time, if one was assigned.
    pub from_agent: Option<String>,
    pub action: Reassignment,
    /// The target whose breach caused this.
    pub reason: SlaTarget,
    /// 1 for the first reassignment of this interaction, then 2, 3…
    pub attempt: u32,
    /// The deadline that was missed (event time, ms).
    pub deadline: Millis,
    /// The interaction's tenant; `None` for the default tenant.
    pub tenant: Option<String>,
}
