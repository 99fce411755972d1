//! Domain ⇄ wire conversions, and the validation rules applied on the way in.
//!
//! Domain → wire is total (`From`). Wire → domain is [`from_wire`] (with the
//! caller's [`Limits`] and reference time) or `TryFrom` (default limits, no
//! reference). Field paths in errors use proto field names joined by `.`,
//! with oneof members as path segments (`interaction.queued.queue`) and the
//! oneof's own name when none is set (`interaction.event`).

use pbjson_types::Timestamp;

use super::error::DecodeError;
use super::format::Limits;
use super::wire::{self, interaction_event as wie};
use crate::event::{
    AgentState, AgentStateChanged, Channel, Direction, Effect, Event, EventKind, InteractionEvent,
    Millis, Reassignment, ReassignmentRequested, SlaBreached, SlaTarget, SurveyAnswered,
    SurveyScore,
};

/// Earliest accepted `occurred_at`: 2000-01-01T00:00:00Z, in ms.
pub const MIN_OCCURRED_AT: Millis = 946_684_800_000;
/// First rejected `occurred_at`: 2100-01-01T00:00:00Z, in ms.
pub const MAX_OCCURRED_AT: Millis = 4_102_444_800_000;

/// The proto3 `Timestamp` range (0001-01-01 to 9999-12-31), in ms. Encoding
/// clamps to it so that JSON encoding cannot fail.
const MIN_TIMESTAMP: Millis = -62_135_596_800_000;
const MAX_TIMESTAMP: Millis = 253_402_300_799_999;

const NANOS_PER_MILLI: i32 = 1_000_000;

/// Validates a decoded envelope into an [`Event`].
///
/// `reference` is the record's log timestamp, if known; see
/// [`super::decode`].
pub fn from_wire(
    envelope: wire::Envelope,
    limits: &Limits,
    reference: Option<Millis>,
) -> Result<Event, DecodeError> {
    let ids = Ids {
        max_len: Some(limits.max_id_len),
    };
    let event_id = ids.required("event_id", envelope.event_id)?;
    let occurred_at = millis("occurred_at", envelope.occurred_at)?;
    if !(MIN_OCCURRED_AT..MAX_OCCURRED_AT).contains(&occurred_at) {
        return Err(DecodeError::invalid(
            "occurred_at",
            "must lie in [2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z)",
        ));
    }
    if let Some(reference) = reference {
        let ahead = occurred_at.saturating_sub(reference);
        if ahead > limits.max_future_skew {
            return Err(DecodeError::Future {
                ahead,
                max: limits.max_future_skew,
            });
        }
    }
    let tenant = ids.optional("tenant", envelope.tenant)?;
    let kind = match envelope.kind {
        None => return Err(DecodeError::invalid("kind", "required")),
        Some(wire::envelope::Kind::Interaction(i)) => interaction(&ids, i)?,
        Some(wire::envelope::Kind::AgentStateChanged(a)) => EventKind::Agent(agent(&ids, a)?),
        Some(wire::envelope::Kind::SurveyAnswered(s)) => EventKind::Survey(survey(&ids, s)?),
    };
    Ok(Event {
        event_id,
        occurred_at,
        tenant,
        kind,
    })
}

/// Validates with [`Limits::default`] and no reference time.
impl TryFrom<wire::Envelope> for Event {
    type Error = DecodeError;

    fn try_from(envelope: wire::Envelope) -> Result<Self, Self::Error> {
        from_wire(envelope, &Limits::default(), None)
    }
}

