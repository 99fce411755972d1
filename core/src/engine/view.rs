//! The raw, mergeable read side: counts, bucket counts and HDR histograms
//! as of the watermark, with nothing derived yet.
//!
//! A [`View`] of each partition's engine merges into one instance-wide view
//! ([`View::merge`]); ratios, means and quantiles are derived only after
//! merging ([`View::snapshot`]), so no figure is ever an average of
//! averages. Merge rules: partitioned data adds up; the agent directory
//! (replicated to every partition) is taken once (max), and so are
//! per-instance views such as peak concurrency.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::clocks::SlaOutcomes;
use super::fold::Fold;
use super::hist::{Buckets, Hdr};
use super::records::Agent;
use super::settings::QueueSettings;
use super::stats::AgentStats;
use super::stats::{AgentCounters, AgentPane, QueuePane, Volume};
use super::types::{LabelledSeries, ProcessingStats, StateCounts, NONE};
use super::window::{PaneData, WindowSpec};
use crate::event::{AgentState, Channel, Millis, SlaTarget};

#[derive(Debug, Clone, Default)]
pub struct View {
    /// Watermark; the newest of the merged parts (of its tenants).
    pub as_of: Option<Millis>,
    pub windows: Vec<WindowSpec>,
    /// Each tenant's figures, kept apart: a view for a set of tenants is
    /// this map narrowed to them ([`View::scoped`]).
    pub tenants: BTreeMap<String, TenantView>,
    /// The provisional "now": the same raw state with every event received
    /// applied, the buffered ones too (on a copy of the engine, as if the
    /// watermark had passed them). `None` when nothing is buffered: the
    /// ordered view is then already current. Effects never come from it;
    /// see ARCHITECTURE.md, "Provisional figures".
    pub provisional: Option<Arc<View>>,
}

/// One tenant's raw figures.
#[derive(Debug, Clone, Default)]
pub struct TenantView {
    /// The tenant's watermark (each tenant's fold has its own).
    pub as_of: Option<Millis>,
    pub processing: ProcessingStats,
    pub open_interactions: u64,
    pub buffered_events: u64,
    /// Events parked for an interaction not known yet.
    pub parked_events: u64,
    pub dedup_ids: u64,
    pub queues: BTreeMap<(String, Channel), QueueView>,
    pub agents: BTreeMap<String, AgentView>,
    /// Figures of agents beyond the cap, folded (windows + total).
    pub other_agents: Option<(Vec<AgentPane>, AgentPane)>,
    pub agents_by_state: StateCounts,
    pub sla: BTreeMap<(String, String, SlaTarget), SlaOutcomes>,
}

#[derive(Debug, Clone)]
pub struct QueueView {
    pub settings: QueueSettings,
    pub waiting: u64,
    pub oldest_waiting_age_ms: Option<Millis>,
    pub concurrent: u64,
    /// Agents serving the queue by state (replicated: merged by max).
    pub agents: StateCounts,
    pub sla_running: u64,
    pub sla_at_risk: u64,
    pub time_to_breach: Buckets,
    /// One pane sum per configured window, in config order.
    pub windows: Vec<QueuePane>,
    pub total: QueuePane,
    pub hdr: [Hdr; 5],
    pub volume: Volume,
}

#[derive(Debug, Clone)]
pub struct AgentView {
    pub state: Option<AgentState>,
    pub queues: Vec<String>,
    pub open_interactions: u32,
    /// False for agents past the cap (their figures are in `other_agents`).
    pub own_stats: bool,
    /// Window sums including the open state interval up to `as_of`.
    pub windows: Vec<AgentPane>,
    pub total: AgentPane,
}

/// Partitioned agent counts add up; state time (from the replicated agent
/// directory) is the same on every partition, so it is taken once.
fn merge_agent_pane(a: &mut AgentPane, b: &AgentPane) {
    let keep = |x: &AgentCounters| {
        (
            x.offline_ms,
            x.available_ms,
            x.busy_ms,
            x.wrap_up_ms,
            x.away_ms,
        )
    };
    let (o, av, bu, wr, aw) = keep(&a.c);
    let (o2, av2, bu2, wr2, aw2) = keep(&b.c);
    a.merge_from(b);
    a.c.offline_ms = o.max(o2);
    a.c.available_ms = av.max(av2);
    a.c.busy_ms = bu.max(bu2);
    a.c.wrap_up_ms = wr.max(wr2);
    a.c.away_ms = aw.max(aw2);
}

