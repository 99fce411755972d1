//! Choosing a free operator for a reassignment.
//!
//! Eligible: available, serves the interaction's queue, and is not the
//! operator who missed the deadline. The caller passes only the agents
//! serving the queue (the fold keeps them listed per queue, so a
//! reassignment costs the queue's agents, not the whole directory). Among
//! the eligible: fewest open interactions, then longest idle (earliest time
//! they became available), then the smallest agent id, so the choice never
//! depends on map order or chance.

use crate::event::{AgentState, Millis};

/// What the picker needs to know about one agent serving the queue.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub id: &'a str,
    pub state: AgentState,
    pub open: u32,
    /// When the current state began.
    pub since: Millis,
}

/// The best eligible candidate, if any.
pub fn pick<'a>(
    candidates: impl IntoIterator<Item = Candidate<'a>>,
    exclude: Option<&str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| c.state == AgentState::Available && Some(c.id) != exclude)
        .min_by(|a, b| (a.open, a.since, a.id).cmp(&(b.open, b.since, b.id)))
        .map(|c| c.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, state: AgentState, open: u32, since: Millis) -> Candidate<'_> {
        Candidate {
            id,
            state,
            open,
            since,
        }
    }

    #[test]
    fn only_available_agents_are_eligible() {
        let all = [
            c("busy", AgentState::Busy, 0, 0),
            c("away", AgentState::Away, 0, 0),
            c("wrap", AgentState::WrapUp, 0, 0),
            c("off", AgentState::Offline, 0, 0),
        ];
        assert_eq!(pick(all, None), None);
    }

    #[test]
    fn the_agent_who_missed_the_deadline_is_never_picked() {
        let all = [c("late", AgentState::Available, 0, 0)];
        assert_eq!(pick(all, Some("late")), None);
    }

    #[test]
    fn fewest_open_then_longest_idle_then_id() {
        let all = [
            c("b", AgentState::Available, 1, 100),
            c("c", AgentState::Available, 0, 200),
            c("a", AgentState::Available, 0, 200),
            c("d", AgentState::Available, 0, 300),
        ];
        // "a" and "c": 0 open, idle since 200; "a" < "c".
        assert_eq!(pick(all, None), Some("a"));
        // Without "a": "c" (idle since 200) beats "d" (since 300).
        assert_eq!(pick(all, Some("a")), Some("c"));
    }
}
