//! Turning engine state into metric updates.
//!
//! - [`PartitionPublisher`] (one per live partition): counters by *delta*
//!   against what it last published, and histograms from the engine's
//!   sample tap. It starts from the partition's state when it went live, so
//!   history replayed to restore a partition is never exported twice.
//! - [`InstancePublisher`] (one per process, on the export tick): gauges
//!   from the merged view of the live partitions (and of revoked partitions'
//!   kept figures where no other instance can own them, see
//!   [`super::shared`]), set as absolute values, plus the replicated agent
//!   directory when this instance is the leader, the per-partition
//!   processor gauges of assigned partitions (a revoked partition's vanish,
//!   even while its figures are kept), and the freshness of the figures
//!   (`ccpulse_figures_age_seconds`, `ccpulse_figures_stale`,
//!   `ccpulse_partitions_kept`).
//!
//! Operators are labelled as `export.agent_metrics` says
//! ([`super::privacy`]): by id, by pseudonym, or not at all (`aggregate`
//! sets per-queue distribution gauges on the tick instead; `off` nothing).
//!
//! Why deltas: Prometheus sums counters across instances, and a partition
//! moves between instances. Each instance exports only what it folded while
//! the partition was live there, so the sum over instances counts every
//! event once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{Key, Label};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error};

use super::privacy::{operator_distributions, AgentMetrics, AgentPrivacy};
use super::recorder::{self, MetricsHandle};
use super::shared::{ExportState, PartitionKey};
use crate::telemetry::catalog::{self, Family};
use crate::telemetry::PartitionStatus;
use ccpulse_core::engine::snapshot::required_agents;
use ccpulse_core::engine::{AgentCounters, HistKind, QueueCounters, Volume};
use ccpulse_core::engine::{LabelledSeries, ProcessingStats, Publication, SampleKind, View, OTHER};
use ccpulse_core::event::{AgentState, Channel, Millis};

type QueueField = fn(&QueueCounters) -> u64;

/// Cumulative queue counters and the family each is exported as; the
/// `_seconds_total` ones read milliseconds (see [`recorder`]).
const QUEUE_COUNTERS: [(&Family, Option<&str>, QueueField); 35] = [
    (&catalog::OFFERED, None, |c| c.offered),
    (&catalog::ANSWERED, None, |c| c.answered),
    (&catalog::ANSWERED_WITHIN_SL, None, |c| c.answered_within_sl),
    (&catalog::ABANDONED, None, |c| c.abandoned),
    (&catalog::ABANDONED_WITHIN_SL, None, |c| {
        c.abandoned_within_sl
    }),
    (&catalog::SHORT_ABANDONED, None, |c| c.short_abandoned),
    (&catalog::DEQUEUED_BY_TRANSFER, None, |c| {
        c.dequeued_by_transfer
    }),
    (&catalog::DEQUEUED_BY_TRANSFER_WITHIN_SL, None, |c| {
        c.dequeued_by_transfer_within_sl
    }),
    (&catalog::FIRST_RESPONSES, None, |c| c.first_responses),
    (&catalog::HANDLED, None, |c| c.handled),
    (&catalog::HANDLE_SECONDS, None, |c| c.handle_ms),
    (&catalog::TALK_SECONDS, None, |c| c.talk_ms),
    (&catalog::HOLD_SECONDS, None, |c| c.hold_ms),
    (&catalog::WRAP_UP_SECONDS, None, |c| c.wrap_up_ms),
    (&catalog::RESOLVED, None, |c| c.resolved),
    (&catalog::FCR_CANDIDATES, None, |c| c.fcr_candidates),
    (&catalog::FCR_RETRACTED, None, |c| c.fcr_retracted),
    (&catalog::REOPENED, None, |c| c.reopened),
    (&catalog::TRANSFERS, None, |c| c.transfers),
    (&catalog::TRANSFERRED_INTERACTIONS, None, |c| {
        c.transferred_interactions
    }),
    (&catalog::EXCHANGES, None, |c| c.exchanges),
    (&catalog::REPEAT_CONTACTS, None, |c| c.repeat_contacts),
    (&catalog::CSAT_RESPONSES, None, |c| c.csat_responses),
    (&catalog::CSAT_SATISFIED, None, |c| c.csat_satisfied),
    (&catalog::CSAT_SCORE, None, |c| c.csat_sum),
    (&catalog::NPS_RESPONSES, None, |c| c.nps_responses),
    (&catalog::NPS_PROMOTERS, None, |c| c.nps_promoters),
    (&catalog::NPS_DETRACTORS, None, |c| c.nps_detractors),
    (&catalog::CES_RESPONSES, None, |c| c.ces_responses),
    (&catalog::CES_SCORE, None, |c| c.ces_sum),
    (&catalog::SLA_MET, None, |c| c.sla_met),
    (&catalog::SLA_BREACHES, None, |c| c.sla_breaches),
    // The `action` label: agent (a free operator was named), requeue,
    // escalate.
    (&catalog::SLA_REASSIGNMENTS, Some("agent"), |c| {
        c.sla_reassigned
    }),
    (&catalog::SLA_REASSIGNMENTS, Some("requeue"), |c| {
        c.sla_requeued
    }),
    (&catalog::SLA_REASSIGNMENTS, Some("escalate"), |c| {
        c.sla_escalated
    }),
];