fn interaction(ids: &Ids, i: wire::InteractionEvent) -> Result<EventKind, DecodeError> {
    use wie::Event as W;
    let interaction_id = ids.required("interaction.interaction_id", i.interaction_id)?;
    let event = match i.event {
        None => return Err(DecodeError::invalid("interaction.event", "required")),
        Some(W::Queued(q)) => InteractionEvent::Queued {
            queue: ids.required("interaction.queued.queue", q.queue)?,
            channel: channel("interaction.queued.channel", q.channel)?,
            priority: q.priority,
            customer_ref: ids.optional("interaction.queued.customer_ref", q.customer_ref)?,
        },
        Some(W::Offered(o)) => InteractionEvent::Offered {
            agent_id: ids.required("interaction.offered.agent_id", o.agent_id)?,
        },
        Some(W::Answered(a)) => InteractionEvent::Answered {
            agent_id: ids.required("interaction.answered.agent_id", a.agent_id)?,
        },
        Some(W::Message(m)) => InteractionEvent::Message {
            direction: direction("interaction.message.direction", m.direction)?,
            agent_id: ids.optional("interaction.message.agent_id", m.agent_id)?,
        },
        Some(W::HoldStarted(wie::HoldStarted {})) => InteractionEvent::HoldStarted,
        Some(W::HoldEnded(wie::HoldEnded {})) => InteractionEvent::HoldEnded,
        Some(W::Transferred(t)) => {
            let to_queue = ids.optional("interaction.transferred.to_queue", t.to_queue)?;
            let to_agent = ids.optional("interaction.transferred.to_agent", t.to_agent)?;
            if to_queue.is_none() && to_agent.is_none() {
                return Err(DecodeError::invalid(
                    "interaction.transferred",
                    "needs to_queue or to_agent",
                ));
            }
            InteractionEvent::Transferred { to_queue, to_agent }
        }
        Some(W::Abandoned(wie::Abandoned {})) => InteractionEvent::Abandoned,
        Some(W::Ended(wie::Ended {})) => InteractionEvent::Ended,
        Some(W::WrapUpDone(w)) => InteractionEvent::WrapUpDone {
            agent_id: ids.optional("interaction.wrap_up_done.agent_id", w.agent_id)?,
        },
        Some(W::Resolved(r)) => InteractionEvent::Resolved {
            agent_id: ids.optional("interaction.resolved.agent_id", r.agent_id)?,
        },
        Some(W::Reopened(wie::Reopened {})) => InteractionEvent::Reopened,
        Some(W::StatusChanged(s)) => InteractionEvent::StatusChanged {
            status: ids.required("interaction.status_changed.status", s.status)?,
        },
    };
    Ok(EventKind::Interaction {
        interaction_id,
        event,
    })
}

fn agent(ids: &Ids, a: wire::AgentStateChanged) -> Result<AgentStateChanged, DecodeError> {
    let agent_id = ids.required("agent_state_changed.agent_id", a.agent_id)?;
    let state = agent_state("agent_state_changed.state", a.state)?;
    let queues = a
        .queues
        .into_iter()
        .enumerate()
        .map(|(i, q)| {
            ids.check(|| format!("agent_state_changed.queues[{i}]"), &q)
                .map(|()| q)
        })
        .collect::<Result<_, _>>()?;
    Ok(AgentStateChanged {
        agent_id,
        state,
        queues,
    })
}

fn survey(ids: &Ids, s: wire::SurveyAnswered) -> Result<SurveyAnswered, DecodeError> {
    use wire::survey_answered::Score as W;
    let interaction_id = ids.required("survey_answered.interaction_id", s.interaction_id)?;
    let agent_id = ids.optional("survey_answered.agent_id", s.agent_id)?;
    let queue = ids.required("survey_answered.queue", s.queue)?;
    let channel = channel("survey_answered.channel", s.channel)?;
    let score = match s.score {
        None => return Err(DecodeError::invalid("survey_answered.score", "required")),
        Some(W::Csat(v)) => SurveyScore::Csat(score("survey_answered.csat", v, 1, 5)?),
        Some(W::Nps(v)) => SurveyScore::Nps(score("survey_answered.nps", v, 0, 10)?),
        Some(W::Ces(v)) => SurveyScore::Ces(score("survey_answered.ces", v, 1, 7)?),
    };
    Ok(SurveyAnswered {
        interaction_id,
        agent_id,
        queue,
        channel,
        score,
    })
}

