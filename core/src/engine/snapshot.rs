//! The one read-side view of the engine: every KPI per queue × channel, per
//! agent and center-wide, per window and cumulative, as of the watermark.
//!
//! Counts are carried as they are (`counts`), and every ratio, mean and
//! quantile is derived from them here, with `null` where the denominator is
//! zero. The JSON form of this type is documented in README.md.

use std::collections::BTreeMap;

use chrono::{SecondsFormat, TimeZone, Utc};
use serde::Serialize;

use super::clocks::SlaOutcomes;
use super::erlang;
use super::hist::{Buckets, Hdr, Quantiles};
use super::settings::QueueSettings;
use super::stats::{AgentCounters, AgentPane, HistKind, QueueCounters, QueuePane, Volume};
use super::types::{ProcessingStats, StateCounts, NONE};
use super::view::{TenantView, View};
use super::window::PaneData;
use super::window::WindowSpec;
use crate::event::{AgentState, Channel, Millis};

#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// The tenants these figures are of (each row names its own).
    pub tenants: Vec<String>,
    /// The watermark, RFC 3339: figures include every event before it.
    pub as_of: Option<String>,
    pub as_of_ms: Option<Millis>,
    pub processing: Processing,
    pub windows: Vec<WindowInfo>,
    pub queues: Vec<QueueSnapshot>,
    pub agents: Vec<AgentSnapshot>,
    pub center: CenterSnapshot,
    /// SLA outcomes since the start, per queue × policy × target.
    pub sla: Vec<SlaRow>,
    /// The same figures with every event received applied, including those
    /// still waiting for the watermark (`as_of`: just after the newest).
    /// Present only while events are buffered; may still change when a
    /// late event arrives within `allowed_lateness`, and equals the
    /// ordered figures once the watermark passes. Effects never come from
    /// it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisional: Option<Box<Snapshot>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlaRow {
    pub tenant: String,
    pub queue: String,
    pub policy: String,
    pub target: crate::event::SlaTarget,
    #[serde(flatten)]
    pub outcomes: SlaOutcomes,
}

