//! Survey answers (CSAT, NPS, CES): counted for the queue × channel they
//! name and, for CSAT with an agent, for that agent.

use super::fold::Fold;
use crate::event::{Millis, SurveyAnswered, SurveyScore};

impl Fold {
    pub(super) fn on_survey(&mut self, t: Millis, s: SurveyAnswered) {
        let q = self.queue_id(&s.queue);
        let score = s.score;
        let late = !self.queue_stats(q, s.channel).record(t, |c| match score {
            SurveyScore::Csat(v) => {
                c.csat_responses += 1;
                c.csat_sum += v as u64;
                c.csat_satisfied += (v >= 4) as u64;
            }
            SurveyScore::Nps(v) => {
                c.nps_responses += 1;
                c.nps_promoters += (v >= 9) as u64;
                c.nps_detractors += (v <= 6) as u64;
            }
            SurveyScore::Ces(v) => {
                c.ces_responses += 1;
                c.ces_sum += v as u64;
            }
        });
        if late {
            self.missed_window = true;
        }
        if let (Some(agent), SurveyScore::Csat(v)) = (s.agent_id, score) {
            let a = self.agent_id(&agent);
            let st = self.agents[a as usize].stats as usize;
            self.agent_stats[st].record(t, |p| {
                p.c.csat_responses += 1;
                p.c.csat_sum += v as u64;
                p.c.csat_satisfied += (v >= 4) as u64;
            });
        }
    }
}
