//! What the pipeline, the export tick and the HTTP server share: each
//! assigned partition's latest [`View`] and status, the last figures of
//! revoked partitions, the leader flag, and the inputs of readiness.
//!
//! Partition tasks write (one entry each, so writers do not contend);
//! the tick and HTTP handlers read, and merge the partitions' views into
//! one instance view ([`ExportState::figures`]).
//!
//! # Figures through a revocation
//! A revoked partition's last view is *kept* ([`ExportState::remove_partition`])
//! and still served, marked stale, until the same partition is assigned and
//! publishes again here, or `export.revoked_grace` (default 5 min) has
//! passed since the revocation. So when a broker outage times the session
//! out and every partition is revoked, the snapshot, the SSE stream and the
//! wallboard keep the last known figures, with their age, instead of zeros.
//! Kept views only feed views and gauges: counters are exported by the
//! partition publishers of live partitions (see [`super::publish`]), which a
//! revoked partition no longer has.
//!
//! Which kept views count where:
//! - the snapshot, the stream and the wallboard ([`ExportState::figures`]):
//!   every kept view within its grace;
//! - the gauges of the export tick ([`ExportState::gauge_figures_at`]): a kept
//!   view only while no other instance can own its partition: this instance
//!   has no partition assigned at all (an outage: the group is gone), or the
//!   partition is assigned here again (restoring). Once this instance holds
//!   an assignment without it, another instance owns it and will export it,
//!   and Prometheus sums gauges across instances: counting it here too would
//!   count it twice.
//!
//! In a merge the live views come first, and when there is one, the
//! replicated agent directory (agents by state, an agent's state and
//! queues) is taken from the live views only: a kept view's directory is
//! older than any live one's.
//!
//! # Freshness
//! [`Freshness`] says whether the figures served are updating: they are
//! *fresh* when at least one live partition contributes and no kept view
//! does, and *stale* otherwise (kept views served, or nothing live at all),
//! with the reason, and their age: wall-clock time since the newest publish
//! (`ccpulse_figures_age_seconds`).
//!
//! # Readiness
//! Ready iff the pipeline started, at least one partition is assigned, and
//! every assigned partition is restored, live, and has had its first lag
//! report (librdkafka knows a partition's end only after its first fetch:
//! until then the partition has not really started consuming). How large
//! the lag is does not matter: a traffic burst must not make every
//! instance unready at once (the wallboard would vanish exactly when it is
//! needed, and node drains would block). Lag is a metric
//! (`ccpulse_consumer_lag`) with alerts (`ConsumerLagGrowing`,
//! `RestoreNotFinishing` for a restore that does not end).
//!
//! # Time
//! Wall-clock times (publishes, revocations) come from the state's
//! [`Clock`]: the system clock, or a [`ManualClock`] in tests.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use serde::Serialize;
use tracing::info;

use ccpulse_core::engine::{Snapshot, StateCounts, View};
use ccpulse_core::event::{Channel, Millis};

use super::access::{Access, Role, Scope};
use super::privacy::{operator_distributions, AgentMetrics, AgentPrivacy, OperatorDistributions};
use super::settings::ExportConfig;
use crate::telemetry::{PartitionStatus, RestoreReport};

/// An input partition: `(topic, partition)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PartitionKey {
    pub topic: String,
    pub partition: i32,
}

impl PartitionKey {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        PartitionKey {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// Where wall-clock time (Unix ms) comes from.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Millis + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Arc::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as Millis)
        }))
    }

    /// Any function of nothing returning Unix ms.
    pub fn new(now_ms: impl Fn() -> Millis + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now_ms))
    }

    pub fn now_ms(&self) -> Millis {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// A clock that moves only when told: for tests.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start_ms: Millis) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start_ms)))
    }

    pub fn now_ms(&self) -> Millis {
        self.0.load(Ordering::Acquire)
    }

    pub fn set(&self, ms: Millis) {
        self.0.store(ms, Ordering::Release);
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as Millis, Ordering::AcqRel);
    }

    /// A [`Clock`] reading this one.
    pub fn clock(&self) -> Clock {
        let c = self.0.clone();
        Clock::new(move || c.load(Ordering::Acquire))
    }
}

