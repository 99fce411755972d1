//! Asterisk `queue_log` lines → ccpulse [`Event`]s.
//!
//! [`QueueLogMapper`] reads one line at a time ([`asterisk_line`](super::asterisk_line)
//! parses it) and returns the events it means, or why it cannot:
//!
//! | line | events |
//! |---|---|
//! | ENTERQUEUE | `queued` (voice, the caller id hashed as the customer); for a call already seen (transferred out, or still in another queue) `transferred` to this queue |
//! | RINGNOANSWER | `offered` to the member |
//! | CONNECT | `answered` by the member; the member `busy` |
//! | COMPLETECALLER, COMPLETEAGENT | `ended`, `wrap_up_done`, `resolved`; the member `available` (or `away` if paused) |
//! | TRANSFER, BLINDTRANSFER, ATTENDEDTRANSFER | `ended`, `wrap_up_done` (the segment is handled; a later ENTERQUEUE of the call is a transfer into that queue); the member `available` |
//! | ABANDON, EXITWITHTIMEOUT, EXITEMPTY, EXITWITHKEY, WITHDRAW, SYSCOMPAT | `abandoned` |
//! | AGENTLOGIN / AGENTLOGOFF | the agent `available` / `offline` |
//! | ADDMEMBER / REMOVEMEMBER | the member's queues change (`available`, `away` if added paused, `offline` when no queue is left) |
//! | PAUSE / UNPAUSE, PAUSEALL / UNPAUSEALL | `away` when paused in every queue it serves, else `available` |
//! | QUEUESTART, CONFIGRELOAD, DID, INFO, AGENTDUMP, RINGCANCELED, PENALTY, RINGINUSE, OUTCALL | none ([`Outcome::Ignored`]) |
//!
//! Agent events are emitted only when the agent's state or queue set
//! changes; each carries the full queue set.
//!
//! **Times.** An event's time is its line's, in ms. queue_log has whole
//! seconds, so two lines of one call in the same second could be applied
//! out of order by the engine's canonical order (time, lifecycle rank,
//! event id); where a later line's event ranks before the call's previous
//! event of that second (a transfer's `wrap_up_done`, then the
//! `transferred` of the ENTERQUEUE into the next queue), it is placed 1 ms
//! after it. Agent events of one agent in one second are spaced 1 ms apart
//! in line order. Waits are never lengthened by this.
//!
//! **Ids.** Event ids are `aq-<xxh3 of the line's bytes>-<index>`, so
//! reading a line again gives the same ids, which the engine drops as
//! duplicates.
//!
//! **State** ([`MapperState`], serializable for the follower's state file)
//! is bounded: finished calls are forgotten at once, transferred-out and
//! open calls after [`CALL_TTL_S`] of log time without a line, and at most
//! [`MAX_CALLS`] calls and [`MAX_AGENTS`] agents are kept (the least
//! recently seen call is forgotten first; agents beyond the cap still map
//! but carry only the queue of the line).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::asterisk_error::{LineProblem, QueueLogError};
use super::asterisk_line::{self, Kind, QueueLogLine};
use crate::event::codec::{self, wire, Limits};
use crate::event::{
    AgentState, AgentStateChanged, Channel, Event, EventKind, InteractionEvent, Millis,
};

/// Calls remembered at most (open or transferred out).
pub const MAX_CALLS: usize = 200_000;
/// Agents remembered at most.
pub const MAX_AGENTS: usize = 20_000;
/// A call with no line for this long (log time) is forgotten.
pub const CALL_TTL_S: i64 = 24 * 3600;
/// How often (log time) forgotten calls are swept.
const SWEEP_EVERY_S: i64 = 3600;

/// What a line maps to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The events the line means (possibly none: e.g. a PAUSE of an agent
    /// already paused there).
    Events(Vec<Event>),
    /// A known line that carries no figure (QUEUESTART, DID, …, or a blank
    /// line), by event name.
    Ignored(&'static str),
}

