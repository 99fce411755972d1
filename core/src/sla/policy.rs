//! SLA policies: which targets apply to an interaction, on which calendar,
//! and what happens when one is missed.
//!
//! Policies are matched per queue × channel × priority; a dimension left out
//! matches anything, and the most specific match wins (most dimensions
//! given; ties go to the policy written first), so a catch-all default can
//! sit beside narrow overrides.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::calendar::{BusinessCalendar, CalendarConfig};
use crate::event::{Channel, Millis, SlaTarget};
use crate::settings::{Dur, Issue};

/// `[sla]` as written in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaSection {
    /// Defaults every policy inherits.
    #[serde(default)]
    pub defaults: PolicyDefaults,
    /// Named business calendars policies can refer to.
    #[serde(default)]
    pub calendars: BTreeMap<String, CalendarConfig>,
    #[serde(default)]
    pub policies: Vec<PolicySection>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDefaults {
    /// Fraction of a target after which the interaction is "at risk".
    pub at_risk: Option<f64>,
    /// Reassignments before escalating.
    pub max_reassignments: Option<u32>,
    /// Supervisor queue or agent that receives escalations.
    pub escalate_to: Option<String>,
    /// Targets whose breach triggers a reassignment.
    pub reassign_on: Option<Vec<SlaTarget>>,
    /// Statuses (from `status_changed`, or `on_hold`) that stop the clocks.
    pub pause_statuses: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    pub name: String,
    pub queues: Option<Vec<String>>,
    pub channels: Option<Vec<Channel>>,
    pub priorities: Option<Vec<u32>>,
    pub first_response: Option<Dur>,
    pub next_reply: Option<Dur>,
    pub resolution: Option<Dur>,
    /// A calendar name from `[sla.calendars]`; absent = calendar time.
    pub calendar: Option<String>,
    #[serde(flatten)]
    pub overrides: PolicyDefaults,
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    queues: Option<Vec<String>>,
    channels: Option<Vec<Channel>>,
    priorities: Option<Vec<u32>>,
    /// Budget per target (index = `SlaTarget as usize`), in business ms.
    pub targets: [Option<Millis>; 3],
    pub calendar: BusinessCalendar,
    pub at_risk: f64,
    pub max_reassignments: u32,
    pub escalate_to: String,
    pub reassign_on: Vec<SlaTarget>,
    pub pause_statuses: Vec<String>,
}

impl Policy {
    fn specificity(&self) -> usize {
        self.queues.is_some() as usize
            + self.channels.is_some() as usize
            + self.priorities.is_some() as usize
    }

    fn matches(&self, queue: &str, channel: Channel, priority: u32) -> bool {
        self.queues
            .as_ref()
            .is_none_or(|q| q.iter().any(|x| x == queue))
            && self.channels.as_ref().is_none_or(|c| c.contains(&channel))
            && self
                .priorities
                .as_ref()
                .is_none_or(|p| p.contains(&priority))
    }

    pub fn target(&self, t: SlaTarget) -> Option<Millis> {
        self.targets[t as usize]
    }

    pub fn pauses_on(&self, status: &str) -> bool {
        self.pause_statuses.iter().any(|s| s == status)
    }

    pub fn reassigns_on(&self, t: SlaTarget) -> bool {
        self.reassign_on.contains(&t)
    }

    /// A canonical one-line text of everything the policy decides by:
    /// equal policies give equal texts. Strings are length-prefixed
    /// (`5:sales`), numbers plain, fractions as their IEEE bits. Part of the
    /// engine settings' fingerprint that checkpoints carry.
    pub fn canonical_text(&self) -> String {
        fn text(s: &str) -> String {
            format!("{}:{s}", s.len())
        }
        fn list<T>(l: &Option<Vec<T>>, f: impl Fn(&T) -> String) -> String {
            match l {
                None => "any".into(),
                Some(v) => format!("[{}]", v.iter().map(f).collect::<Vec<_>>().join(",")),
            }
        }
        let targets: Vec<String> = self
            .targets
            .iter()
            .map(|t| t.map_or("-".into(), |ms| ms.to_string()))
            .collect();
        format!(
            "name={} queues={} channels={} priorities={} targets={} calendar=({}) at_risk={:016x} max_reassignments={} escalate_to={} reassign_on={} pause_statuses={}",
            text(&self.name),
            list(&self.queues, |q| text(q)),
            list(&self.channels, |c| c.as_str().to_string()),
            list(&self.priorities, |p| p.to_string()),
            targets.join(","),
            self.calendar.canonical_text(),
            self.at_risk.to_bits(),
            self.max_reassignments,
            text(&self.escalate_to),
            list(&Some(self.reassign_on.clone()), |t| t.as_str().to_string()),
            list(&Some(self.pause_statuses.clone()), |s| text(s)),
        )
    }
}

/// All policies, in file order.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    pub list: Vec<Policy>,
}

