//! Synthetic contact-center traffic: a discrete-event simulation of a
//! believable center, deterministic for a seed (pure: no clock, no I/O).
//!
//! This module owns the traffic simulator used by demos, benchmarks and
//! tests. It produces the domain [`Event`]s the engine folds, valid for the
//! codec and coherent for the engine (no orphaned events, no impossible
//! transitions).
//!
//! # Model in brief
//! - **Arrivals**: non-homogeneous Poisson, rate
//!   `base_arrivals_per_hour × intraday[local hour] × weekday[local day]`
//!   (× an optional [`Spike`]), constant within each hour and sampled
//!   exactly by inverting the integrated rate. Each arrival picks a queue
//!   and channel by the configured shares and a customer: a recent one
//!   (last 7 days) with `repeat_share`, else one of `customers`.
//! - **Agents**: skills (a primary queue spread by queue share, plus extras),
//!   a shift template, two days off leaning to the quiet days, occasional
//!   absences, three breaks per full shift (taken once their hands are
//!   free). States follow the work: Available → Busy → WrapUp → Available,
//!   Away on breaks, Offline off shift.
//! - **Routing**: a waiting contact goes to the eligible agent with the
//!   fewest contacts in hand, then longest idle; a freed agent takes the
//!   highest-priority, longest-waiting contact over its queues. Voice rings
//!   (`Offered`) before `Answered`; chats run up to `chat_concurrency` at
//!   once; email and web are only taken with empty hands, after live work,
//!   and by blended agents only while `ticket_reserve_share` of the agents
//!   on shift stays idle for live contacts.
//! - **Customers**: exponential patience (chat ×`chat_patience_factor`,
//!   plus a share of 0.5–4.5 s hang-ups); the abandon happens if the
//!   deadline comes before the answer. Tickets never abandon.
//! - **Handling**: log-normal active time per channel (voice talk with an
//!   occasional hold, the chat conversation with alternating messages, the
//!   ticket work before its reply), log-normal wrap-up, then `Resolved`.
//!   Some segments end in a transfer to another queue (at most one per
//!   contact); some ticket replies wait on the customer (reply within days
//!   or auto-close after 3); some tickets are reopened within 6 days.
//! - **Non-responders**: with `non_responder_share` an agent accepts a chat
//!   (3–15 min) or ticket (45–180 min) and stays silent; then a free
//!   colleague takes it over (a second `Answered`), or the agent replies
//!   late.
//! - **Surveys**: for `survey_share` of resolved contacts, CSAT (always),
//!   NPS and CES (sometimes) from one latent satisfaction lowered by long
//!   waits, transfers, reopens and silence.
//!
//! [`generate`] and [`Traffic`] are the earlier independent-draw generator,
//! kept as the fold benchmark's stable input.

mod arrivals;
mod config;
mod naive;
mod simulator;
mod survey;

pub use config::{
    HandleTimes, LogNormalSpec, QueueSpec, ShiftSpec, SimConfig, Spike, DEFAULT_START, INTRADAY,
    WEEKDAY,
};
pub use naive::{generate, Traffic};
pub use simulator::{customer_ref, Simulator};

use ccpulse_core::event::{Event, Millis};

/// Simulate `duration` from `cfg.start` and return every event before
/// `cfg.start + duration`, in event-time order.
pub fn run(cfg: SimConfig, duration: Millis) -> Vec<Event> {
    let until = cfg.start.saturating_add(duration.max(0));
    let mut sim = Simulator::new(cfg);
    let mut out = Vec::new();
    sim.advance_to(until, &mut out);
    out
}