fn score(field: &str, v: u32, min: u8, max: u8) -> Result<u8, DecodeError> {
    u8::try_from(v)
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| DecodeError::invalid(field, format!("must be {min} to {max}, got {v}")))
}

/// Decodes an effect, checking what the domain type needs (ids, enums,
/// timestamps, oneofs). Effects are produced by ccpulse itself, so no size
/// limits apply.
impl TryFrom<wire::Effect> for Effect {
    type Error = DecodeError;

    fn try_from(effect: wire::Effect) -> Result<Self, Self::Error> {
        let ids = Ids { max_len: None };
        let effect_id = ids.required("effect_id", effect.effect_id)?;
        let tenant = ids.optional("tenant", effect.tenant)?;
        match effect.kind {
            None => Err(DecodeError::invalid("kind", "required")),
            Some(wire::effect::Kind::SlaBreached(b)) => Ok(Effect::SlaBreached(SlaBreached {
                effect_id,
                interaction_id: ids.required("sla_breached.interaction_id", b.interaction_id)?,
                queue: ids.required("sla_breached.queue", b.queue)?,
                channel: channel("sla_breached.channel", b.channel)?,
                priority: b.priority,
                policy: b.policy,
                target: sla_target("sla_breached.target", b.target)?,
                deadline: millis("sla_breached.deadline", b.deadline)?,
                assigned_agent: ids.optional("sla_breached.assigned_agent", b.assigned_agent)?,
                tenant,
            })),
            Some(wire::effect::Kind::ReassignmentRequested(r)) => {
                use wire::reassignment_requested::Action as W;
                let action = match r.action {
                    None => {
                        return Err(DecodeError::invalid(
                            "reassignment_requested.action",
                            "required",
                        ))
                    }
                    Some(W::ToAgent(agent_id)) => Reassignment::ToAgent {
                        agent_id: ids.required("reassignment_requested.to_agent", agent_id)?,
                    },
                    Some(W::RequeuePriority(priority)) => Reassignment::Requeue { priority },
                    Some(W::EscalateTo(to)) => Reassignment::Escalate {
                        to: ids.required("reassignment_requested.escalate_to", to)?,
                    },
                };
                Ok(Effect::ReassignmentRequested(ReassignmentRequested {
                    effect_id,
                    interaction_id: ids
                        .required("reassignment_requested.interaction_id", r.interaction_id)?,
                    queue: ids.required("reassignment_requested.queue", r.queue)?,
                    channel: channel("reassignment_requested.channel", r.channel)?,
                    from_agent: ids.optional("reassignment_requested.from_agent", r.from_agent)?,
                    action,
                    reason: sla_target("reassignment_requested.reason", r.reason)?,
                    attempt: r.attempt,
                    deadline: millis("reassignment_requested.deadline", r.deadline)?,
                    tenant,
                }))
            }
        }
    }
}

/// Identifier rules: required ids are non-empty, optional ids map empty to
/// `None`, and all are bounded when a limit is set.
struct Ids {
    max_len: Option<usize>,
}

impl Ids {
    fn required(&self, field: &str, value: String) -> Result<String, DecodeError> {
        self.check(|| field.to_owned(), &value)?;
        Ok(value)
    }

    fn optional(&self, field: &str, value: Option<String>) -> Result<Option<String>, DecodeError> {
        match value {
            Some(v) if !v.is_empty() => self.required(field, v).map(Some),
            _ => Ok(None),
        }
    }

    /// `field` is only built on error: paths with indices need formatting.
    fn check(&self, field: impl FnOnce() -> String, value: &str) -> Result<(), DecodeError> {
        if value.is_empty() {
            return Err(DecodeError::invalid(field(), "must not be empty"));
        }
        match self.max_len {
            Some(max) if value.len() > max => Err(DecodeError::invalid(
                field(),
                format!("longer than {max} bytes ({})", value.len()),
            )),
            _ => Ok(()),
        }
    }
}

