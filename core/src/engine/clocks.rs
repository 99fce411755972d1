//! The data of SLA clocks per interaction: one clock per target, its state,
//! budget consumed and deadline; the outcome counters; timer payloads and
//! effect ids. Behaviour is in `sla`. A leaf.
//!
//! An effect id names one decision: which run of which clock (its
//! [`origin`]: the event that started it), the target, the deadline, the
//! attempt. The same interaction id can live more than once in a log (queued
//! again after a resolution or an abandon, reopened) and next reply restarts
//! with each customer message; late events (applied out of order) can make
//! two such runs reach the same `(target, deadline, attempt)`, so those alone
//! do not name a decision. The origin depends only on the log, so a replay
//! or a restore derives the same ids.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::types::NONE;
use crate::event::{Millis, SlaTarget};
use crate::sla::wheel::TimerId;

pub(super) const AT_RISK: u64 = 0;
pub(super) const BREACH: u64 = 1;

/// Why clocks are paused (bit set).
pub(super) const PAUSE_STATUS: u8 = 1;
pub(super) const PAUSE_HOLD: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum State {
    Off,
    Running,
    Met,
    Breached,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Clock {
    pub(super) state: State,
    /// Start of the current running period; `NONE` while paused.
    pub(super) started: Millis,
    /// Business time consumed before `started`.
    pub(super) consumed: Millis,
    /// When the budget runs out, if known and not paused.
    pub(super) deadline: Millis,
    pub(super) timer: Option<TimerId>,
    /// [`origin`] of the event that started this run of the clock.
    pub(super) origin: u64,
    pub(super) at_risk: bool,
    pub(super) breached: bool,
}

pub(super) const OFF: Clock = Clock {
    state: State::Off,
    started: NONE,
    consumed: 0,
    deadline: NONE,
    timer: None,
    origin: 0,
    at_risk: false,
    breached: false,
};

/// The SLA state of one interaction.
#[derive(Debug, Clone)]
pub(super) struct Clocks {
    pub(super) interaction: u32,
    /// [`origin`] of the event that opened these clocks (`queued`,
    /// `reopened`): reassignment attempts count within one opening.
    pub(super) origin: u64,
    pub(super) policy: u16,
    pub(super) attempts: u32,
    pub(super) paused: u8,
    pub(super) escalated: bool,
    pub(super) clocks: [Clock; 3],
}

/// Cumulative SLA outcomes per queue × policy × target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaOutcomes {
    pub met: u64,
    pub breached: u64,
    pub reassigned: u64,
    pub requeued: u64,
    pub escalated: u64,
}

pub(super) type SlaDetail = BTreeMap<(u32, u16, SlaTarget), SlaOutcomes>;

pub(super) fn payload(sla: u32, target: SlaTarget, stage: u64) -> u64 {
    ((sla as u64) << 8) | ((target as u64) << 1) | stage
}

pub(super) fn unpack(p: u64) -> (u32, SlaTarget, u64) {
    let target = match (p >> 1) & 0x3 {
        0 => SlaTarget::FirstResponse,
        1 => SlaTarget::NextReply,
        _ => SlaTarget::Resolution,
    };
    ((p >> 8) as u32, target, p & 1)
}

/// The identity of the event that started a clock: its event id (unique
/// per event, duplicates are dropped) and its event time. Only the log goes
/// in, never slots or addresses: a replay gets the same value.
pub(super) fn origin(event_id: &str, t: Millis) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(event_id.as_bytes(), t as u64)
}

/// The id of one decision: `kind` (`breach`, `reassign`) on `interaction`
/// for `target`, at `deadline`, `attempt` (0 for a breach), of the clock run
/// started by `origin`. 32 hex digits (xxh3-128).
pub(super) fn effect_id(
    tenant: Option<&str>,
    kind: &str,
    interaction: &str,
    target: SlaTarget,
    deadline: Millis,
    attempt: u32,
    origin: u64,
) -> String {
    use std::fmt::Write as _;
    // The key, `[tenant:T|]kind|interaction|target|deadline|attempt|origin`
    // (origin in 16 hex digits), is streamed into the hash rather than
    // built as a string first: the same bytes give the same hash. Every
    // field after the interaction id is free of `|`, so the key reads back
    // unambiguously from the right whatever the interaction id holds. A
    // tenant other than the default one leads (tenant names hold no `|`):
    // two tenants' decisions never share an id, and the default tenant's
    // ids are those from before tenants existed.
    let mut key = KeyHasher(xxhash_rust::xxh3::Xxh3::new());
    if let Some(t) = tenant {
        let _ = write!(key, "tenant:{t}|");
    }
    let _ = write!(
        key,
        "{kind}|{interaction}|{}|{deadline}|{attempt}|{origin:016x}",
        target.as_str()
    );
    format!("{:032x}", key.0.digest128())
}

/// Text written into it goes into the hash.
struct KeyHasher(xxhash_rust::xxh3::Xxh3);

impl std::fmt::Write for KeyHasher {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id is the xxh3-128 of the key text, in 32 hex digits: the
    /// same as the ids of earlier versions, which a restore re-applies
    /// decisions by. The key is written out here as the module documents it.
    #[test]
    fn an_effect_id_is_the_hash_of_its_documented_key() {
        let cases = [
            (
                None,
                "breach",
                "c-1",
                SlaTarget::FirstResponse,
                1_772_440_000_000,
                0,
                7u64,
            ),
            (
                Some("acme"),
                "reassign",
                "ünïcode|id",
                SlaTarget::NextReply,
                -5,
                2,
                u64::MAX,
            ),
            (None, "reassign", "", SlaTarget::Resolution, 0, u32::MAX, 0),
        ];
        for (tenant, kind, interaction, target, deadline, attempt, origin) in cases {
            let prefix = tenant.map(|t| format!("tenant:{t}|")).unwrap_or_default();
            let key = format!(
                "{prefix}{kind}|{interaction}|{}|{deadline}|{attempt}|{origin:016x}",
                target.as_str()
            );
            let want = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(key.as_bytes()));
            assert_eq!(
                effect_id(tenant, kind, interaction, target, deadline, attempt, origin),
                want,
                "{key}"
            );
        }
    }
}