type AgentField = fn(&AgentCounters) -> u64;

/// Partitioned agent counters (state time is the leader's, see
/// [`InstancePublisher`]).
const AGENT_COUNTERS: [(&Family, AgentField); 5] = [
    (&catalog::AGENT_CLOSURES, |c| c.closures),
    (&catalog::AGENT_HANDLED, |c| c.handled),
    (&catalog::AGENT_HANDLE_SECONDS, |c| c.handle_ms),
    (&catalog::AGENT_CSAT_RESPONSES, |c| c.csat_responses),
    (&catalog::AGENT_CSAT_SATISFIED, |c| c.csat_satisfied),
];

const HOURS: [&str; 24] = [
    "00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15",
    "16", "17", "18", "19", "20", "21", "22", "23",
];
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MONTHS: [&str; 12] = [
    "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12",
];

/// Logged-in states whose time is exported. Offline time is not agent
/// work, and exporting it would keep departed agents' series alive forever.
const WORK_STATES: [AgentState; 4] = [
    AgentState::Available,
    AgentState::Busy,
    AgentState::WrapUp,
    AgentState::Away,
];

fn state_ms(c: &AgentCounters, s: AgentState) -> u64 {
    match s {
        AgentState::Offline => c.offline_ms,
        AgentState::Available => c.available_ms,
        AgentState::Busy => c.busy_ms,
        AgentState::WrapUp => c.wrap_up_ms,
        AgentState::Away => c.away_ms,
    }
}

fn hist_family(k: HistKind) -> &'static Family {
    match k {
        HistKind::QueueWait => &catalog::QUEUE_WAIT,
        HistKind::FirstResponse => &catalog::FIRST_RESPONSE_TIME,
        HistKind::Abandon => &catalog::ABANDON_TIME,
        HistKind::Handle => &catalog::HANDLE_TIME,
        HistKind::Resolution => &catalog::RESOLUTION_TIME,
    }
}

fn qc_labels(tenant: &str, queue: &str, ch: Channel) -> Vec<Label> {
    vec![
        Label::new("tenant", tenant.to_string()),
        Label::new("queue", queue.to_string()),
        Label::new("channel", ch.as_str()),
    ]
}

fn q_labels(tenant: &str, queue: &str) -> Vec<Label> {
    vec![
        Label::new("tenant", tenant.to_string()),
        Label::new("queue", queue.to_string()),
    ]
}

fn agent_labels(tenant: &str, agent: &str) -> Vec<Label> {
    vec![
        Label::new("tenant", tenant.to_string()),
        Label::new("agent", agent.to_string()),
    ]
}

/// Raise `last` to `cur` and return by how much (never negative).
fn advance(last: &mut u64, cur: u64) -> u64 {
    let d = cur.saturating_sub(*last);
    *last = (*last).max(cur);
    d
}

