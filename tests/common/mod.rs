//! Shared test support: proptest strategies for arbitrary *valid* domain
//! values (every value generated here passes the codec's validation with
//! [`Limits::default`](ccpulse_core::event::codec::Limits) and no reference time).
//!
//! Use from another test file with `mod common;`.

#![allow(dead_code)]

use ccpulse_core::event::codec::{MAX_OCCURRED_AT, MIN_OCCURRED_AT};
use ccpulse_core::event::{
    AgentState, AgentStateChanged, Channel, Direction, Effect, Event, EventKind, InteractionEvent,
    Millis, Reassignment, ReassignmentRequested, SlaBreached, SlaTarget, SurveyAnswered,
    SurveyScore,
};
use proptest::prelude::*;
use proptest::sample::select;

/// A non-empty identifier: mostly realistic ASCII, sometimes any printable
/// Unicode (at most 48 bytes, well under the default id limit).
pub fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9_-]{0,23}",
        1 => "\\PC{1,12}",
    ]
}

/// An optional identifier; `Some` is never empty (empty means `None` on the
/// wire, so `Some("")` would not round-trip).
pub fn opt_id() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(id())
}

/// An event time the codec accepts: [2000-01-01, 2100-01-01), to the ms.
pub fn occurred_at() -> impl Strategy<Value = Millis> {
    MIN_OCCURRED_AT..MAX_OCCURRED_AT
}

/// Any time a protobuf `Timestamp` can carry (years 1 to 9999), to the ms:
/// effect deadlines are not bounded like event times.
pub fn any_timestamp() -> impl Strategy<Value = Millis> {
    -62_135_596_800_000i64..=253_402_300_799_999
}

pub fn channel() -> impl Strategy<Value = Channel> {
    select(Channel::ALL.to_vec())
}

pub fn agent_state() -> impl Strategy<Value = AgentState> {
    select(AgentState::ALL.to_vec())
}

pub fn sla_target() -> impl Strategy<Value = SlaTarget> {
    select(SlaTarget::ALL.to_vec())
}

pub fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Customer), Just(Direction::Agent)]
}

pub fn interaction_event() -> impl Strategy<Value = InteractionEvent> {
    use InteractionEvent as I;
    // At least one transfer target is required.
    let transfer = prop_oneof![
        (id(), opt_id()).prop_map(|(q, a)| (Some(q), a)),
        id().prop_map(|a| (None, Some(a))),
    ];
    prop_oneof![
        (id(), channel(), any::<u32>(), opt_id()).prop_map(
            |(queue, channel, priority, customer_ref)| I::Queued {
                queue,
                channel,
                priority,
                customer_ref,
            }
        ),
        id().prop_map(|agent_id| I::Offered { agent_id }),
        id().prop_map(|agent_id| I::Answered { agent_id }),
        (direction(), opt_id()).prop_map(|(direction, agent_id)| I::Message {
            direction,
            agent_id
        }),
        Just(I::HoldStarted),
        Just(I::HoldEnded),
        transfer.prop_map(|(to_queue, to_agent)| I::Transferred { to_queue, to_agent }),
        Just(I::Abandoned),
        Just(I::Ended),
        opt_id().prop_map(|agent_id| I::WrapUpDone { agent_id }),
        opt_id().prop_map(|agent_id| I::Resolved { agent_id }),
        Just(I::Reopened),
        id().prop_map(|status| I::StatusChanged { status }),
    ]
}

pub fn agent_state_changed() -> impl Strategy<Value = AgentStateChanged> {
    (id(), agent_state(), prop::collection::vec(id(), 0..4)).prop_map(
        |(agent_id, state, queues)| AgentStateChanged {
            agent_id,
            state,
            queues,
        },
    )
}

pub fn survey_score() -> impl Strategy<Value = SurveyScore> {
    prop_oneof![
        (1u8..=5).prop_map(SurveyScore::Csat),
        (0u8..=10).prop_map(SurveyScore::Nps),
        (1u8..=7).prop_map(SurveyScore::Ces),
    ]
}

pub fn survey_answered() -> impl Strategy<Value = SurveyAnswered> {
    (id(), opt_id(), id(), channel(), survey_score()).prop_map(
        |(interaction_id, agent_id, queue, channel, score)| SurveyAnswered {
            interaction_id,
            agent_id,
            queue,
            channel,
            score,
        },
    )
}

pub fn event_kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        3 => (id(), interaction_event()).prop_map(|(interaction_id, event)| {
            EventKind::Interaction {
                interaction_id,
                event,
            }
        }),
        1 => agent_state_changed().prop_map(EventKind::Agent),
        1 => survey_answered().prop_map(EventKind::Survey),
    ]
}

/// Any valid event.
pub fn event() -> impl Strategy<Value = Event> {
    (id(), occurred_at(), opt_id(), event_kind()).prop_map(
        |(event_id, occurred_at, tenant, kind)| Event {
            event_id,
            occurred_at,
            tenant,
            kind,
        },
    )
}

pub fn reassignment() -> impl Strategy<Value = Reassignment> {
    prop_oneof![
        id().prop_map(|agent_id| Reassignment::ToAgent { agent_id }),
        any::<u32>().prop_map(|priority| Reassignment::Requeue { priority }),
        id().prop_map(|to| Reassignment::Escalate { to }),
    ]
}

pub fn sla_breached() -> impl Strategy<Value = SlaBreached> {
    (
        (id(), id(), id(), channel(), any::<u32>()),
        (
            "\\PC{0,16}",
            sla_target(),
            any_timestamp(),
            opt_id(),
            opt_id(),
        ),
    )
        .prop_map(
            |(
                (effect_id, interaction_id, queue, channel, priority),
                (policy, target, deadline, assigned_agent, tenant),
            )| SlaBreached {
                effect_id,
                interaction_id,
                queue,
                channel,
                priority,
                policy,
                target,
                deadline,
                assigned_agent,
                tenant,
            },
        )
}

pub fn reassignment_requested() -> impl Strategy<Value = ReassignmentRequested> {
    (
        (id(), id(), id(), channel(), opt_id()),
        (
            reassignment(),
            sla_target(),
            any::<u32>(),
            any_timestamp(),
            opt_id(),
        ),
    )
        .prop_map(
            |(
                (effect_id, interaction_id, queue, channel, from_agent),
                (action, reason, attempt, deadline, tenant),
            )| ReassignmentRequested {
                effect_id,
                interaction_id,
                queue,
                channel,
                from_agent,
                action,
                reason,
                attempt,
                deadline,
                tenant,
            },
        )
}

/// Any valid effect.
pub fn effect() -> impl Strategy<Value = Effect> {
    prop_oneof![
        sla_breached().prop_map(Effect::SlaBreached),
        reassignment_requested().prop_map(Effect::ReassignmentRequested),
    ]
}

/// Every `Event::kind_name()`, written out by hand so that a new variant
/// must be added here (and to the examples) deliberately.
pub const ALL_KIND_NAMES: [&str; 15] = [
    "queued",
    "offered",
    "answered",
    "message",
    "hold_started",
    "hold_ended",
    "transferred",
    "abandoned",
    "ended",
    "wrap_up_done",
    "resolved",
    "reopened",
    "status_changed",
    "agent_state_changed",
    "survey_answered",
];