fn max_states(a: &mut StateCounts, b: &StateCounts) {
    a.offline = a.offline.max(b.offline);
    a.available = a.available.max(b.available);
    a.busy = a.busy.max(b.busy);
    a.wrap_up = a.wrap_up.max(b.wrap_up);
    a.away = a.away.max(b.away);
}

impl View {
    /// Fold another part (another partition's engine) into this one.
    /// Provisional views merge alongside: a part without one contributes
    /// its ordered view (it has nothing buffered).
    pub fn merge(&mut self, o: &View) {
        if self.provisional.is_some() || o.provisional.is_some() {
            let mut p = match self.provisional.take() {
                Some(p) => Arc::unwrap_or_clone(p),
                None => self.clone(),
            };
            p.merge(o.provisional.as_deref().unwrap_or(o));
            self.merge_ordered(o);
            self.provisional = Some(Arc::new(p));
        } else {
            self.merge_ordered(o);
        }
    }

    fn merge_ordered(&mut self, o: &View) {
        self.as_of = max_time(self.as_of, o.as_of);
        if self.windows.is_empty() {
            self.windows = o.windows.clone();
        }
        for (t, v) in &o.tenants {
            match self.tenants.get_mut(t) {
                Some(m) => m.merge(v),
                None => {
                    self.tenants.insert(t.clone(), v.clone());
                }
            }
        }
    }

    /// The same view narrowed to the tenants `keep` accepts: nothing of
    /// the others stays (their queues, agents, counters, watermark), in
    /// the provisional part too.
    pub fn scoped(&self, keep: impl Fn(&str) -> bool + Copy) -> View {
        let tenants: BTreeMap<String, TenantView> = self
            .tenants
            .iter()
            .filter(|(t, _)| keep(t))
            .map(|(t, v)| (t.clone(), v.clone()))
            .collect();
        View {
            as_of: tenants.values().fold(None, |a, v| max_time(a, v.as_of)),
            windows: self.windows.clone(),
            tenants,
            provisional: self.provisional.as_ref().map(|p| Arc::new(p.scoped(keep))),
        }
    }

    /// Open interactions of every tenant.
    pub fn open_interactions(&self) -> u64 {
        self.tenants.values().map(|t| t.open_interactions).sum()
    }

    /// Processing counters summed over the tenants.
    pub fn processing(&self) -> ProcessingStats {
        let mut p = ProcessingStats::default();
        for t in self.tenants.values() {
            p.add(&t.processing);
        }
        p
    }
}

fn max_time(a: Option<Millis>, b: Option<Millis>) -> Option<Millis> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl TenantView {
    /// Fold the same tenant's figures from another partition into these.
    pub fn merge(&mut self, o: &TenantView) {
        self.as_of = max_time(self.as_of, o.as_of);
        self.processing.add(&o.processing);
        self.open_interactions += o.open_interactions;
        self.buffered_events += o.buffered_events;
        self.parked_events += o.parked_events;
        self.dedup_ids += o.dedup_ids;
        for (k, v) in &o.queues {
            match self.queues.get_mut(k) {
                None => {
                    self.queues.insert(k.clone(), v.clone());
                }
                Some(m) => {
                    m.waiting += v.waiting;
                    m.oldest_waiting_age_ms =
                        match (m.oldest_waiting_age_ms, v.oldest_waiting_age_ms) {
                            (Some(a), Some(b)) => Some(a.max(b)),
                            (a, b) => a.or(b),
                        };
                    m.concurrent += v.concurrent;
                    max_states(&mut m.agents, &v.agents);
                    m.sla_running += v.sla_running;
                    m.sla_at_risk += v.sla_at_risk;
                    m.time_to_breach.merge_from(&v.time_to_breach);
                    for (a, b) in m.windows.iter_mut().zip(&v.windows) {
                        a.merge_from(b);
                    }
                    m.total.merge_from(&v.total);
                    for (a, b) in m.hdr.iter_mut().zip(&v.hdr) {
                        a.merge_from(b);
                    }
                    let (mv, vv) = (&mut m.volume, &v.volume);
                    mv.by_hour
                        .iter_mut()
                        .zip(vv.by_hour)
                        .for_each(|(a, b)| *a += b);
                    mv.by_weekday
                        .iter_mut()
                        .zip(vv.by_weekday)
                        .for_each(|(a, b)| *a += b);
                    mv.by_month
                        .iter_mut()
                        .zip(vv.by_month)
                        .for_each(|(a, b)| *a += b);
                }
            }
        }
        for (k, v) in &o.agents {
            match self.agents.get_mut(k) {
                None => {
                    self.agents.insert(k.clone(), v.clone());
                }
                Some(m) => {
                    if m.state.is_none() {
                        m.state = v.state;
                        m.queues = v.queues.clone();
                    }
                    m.open_interactions += v.open_interactions;
                    for (a, b) in m.windows.iter_mut().zip(&v.windows) {
                        merge_agent_pane(a, b);
                    }
                    merge_agent_pane(&mut m.total, &v.total);
                }
            }
        }
        match (&mut self.other_agents, &o.other_agents) {
            (Some((wa, ta)), Some((wb, tb))) => {
                for (a, b) in wa.iter_mut().zip(wb) {
                    merge_agent_pane(a, b);
                }
                merge_agent_pane(ta, tb);
            }
            (None, Some(x)) => self.other_agents = Some(x.clone()),
            _ => {}
        }
        max_states(&mut self.agents_by_state, &o.agents_by_state);
        for (k, v) in &o.sla {
            let e = self.sla.entry(k.clone()).or_default();
            e.met += v.met;
            e.breached += v.breached;
            e.reassigned += v.reassigned;
            e.requeued += v.requeued;
            e.escalated += v.escalated;
        }
    }
}