/// What one partition has published so far, per series.
#[derive(Debug, Clone)]
struct QueueMark {
    counters: [u64; QUEUE_COUNTERS.len()],
    volume: Volume,
}

impl QueueMark {
    fn of(c: &QueueCounters, v: &Volume) -> Self {
        QueueMark {
            counters: QUEUE_COUNTERS.map(|(_, _, field)| field(c)),
            volume: v.clone(),
        }
    }
}

/// Publishes one partition's counters and histograms (see the module docs).
#[derive(Debug, Default)]
pub struct PartitionPublisher {
    /// The processing counters published so far (`PROCESSING_COUNTERS`).
    processing: [u64; PROCESSING_COUNTERS.len()],
    queues: HashMap<(String, String, Channel), QueueMark>,
    agents: HashMap<(String, String), [u64; AGENT_COUNTERS.len()]>,
    /// How operators are labelled (`export.agent_metrics`); per-agent
    /// series are not exported at all in `aggregate` and `off`.
    privacy: AgentPrivacy,
}

impl PartitionPublisher {
    /// Baseline = `view`: only growth beyond it is exported. The engine's
    /// sample tap must be turned on at the same point (a partition going
    /// live after its restore takes its restored view, so nothing of the
    /// replayed history is exported).
    pub fn with_baseline(view: &View) -> Self {
        let mut p = Self {
            processing: PROCESSING_COUNTERS.map(|(_, field)| field(&view.processing())),
            ..Self::default()
        };
        for (t, tv) in &view.tenants {
            for ((queue, ch), q) in &tv.queues {
                p.queues.insert(
                    (t.clone(), queue.clone(), *ch),
                    QueueMark::of(&q.total.c, &q.volume),
                );
            }
        }
        for (t, id, c) in agent_totals(view) {
            p.agents.insert(
                (t.to_string(), id.to_string()),
                std::array::from_fn(|i| (AGENT_COUNTERS[i].1)(c)),
            );
        }
        p
    }

    /// Baseline zero: export everything the engine ever folded (replay,
    /// where the whole file is "live"). Turn the sample tap on before the
    /// first event.
    pub fn from_zero() -> Self {
        Self::default()
    }

    /// Label operators as `privacy` says ([`Self::publish_to`] takes it
    /// from the shared state instead).
    pub fn with_privacy(mut self, privacy: AgentPrivacy) -> Self {
        self.privacy = privacy;
        self
    }

    /// One tick: histograms from the publication's samples, counters from
    /// its view.
    pub fn publish(&mut self, p: &Publication) {
        self.publish_samples(&p.samples);
        self.publish_counters(&p.view);
    }

    /// [`Self::publish`], then hand the view to the shared state.
    pub fn publish_to(&mut self, p: Publication, state: &ExportState, key: &PartitionKey) {
        self.privacy = state.agent_privacy();
        self.publish(&p);
        state.publish_view(key, Arc::new(p.view), p.last_event_ms);
    }

    /// Record duration samples into their histograms: one series lookup
    /// per series (the fold groups samples by series), then one record
    /// per sample.
    pub fn publish_samples(&mut self, samples: &[LabelledSeries]) {
        for s in samples {
            let h = match s.kind {
                SampleKind::Queue(k) => Some(recorder::histogram(
                    hist_family(k),
                    qc_labels(&s.tenant, &s.label, s.channel),
                )),
                SampleKind::AgentHandle => self.privacy.label(&s.label).map(|agent| {
                    recorder::histogram(
                        &catalog::AGENT_HANDLE_TIME,
                        agent_labels(&s.tenant, &agent),
                    )
                }),
            };
            if let Some(h) = h {
                for &ms in &s.ms {
                    h.record(ms.max(0) as f64 / 1000.0);
                }
            }
        }
    }

    /// Increment the fold's own counters of the partition's input `topic`
    /// by their growth since the last publish (the series exist at 0 from
    /// the start: `ProcessorSeriesRegistered`).
    pub fn publish_processing(&mut self, topic: &str, p: &ProcessingStats) {
        for (last, (family, field)) in self.processing.iter_mut().zip(PROCESSING_COUNTERS) {
            let d = advance(last, field(p));
            if d > 0 {
                recorder::add(family, vec![Label::new("topic", topic.to_string())], d);
            }
        }
    }