/// One assigned partition's entry.
#[derive(Debug, Clone)]
pub struct PartitionEntry {
    pub status: PartitionStatus,
    /// The latest published view (`None` until the first publish).
    pub view: Option<Arc<View>>,
    /// Records between the high watermark and the next offset to process;
    /// `None` until the pipeline reports it (not ready meanwhile).
    pub lag: Option<u64>,
    /// Newest event time seen.
    pub last_event_ms: Option<Millis>,
    /// Wall clock (Unix ms) of the latest publish.
    pub published_at_ms: Option<Millis>,
    /// How its restore went (`None` while restoring).
    pub restored: Option<RestoreReport>,
}

/// A revoked partition's last figures, kept for `revoked_grace`.
#[derive(Debug, Clone)]
pub struct KeptEntry {
    pub view: Arc<View>,
    /// Wall clock (Unix ms) of its last publish.
    pub published_at_ms: Millis,
    /// Wall clock (Unix ms) of the revocation.
    pub revoked_at_ms: Millis,
}

/// No publish yet.
const NEVER: Millis = Millis::MIN;

/// Shared export state; wrap it in an `Arc`.
#[derive(Debug)]
pub struct ExportState {
    partitions: DashMap<PartitionKey, PartitionEntry>,
    kept: DashMap<PartitionKey, KeptEntry>,
    leader: AtomicBool,
    started: AtomicBool,
    revoked_grace_ms: AtomicU64,
    /// Newest publish of any partition (Unix ms), [`NEVER`] before the first.
    newest_publish_ms: AtomicI64,
    /// Counts publishes: the SSE stream pushes new figures at once instead
    /// of at its next tick.
    published: tokio::sync::watch::Sender<u64>,
    clock: Clock,
    /// `export.agent_metrics`: applied to every snapshot served and to the
    /// per-agent series (see [`super::privacy`]).
    agent_privacy: std::sync::RwLock<AgentPrivacy>,
}

/// Readiness and why, as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// Why not ready (`null` when ready), e.g. `"no partitions assigned"`.
    pub reason: Option<String>,
    /// The pipeline said it started (consumer up, assignment received).
    pub started: bool,
    /// Every assigned partition, ordered by topic and partition.
    pub partitions: Vec<PartitionReadiness>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionReadiness {
    pub topic: String,
    pub partition: i32,
    #[serde(flatten)]
    pub status: PartitionStatus,
    pub progress: f64,
    /// Consumer lag (records); `null` until the pipeline first reports it.
    /// Informational: only an unknown lag keeps a partition unready.
    pub lag: Option<u64>,
    /// How it was restored: `{"path": {"from": "checkpoint", "id", "bytes"}
    /// | {"from": "replay"}, "records", "millis"}`; `null` while restoring.
    pub restored: Option<RestoreReport>,
    pub ready: bool,
    /// Why not ready (`null` when ready).
    pub reason: Option<String>,
}

/// Where a served partition's figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FigureSource {
    /// Assigned and live: its latest publish.
    Live,
    /// Assigned again and restoring: its figures from before the revocation.
    Restoring,
    /// Revoked: its last figures, until `revoked_grace` ends.
    Revoked,
}

/// Whether the figures served are updating, and since when they are not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Freshness {
    /// Not every figure served is updating: a revoked partition's kept
    /// figures are among them, or no live partition contributes at all.
    pub stale: bool,
    /// Why stale (`null` when fresh).
    pub reason: Option<String>,
    /// Wall clock of the newest publish of figures (RFC 3339, UTC); `null`
    /// before the first.
    pub published_at: Option<String>,
    pub published_at_ms: Option<Millis>,
    /// Seconds since `published_at` (`ccpulse_figures_age_seconds`).
    pub age_seconds: Option<f64>,
    /// The partitions whose figures are served, ordered.
    pub partitions: Vec<PartitionFreshness>,
}

/// One served partition's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionFreshness {
    pub topic: String,
    pub partition: i32,
    pub source: FigureSource,
    /// Its figures are not updating (`source` is not `live`).
    pub stale: bool,
    pub published_at: String,
    pub published_at_ms: Millis,
    pub age_seconds: f64,
    /// Kept figures: seconds until they are dropped (`export.revoked_grace`)
    /// unless the partition publishes here again first.
    pub dropped_in_seconds: Option<f64>,
    /// Wall clock minus its event-time watermark, as
    /// `ccpulse_watermark_lag_seconds` (`null` before its first event).
    pub watermark_lag_seconds: Option<f64>,
    /// Event time between its newest event and its watermark: how far its
    /// ordered figures trail its provisional ones (0 when nothing waits
    /// for the watermark; `null` before its first event).
    pub provisional_lead_seconds: Option<f64>,
}

