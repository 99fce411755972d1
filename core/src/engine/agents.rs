//! The agent directory: interning agents (the first `limits.max_agents`
//! get their own figures, the rest share `other`), who holds which open
//! interaction, and agent state changes (time in state, stale events
//! counted and dropped).

use super::fold::Fold;
use super::records::{Agent, Interaction};
use super::stats::AgentStats;
use super::types::NONE;
use crate::event::{AgentState, AgentStateChanged, Millis};

impl Fold {
    pub(super) fn agent_id(&mut self, name: &str) -> u32 {
        if let Some(&a) = self.agent_ids.get(name) {
            return a;
        }
        let stats = if self.agent_stats.len() <= self.cfg.max_agents {
            self.agent_stats.push(AgentStats::new(&self.cfg.windows));
            (self.agent_stats.len() - 1) as u32
        } else {
            0
        };
        let a = self.agents.len() as u32;
        self.agents.push(Agent {
            id: name.into(),
            state: AgentState::Offline,
            since: NONE,
            queues: Vec::new(),
            stats,
            open: 0,
        });
        self.agent_ids.insert(name.into(), a);
        a
    }

    /// Reassign `slot` to `agent`, keeping the agents' open counts.
    pub(super) fn assign(&mut self, slot: u32, agent: u32) {
        let old = self.interactions[slot as usize].agent;
        if old == agent {
            return;
        }
        if let Some(a) = self.agents.get_mut(old as usize) {
            a.open = a.open.saturating_sub(1);
        }
        if let Some(a) = self.agents.get_mut(agent as usize) {
            a.open += 1;
        }
        self.interactions[slot as usize].agent = agent;
    }

    pub(super) fn set_agent_of(&mut self, it: &Interaction, agent: u32) {
        if it.agent != agent {
            if let Some(a) = self.agents.get_mut(it.agent as usize) {
                a.open = a.open.saturating_sub(1);
            }
        }
    }

    pub(super) fn on_agent(&mut self, t: Millis, e: AgentStateChanged) {
        let a = self.agent_id(&e.agent_id);
        let queues: Vec<u32> = e.queues.iter().map(|q| self.queue_id(q)).collect();
        let agent = &mut self.agents[a as usize];
        if agent.since != NONE && t < agent.since {
            // Superseded by a newer state we already applied.
            self.stats.stale_agent_events += 1;
            return;
        }
        let (old, since, s) = (agent.state, agent.since, agent.stats as usize);
        agent.state = e.state;
        agent.since = t;
        if agent.queues != queues {
            let before = std::mem::replace(&mut agent.queues, queues);
            serve(&mut self.serving, a, &before, false);
            serve(&mut self.serving, a, &self.agents[a as usize].queues, true);
        }
        if since != NONE {
            self.agent_stats[s].add_state_time(old, since, t);
        }
    }
}

/// Adds `agent` to (`on`) or removes it from the serving lists of
/// `queues`. A queue named twice (or two names past the queue cap, which
/// share `other`) lists the agent once.
pub(super) fn serve(serving: &mut Vec<Vec<u32>>, agent: u32, queues: &[u32], on: bool) {
    for &q in queues {
        let q = q as usize;
        if on {
            if serving.len() <= q {
                serving.resize_with(q + 1, Vec::new);
            }
            if let Err(i) = serving[q].binary_search(&agent) {
                serving[q].insert(i, agent);
            }
        } else if let Some(list) = serving.get_mut(q) {
            if let Ok(i) = list.binary_search(&agent) {
                list.remove(i);
            }
        }
    }
}