    /// Increment every counter by its growth since the last publish.
    pub fn publish_counters(&mut self, view: &View) {
        let queues = view
            .tenants
            .iter()
            .flat_map(|(t, tv)| tv.queues.iter().map(move |k| (t, k)));
        for (tenant, ((queue, ch), q)) in queues {
            // A queue x channel's series all exist (at 0) from its first
            // appearance: a ratio over a series that does not exist yet is
            // silently empty in PromQL, not 0.
            let key = (tenant.clone(), queue.clone(), *ch);
            let fresh = !self.queues.contains_key(&key);
            let mark = self
                .queues
                .entry(key)
                .or_insert_with(|| QueueMark::of(&QueueCounters::default(), &Volume::default()));
            for (last, (family, action, field)) in mark.counters.iter_mut().zip(QUEUE_COUNTERS) {
                let d = advance(last, field(&q.total.c));
                if d > 0 || fresh {
                    let mut labels = qc_labels(tenant, queue, *ch);
                    if let Some(a) = action {
                        labels.push(Label::new("action", a));
                    }
                    recorder::add(family, labels, d);
                }
            }
            let volume = |f: &Family,
                          last: &mut [u64],
                          cur: &[u64],
                          label: &'static str,
                          values: &[&'static str]| {
                for ((l, &c), &v) in last.iter_mut().zip(cur).zip(values) {
                    let d = advance(l, c);
                    if d > 0 || fresh {
                        let mut labels = q_labels(tenant, queue);
                        labels.push(Label::new(label, v));
                        recorder::add(f, labels, d);
                    }
                }
            };
            let (mv, qv) = (&mut mark.volume, &q.volume);
            volume(
                &catalog::VOLUME_BY_HOUR,
                &mut mv.by_hour,
                &qv.by_hour,
                "hour",
                &HOURS,
            );
            volume(
                &catalog::VOLUME_BY_WEEKDAY,
                &mut mv.by_weekday,
                &qv.by_weekday,
                "weekday",
                &WEEKDAYS,
            );
            volume(
                &catalog::VOLUME_BY_MONTH,
                &mut mv.by_month,
                &qv.by_month,
                "month",
                &MONTHS,
            );
        }
        for (tenant, id, c) in agent_totals(view) {
            let mark = self
                .agents
                .entry((tenant.to_string(), id.to_string()))
                .or_default();
            // The marks move in every mode: switching modes never exports
            // history twice.
            let label = self.privacy.label(id);
            for (last, (family, field)) in mark.iter_mut().zip(AGENT_COUNTERS) {
                let d = advance(last, field(c));
                if let (true, Some(agent)) = (d > 0, &label) {
                    recorder::add(family, agent_labels(tenant, agent), d);
                }
            }
        }
    }
}

/// Each agent's cumulative counters by tenant and label: own series, then
/// the agents past the cap folded into `other`.
fn agent_totals(view: &View) -> impl Iterator<Item = (&str, &str, &AgentCounters)> {
    view.tenants.iter().flat_map(|(t, tv)| {
        tv.agents
            .iter()
            .filter(|(_, a)| a.own_stats)
            .map(move |(id, a)| (t.as_str(), id.as_str(), &a.total.c))
            .chain(
                tv.other_agents
                    .iter()
                    .map(move |(_, total)| (t.as_str(), OTHER, &total.c)),
            )
    })
}

/// Gauges set this tick, so the ones that vanish are zeroed once (and then
/// expire, see [`recorder`]).
#[derive(Debug, Default)]
struct Gauges {
    prev: HashSet<Key>,
    cur: HashSet<Key>,
}

impl Gauges {
    fn set(&mut self, f: &Family, labels: Vec<Label>, v: f64) {
        let key = Key::from_parts(f.name, labels);
        recorder::set_gauge(&key, if v.is_finite() { v } else { 0.0 });
        self.cur.insert(key);
    }