/// A required timestamp, in ms (sub-millisecond digits truncated).
fn millis(field: &str, ts: Option<Timestamp>) -> Result<Millis, DecodeError> {
    let ts = ts.ok_or_else(|| DecodeError::invalid(field, "required"))?;
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(DecodeError::invalid(
            field,
            format!("nanos must be in 0..1000000000, got {}", ts.nanos),
        ));
    }
    ts.seconds
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(Millis::from(ts.nanos / NANOS_PER_MILLI)))
        .filter(|ms| (MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(ms))
        .ok_or_else(|| DecodeError::invalid(field, "outside the protobuf Timestamp range"))
}

/// Clamped to the proto3 range, which validated values never leave.
fn timestamp(ms: Millis) -> Timestamp {
    let ms = ms.clamp(MIN_TIMESTAMP, MAX_TIMESTAMP);
    Timestamp {
        seconds: ms.div_euclid(1000),
        // In 0..1000, so the product fits an i32.
        nanos: ms.rem_euclid(1000) as i32 * NANOS_PER_MILLI,
    }
}

fn unspecified(field: &str) -> DecodeError {
    DecodeError::invalid(field, "must be set (not UNSPECIFIED)")
}

fn unknown(field: &str, value: i32) -> DecodeError {
    DecodeError::invalid(field, format!("unknown enum value {value}"))
}

fn channel(field: &str, value: i32) -> Result<Channel, DecodeError> {
    match wire::Channel::try_from(value) {
        Ok(wire::Channel::Unspecified) => Err(unspecified(field)),
        Ok(wire::Channel::Voice) => Ok(Channel::Voice),
        Ok(wire::Channel::Chat) => Ok(Channel::Chat),
        Ok(wire::Channel::Email) => Ok(Channel::Email),
        Ok(wire::Channel::Web) => Ok(Channel::Web),
        Ok(wire::Channel::Social) => Ok(Channel::Social),
        Err(_) => Err(unknown(field, value)),
    }
}

fn direction(field: &str, value: i32) -> Result<Direction, DecodeError> {
    match wire::Direction::try_from(value) {
        Ok(wire::Direction::Unspecified) => Err(unspecified(field)),
        Ok(wire::Direction::Customer) => Ok(Direction::Customer),
        Ok(wire::Direction::Agent) => Ok(Direction::Agent),
        Err(_) => Err(unknown(field, value)),
    }
}

fn agent_state(field: &str, value: i32) -> Result<AgentState, DecodeError> {
    match wire::AgentState::try_from(value) {
        Ok(wire::AgentState::Unspecified) => Err(unspecified(field)),
        Ok(wire::AgentState::Offline) => Ok(AgentState::Offline),
        Ok(wire::AgentState::Available) => Ok(AgentState::Available),
        Ok(wire::AgentState::Busy) => Ok(AgentState::Busy),
        Ok(wire::AgentState::WrapUp) => Ok(AgentState::WrapUp),
        Ok(wire::AgentState::Away) => Ok(AgentState::Away),
        Err(_) => Err(unknown(field, value)),
    }
}

fn sla_target(field: &str, value: i32) -> Result<SlaTarget, DecodeError> {
    match wire::SlaTarget::try_from(value) {
        Ok(wire::SlaTarget::Unspecified) => Err(unspecified(field)),
        Ok(wire::SlaTarget::FirstResponse) => Ok(SlaTarget::FirstResponse),
        Ok(wire::SlaTarget::NextReply) => Ok(SlaTarget::NextReply),
        Ok(wire::SlaTarget::Resolution) => Ok(SlaTarget::Resolution),
        Err(_) => Err(unknown(field, value)),
    }
}

impl From<Channel> for wire::Channel {
    fn from(c: Channel) -> Self {
        match c {
            Channel::Voice => wire::Channel::Voice,
            Channel::Chat => wire::Channel::Chat,
            Channel::Email => wire::Channel::Email,
            Channel::Web => wire::Channel::Web,
            Channel::Social => wire::Channel::Social,
        }
    }
}

impl From<Direction> for wire::Direction {
    fn from(d: Direction) -> Self {
        match d {
            Direction::Customer => wire::Direction::Customer,
            Direction::Agent => wire::Direction::Agent,
        }
    }
}