/// Where a call is, as far as the log said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    Waiting,
    Connected,
    /// Transferred away by its agent: a later ENTERQUEUE is a transfer in.
    TransferredOut,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Call {
    phase: Phase,
    /// Time and lifecycle rank of the call's last event, for same-second
    /// ordering.
    last_ms: Millis,
    last_rank: u8,
    /// Log time (s) of its last line.
    seen: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Agent {
    /// Queue -> paused there.
    queues: BTreeMap<String, bool>,
    /// Logged in as an agent (AGENTLOGIN) or a member of some queue.
    logged_in: bool,
    /// AGENTLOGOFF seen and no activity since.
    logged_off: bool,
    /// PAUSEALL without UNPAUSEALL/UNPAUSE since.
    paused_all: bool,
    on_call: bool,
    /// Time of its last event, for same-second spacing.
    last_ms: Millis,
    /// The last state and queues emitted.
    emitted: Option<(AgentState, Vec<String>)>,
}

impl Agent {
    fn state(&self) -> AgentState {
        if self.logged_off || (self.queues.is_empty() && !self.logged_in) {
            AgentState::Offline
        } else if self.on_call {
            AgentState::Busy
        } else if self.paused_all || (!self.queues.is_empty() && self.queues.values().all(|p| *p)) {
            AgentState::Away
        } else {
            AgentState::Available
        }
    }
}

/// The mapper's memory between lines: open and transferred-out calls, and
/// agents. Serializable, so a follower can persist it beside its file
/// position and resume exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapperState {
    calls: BTreeMap<String, Call>,
    agents: BTreeMap<String, Agent>,
    last_sweep: i64,
}

impl MapperState {
    /// Calls remembered now.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Agents remembered now.
    pub fn agents(&self) -> usize {
        self.agents.len()
    }
}

/// Maps queue_log lines to events; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct QueueLogMapper {
    limits: Limits,
    state: MapperState,
}

/// `NONE` and empty fields mean "no value" in queue_log.
fn given(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty() && s != "NONE").then_some(s)
}

/// The caller id as a customer reference: hashed, so the number itself
/// never travels further. Withheld numbers have none.
fn customer_ref(callerid: &str) -> Option<String> {
    let c = callerid.trim();
    let withheld = ["anonymous", "unknown", "restricted", "private", "<unknown>"];
    if c.is_empty() || withheld.iter().any(|w| c.eq_ignore_ascii_case(w)) {
        return None;
    }
    Some(format!("cid-{:016x}", xxh3_64(c.as_bytes())))
}

/// Builds the events of one line with ids `aq-<hash>-<index>`.
struct Emitter {
    hash: u64,
    events: Vec<Event>,
}

impl Emitter {
    fn push(&mut self, occurred_at: Millis, kind: EventKind) {
        let event_id = format!("aq-{:016x}-{}", self.hash, self.events.len());
        self.events.push(Event {
            event_id,
            occurred_at,
            tenant: None,
            kind,
        });
    }
}

impl QueueLogMapper {
    /// A mapper with no memory, validating events with `limits`.
    pub fn new(limits: Limits) -> Self {
        QueueLogMapper::with_state(limits, MapperState::default())
    }

    /// A mapper resuming from `state` (saved by [`QueueLogMapper::state`]).
    pub fn with_state(limits: Limits, state: MapperState) -> Self {
        QueueLogMapper { limits, state }
    }

    pub fn state(&self) -> &MapperState {
        &self.state
    }