    fn finish(&mut self) {
        for k in self.prev.difference(&self.cur) {
            recorder::set_gauge(k, 0.0);
        }
        std::mem::swap(&mut self.prev, &mut self.cur);
        self.cur.clear();
    }
}

/// The export tick's publisher (see the module docs).
#[derive(Debug, Default)]
pub struct InstancePublisher {
    gauges: Gauges,
    /// Agent state time published as leader, by (agent, state); `None`
    /// while not leader (the baseline is taken on becoming leader).
    directory: Option<HashMap<(String, String, AgentState), u64>>,
    /// Export the directory's history too on first becoming leader (replay).
    from_zero: bool,
}

impl InstancePublisher {
    /// For a live instance: agent state time is exported from the moment
    /// this instance becomes leader.
    pub fn new() -> Self {
        Self::default()
    }

    /// For replay: agent state time since the start of the log.
    pub fn from_zero() -> Self {
        InstancePublisher {
            from_zero: true,
            ..Self::default()
        }
    }

    /// One tick at the state's clock (the wall clock).
    pub fn tick(&mut self, state: &ExportState) {
        self.tick_at(state, state.now_ms());
    }

    /// One tick at `now_ms` (Unix ms: watermark lag, the figures' age, and
    /// kept figures' grace).
    pub fn tick_at(&mut self, state: &ExportState, now_ms: Millis) {
        let started = Instant::now();
        state.drop_expired_at(now_ms);
        let partitions = state.partitions();
        let figures = state.gauge_figures_at(now_ms);
        let privacy = figures.agent_privacy;
        let view = figures.view;
        self.queue_gauges(&view);
        if privacy.mode() == AgentMetrics::Aggregate {
            self.operator_gauges(&view);
        }
        let live = partitions
            .iter()
            .any(|(_, e)| e.status == PartitionStatus::Live && e.view.is_some());
        if state.is_leader() && live {
            self.directory(&view, &privacy);
        } else if !state.is_leader() {
            self.directory = None;
        }
        let g = &mut self.gauges;
        for (k, e) in &partitions {
            let labels = || {
                vec![
                    Label::new("topic", k.topic.clone()),
                    Label::new("partition", k.partition.to_string()),
                ]
            };
            // Unknown until the pipeline's first report: no series.
            if let Some(lag) = e.lag {
                g.set(&catalog::CONSUMER_LAG, labels(), lag as f64);
            }
            g.set(&catalog::RESTORE_PROGRESS, labels(), e.status.progress());
            if let (PartitionStatus::Live, Some(wm)) =
                (e.status, e.view.as_ref().and_then(|v| v.as_of))
            {
                let lag_ms = now_ms.saturating_sub(wm).max(0);
                g.set(&catalog::WATERMARK_LAG, labels(), lag_ms as f64 / 1000.0);
            }
            if let Some(t) = e.last_event_ms {
                g.set(&catalog::LAST_EVENT_TIME, labels(), t as f64 / 1000.0);
            }
        }
        g.set(
            &catalog::PARTITIONS_ASSIGNED,
            vec![],
            partitions.len() as f64,
        );
        let fresh = &figures.freshness;
        if let Some(age) = fresh.age_seconds {
            g.set(&catalog::FIGURES_AGE, vec![], age);
        }
        g.set(
            &catalog::FIGURES_STALE,
            vec![],
            if fresh.stale { 1.0 } else { 0.0 },
        );
        let kept = fresh.partitions.iter().filter(|p| p.stale).count();
        g.set(&catalog::PARTITIONS_KEPT, vec![], kept as f64);
        g.set(
            &catalog::BUILD_INFO,
            vec![Label::new("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
        g.finish();
        recorder::histogram(&catalog::EXPORT_TICK, vec![]).record(started.elapsed().as_secs_f64());
    }

    fn queue_gauges(&mut self, view: &View) {
        let g = &mut self.gauges;
        let queues = view
            .tenants
            .iter()
            .flat_map(|(t, tv)| tv.queues.iter().map(move |k| (t, k)));
        for (tenant, ((queue, ch), q)) in queues {
            let l = || qc_labels(tenant, queue, *ch);
            g.set(&catalog::WAITING, l(), q.waiting as f64);
            g.set(
                &catalog::OLDEST_WAITING_AGE,
                l(),
                q.oldest_waiting_age_ms.unwrap_or(0) as f64 / 1000.0,
            );
            g.set(&catalog::CONCURRENT, l(), q.concurrent as f64);
            g.set(&catalog::SLA_RUNNING, l(), q.sla_running as f64);
            g.set(&catalog::SLA_AT_RISK, l(), q.sla_at_risk as f64);
            for (w, p) in view.windows.iter().zip(&q.windows) {
                let l = || {
                    let mut l = qc_labels(tenant, queue, *ch);
                    l.push(Label::new("window", w.name.clone()));
                    l
                };
                let c = &p.c;
                let n = |v: u64| v as f64;
                let s = |ms: u64| ms as f64 / 1000.0;
                g.set(&catalog::WINDOW_OFFERED, l(), n(c.offered));
                g.set(&catalog::WINDOW_ANSWERED, l(), n(c.answered));
                g.set(
                    &catalog::WINDOW_ANSWERED_WITHIN_SL,
                    l(),
                    n(c.answered_within_sl),
                );
                g.set(&catalog::WINDOW_ABANDONED, l(), n(c.abandoned));
                g.set(
                    &catalog::WINDOW_ABANDONED_WITHIN_SL,
                    l(),
                    n(c.abandoned_within_sl),
                );
                g.set(&catalog::WINDOW_SHORT_ABANDONED, l(), n(c.short_abandoned));
                g.set(&catalog::WINDOW_HANDLED, l(), n(c.handled));
                g.set(&catalog::WINDOW_HANDLE_SECONDS, l(), s(c.handle_ms));
                g.set(
                    &catalog::WINDOW_QUEUE_WAIT_SECONDS,
                    l(),
                    s(p.h[HistKind::QueueWait as usize].sum_ms()),
                );
                g.set(&catalog::WINDOW_RESOLVED, l(), n(c.resolved));
                g.set(&catalog::WINDOW_SLA_BREACHES, l(), n(c.sla_breaches));
                g.set(
                    &catalog::WINDOW_PEAK_CONCURRENT,
                    l(),
                    n(p.peak_concurrent.max(q.concurrent)),
                );
                if let Some(r) = required_agents(c, &q.settings, w) {
                    g.set(&catalog::WINDOW_REQUIRED_AGENTS, l(), r as f64);
                }
            }
        }
    }

    /// `aggregate`: per queue, the distributions of operator figures
    /// (see [`super::privacy::operator_distributions`]).
    fn operator_gauges(&mut self, view: &View) {
        let g = &mut self.gauges;
        let all = operator_distributions(view);
        let queues = all
            .iter()
            .flat_map(|(t, qs)| qs.iter().map(move |(q, ops)| ((t, q), ops)));
        for ((tenant, queue), ops) in queues {
            g.set(
                &catalog::QUEUE_OPERATORS,
                q_labels(tenant, queue),
                ops.operators as f64,
            );
            for (family, spread) in [
                (&catalog::QUEUE_OPERATOR_CLOSURES, &ops.closures),
                (&catalog::QUEUE_OPERATOR_AHT, &ops.aht_seconds),
                (&catalog::QUEUE_OPERATOR_OCCUPANCY, &ops.occupancy),
                (&catalog::QUEUE_OPERATOR_CSAT, &ops.csat),
            ] {
                for (stat, v) in spread.iter().flat_map(|s| s.stats()) {
                    let mut labels = q_labels(tenant, queue);
                    labels.push(Label::new("stat", stat));
                    g.set(family, labels, v);
                }
            }
        }
    }

    /// Leader only: agents per queue and state (gauge), and agent state
    /// time (counter, by delta against the baseline taken on becoming
    /// leader) under the operators' labels (`privacy`; none in `aggregate`
    /// and `off`).
    fn directory(&mut self, view: &View, privacy: &AgentPrivacy) {
        let mut per_queue: HashMap<(&str, &str), [u64; 5]> = HashMap::new();
        for (t, tv) in &view.tenants {
            for (q, _) in tv.queues.keys() {
                per_queue.entry((t.as_str(), q.as_str())).or_default();
            }
            for a in tv.agents.values() {
                if let Some(s) = a.state {
                    for q in &a.queues {
                        per_queue.entry((t.as_str(), q.as_str())).or_default()[s.index()] += 1;
                    }
                }
            }
        }
        for ((t, q), counts) in per_queue {
            for s in AgentState::ALL {
                let mut labels = q_labels(t, q);
                labels.push(Label::new("state", s.as_str()));
                self.gauges
                    .set(&catalog::AGENTS, labels, counts[s.index()] as f64);
            }
        }

        let from_zero = std::mem::take(&mut self.from_zero);
        let fresh = self.directory.is_none();
        let last = self.directory.get_or_insert_with(HashMap::new);
        for (tenant, id, c) in agent_totals(view) {
            let label = privacy.label(id);
            for s in WORK_STATES {
                let cur = state_ms(c, s);
                let mark = last
                    .entry((tenant.to_string(), id.to_string(), s))
                    .or_insert(0);
                if fresh && !from_zero {
                    *mark = cur;
                    continue;
                }
                let d = advance(mark, cur);
                if let (true, Some(agent)) = (d > 0, &label) {
                    recorder::add(
                        &catalog::AGENT_STATE_SECONDS,
                        {
                            let mut labels = agent_labels(tenant, agent);
                            labels.push(Label::new("state", s.as_str()));
                            labels
                        },
                        d,
                    );
                }
            }
        }
    }
}

/// Run [`InstancePublisher::tick`] every `every` until `shutdown` fires,
/// with the exporter's upkeep after each tick.
pub async fn run_ticks(
    state: Arc<ExportState>,
    metrics: MetricsHandle,
    every: Duration,
    mut publisher: InstancePublisher,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = interval.tick() => {}
        }
        let (st, m) = (state.clone(), metrics.clone());
        // The tick is CPU work (merging views): keep it off the I/O threads.
        let done = tokio::task::spawn_blocking(move || {
            publisher.tick(&st);
            m.run_upkeep();
            publisher
        })
        .await;
        publisher = match done {
            Ok(p) => p,
            Err(e) => {
                error!(error = %e, "export tick failed; continuing with a fresh publisher");
                InstancePublisher::new()
            }
        };
    }
    debug!("export tick stopped");
}

/// Processor counters for a replay (the pipeline records these itself as
/// it goes): `records` read and what the engine did with them.
pub fn publish_processing_totals(topic: &str, records: u64, p: &ProcessingStats) {
    let t = || vec![Label::new("topic", topic.to_string())];
    recorder::add(&catalog::EVENTS_CONSUMED, t(), records);
    recorder::add(&catalog::EVENTS_APPLIED, t(), p.events_applied);
    recorder::add(&catalog::EVENTS_DUPLICATE, t(), p.duplicates);
    recorder::add(&catalog::EVENTS_LATE, t(), p.late);
    recorder::add(&catalog::EVENTS_ORPHANED, t(), p.orphaned);
    for (family, field) in PROCESSING_COUNTERS {
        recorder::add(family, t(), field(p));
    }
}

/// The fold's own counters the pipeline does not report with each batch:
/// exported from the partition's views ([`PartitionPublisher::publish_processing`])
/// and by a replay ([`publish_processing_totals`]).
#[allow(clippy::type_complexity)]
const PROCESSING_COUNTERS: [(&Family, fn(&ProcessingStats) -> u64); 4] = [
    (&catalog::EVENTS_LATE_BEYOND_WINDOW, |p| {
        p.late_beyond_window
    }),
    (&catalog::FCR_RETRACTIONS_BEYOND_WINDOW, |p| {
        p.fcr_retractions_beyond_window
    }),
    (&catalog::EVENTS_PARKED_EXPIRED, |p| p.parked_expired),
    (&catalog::EVENTS_PARKED_OVERFLOW, |p| p.parked_overflow),
];