/// The merged figures and their freshness, as served.
#[derive(Debug, Clone)]
pub struct Figures {
    pub view: View,
    pub freshness: Freshness,
    /// How operators appear in the snapshot served from these figures.
    pub agent_privacy: AgentPrivacy,
}

/// The snapshot JSON: the merged [`Snapshot`] plus its `freshness`, with
/// operators shown as `export.agent_metrics` says (`agent_privacy`).
#[derive(Debug, Clone, Serialize)]
pub struct ServedSnapshot {
    #[serde(flatten)]
    pub snapshot: Snapshot,
    pub freshness: Freshness,
    /// `full` or `pseudonymous`: `agents` lists operators (by id or
    /// pseudonym); `aggregate`: `agents` is empty and `operators` holds
    /// per-queue distributions; `off`: `agents` is empty.
    pub agent_privacy: AgentMetrics,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operators: Option<OperatorDistributions>,
}

/// Show operators in `snap` (and its provisional figures) as `privacy` says.
fn apply_privacy(snap: &mut Snapshot, privacy: &AgentPrivacy) {
    if privacy.per_operator() {
        for a in &mut snap.agents {
            if let Some(label) = privacy.label(&a.agent) {
                a.agent = label.into_owned();
            }
        }
    } else {
        snap.agents.clear();
    }
    if privacy.mode() == AgentMetrics::Off {
        snap.center.other_agents = None;
    }
    if let Some(p) = snap.provisional.as_mut() {
        apply_privacy(p, privacy);
    }
}

impl Figures {
    /// The figures a reader with `access` sees: its tenants' only (the
    /// others' queues, agents, counters and watermarks are gone before
    /// anything is derived), operators by id for a supervisor, else as
    /// `export.agent_metrics` says.
    pub fn for_access(mut self, access: &Access) -> Figures {
        if access.scope != Scope::All {
            self.view = self.view.scoped(|t| access.scope.allows(t));
        }
        if access.role == Role::Supervisor {
            self.agent_privacy = AgentPrivacy::full();
        }
        self
    }

    /// The snapshot of the queues that pass `queue` and `channel` (all
    /// when `None`); freshness is about partitions and is not filtered.
    pub fn snapshot(mut self, queue: Option<&str>, channel: Option<Channel>) -> ServedSnapshot {
        let keep = |(q, ch): &(String, Channel)| {
            queue.is_none_or(|want| want == q.as_str()) && channel.is_none_or(|c| c == *ch)
        };
        for t in self.view.tenants.values_mut() {
            t.queues.retain(|k, _| keep(k));
        }
        if let Some(p) = self.view.provisional.as_mut() {
            for t in Arc::make_mut(p).tenants.values_mut() {
                t.queues.retain(|k, _| keep(k));
            }
        }
        let operators = (self.agent_privacy.mode() == AgentMetrics::Aggregate).then(|| {
            let mut d = operator_distributions(&self.view);
            for qs in d.values_mut() {
                qs.retain(|q, _| queue.is_none_or(|want| want == q.as_str()));
            }
            d
        });
        let mut snapshot = self.view.snapshot();
        apply_privacy(&mut snapshot, &self.agent_privacy);
        ServedSnapshot {
            snapshot,
            freshness: self.freshness,
            agent_privacy: self.agent_privacy.mode(),
            operators,
        }
    }
}

/// One partition's contribution to a merge.
struct Part {
    key: PartitionKey,
    source: FigureSource,
    view: Arc<View>,
    published_at_ms: Millis,
    /// Kept: when it was revoked. Restoring: also its progress.
    revoked_at_ms: Option<Millis>,
    progress: Option<f64>,
}

/// The partitions whose figures are served at one moment.
struct Parts {
    now_ms: Millis,
    grace_ms: Millis,
    newest_publish_ms: Option<Millis>,
    /// Nothing is assigned to this instance.
    unassigned: bool,
    /// Some partition is assigned (restoring) but none live with figures.
    assigned_not_live: bool,
    /// Live first, then kept; each in partition order.
    parts: Vec<Part>,
}