/// What a partition hands to the shells at each publish tick: the raw
/// mergeable view, the duration samples folded since the last one (empty
/// unless the sample tap is on), and the newest event time folded.
#[derive(Debug, Clone)]
pub struct Publication {
    pub view: View,
    pub samples: Vec<LabelledSeries>,
    pub last_event_ms: Option<Millis>,
}

impl Fold {
    /// This tenant's view once the watermark passes every event it
    /// received (see [`super::Engine::provisional_view`]); `None` when
    /// nothing is buffered.
    pub fn provisional_view(&self) -> Option<TenantView> {
        if self.buffer.is_empty() {
            return None;
        }
        let mut copy = self.copy_to_flush();
        copy.flush(&mut Vec::new());
        Some(copy.view())
    }

    /// A copy that can flush its buffer and give its view, made at every
    /// publish: the tracking maps are forked (shared, with the copy's
    /// writes kept apart) and the sample tap is off (drained by the
    /// shell). Spelled field by field so that a new field needs a
    /// decision here.
    fn copy_to_flush(&self) -> Fold {
        Fold {
            tenant: self.tenant.clone(),
            cfg: self.cfg.clone(),
            buffer: self.buffer.clone(),
            max_seen: self.max_seen,
            max_any: self.max_any,
            watermark: self.watermark,
            dedup: self.dedup.clone(),
            interactions: self.interactions.clone(),
            index: self.index.clone(),
            legs: self.legs.clone(),
            parked: self.parked.clone(),
            parked_len: self.parked_len,
            parked_oldest: self.parked_oldest,
            queue_ids: self.queue_ids.clone(),
            queue_names: self.queue_names.clone(),
            queues: self.queues.clone(),
            agent_ids: self.agent_ids.clone(),
            agents: self.agents.clone(),
            serving: self.serving.clone(),
            agent_stats: self.agent_stats.clone(),
            resolved: self.resolved.fork(),
            customers: self.customers.fork(),
            facts_out: self.facts_out.as_ref().map(|_| Vec::new()),
            orphans_out: None,
            local: self.local.clone(),
            stats: self.stats.clone(),
            housekeeping_hour: self.housekeeping_hour,
            sla_wheel: self.sla_wheel.clone(),
            sla_clocks: self.sla_clocks.clone(),
            sla_detail: self.sla_detail.clone(),
            tap: None,
            recorded: self.recorded.clone(),
            missed_window: false,
        }
    }