    /// Map the line numbered `line` (1-based; the raw bytes, with or
    /// without the line ending). `reference` is the time the events may
    /// not be in the future of (the shell's clock), as on the live path;
    /// `None` applies only the absolute bounds. On error the state is
    /// unchanged.
    pub fn map_line(
        &mut self,
        line: u64,
        raw: &[u8],
        reference: Option<Millis>,
    ) -> Result<Outcome, QueueLogError> {
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(Outcome::Ignored("blank"));
        }
        let err = |problem| QueueLogError { line, problem };
        let text: Cow<'_, str> = String::from_utf8_lossy(raw);
        let parsed = asterisk_line::parse(&text).map_err(err)?;
        if let Kind::Known(name) = parsed.kind {
            return Ok(Outcome::Ignored(name));
        }
        // Keep what the line touches, to undo it if an event is invalid.
        let call_before = self.state.calls.get(parsed.callid).cloned();
        let agent_before = self.state.agents.get(parsed.agent).cloned();
        let sweep_before = self.state.last_sweep;
        let mut out = Emitter {
            hash: xxh3_64(raw),
            events: Vec::new(),
        };
        let mapped = self
            .apply(&parsed, &mut out)
            .and_then(|()| self.validate(&out.events, reference));
        if let Err(problem) = mapped {
            restore(&mut self.state.calls, parsed.callid, call_before);
            restore(&mut self.state.agents, parsed.agent, agent_before);
            self.state.last_sweep = sweep_before;
            return Err(err(problem));
        }
        self.sweep(parsed.time);
        Ok(Outcome::Events(out.events))
    }

    /// Each event passes the checks the live path applies to a decoded
    /// record (ids, time bounds, future skew).
    fn validate(&self, events: &[Event], reference: Option<Millis>) -> Result<(), LineProblem> {
        for e in events {
            codec::from_wire(wire::Envelope::from(e), &self.limits, reference)
                .map_err(LineProblem::Invalid)?;
        }
        Ok(())
    }

    fn apply(&mut self, l: &QueueLogLine<'_>, out: &mut Emitter) -> Result<(), LineProblem> {
        let name = l.kind.name();
        let call = || given(l.callid).ok_or_else(|| LineProblem::NoCall(name.into()));
        let agent = || given(l.agent).ok_or_else(|| LineProblem::NoAgent(name.into()));
        let queue = || given(l.queue).ok_or_else(|| LineProblem::NoQueue(name.into()));
        match l.kind {
            Kind::EnterQueue { callerid } => {
                let (id, q) = (call()?, queue()?);
                let event = match self.state.calls.get(id) {
                    Some(_) => InteractionEvent::Transferred {
                        to_queue: Some(q.to_string()),
                        to_agent: None,
                    },
                    None => InteractionEvent::Queued {
                        queue: q.to_string(),
                        channel: Channel::Voice,
                        priority: 0,
                        customer_ref: customer_ref(callerid),
                    },
                };
                self.call_events(id, l.time, Phase::Waiting, vec![event], out);
            }
            Kind::RingNoAnswer { .. } => {
                let (id, a) = (call()?, agent()?);
                let phase = self.phase_or(id, Phase::Waiting);
                let offered = InteractionEvent::Offered {
                    agent_id: a.to_string(),
                };
                self.call_events(id, l.time, phase, vec![offered], out);
            }
            Kind::Connect { .. } => {
                let (id, a) = (call()?, agent()?);
                let answered = InteractionEvent::Answered {
                    agent_id: a.to_string(),
                };
                self.call_events(id, l.time, Phase::Connected, vec![answered], out);
                let q = given(l.queue);
                self.agent_event(a, l.time, out, |ag| {
                    if let Some(q) = q {
                        ag.queues.entry(q.to_string()).or_insert(false);
                    }
                    ag.logged_off = false;
                    ag.on_call = true;
                });
            }
            Kind::Complete { .. } => {
                let id = call()?;
                let a = given(l.agent).map(str::to_string);
                let events = vec![
                    InteractionEvent::Ended,
                    InteractionEvent::WrapUpDone {
                        agent_id: a.clone(),
                    },
                    InteractionEvent::Resolved {
                        agent_id: a.clone(),
                    },
                ];
                self.call_events(id, l.time, Phase::Connected, events, out);
                self.state.calls.remove(id);
                if let Some(a) = given(l.agent) {
                    self.agent_event(a, l.time, out, |ag| ag.on_call = false);
                }
            }
            Kind::Transfer { .. } => {
                let id = call()?;
                let a = given(l.agent).map(str::to_string);
                let events = vec![
                    InteractionEvent::Ended,
                    InteractionEvent::WrapUpDone { agent_id: a },
                ];
                self.call_events(id, l.time, Phase::TransferredOut, events, out);
                if let Some(a) = given(l.agent) {
                    self.agent_event(a, l.time, out, |ag| ag.on_call = false);
                }
            }
            Kind::Exit { .. } => {
                let id = call()?;
                let phase = self.phase_or(id, Phase::Waiting);
                self.call_events(id, l.time, phase, vec![InteractionEvent::Abandoned], out);
                self.state.calls.remove(id);
            }
            Kind::AgentLogin => {
                let a = agent()?;
                self.agent_event(a, l.time, out, |ag| {
                    ag.logged_in = true;
                    ag.logged_off = false;
                });
            }
            Kind::AgentLogoff => {
                let a = agent()?;
                self.agent_event(a, l.time, out, |ag| {
                    ag.logged_in = false;
                    ag.logged_off = true;
                    ag.on_call = false;
                });
            }
            Kind::AddMember { paused } => {
                let (a, q) = (agent()?, queue()?);
                self.agent_event(a, l.time, out, |ag| {
                    ag.queues.insert(q.to_string(), paused);
                    ag.logged_off = false;
                });
            }
            Kind::RemoveMember => {
                let (a, q) = (agent()?, queue()?);
                self.agent_event(a, l.time, out, |ag| {
                    ag.queues.remove(q);
                });
            }
            Kind::Pause { paused, all } => {
                let a = agent()?;
                let q = if all { None } else { given(l.queue) };
                self.agent_event(a, l.time, out, |ag| {
                    ag.logged_off = false;
                    match q {
                        Some(q) => {
                            ag.queues.insert(q.to_string(), paused);
                            if !paused {
                                ag.paused_all = false;
                            }
                        }
                        None => {
                            ag.paused_all = paused;
                            for p in ag.queues.values_mut() {
                                *p = paused;
                            }
                        }
                    }
                });
            }
            Kind::Known(_) => {}
        }
        Ok(())
    }

    fn phase_or(&self, id: &str, default: Phase) -> Phase {
        self.state.calls.get(id).map_or(default, |c| c.phase)
    }

    /// Emit `events` for call `id` at log time `sec`, in line order (see
    /// the module docs on times), and leave the call in `phase`.
    fn call_events(
        &mut self,
        id: &str,
        sec: i64,
        phase: Phase,
        events: Vec<InteractionEvent>,
        out: &mut Emitter,
    ) {
        let base = sec.saturating_mul(1000);
        let call = self.state.calls.entry(id.to_string()).or_insert(Call {
            phase,
            last_ms: Millis::MIN,
            last_rank: 0,
            seen: sec,
        });
        for event in events {
            let rank = event.lifecycle_rank();
            let same_second = call.last_ms >= base && call.last_ms / 1000 == sec;
            let t = if !same_second {
                base
            } else if rank >= call.last_rank {
                call.last_ms
            } else {
                call.last_ms + 1
            };
            call.last_ms = t;
            call.last_rank = rank;
            out.push(
                t,
                EventKind::Interaction {
                    interaction_id: id.to_string(),
                    event,
                },
            );
        }
        call.phase = phase;
        call.seen = sec;
        if self.state.calls.len() > MAX_CALLS {
            // Forget the least recently seen call (never the current one:
            // it was just seen).
            if let Some(oldest) = self
                .state
                .calls
                .iter()
                .min_by_key(|(_, c)| c.seen)
                .map(|(k, _)| k.clone())
            {
                self.state.calls.remove(&oldest);
            }
        }
    }

    /// Update agent `name` with `f`; emit its state if state or queues
    /// changed.
    fn agent_event(&mut self, name: &str, sec: i64, out: &mut Emitter, f: impl FnOnce(&mut Agent)) {
        let full = self.state.agents.len() >= MAX_AGENTS && !self.state.agents.contains_key(name);
        let mut scratch = Agent::default();
        let agent = if full {
            &mut scratch
        } else {
            self.state.agents.entry(name.to_string()).or_default()
        };
        f(agent);
        let state = agent.state();
        let queues: Vec<String> = agent.queues.keys().cloned().collect();
        if agent.emitted.as_ref() == Some(&(state, queues.clone())) {
            return;
        }
        let base = sec.saturating_mul(1000);
        let t = if agent.last_ms >= base && agent.last_ms / 1000 == sec {
            agent.last_ms + 1
        } else {
            base
        };
        agent.last_ms = t;
        agent.emitted = Some((state, queues.clone()));
        out.push(
            t,
            EventKind::Agent(AgentStateChanged {
                agent_id: name.to_string(),
                state,
                queues,
            }),
        );
    }

    /// Forget calls with no line for [`CALL_TTL_S`], at most once per
    /// [`SWEEP_EVERY_S`] of log time.
    fn sweep(&mut self, now: i64) {
        if now < self.state.last_sweep.saturating_add(SWEEP_EVERY_S) {
            return;
        }
        self.state.last_sweep = now;
        let cut = now.saturating_sub(CALL_TTL_S);
        self.state.calls.retain(|_, c| c.seen >= cut);
    }
}

fn restore<T>(map: &mut BTreeMap<String, T>, key: &str, before: Option<T>) {
    match before {
        Some(v) => {
            map.insert(key.to_string(), v);
        }
        None => {
            map.remove(key);
        }
    }
}