impl From<AgentState> for wire::AgentState {
    fn from(s: AgentState) -> Self {
        match s {
            AgentState::Offline => wire::AgentState::Offline,
            AgentState::Available => wire::AgentState::Available,
            AgentState::Busy => wire::AgentState::Busy,
            AgentState::WrapUp => wire::AgentState::WrapUp,
            AgentState::Away => wire::AgentState::Away,
        }
    }
}

impl From<SlaTarget> for wire::SlaTarget {
    fn from(t: SlaTarget) -> Self {
        match t {
            SlaTarget::FirstResponse => wire::SlaTarget::FirstResponse,
            SlaTarget::NextReply => wire::SlaTarget::NextReply,
            SlaTarget::Resolution => wire::SlaTarget::Resolution,
        }
    }
}

/// Enum fields are `i32` in prost structs.
fn channel_i32(c: Channel) -> i32 {
    wire::Channel::from(c).into()
}

fn sla_target_i32(t: SlaTarget) -> i32 {
    wire::SlaTarget::from(t).into()
}

/// Optional strings on the wire: empty means none, so `Some("")` is written
/// as absent and every value has one encoding.
fn opt(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.is_empty()).cloned()
}

impl From<&InteractionEvent> for wie::Event {
    fn from(e: &InteractionEvent) -> Self {
        match e {
            InteractionEvent::Queued {
                queue,
                channel,
                priority,
                customer_ref,
            } => wie::Event::Queued(wie::Queued {
                queue: queue.clone(),
                channel: channel_i32(*channel),
                priority: *priority,
                customer_ref: opt(customer_ref),
            }),
            InteractionEvent::Offered { agent_id } => wie::Event::Offered(wie::Offered {
                agent_id: agent_id.clone(),
            }),
            InteractionEvent::Answered { agent_id } => wie::Event::Answered(wie::Answered {
                agent_id: agent_id.clone(),
            }),
            InteractionEvent::Message {
                direction,
                agent_id,
            } => wie::Event::Message(wie::Message {
                direction: wire::Direction::from(*direction).into(),
                agent_id: opt(agent_id),
            }),
            InteractionEvent::HoldStarted => wie::Event::HoldStarted(wie::HoldStarted {}),
            InteractionEvent::HoldEnded => wie::Event::HoldEnded(wie::HoldEnded {}),
            InteractionEvent::Transferred { to_queue, to_agent } => {
                wie::Event::Transferred(wie::Transferred {
                    to_queue: opt(to_queue),
                    to_agent: opt(to_agent),
                })
            }
            InteractionEvent::Abandoned => wie::Event::Abandoned(wie::Abandoned {}),
            InteractionEvent::Ended => wie::Event::Ended(wie::Ended {}),
            InteractionEvent::WrapUpDone { agent_id } => wie::Event::WrapUpDone(wie::WrapUpDone {
                agent_id: opt(agent_id),
            }),
            InteractionEvent::Resolved { agent_id } => wie::Event::Resolved(wie::Resolved {
                agent_id: opt(agent_id),
            }),
            InteractionEvent::Reopened => wie::Event::Reopened(wie::Reopened {}),
            InteractionEvent::StatusChanged { status } => {
                wie::Event::StatusChanged(wie::StatusChanged {
                    status: status.clone(),
                })
            }
        }
    }
}

impl From<&AgentStateChanged> for wire::AgentStateChanged {
    fn from(a: &AgentStateChanged) -> Self {
        wire::AgentStateChanged {
            agent_id: a.agent_id.clone(),
            state: wire::AgentState::from(a.state).into(),
            queues: a.queues.clone(),
        }
    }
}