impl Policies {
    /// Index of the most specific matching policy.
    pub fn select(&self, queue: &str, channel: Channel, priority: u32) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        for (i, p) in self.list.iter().enumerate() {
            if p.matches(queue, channel, priority) {
                let s = p.specificity();
                if best.is_none_or(|(_, bs)| s > bs) {
                    best = Some((i, s));
                }
            }
        }
        best.map(|(i, _)| i)
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl SlaSection {
    /// Validate into policies, appending every problem to `issues`.
    pub fn validate(&self, issues: &mut Vec<Issue>) -> Policies {
        let mut bad = |field: String, problem: String, fix: &str| {
            issues.push(Issue {
                field,
                problem,
                fix: fix.to_string(),
            })
        };
        let mut calendars = BTreeMap::new();
        for (name, c) in &self.calendars {
            match c.build() {
                Ok(cal) => {
                    calendars.insert(name.clone(), cal);
                }
                Err(errs) => {
                    for e in errs {
                        bad(
                            format!("sla.calendars.{name}.{}", e.path),
                            e.problem,
                            &e.fix,
                        );
                    }
                }
            }
        }
        let d = &self.defaults;
        let mut list = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (i, p) in self.policies.iter().enumerate() {
            let at = format!("sla.policies[{i}]");
            if p.name.is_empty() {
                bad(
                    format!("{at}.name"),
                    "empty".into(),
                    "name every policy, e.g. \"chat-standard\"",
                );
            } else if !names.insert(p.name.clone()) {
                bad(
                    format!("{at}.name"),
                    format!("duplicate policy name {:?}", p.name),
                    "give each policy its own name",
                );
            }
            let targets = [p.first_response, p.next_reply, p.resolution];
            if targets.iter().all(Option::is_none) {
                bad(
                    at.clone(),
                    "sets no target".into(),
                    "set at least one of first_response, next_reply, resolution (e.g. first_response = \"2m\")",
                );
            }
            for (k, t) in ["first_response", "next_reply", "resolution"]
                .iter()
                .zip(targets)
            {
                if t.is_some_and(|t| t.0 <= 0) {
                    bad(
                        format!("{at}.{k}"),
                        "must be positive".into(),
                        "write a duration such as \"5m\"",
                    );
                }
            }
            let calendar = match &p.calendar {
                None => BusinessCalendar::always_open(),
                Some(name) => match calendars.get(name) {
                    Some(c) => c.clone(),
                    None => {
                        if !self.calendars.contains_key(name) {
                            let known: Vec<&str> =
                                self.calendars.keys().map(String::as_str).collect();
                            bad(
                                format!("{at}.calendar"),
                                format!("unknown calendar {name:?}"),
                                &format!(
                                    "define [sla.calendars.{name}] or use one of: {}",
                                    known.join(", ")
                                ),
                            );
                        }
                        BusinessCalendar::always_open()
                    }
                },
            };
            let o = &p.overrides;
            let at_risk = o.at_risk.or(d.at_risk).unwrap_or(0.8);
            if !(at_risk > 0.0 && at_risk < 1.0) {
                bad(
                    format!("{at}.at_risk"),
                    format!("{at_risk} is not a fraction between 0 and 1"),
                    "write 80 % as 0.8",
                );
            }
            let escalate_to = o
                .escalate_to
                .clone()
                .or_else(|| d.escalate_to.clone())
                .unwrap_or_else(|| "supervisors".into());
            if escalate_to.is_empty() {
                bad(
                    format!("{at}.escalate_to"),
                    "empty".into(),
                    "name a supervisor queue or agent",
                );
            }
            for (k, v) in [
                ("queues", p.queues.as_ref().map(Vec::len)),
                ("channels", p.channels.as_ref().map(Vec::len)),
                ("priorities", p.priorities.as_ref().map(Vec::len)),
            ] {
                if v == Some(0) {
                    bad(
                        format!("{at}.{k}"),
                        "empty list matches nothing".into(),
                        "leave the field out to match any",
                    );
                }
            }
            list.push(Policy {
                name: p.name.clone(),
                queues: p.queues.clone(),
                channels: p.channels.clone(),
                priorities: p.priorities.clone(),
                targets: targets.map(|t| t.map(|d| d.0)),
                calendar,
                at_risk,
                max_reassignments: o.max_reassignments.or(d.max_reassignments).unwrap_or(3),
                escalate_to,
                reassign_on: o
                    .reassign_on
                    .clone()
                    .or_else(|| d.reassign_on.clone())
                    .unwrap_or_else(|| vec![SlaTarget::FirstResponse, SlaTarget::NextReply]),
                pause_statuses: o
                    .pause_statuses
                    .clone()
                    .or_else(|| d.pause_statuses.clone())
                    .unwrap_or_else(|| vec!["waiting_on_customer".into()]),
            });
        }
        Policies { list }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies(toml_text: &str) -> (Policies, Vec<Issue>) {
        let s: SlaSection = toml::from_str(toml_text).expect("parses");
        let mut issues = Vec::new();
        let p = s.validate(&mut issues);
        (p, issues)
    }

    #[test]
    fn the_most_specific_policy_wins_and_ties_go_to_the_first() {
        let (p, issues) = policies(
            r#"
            [[policies]]
            name = "default"
            resolution = "8h"
            [[policies]]
            name = "chat"
            channels = ["chat"]
            first_response = "1m"
            [[policies]]
            name = "billing-chat"
            queues = ["billing"]
            channels = ["chat"]
            first_response = "30s"
            [[policies]]
            name = "vip"
            priorities = [9]
            first_response = "10s"
            "#,
        );
        assert!(issues.is_empty(), "{issues:?}");
        let name = |q, c, pr| p.select(q, c, pr).map(|i| p.list[i].name.as_str());
        assert_eq!(name("billing", Channel::Chat, 0), Some("billing-chat"));
        assert_eq!(name("sales", Channel::Chat, 0), Some("chat"));
        assert_eq!(name("sales", Channel::Voice, 0), Some("default"));
        // "chat" and "vip" both name one dimension: the first written wins.
        assert_eq!(name("sales", Channel::Chat, 9), Some("chat"));
    }

    #[test]
    fn every_policy_problem_is_reported_with_its_field() {
        let (_, issues) = policies(
            r#"
            [[policies]]
            name = "a"
            calendar = "nope"
            at_risk = 1.5
            [[policies]]
            name = "a"
            first_response = "1m"
            queues = []
            "#,
        );
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "sla.policies[0]",
                "sla.policies[0].calendar",
                "sla.policies[0].at_risk",
                "sla.policies[1].name",
                "sla.policies[1].queues"
            ]
        );
    }
}
