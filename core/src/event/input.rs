//! The domain input events: one envelope ([`Event`]) with an event time and
//! one kind (interaction, agent state, survey answer).

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC), or a duration in milliseconds.
pub type Millis = i64;

/// One validated input event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event; duplicates within the dedup horizon are ignored.
    pub event_id: String,
    /// Event time in ms since the Unix epoch.
    pub occurred_at: Millis,
    /// The tenant the event belongs to (`None`: `engine.default_tenant`);
    /// each tenant is folded apart. Not used for partitioning.
    pub tenant: Option<String>,
    pub kind: EventKind,
}

/// What happened, with the key the event is partitioned by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    /// Keyed by `interaction_id`.
    Interaction {
        interaction_id: String,
        event: InteractionEvent,
    },
    /// Keyed by `agent_id`.
    Agent(AgentStateChanged),
    /// Keyed by `interaction_id`.
    Survey(SurveyAnswered),
}

impl Event {
    /// The partition key: interaction id for interaction and survey events,
    /// agent id for agent events.
    pub fn key(&self) -> &str {
        match &self.kind {
            EventKind::Interaction { interaction_id, .. } => interaction_id,
            EventKind::Agent(a) => &a.agent_id,
            EventKind::Survey(s) => &s.interaction_id,
        }
    }

    /// Short, bounded name of the event kind, for logs, metrics labels and
    /// error messages (never an identifier).
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            EventKind::Interaction { event, .. } => event.name(),
            EventKind::Agent(_) => "agent_state_changed",
            EventKind::Survey(_) => "survey_answered",
        }
    }
}

/// Contact channel. Bounded: it is a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Voice,
    Chat,
    Email,
    Web,
    Social,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Voice,
        Channel::Chat,
        Channel::Email,
        Channel::Web,
        Channel::Social,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Chat => "chat",
            Channel::Email => "email",
            Channel::Web => "web",
            Channel::Social => "social",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer to the contact center (inbound).
    Customer,
    /// From an agent to the customer (outbound).
    Agent,
}

/// The life of one interaction (call, chat, email, web ticket, social post).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InteractionEvent {
    /// Created and entered a queue: the moment it counts as offered. Time
    /// spent in an IVR before this is deliberately outside queue wait.
    Queued {
        queue: String,
        channel: Channel,
        /// Higher is more urgent; 0 is normal.
        priority: u32,
        /// Hashed customer reference (for repeat contacts and FCR). Never
        /// exported as a label nor logged.
        customer_ref: Option<String>,
    },
    /// Offered (ringing / pushed) to an agent; the customer still waits.
    Offered {
        agent_id: String,
    },
    /// An agent answered / accepted it: queue wait ends, handling starts.
    Answered {
        agent_id: String,
    },
    /// A message was exchanged. The first agent message is the first
    /// response; each customer message restarts the next-reply SLA.
    Message {
        direction: Direction,
        agent_id: Option<String>,
    },
    HoldStarted,
    HoldEnded,
    /// Moved to another queue (it waits again there) and/or agent.
    Transferred {
        to_queue: Option<String>,
        to_agent: Option<String>,
    },
    /// The customer left while waiting in queue.
    Abandoned,
    /// The conversation ended; after-contact work (wrap-up) starts.
    Ended,
    /// After-contact work finished: the handled contact is complete.
    WrapUpDone {
        agent_id: Option<String>,
    },
    /// Resolved / closed by an agent.
    Resolved {
        agent_id: Option<String>,
    },
    /// A resolved interaction was reopened.
    Reopened,
    /// A free-form status (e.g. `waiting_on_customer`); SLA policies decide
    /// which statuses pause their clocks.
    StatusChanged {
        status: String,
    },
}

impl InteractionEvent {
    pub fn name(&self) -> &'static str {
        match self {
            InteractionEvent::Queued { .. } => "queued",
            InteractionEvent::Offered { .. } => "offered",
            InteractionEvent::Answered { .. } => "answered",
            InteractionEvent::Message { .. } => "message",
            InteractionEvent::HoldStarted => "hold_started",
            InteractionEvent::HoldEnded => "hold_ended",
            InteractionEvent::Transferred { .. } => "transferred",
            InteractionEvent::Abandoned => "abandoned",
            InteractionEvent::Ended => "ended",
            InteractionEvent::WrapUpDone { .. } => "wrap_up_done",
            InteractionEvent::Resolved { .. } => "resolved",
            InteractionEvent::Reopened => "reopened",
            InteractionEvent::StatusChanged { .. } => "status_changed",
        }
    }

    /// Lifecycle rank: breaks ties between events of the same millisecond so
    /// that, e.g., `Queued` is applied before `Answered` whatever the arrival
    /// order. Part of the engine's canonical order.
    pub fn lifecycle_rank(&self) -> u8 {
        // `Reopened` re-creates an interaction, so like `Queued` it comes
        // before anything else of the same millisecond (a reopen usually
        // arrives with the customer message that caused it).
        match self {
            InteractionEvent::Queued { .. } => 0,
            InteractionEvent::Reopened => 1,
            InteractionEvent::Transferred { .. } => 2,
            InteractionEvent::Offered { .. } => 3,
            InteractionEvent::Answered { .. } => 4,
            InteractionEvent::Message { .. } => 5,
            InteractionEvent::StatusChanged { .. } => 6,
            InteractionEvent::HoldStarted => 7,
            InteractionEvent::HoldEnded => 8,
            InteractionEvent::Abandoned => 9,
            InteractionEvent::Ended => 10,
            InteractionEvent::WrapUpDone { .. } => 11,
            InteractionEvent::Resolved { .. } => 12,
        }
    }
}

/// Agent presence state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    Offline,
    Available,
    /// On a contact.
    Busy,
    /// After-contact work.
    WrapUp,
    /// Logged in but not taking contacts (break, meeting, training).
    Away,
}

impl AgentState {
    pub const ALL: [AgentState; 5] = [
        AgentState::Offline,
        AgentState::Available,
        AgentState::Busy,
        AgentState::WrapUp,
        AgentState::Away,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Offline => "offline",
            AgentState::Available => "available",
            AgentState::Busy => "busy",
            AgentState::WrapUp => "wrap_up",
            AgentState::Away => "away",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// An agent's state changed. Carries the full set of queues/skills served
/// so each event is self-contained (no diffing against earlier events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStateChanged {
    pub agent_id: String,
    pub state: AgentState,
    /// Queues (or skills) this agent serves from now on.
    pub queues: Vec<String>,
}

/// A survey answer about one interaction. Carries queue and channel so the
/// answer can be attributed even long after the interaction closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyAnswered {
    pub interaction_id: String,
    pub agent_id: Option<String>,
    pub queue: String,
    pub channel: Channel,
    pub score: SurveyScore,
}

/// One survey score; the range is validated at decode time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyScore {
    /// Customer satisfaction, 1–5.
    Csat(u8),
    /// Net promoter, 0–10.
    Nps(u8),
    /// Customer effort, 1–7 (lower is better).
    Ces(u8),
}