    /// The raw state as of the watermark (without its provisional part).
    pub fn view(&self) -> TenantView {
        let now = self.watermark;
        let known = now != NONE;
        let windows = &self.cfg.windows;

        let mut per_queue: Vec<StateCounts> = vec![StateCounts::default(); self.queue_names.len()];
        let mut center = StateCounts::default();
        for a in &self.agents {
            if a.since == NONE {
                continue;
            }
            center.add(a.state);
            for &q in &a.queues {
                if let Some(sc) = per_queue.get_mut(q as usize) {
                    sc.add(a.state);
                }
            }
        }

        let mut sla_now: BTreeMap<(u32, Channel), (u64, u64, Buckets)> = BTreeMap::new();
        if known {
            for (q, ch, at_risk, left) in self.sla_open_view(now) {
                let e = sla_now
                    .entry((q, ch))
                    .or_insert_with(|| (0, 0, Buckets::default()));
                e.0 += 1;
                e.1 += at_risk as u64;
                if let Some(l) = left {
                    e.2.record(l);
                }
            }
        }

        let mut queues = BTreeMap::new();
        for (qi, chans) in self.queues.iter().enumerate() {
            for ch in Channel::ALL {
                let Some(qs) = &chans[ch.index()] else {
                    continue;
                };
                let sla = sla_now.remove(&(qi as u32, ch)).unwrap_or_default();
                queues.insert(
                    (self.queue_names[qi].to_string(), ch),
                    QueueView {
                        settings: qs.settings.clone(),
                        waiting: qs.waiting.len() as u64,
                        oldest_waiting_age_ms: if known {
                            qs.waiting.iter().next().map(|&(t, _)| (now - t).max(0))
                        } else {
                            None
                        },
                        concurrent: qs.concurrent,
                        agents: per_queue.get(qi).cloned().unwrap_or_default(),
                        sla_running: sla.0,
                        sla_at_risk: sla.1,
                        time_to_breach: sla.2,
                        windows: qs
                            .tiers
                            .iter()
                            .map(|r| {
                                if known {
                                    r.sum(now)
                                } else {
                                    QueuePane::default()
                                }
                            })
                            .collect(),
                        total: qs.total.clone(),
                        hdr: qs.hdr.clone(),
                        volume: qs.volume.clone(),
                    },
                );
            }
        }

        // The state interval still open at `now`, clipped to start at `from`.
        let open_interval = |a: &Agent, from: Millis| {
            let mut p = AgentPane::default();
            if a.since != NONE && known {
                let start = a.since.max(from);
                if now > start {
                    *p.c.state_ms_mut(a.state) += (now - start) as u64;
                }
            }
            p
        };
        let sums = |st: &AgentStats| -> Vec<AgentPane> {
            st.tiers
                .iter()
                .map(|r| {
                    if known {
                        r.sum(now)
                    } else {
                        AgentPane::default()
                    }
                })
                .collect()
        };
        let starts: Vec<Millis> = windows
            .iter()
            .map(|w| if known { w.span_at(now).0 } else { NONE })
            .collect();
        let mut agents = BTreeMap::new();
        let mut other_open: Option<(Vec<AgentPane>, AgentPane)> = None;
        for a in &self.agents {
            let own = a.stats != 0;
            let (wins, total) = if own {
                let st = &self.agent_stats[a.stats as usize];
                let mut wins = sums(st);
                for (w, &from) in wins.iter_mut().zip(&starts) {
                    w.merge_from(&open_interval(a, from));
                }
                let mut total = st.total.clone();
                total.merge_from(&open_interval(a, NONE));
                (wins, total)
            } else {
                // Agents past the cap share stats bucket 0 (added once);
                // each adds its own open state interval to it.
                let o = other_open.get_or_insert_with(|| {
                    (
                        sums(&self.agent_stats[0]),
                        self.agent_stats[0].total.clone(),
                    )
                });
                for (w, &from) in o.0.iter_mut().zip(&starts) {
                    w.merge_from(&open_interval(a, from));
                }
                o.1.merge_from(&open_interval(a, NONE));
                (Vec::new(), AgentPane::default())
            };
            let mut aq: Vec<String> = a
                .queues
                .iter()
                .map(|&q| self.queue_names[q as usize].to_string())
                .collect();
            aq.sort();
            agents.insert(
                a.id.to_string(),
                AgentView {
                    state: (a.since != NONE).then_some(a.state),
                    queues: aq,
                    open_interactions: a.open,
                    own_stats: own,
                    windows: wins,
                    total,
                },
            );
        }

        TenantView {
            as_of: known.then_some(now),
            processing: self.stats.clone(),
            open_interactions: self.interactions.len() as u64,
            buffered_events: self.buffer.len() as u64,
            parked_events: self.parked_len as u64,
            dedup_ids: self.dedup.len() as u64,
            queues,
            agents,
            other_agents: other_open,
            agents_by_state: center,
            sla: self
                .sla_detail
                .iter()
                .map(|(&(q, p, target), o)| {
                    (
                        (
                            self.queue_names[q as usize].to_string(),
                            self.cfg.policies.list[p as usize].name.clone(),
                            target,
                        ),
                        o.clone(),
                    )
                })
                .collect(),
        }
    }
}