impl Default for ExportState {
    fn default() -> Self {
        Self::new()
    }
}

impl ExportState {
    /// The system clock; the settings at their defaults until
    /// [`Self::configure`].
    pub fn new() -> Self {
        Self::with_clock(Clock::system())
    }

    /// [`Self::new`] reading time from `clock`.
    pub fn with_clock(clock: Clock) -> Self {
        ExportState {
            partitions: DashMap::new(),
            kept: DashMap::new(),
            leader: AtomicBool::new(false),
            started: AtomicBool::new(false),
            revoked_grace_ms: AtomicU64::new(
                ExportConfig::default().revoked_grace.as_millis() as u64
            ),
            newest_publish_ms: AtomicI64::new(NEVER),
            published: tokio::sync::watch::Sender::new(0),
            clock,
            agent_privacy: std::sync::RwLock::new(AgentPrivacy::full()),
        }
    }

    /// Publishes from now on: `changed()` resolves after the next publish
    /// of any partition (publishes between two looks coalesce).
    pub fn publishes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// Apply the `[export]` settings it reads (`revoked_grace`,
    /// `agent_metrics`); [`super::run`] does this on start.
    pub fn configure(&self, cfg: &ExportConfig) {
        self.set_revoked_grace(cfg.revoked_grace);
        self.set_agent_privacy(cfg.agent_privacy.clone());
    }

    /// How operators appear outside the process from now on.
    pub fn set_agent_privacy(&self, privacy: AgentPrivacy) {
        *self
            .agent_privacy
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = privacy;
    }