impl From<&SurveyAnswered> for wire::SurveyAnswered {
    fn from(s: &SurveyAnswered) -> Self {
        use wire::survey_answered::Score;
        wire::SurveyAnswered {
            interaction_id: s.interaction_id.clone(),
            agent_id: opt(&s.agent_id),
            queue: s.queue.clone(),
            channel: channel_i32(s.channel),
            score: Some(match s.score {
                SurveyScore::Csat(v) => Score::Csat(v.into()),
                SurveyScore::Nps(v) => Score::Nps(v.into()),
                SurveyScore::Ces(v) => Score::Ces(v.into()),
            }),
        }
    }
}

impl From<&Event> for wire::Envelope {
    fn from(e: &Event) -> Self {
        use wire::envelope::Kind;
        wire::Envelope {
            event_id: e.event_id.clone(),
            occurred_at: Some(timestamp(e.occurred_at)),
            tenant: opt(&e.tenant),
            kind: Some(match &e.kind {
                EventKind::Interaction {
                    interaction_id,
                    event,
                } => Kind::Interaction(wire::InteractionEvent {
                    interaction_id: interaction_id.clone(),
                    event: Some(event.into()),
                }),
                EventKind::Agent(a) => Kind::AgentStateChanged(a.into()),
                EventKind::Survey(s) => Kind::SurveyAnswered(s.into()),
            }),
        }
    }
}

impl From<&Effect> for wire::Effect {
    fn from(e: &Effect) -> Self {
        use wire::effect::Kind;
        use wire::reassignment_requested::Action;
        let kind = match e {
            Effect::SlaBreached(b) => Kind::SlaBreached(wire::SlaBreached {
                interaction_id: b.interaction_id.clone(),
                queue: b.queue.clone(),
                channel: channel_i32(b.channel),
                priority: b.priority,
                policy: b.policy.clone(),
                target: sla_target_i32(b.target),
                deadline: Some(timestamp(b.deadline)),
                assigned_agent: opt(&b.assigned_agent),
            }),
            Effect::ReassignmentRequested(r) => {
                Kind::ReassignmentRequested(wire::ReassignmentRequested {
                    interaction_id: r.interaction_id.clone(),
                    queue: r.queue.clone(),
                    channel: channel_i32(r.channel),
                    from_agent: opt(&r.from_agent),
                    reason: sla_target_i32(r.reason),
                    attempt: r.attempt,
                    deadline: Some(timestamp(r.deadline)),
                    action: Some(match &r.action {
                        Reassignment::ToAgent { agent_id } => Action::ToAgent(agent_id.clone()),
                        Reassignment::Requeue { priority } => Action::RequeuePriority(*priority),
                        Reassignment::Escalate { to } => Action::EscalateTo(to.clone()),
                    }),
                })
            }
        };
        let tenant = match e {
            Effect::SlaBreached(b) => &b.tenant,
            Effect::ReassignmentRequested(r) => &r.tenant,
        };
        wire::Effect {
            effect_id: e.effect_id().to_owned(),
            tenant: opt(tenant),
            kind: Some(kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_to_the_millisecond() {
        for ms in [
            0,
            1,
            999,
            1000,
            -1,
            -1001,
            MIN_OCCURRED_AT,
            MAX_OCCURRED_AT - 1,
        ] {
            assert_eq!(millis("t", Some(timestamp(ms))), Ok(ms), "{ms}");
        }
    }

    #[test]
    fn sub_millisecond_digits_are_truncated() {
        let ts = Timestamp {
            seconds: 10,
            nanos: 1_999_999,
        };
        assert_eq!(millis("t", Some(ts)), Ok(10_001));
    }

    #[test]
    fn encoding_clamps_to_the_timestamp_range() {
        assert_eq!(timestamp(Millis::MAX), timestamp(MAX_TIMESTAMP));
        assert_eq!(timestamp(Millis::MIN), timestamp(MIN_TIMESTAMP));
    }

    #[test]
    fn bad_nanos_and_overflow_are_invalid() {
        let bad = |seconds, nanos| millis("t", Some(Timestamp { seconds, nanos })).is_err();
        assert!(bad(0, -1));
        assert!(bad(0, 1_000_000_000));
        assert!(bad(i64::MAX, 0));
        assert!(bad(i64::MIN, 0));
    }
}
