//! The first, naive generator: independent draws per interaction (waits,
//! patience and agents are not tied to any actual availability).
//!
//! Kept unchanged as the stable input of `benches/fold.rs`, so fold
//! throughput stays comparable across commits. For believable traffic use
//! [`crate::sim::Simulator`].

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};

use ccpulse_core::event::{
    AgentState, AgentStateChanged, Channel, Direction, Event, EventKind, InteractionEvent, Millis,
    SurveyAnswered, SurveyScore,
};

/// Parameters of a generated stream.
#[derive(Debug, Clone)]
pub struct Traffic {
    pub seed: u64,
    /// Event time of the first arrival.
    pub start: Millis,
    /// Number of interactions.
    pub interactions: usize,
    /// Mean arrivals per second.
    pub arrivals_per_second: f64,
    pub queues: Vec<String>,
    pub agents: usize,
    pub mean_wait_s: f64,
    pub mean_patience_s: f64,
    /// Median handle time.
    pub median_handle_s: f64,
    /// Share of contacts that get a survey answer.
    pub survey_rate: f64,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            seed: 7,
            start: 1_793_610_000_000, // 2026-11-02T09:00:00Z
            interactions: 10_000,
            arrivals_per_second: 5.0,
            queues: ["billing", "tech_support", "sales", "retention", "claims"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            agents: 200,
            mean_wait_s: 30.0,
            mean_patience_s: 120.0,
            median_handle_s: 240.0,
            survey_rate: 0.2,
        }
    }
}

struct Out {
    events: Vec<Event>,
}

impl Out {
    fn push(&mut self, t: Millis, kind: EventKind) {
        let n = self.events.len();
        self.events.push(Event {
            event_id: format!("sim-{n:09}"),
            occurred_at: t,
            tenant: None,
            kind,
        });
    }

    fn ix(&mut self, t: Millis, id: &str, event: InteractionEvent) {
        self.push(
            t,
            EventKind::Interaction {
                interaction_id: id.to_string(),
                event,
            },
        );
    }
}

fn secs(s: f64) -> Millis {
    (s * 1000.0).round() as Millis
}

/// Generate the stream, sorted by event time.
pub fn generate(p: &Traffic) -> Vec<Event> {
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let mut out = Out { events: Vec::new() };
    let inter = Exp::new(p.arrivals_per_second.max(1e-9)).ok();
    let wait = Exp::new(1.0 / p.mean_wait_s.max(1e-3)).ok();
    let patience = Exp::new(1.0 / p.mean_patience_s.max(1e-3)).ok();
    let handle = LogNormal::new(p.median_handle_s.max(1.0).ln(), 0.5).ok();
    let agents = p.agents.max(1);
    let queues = if p.queues.is_empty() {
        vec!["default".to_string()]
    } else {
        p.queues.clone()
    };

    for a in 0..agents {
        let served: Vec<String> = (0..2)
            .map(|k| queues[(a + k) % queues.len()].clone())
            .collect();
        out.push(
            p.start - 60_000,
            EventKind::Agent(AgentStateChanged {
                agent_id: format!("agent-{a}"),
                state: AgentState::Available,
                queues: served,
            }),
        );
    }

    let mut t = p.start as f64 / 1000.0;
    for i in 0..p.interactions {
        t += inter.map_or(1.0, |d| d.sample(&mut rng));
        let at = secs(t);
        let id = format!("int-{i:08}");
        let queue = queues[rng.random_range(0..queues.len())].clone();
        let channel = match rng.random_range(0..10) {
            0..=4 => Channel::Voice,
            5..=7 => Channel::Chat,
            8 => Channel::Email,
            _ => Channel::Web,
        };
        let customer = format!(
            "cust-{}",
            rng.random_range(0..(p.interactions as u64 / 3 + 1))
        );
        out.ix(
            at,
            &id,
            InteractionEvent::Queued {
                queue: queue.clone(),
                channel,
                priority: rng.random_range(0..3),
                customer_ref: Some(customer),
            },
        );
        let w = wait.map_or(10.0, |d| d.sample(&mut rng));
        let pat = patience.map_or(100.0, |d| d.sample(&mut rng));
        if pat < w && channel == Channel::Voice {
            out.ix(at + secs(pat), &id, InteractionEvent::Abandoned);
            continue;
        }
        let agent = format!("agent-{}", rng.random_range(0..agents));
        let ans = at + secs(w);
        out.ix(
            ans,
            &id,
            InteractionEvent::Answered {
                agent_id: agent.clone(),
            },
        );
        let h = handle.map_or(200.0, |d| d.sample(&mut rng));
        let mut cursor = ans;
        if channel == Channel::Voice {
            if rng.random_bool(0.2) {
                out.ix(ans + secs(h * 0.3), &id, InteractionEvent::HoldStarted);
                out.ix(ans + secs(h * 0.4), &id, InteractionEvent::HoldEnded);
            }
        } else {
            let turns = rng.random_range(1..5);
            for k in 0..turns {
                let step = secs(h * 0.8 / turns as f64);
                cursor += step / 2;
                out.ix(
                    cursor,
                    &id,
                    InteractionEvent::Message {
                        direction: Direction::Agent,
                        agent_id: Some(agent.clone()),
                    },
                );
                if k + 1 < turns {
                    cursor += step / 2;
                    out.ix(
                        cursor,
                        &id,
                        InteractionEvent::Message {
                            direction: Direction::Customer,
                            agent_id: None,
                        },
                    );
                }
            }
        }
        let end = ans + secs(h * 0.85);
        out.ix(end, &id, InteractionEvent::Ended);
        let done = ans + secs(h);
        out.ix(
            done,
            &id,
            InteractionEvent::WrapUpDone {
                agent_id: Some(agent.clone()),
            },
        );
        out.ix(
            done + 1,
            &id,
            InteractionEvent::Resolved {
                agent_id: Some(agent.clone()),
            },
        );
        if rng.random_bool(p.survey_rate.clamp(0.0, 1.0)) {
            let score = match rng.random_range(0..3) {
                0 => SurveyScore::Csat(if w < 30.0 {
                    rng.random_range(3..6)
                } else {
                    rng.random_range(1..5)
                }),
                1 => SurveyScore::Nps(rng.random_range(0..11)),
                _ => SurveyScore::Ces(rng.random_range(1..8)),
            };
            out.push(
                done + secs(60.0),
                EventKind::Survey(SurveyAnswered {
                    interaction_id: id.clone(),
                    agent_id: Some(agent),
                    queue,
                    channel,
                    score,
                }),
            );
        }
    }
    let mut events = out.events;
    events.sort_by_key(|e| e.occurred_at);
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_stream() {
        let p = Traffic {
            interactions: 200,
            ..Traffic::default()
        };
        assert_eq!(generate(&p), generate(&p));
        let q = Traffic {
            seed: 8,
            ..p.clone()
        };
        assert_ne!(generate(&p), generate(&q));
    }
}