    /// `export.agent_metrics` as configured ([`AgentPrivacy::full`] until
    /// [`Self::configure`]).
    pub fn agent_privacy(&self) -> AgentPrivacy {
        self.agent_privacy
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Wall clock, Unix ms.
    pub fn now_ms(&self) -> Millis {
        self.clock.now_ms()
    }

    /// The pipeline is up (before this, the instance is never ready).
    pub fn set_started(&self, started: bool) {
        self.started.store(started, Ordering::Release);
    }

    /// This instance owns input partition 0, so it exports the replicated
    /// agent directory (`ccpulse_agents`, `ccpulse_agent_state_seconds_total`).
    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Release);
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }

    /// How long a revoked partition's last figures are still served.
    pub fn set_revoked_grace(&self, grace: Duration) {
        self.revoked_grace_ms
            .store(grace.as_millis() as u64, Ordering::Release);
    }

    fn grace_ms(&self) -> Millis {
        self.revoked_grace_ms
            .load(Ordering::Acquire)
            .min(Millis::MAX as u64) as Millis
    }

    /// Register an assigned partition or change its status. A partition
    /// assigned again keeps serving its kept figures until it publishes.
    pub fn set_status(&self, key: &PartitionKey, status: PartitionStatus) {
        let replaces_kept = {
            let e = self
                .partitions
                .entry(key.clone())
                .and_modify(|e| e.status = status)
                .or_insert_with(|| PartitionEntry {
                    status,
                    view: None,
                    lag: None,
                    last_event_ms: None,
                    published_at_ms: None,
                    restored: None,
                });
            status == PartitionStatus::Live && e.view.is_some()
        };
        if replaces_kept {
            self.kept.remove(key);
        }
    }

    /// Report a partition's consumer lag (records). Until the first report
    /// the lag is unknown and the partition not ready; its size does not
    /// matter to readiness.
    /// How the partition's restore went (checkpoint or replay, records
    /// replayed, time), reported by `/readyz`.
    pub fn set_restored(&self, key: &PartitionKey, report: RestoreReport) {
        if let Some(mut e) = self.partitions.get_mut(key) {
            e.restored = Some(report);
        }
    }

    pub fn set_lag(&self, key: &PartitionKey, lag: u64) {
        if let Some(mut e) = self.partitions.get_mut(key) {
            e.lag = Some(lag);
        }
    }

    /// Publish a partition's latest view. Ignored for unassigned partitions
    /// (a task finishing after its revocation must not resurrect it). A live
    /// partition's publish replaces its kept figures.
    pub fn publish_view(&self, key: &PartitionKey, view: Arc<View>, last_event_ms: Option<Millis>) {
        let now = self.now_ms();
        let live = match self.partitions.get_mut(key) {
            Some(mut e) => {
                e.view = Some(view);
                e.last_event_ms = last_event_ms.filter(|&t| t != Millis::MIN);
                e.published_at_ms = Some(now);
                e.status == PartitionStatus::Live
            }
            None => return,
        };
        self.newest_publish_ms.fetch_max(now, Ordering::AcqRel);
        if live {
            self.kept.remove(key);
        }
        self.published.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The partition was revoked: it is no longer assigned (readiness, the
    /// per-partition gauges), and its last published figures are kept,
    /// stale, for `revoked_grace` (see the module docs).
    pub fn remove_partition(&self, key: &PartitionKey) {
        let Some((_, e)) = self.partitions.remove(key) else {
            return;
        };
        let grace = self.grace_ms();
        if let (Some(view), Some(published_at_ms), true) = (e.view, e.published_at_ms, grace > 0) {
            info!(
                topic = %key.topic,
                partition = key.partition,
                revoked_grace = %humantime::format_duration(Duration::from_millis(grace as u64)),
                "partition revoked: its last figures stay served, marked stale, until it publishes here again or revoked_grace passes"
            );
            self.kept.insert(
                key.clone(),
                KeptEntry {
                    view,
                    published_at_ms,
                    revoked_at_ms: self.now_ms(),
                },
            );
        }
        // Revoked again before publishing again: the figures kept from
        // before stay, with their first revocation time.
    }

    /// Drop kept figures whose grace has passed at `now_ms` (the export
    /// tick calls this; reads skip them anyway).
    pub fn drop_expired_at(&self, now_ms: Millis) {
        let grace = self.grace_ms();
        self.kept.retain(|k, e| {
            let keep = now_ms.saturating_sub(e.revoked_at_ms) < grace;
            if !keep {
                info!(
                    topic = %k.topic,
                    partition = k.partition,
                    "revoked partition's kept figures dropped: revoked_grace passed"
                );
            }
            keep
        });
    }

    /// Every assigned partition, ordered.
    pub fn partitions(&self) -> Vec<(PartitionKey, PartitionEntry)> {
        let mut v: Vec<_> = self
            .partitions
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Every revoked partition whose figures are kept (grace not yet
    /// dropped by [`Self::drop_expired_at`]), ordered.
    pub fn kept(&self) -> Vec<(PartitionKey, KeptEntry)> {
        let mut v: Vec<_> = self
            .kept
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Wall clock of the newest publish (Unix ms).
    pub fn newest_publish_ms(&self) -> Option<Millis> {
        Some(self.newest_publish_ms.load(Ordering::Acquire)).filter(|&t| t != NEVER)
    }

    fn parts_at(&self, now_ms: Millis) -> Parts {
        let grace_ms = self.grace_ms();
        let assigned = self.partitions();
        let mut parts = Vec::new();
        for (k, e) in &assigned {
            if let (PartitionStatus::Live, Some(v), Some(at)) =
                (e.status, &e.view, e.published_at_ms)
            {
                parts.push(Part {
                    key: k.clone(),
                    source: FigureSource::Live,
                    view: v.clone(),
                    published_at_ms: at,
                    revoked_at_ms: None,
                    progress: None,
                });
            }
        }
        let live = parts.len();
        for (k, e) in self.kept() {
            if now_ms.saturating_sub(e.revoked_at_ms) >= grace_ms
                || parts[..live].iter().any(|p| p.key == k)
            {
                continue;
            }
            let again = assigned.iter().find(|(a, _)| *a == k);
            parts.push(Part {
                source: if again.is_some() {
                    FigureSource::Restoring
                } else {
                    FigureSource::Revoked
                },
                progress: again.map(|(_, e)| e.status.progress()),
                key: k,
                view: e.view,
                published_at_ms: e.published_at_ms,
                revoked_at_ms: Some(e.revoked_at_ms),
            });
        }
        Parts {
            now_ms,
            grace_ms,
            newest_publish_ms: self.newest_publish_ms(),
            unassigned: assigned.is_empty(),
            assigned_not_live: !assigned.is_empty() && live == 0,
            parts,
        }
    }

    /// The figures served now: live partitions' latest views and the kept
    /// figures of revoked ones, merged, with their freshness.
    pub fn figures(&self) -> Figures {
        self.figures_at(self.now_ms())
    }

    /// [`Self::figures`] at `now_ms` (Unix ms).
    pub fn figures_at(&self, now_ms: Millis) -> Figures {
        let parts = self.parts_at(now_ms);
        Figures {
            view: parts.merge(|_| true),
            freshness: parts.freshness(),
            agent_privacy: self.agent_privacy(),
        }
    }

    /// What the export tick sets the gauges from at `now_ms`: kept views
    /// only where no other instance can own the partition (module docs).
    pub fn gauge_figures_at(&self, now_ms: Millis) -> Figures {
        let parts = self.parts_at(now_ms);
        let unassigned = parts.unassigned;
        Figures {
            view: parts.merge(|p| unassigned || p.source != FigureSource::Revoked),
            freshness: parts.freshness(),
            agent_privacy: self.agent_privacy(),
        }
    }

    /// The merged view served now ([`Self::figures`] without freshness).
    pub fn merged_view(&self) -> View {
        self.figures().view
    }

    /// Ready iff the pipeline started, some partition is assigned, and
    /// every assigned partition is live with its lag reported (module docs).
    pub fn readiness(&self) -> Readiness {
        let started = self.started.load(Ordering::Acquire);
        let partitions: Vec<PartitionReadiness> = self
            .partitions()
            .into_iter()
            .map(|(k, e)| {
                let reason = match (e.status, e.lag) {
                    (PartitionStatus::Restoring { .. }, _) => {
                        Some(format!("restoring ({:.0}%)", e.status.progress() * 100.0))
                    }
                    (PartitionStatus::Live, None) => {
                        Some("lag unknown: no fetch reported yet".to_string())
                    }
                    (PartitionStatus::Live, Some(_)) => None,
                };
                PartitionReadiness {
                    topic: k.topic,
                    partition: k.partition,
                    status: e.status,
                    progress: e.status.progress(),
                    lag: e.lag,
                    restored: e.restored.clone(),
                    ready: reason.is_none(),
                    reason,
                }
            })
            .collect();
        let reason = if !started {
            Some("pipeline not started".to_string())
        } else if partitions.is_empty() {
            Some("no partitions assigned".to_string())
        } else {
            let not_ready: Vec<String> = partitions
                .iter()
                .filter_map(|p| {
                    p.reason
                        .as_ref()
                        .map(|r| format!("{}/{}: {r}", p.topic, p.partition))
                })
                .collect();
            summarize(not_ready)
        };
        Readiness {
            ready: reason.is_none(),
            reason,
            started,
            partitions,
        }
    }
}

impl Parts {
    /// Merge the parts `include` accepts: live ones first; when there is a
    /// live one, the replicated agent directory is the live views'.
    fn merge(&self, include: impl Fn(&Part) -> bool) -> View {
        let chosen: Vec<&Part> = self.parts.iter().filter(|p| include(p)).collect();
        let any_live = chosen.iter().any(|p| p.source == FigureSource::Live);
        let mut merged = View::default();
        let mut live_directory = None;
        for p in chosen {
            // Live parts come first: at the first kept one, `merged` holds
            // every live view.
            if any_live && p.source != FigureSource::Live && live_directory.is_none() {
                live_directory = Some(Directory::of(&merged));
            }
            merged.merge(&p.view);
        }
        if let Some(d) = live_directory {
            d.restore(&mut merged);
        }
        merged
    }

    fn freshness(&self) -> Freshness {
        let mut partitions: Vec<PartitionFreshness> = self
            .parts
            .iter()
            .map(|p| PartitionFreshness {
                topic: p.key.topic.clone(),
                partition: p.key.partition,
                source: p.source,
                stale: p.source != FigureSource::Live,
                published_at: rfc3339(p.published_at_ms),
                published_at_ms: p.published_at_ms,
                age_seconds: seconds(self.now_ms.saturating_sub(p.published_at_ms).max(0)),
                dropped_in_seconds: p
                    .revoked_at_ms
                    .map(|r| seconds((r + self.grace_ms).saturating_sub(self.now_ms))),
                watermark_lag_seconds: p
                    .view
                    .as_of
                    .map(|wm| seconds(self.now_ms.saturating_sub(wm).max(0))),
                provisional_lead_seconds: provisional_lead_ms(&p.view).map(seconds),
            })
            .collect();
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        let mut why: Vec<String> = self
            .parts
            .iter()
            .filter_map(|p| {
                let left = p.revoked_at_ms.map(|r| {
                    human(
                        (r.saturating_add(self.grace_ms))
                            .saturating_sub(self.now_ms)
                            .max(0),
                    )
                });
                match (p.source, left) {
                    (FigureSource::Live, _) | (_, None) => None,
                    (FigureSource::Revoked, Some(left)) => Some(format!(
                        "{} revoked {} ago, its last figures kept for {left} more",
                        p.key,
                        human(self.now_ms.saturating_sub(p.revoked_at_ms.unwrap_or(0)))
                    )),
                    (FigureSource::Restoring, Some(left)) => Some(format!(
                        "{} restoring ({:.0}%), its figures from before kept for {left} more",
                        p.key,
                        p.progress.unwrap_or(0.0) * 100.0
                    )),
                }
            })
            .collect();
        let any_live = self.parts.iter().any(|p| p.source == FigureSource::Live);
        if !any_live && why.is_empty() {
            why.push(
                if self.unassigned {
                    "no partitions assigned"
                } else if self.assigned_not_live {
                    "no partition live yet"
                } else {
                    "no figures published yet"
                }
                .to_string(),
            );
        } else if !any_live && self.unassigned {
            why.insert(0, "no partitions assigned".to_string());
        }
        let reason = summarize(why);
        Freshness {
            stale: reason.is_some(),
            reason,
            published_at: self.newest_publish_ms.map(rfc3339),
            published_at_ms: self.newest_publish_ms,
            age_seconds: self
                .newest_publish_ms
                .map(|t| seconds(self.now_ms.saturating_sub(t).max(0))),
            partitions,
        }
    }
}

/// The replicated agent directory of a merged view, per tenant.
struct Directory(Vec<(String, TenantDirectory)>);

/// One tenant's part of the directory.
struct TenantDirectory {
    agents_by_state: StateCounts,
    queues: Vec<((String, Channel), StateCounts)>,
    agents: Vec<(String, Option<ccpulse_core::event::AgentState>, Vec<String>)>,
}

impl Directory {
    fn of(v: &View) -> Self {
        Directory(
            v.tenants
                .iter()
                .map(|(t, v)| {
                    let d = TenantDirectory {
                        agents_by_state: v.agents_by_state.clone(),
                        queues: v
                            .queues
                            .iter()
                            .map(|(k, q)| (k.clone(), q.agents.clone()))
                            .collect(),
                        agents: v
                            .agents
                            .iter()
                            .map(|(id, a)| (id.clone(), a.state, a.queues.clone()))
                            .collect(),
                    };
                    (t.clone(), d)
                })
                .collect(),
        )
    }

    fn restore(self, v: &mut View) {
        for (t, d) in self.0 {
            let Some(v) = v.tenants.get_mut(&t) else {
                continue;
            };
            v.agents_by_state = d.agents_by_state;
            for (k, agents) in d.queues {
                if let Some(q) = v.queues.get_mut(&k) {
                    q.agents = agents;
                }
            }
            for (id, state, queues) in d.agents {
                if let Some(a) = v.agents.get_mut(&id) {
                    a.state = state;
                    a.queues = queues;
                }
            }
        }
    }
}

/// Up to three reasons, then how many more; `None` for none.
fn summarize(mut reasons: Vec<String>) -> Option<String> {
    const SHOWN: usize = 3;
    if reasons.is_empty() {
        return None;
    }
    let more = reasons.len().saturating_sub(SHOWN);
    reasons.truncate(SHOWN);
    let mut s = reasons.join("; ");
    if more > 0 {
        s.push_str(&format!("; and {more} more"));
    }
    Some(s)
}

fn seconds(ms: Millis) -> f64 {
    ms as f64 / 1000.0
}

/// Whole seconds, humanly: `"4m 18s"`.
fn human(ms: Millis) -> String {
    humantime::format_duration(Duration::from_secs((ms.max(0) / 1000) as u64)).to_string()
}

/// Unix ms as RFC 3339 UTC with milliseconds.
fn rfc3339(ms: Millis) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// How far a partition's ordered figures trail its newest event (event
/// time, ms): the provisional view is as of just after the newest event.
pub fn provisional_lead_ms(view: &View) -> Option<Millis> {
    let ordered = view.as_of?;
    Some(match view.provisional.as_ref().and_then(|p| p.as_of) {
        Some(now) => (now - 1 - ordered).max(0),
        None => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(s: &ExportState, k: &PartitionKey) {
        s.set_status(k, PartitionStatus::Live);
        s.set_lag(k, 0);
    }

    #[test]
    fn ready_only_when_started_assigned_and_every_partition_is_restored_and_live() {
        let s = ExportState::new();
        let (a, b) = (PartitionKey::new("t", 0), PartitionKey::new("t", 1));
        assert_eq!(
            s.readiness().reason.as_deref(),
            Some("pipeline not started")
        );
        s.set_started(true);
        let r = s.readiness();
        assert!(!r.ready);
        assert_eq!(r.reason.as_deref(), Some("no partitions assigned"));
        s.set_status(&a, PartitionStatus::Restoring { done: 5, total: 20 });
        live(&s, &b);
        let r = s.readiness();
        assert!(!r.ready);
        assert_eq!(r.reason.as_deref(), Some("t/0: restoring (25%)"));
        assert_eq!(r.partitions[0].progress, 0.25);
        assert!(r.partitions[1].ready);
        s.set_status(&a, PartitionStatus::Live);
        let r = s.readiness();
        assert_eq!(r.partitions[0].lag, None);
        assert_eq!(
            r.reason.as_deref(),
            Some("t/0: lag unknown: no fetch reported yet")
        );
        s.set_lag(&a, 3);
        assert!(s.readiness().ready);
        assert_eq!(s.readiness().reason, None);
        // A burst: lag is reported, not gated on.
        s.set_lag(&b, 188_000);
        let r = s.readiness();
        assert!(r.ready, "{r:?}");
        assert_eq!(r.partitions[1].lag, Some(188_000));
        s.remove_partition(&a);
        assert_eq!(s.readiness().partitions.len(), 1);
    }

    #[test]
    fn many_reasons_are_summarized() {
        let r = summarize((0..5).map(|i| i.to_string()).collect());
        assert_eq!(r.as_deref(), Some("0; 1; 2; and 2 more"));
        assert_eq!(summarize(vec![]), None);
    }

    #[test]
    fn merged_view_takes_live_and_kept_partitions() {
        let clock = ManualClock::new(1_000_000);
        let s = ExportState::with_clock(clock.clock());
        s.set_revoked_grace(Duration::from_secs(60));
        let (a, b) = (PartitionKey::new("t", 0), PartitionKey::new("t", 1));
        let view = |open| {
            let t = ccpulse_core::engine::TenantView {
                open_interactions: open,
                ..Default::default()
            };
            Arc::new(View {
                tenants: [("default".to_string(), t)].into(),
                ..View::default()
            })
        };
        s.set_status(&a, PartitionStatus::Live);
        s.set_status(&b, PartitionStatus::Restoring { done: 0, total: 1 });
        s.publish_view(&a, view(2), None);
        s.publish_view(&b, view(3), None);
        assert_eq!(
            s.merged_view().open_interactions(),
            2,
            "restoring stays out"
        );
        s.set_status(&b, PartitionStatus::Live);
        assert_eq!(s.merged_view().open_interactions(), 5);
        s.remove_partition(&a);
        s.publish_view(&a, view(7), None);
        assert_eq!(s.merged_view().open_interactions(), 5, "a's last view kept");
        clock.advance(Duration::from_secs(60));
        assert_eq!(s.merged_view().open_interactions(), 3, "grace passed");
        assert_eq!(s.kept().len(), 1, "until the tick drops it");
        s.drop_expired_at(clock.now_ms());
        assert!(s.kept().is_empty());
    }

    #[test]
    fn a_zero_grace_drops_revoked_figures_at_once() {
        let s = ExportState::new();
        s.set_revoked_grace(Duration::ZERO);
        let a = PartitionKey::new("t", 0);
        s.set_status(&a, PartitionStatus::Live);
        s.publish_view(&a, Arc::new(View::default()), None);
        s.remove_partition(&a);
        assert!(s.kept().is_empty());
        assert!(s.figures().freshness.partitions.is_empty());
    }
}