#[derive(Debug, Clone, Serialize)]
pub struct Processing {
    #[serde(flatten)]
    pub stats: ProcessingStats,
    pub open_interactions: u64,
    pub buffered_events: u64,
    /// Events waiting in the parking area for an interaction not known
    /// yet (applied when it appears; orphaned after `engine.parking_ttl`).
    pub parked_events: u64,
    /// Event ids held for duplicate detection.
    pub dedup_ids: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WindowInfo {
    pub name: String,
    pub length_seconds: f64,
    pub slice_seconds: f64,
    /// Event-time span covered at `as_of`: `[from, to)`.
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueSnapshot {
    pub tenant: String,
    pub queue: String,
    pub channel: Channel,
    pub settings: QueueSettingsView,
    pub now: QueueNow,
    /// By window name.
    pub windows: BTreeMap<String, Figures>,
    /// Since the start of the log.
    pub total: Figures,
    /// Offered by local hour / weekday / month (engine time zone).
    pub volume: Volume,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueSettingsView {
    pub service_level_threshold_seconds: f64,
    pub short_abandon_threshold_seconds: f64,
    pub service_level_target: f64,
    pub cost_per_agent_hour: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueNow {
    pub waiting: u64,
    /// Age of the longest-waiting interaction at `as_of`.
    pub oldest_waiting_age_seconds: Option<f64>,
    /// In queue + in progress.
    pub concurrent: u64,
    /// Agents serving this queue, by state.
    pub agents: StateCounts,
    /// Open interactions with a running SLA clock.
    pub sla_running: u64,
    /// Of those, past the at-risk lead of some target.
    pub sla_at_risk: u64,
    /// Time left to the nearest deadline of each of those.
    pub time_to_breach: Distribution,
}

/// Service level SL(T) in the variants operations teams use.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceLevel {
    /// answered_within_T / answered (Asterisk).
    pub answered: Option<f64>,
    /// (answered_within_T + abandoned_within_T) / (answered + abandoned).
    pub answered_and_abandoned: Option<f64>,
    /// answered_within_T / (answered + abandoned − short abandons) (Genesys).
    pub excluding_short_abandons: Option<f64>,
    /// removed_within_T / removed, removed = answered + abandoned +
    /// transferred out of queue (Amazon Connect).
    pub removed_from_queue: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Distribution {
    pub count: u64,
    /// Sum of the samples in ms: the raw figure behind the mean, so a
    /// consumer can re-aggregate (sum the sums, sum the counts, divide).
    pub sum_ms: u64,
    pub mean_seconds: Option<f64>,
    #[serde(flatten)]
    pub quantiles: Quantiles,
}

impl Distribution {
    fn new(b: &Buckets, quantiles: Quantiles) -> Self {
        Distribution {
            count: b.count(),
            sum_ms: b.sum_ms(),
            mean_seconds: ratio(b.sum_ms() as f64 / 1000.0, b.count() as f64),
            quantiles,
        }
    }
}

/// The KPI figures of one queue × channel over one window (or cumulative).
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub counts: QueueCounters,
    pub peak_concurrent: u64,
    pub service_level: ServiceLevel,
    /// abandoned / offered.
    pub abandon_rate: Option<f64>,
    /// (abandoned − short) / (offered − short).
    pub abandon_rate_excluding_short: Option<f64>,
    /// Mean queue wait of answered interactions.
    pub asa_seconds: Option<f64>,
    /// Mean talk + hold + wrap-up per handled segment.
    pub aht_seconds: Option<f64>,
    pub mean_talk_seconds: Option<f64>,
    pub mean_hold_seconds: Option<f64>,
    pub mean_wrap_up_seconds: Option<f64>,
    /// (fcr_candidates − fcr_retracted) / resolved.
    pub fcr_rate: Option<f64>,
    /// transferred_interactions / handled.
    pub transfer_rate: Option<f64>,
    /// reopened / resolved.
    pub reopen_rate: Option<f64>,
    /// repeat_contacts / offered.
    pub repeat_contact_rate: Option<f64>,
    /// exchanges / resolved.
    pub exchanges_per_resolution: Option<f64>,
    /// Share of CSAT answers scoring 4–5.
    pub csat: Option<f64>,
    pub csat_mean: Option<f64>,
    /// % promoters − % detractors, −100..100.
    pub nps: Option<f64>,
    pub ces_mean: Option<f64>,
    /// cost_per_agent_hour × handle hours / handled.
    pub cost_per_contact: Option<f64>,
    /// Erlang C agents for the SL target at this window's arrival rate and
    /// AHT (windows only).
    pub required_agents: Option<u32>,
    /// Duration distributions: quantiles interpolated from fixed buckets
    /// for windows, from HDR histograms (±1 %) for the cumulative total.
    pub queue_wait: Distribution,
    pub first_response: Distribution,
    pub abandon_time: Distribution,
    pub handle_time: Distribution,
    pub resolution_time: Distribution,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentSnapshot {
    pub tenant: String,
    pub agent: String,
    pub state: Option<AgentState>,
    pub queues: Vec<String>,
    pub open_interactions: u32,
    /// Absent for agents beyond `limits.max_agents` (their figures are in
    /// `center.other_agents`).
    pub windows: Option<BTreeMap<String, AgentFigures>>,
    pub total: Option<AgentFigures>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentFigures {
    pub counts: AgentCounters,
    pub aht_seconds: Option<f64>,
    pub csat: Option<f64>,
    pub csat_mean: Option<f64>,
    /// (busy + wrap-up) / (busy + wrap-up + available) time.
    pub occupancy: Option<f64>,
    pub handle_time: Distribution,
}

#[derive(Debug, Clone, Serialize)]
pub struct CenterSnapshot {
    pub agents_by_state: StateCounts,
    /// Occupancy over all agents, by window name, plus `total`.
    pub occupancy: BTreeMap<String, Option<f64>>,
    /// Figures of agents beyond the cap, folded together.
    pub other_agents: Option<BTreeMap<String, AgentFigures>>,
}

fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

fn rfc3339(t: Millis) -> Option<String> {
    Utc.timestamp_millis_opt(t)
        .single()
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn figures(
    p: &QueuePane,
    hdr: Option<&[Hdr; 5]>,
    s: &QueueSettings,
    window: Option<&WindowSpec>,
    concurrent_now: u64,
) -> Figures {
    let c = &p.c;
    let f = |x: u64| x as f64;
    let removed = c.answered + c.abandoned + c.dequeued_by_transfer;
    let dist = |k: HistKind| {
        let b = &p.h[k as usize];
        let q = match hdr {
            Some(h) => Quantiles::from_hdr(&h[k as usize], b),
            None => Quantiles::from_buckets(b),
        };
        Distribution::new(b, q)
    };
    let aht_s = ratio(f(c.handle_ms) / 1000.0, f(c.handled));
    let required_agents = window.and_then(|w| required_agents(c, s, w));
    Figures {
        counts: c.clone(),
        peak_concurrent: p.peak_concurrent.max(concurrent_now),
        service_level: ServiceLevel {
            answered: ratio(f(c.answered_within_sl), f(c.answered)),
            answered_and_abandoned: ratio(
                f(c.answered_within_sl + c.abandoned_within_sl),
                f(c.answered + c.abandoned),
            ),
            excluding_short_abandons: ratio(
                f(c.answered_within_sl),
                f((c.answered + c.abandoned).saturating_sub(c.short_abandoned)),
            ),
            removed_from_queue: ratio(
                f(c.answered_within_sl + c.abandoned_within_sl + c.dequeued_by_transfer_within_sl),
                f(removed),
            ),
        },
        abandon_rate: ratio(f(c.abandoned), f(c.offered)),
        abandon_rate_excluding_short: ratio(
            f(c.abandoned.saturating_sub(c.short_abandoned)),
            f(c.offered.saturating_sub(c.short_abandoned)),
        ),
        asa_seconds: ratio(
            f(p.h[HistKind::QueueWait as usize].sum_ms()) / 1000.0,
            f(c.answered),
        ),
        aht_seconds: aht_s,
        mean_talk_seconds: ratio(f(c.talk_ms) / 1000.0, f(c.handled)),
        mean_hold_seconds: ratio(f(c.hold_ms) / 1000.0, f(c.handled)),
        mean_wrap_up_seconds: ratio(f(c.wrap_up_ms) / 1000.0, f(c.handled)),
        fcr_rate: ratio(
            f(c.fcr_candidates.saturating_sub(c.fcr_retracted)),
            f(c.resolved),
        ),
        transfer_rate: ratio(f(c.transferred_interactions), f(c.handled)),
        reopen_rate: ratio(f(c.reopened), f(c.resolved)),
        repeat_contact_rate: ratio(f(c.repeat_contacts), f(c.offered)),
        exchanges_per_resolution: ratio(f(c.exchanges), f(c.resolved)),
        csat: ratio(f(c.csat_satisfied), f(c.csat_responses)),
        csat_mean: ratio(f(c.csat_sum), f(c.csat_responses)),
        nps: ratio(
            100.0 * (f(c.nps_promoters) - f(c.nps_detractors)),
            f(c.nps_responses),
        ),
        ces_mean: ratio(f(c.ces_sum), f(c.ces_responses)),
        cost_per_contact: ratio(
            s.cost_per_agent_hour * f(c.handle_ms) / 3_600_000.0,
            f(c.handled),
        ),
        required_agents,
        queue_wait: dist(HistKind::QueueWait),
        first_response: dist(HistKind::FirstResponse),
        abandon_time: dist(HistKind::Abandon),
        handle_time: dist(HistKind::Handle),
        resolution_time: dist(HistKind::Resolution),
    }
}

/// Erlang C agents for the SL target at a window's arrival rate and AHT
/// (`None` if more than 10 000 would be needed). Shared with the metric
/// export so the gauge and the JSON figure agree.
pub fn required_agents(c: &QueueCounters, s: &QueueSettings, w: &WindowSpec) -> Option<u32> {
    let rate = c.offered as f64 / (w.length as f64 / 1000.0);
    match ratio(c.handle_ms as f64 / 1000.0, c.handled as f64) {
        Some(aht) => erlang::required_agents(
            rate,
            aht,
            s.service_level_threshold as f64 / 1000.0,
            s.service_level_target,
        ),
        None => (c.offered == 0).then_some(0),
    }
}

fn agent_figures(p: &AgentPane) -> AgentFigures {
    let c = &p.c;
    let f = |x: u64| x as f64;
    AgentFigures {
        counts: c.clone(),
        aht_seconds: ratio(f(c.handle_ms) / 1000.0, f(c.handled)),
        csat: ratio(f(c.csat_satisfied), f(c.csat_responses)),
        csat_mean: ratio(f(c.csat_sum), f(c.csat_responses)),
        occupancy: occupancy(c),
        handle_time: Distribution::new(&p.handle, Quantiles::from_buckets(&p.handle)),
    }
}

fn occupancy(c: &AgentCounters) -> Option<f64> {
    let work = (c.busy_ms + c.wrap_up_ms) as f64;
    ratio(work, work + c.available_ms as f64)
}

impl View {
    /// Derive every figure from the (possibly merged) raw view.
    pub fn snapshot(&self) -> Snapshot {
        let windows = &self.windows;
        let known = self.as_of.is_some();
        let now = self.as_of.unwrap_or(NONE);

        let queues = self
            .tenants
            .iter()
            .flat_map(|(t, v)| v.queues.iter().map(move |k| (t, k)))
            .map(|(tenant, ((queue, ch), q))| {
                let s = &q.settings;
                let mut wins = BTreeMap::new();
                for (w, pane) in windows.iter().zip(&q.windows) {
                    wins.insert(
                        w.name.clone(),
                        figures(pane, None, s, Some(w), q.concurrent),
                    );
                }
                QueueSnapshot {
                    tenant: tenant.clone(),
                    queue: queue.clone(),
                    channel: *ch,
                    settings: QueueSettingsView {
                        service_level_threshold_seconds: s.service_level_threshold as f64 / 1000.0,
                        short_abandon_threshold_seconds: s.short_abandon_threshold as f64 / 1000.0,
                        service_level_target: s.service_level_target,
                        cost_per_agent_hour: s.cost_per_agent_hour,
                    },
                    now: QueueNow {
                        waiting: q.waiting,
                        oldest_waiting_age_seconds: q
                            .oldest_waiting_age_ms
                            .map(|ms| ms as f64 / 1000.0),
                        concurrent: q.concurrent,
                        agents: q.agents.clone(),
                        sla_running: q.sla_running,
                        sla_at_risk: q.sla_at_risk,
                        time_to_breach: Distribution::new(
                            &q.time_to_breach,
                            Quantiles::from_buckets(&q.time_to_breach),
                        ),
                    },
                    windows: wins,
                    total: figures(&q.total, Some(&q.hdr), s, None, q.concurrent),
                    volume: q.volume.clone(),
                }
            })
            .collect();

        let mut occ: Vec<AgentCounters> = vec![AgentCounters::default(); windows.len() + 1];
        let mut agents = Vec::new();
        let all_agents = self
            .tenants
            .iter()
            .flat_map(|(t, v)| v.agents.iter().map(move |(id, a)| (t, id, a)));
        for (tenant, id, a) in all_agents {
            if a.own_stats {
                for (i, p) in a.windows.iter().enumerate() {
                    occ[i].merge_from(&p.c);
                }
                occ[windows.len()].merge_from(&a.total.c);
            }
            agents.push(AgentSnapshot {
                tenant: tenant.clone(),
                agent: id.clone(),
                state: a.state,
                queues: a.queues.clone(),
                open_interactions: a.open_interactions,
                windows: a.own_stats.then(|| {
                    windows
                        .iter()
                        .zip(&a.windows)
                        .map(|(w, p)| (w.name.clone(), agent_figures(p)))
                        .collect()
                }),
                total: a.own_stats.then(|| agent_figures(&a.total)),
            });
        }
        // Agents past the cap, over the tenants (distinct agents: added).
        let mut other: Option<(Vec<AgentPane>, AgentPane)> = None;
        for (wins, total) in self
            .tenants
            .values()
            .filter_map(|v| v.other_agents.as_ref())
        {
            match &mut other {
                None => other = Some((wins.clone(), total.clone())),
                Some((ow, ot)) => {
                    for (a, b) in ow.iter_mut().zip(wins) {
                        a.merge_from(b);
                    }
                    ot.merge_from(total);
                }
            }
        }
        let other_agents = other.as_ref().map(|(wins, total)| {
            for (i, p) in wins.iter().enumerate() {
                occ[i].merge_from(&p.c);
            }
            occ[windows.len()].merge_from(&total.c);
            let mut m: BTreeMap<String, AgentFigures> = windows
                .iter()
                .zip(wins)
                .map(|(w, p)| (w.name.clone(), agent_figures(p)))
                .collect();
            m.insert("total".to_string(), agent_figures(total));
            m
        });
        let mut occupancy_by = BTreeMap::new();
        for (i, w) in windows.iter().enumerate() {
            occupancy_by.insert(w.name.clone(), occupancy(&occ[i]));
        }
        occupancy_by.insert("total".to_string(), occupancy(&occ[windows.len()]));

        let sum = |f: fn(&TenantView) -> u64| self.tenants.values().map(f).sum::<u64>();
        let mut agents_by_state = StateCounts::default();
        for v in self.tenants.values() {
            let (a, b) = (&mut agents_by_state, &v.agents_by_state);
            a.offline += b.offline;
            a.available += b.available;
            a.busy += b.busy;
            a.wrap_up += b.wrap_up;
            a.away += b.away;
        }
        Snapshot {
            tenants: self.tenants.keys().cloned().collect(),
            as_of: if known { rfc3339(now) } else { None },
            as_of_ms: self.as_of,
            processing: Processing {
                stats: self.processing(),
                open_interactions: sum(|v| v.open_interactions),
                buffered_events: sum(|v| v.buffered_events),
                parked_events: sum(|v| v.parked_events),
                dedup_ids: sum(|v| v.dedup_ids),
            },
            windows: windows
                .iter()
                .map(|w| {
                    let (from, to) = if known { w.span_at(now) } else { (NONE, NONE) };
                    WindowInfo {
                        name: w.name.clone(),
                        length_seconds: w.length as f64 / 1000.0,
                        slice_seconds: w.slice as f64 / 1000.0,
                        from: if known { rfc3339(from) } else { None },
                        to: if known { rfc3339(to) } else { None },
                    }
                })
                .collect(),
            queues,
            agents,
            center: CenterSnapshot {
                agents_by_state,
                occupancy: occupancy_by,
                other_agents,
            },
            sla: self
                .tenants
                .iter()
                .flat_map(|(t, v)| v.sla.iter().map(move |k| (t, k)))
                .map(|(tenant, ((queue, policy, target), o))| SlaRow {
                    tenant: tenant.clone(),
                    queue: queue.clone(),
                    policy: policy.clone(),
                    target: *target,
                    outcomes: o.clone(),
                })
                .collect(),
            provisional: self.provisional.as_ref().map(|p| Box::new(p.snapshot())),
        }
    }
}
