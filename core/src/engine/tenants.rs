//! The [`Engine`]: one fold per tenant, behind the API the shells use.
//!
//! The tenant is part of the identity of every queue, agent and figure. An
//! event goes to the fold of its `tenant` (`engine.default_tenant` when it
//! names none); each tenant's fold has its own settings
//! ([`EngineConfig::for_tenant`]: queue settings and SLA policies overlaid
//! per tenant) and its own ordering state (reorder buffer, watermark, dedup
//! set), so folding an interleaved log of several tenants gives each tenant
//! exactly the state of folding its events alone (property test in
//! `engine_properties`). Tenants live in a `BTreeMap`, so every iteration
//! (effects of one advance, views, checkpoints) is in tenant order and
//! deterministic. At most `limits.max_tenants` tenants have their own fold
//! (the default tenant always has one); the rest share the tenant `other`,
//! like queues past `limits.max_queues`.
//!
//! Time: each fold's watermark follows its own events, and
//! [`Engine::advance`] (the shell's idle ticks, restored ticks) moves every
//! fold. A fold created after an advance starts at the newest advance (the
//! engine's `floor`), as if it had existed then, so a tenant's first event
//! is ordered against the partition's time like any other.

use std::collections::BTreeMap;
use std::sync::Arc;

use compact_str::CompactString;

use super::fold::Fold;
use super::settings::EngineConfig;
use super::snapshot::Snapshot;
use super::types::{
    CustomerFact, LabelledSeries, OrphanedEvent, Outcome, ProcessingStats, NONE, OTHER,
};
use super::view::{Publication, TenantView, View};
use crate::event::{Effect, Event, Millis};

/// The fold of a partition's events, one per tenant. See the module docs.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(super) cfg: EngineConfig,
    pub(super) units: BTreeMap<CompactString, Fold>,
    /// The newest watermark given to [`Engine::advance`]; new folds start
    /// there.
    pub(super) floor: Millis,
    pub(super) tap: bool,
    /// Decisions installed before a restore, for folds created later.
    pub(super) recorded: Vec<Effect>,
    /// Customer facts are handed out, not decided here
    /// ([`Engine::route_customer_facts`]).
    pub(super) route_facts: bool,
    /// Orphaned events are collected ([`Engine::collect_orphans`]).
    pub(super) orphans: bool,
    /// Taken samples handed back ([`Engine::recycle_samples`]): not
    /// state, only room, so a backlog's publications do not allocate
    /// megabytes each.
    pub(super) spare_samples: Vec<LabelledSeries>,
}

impl Engine {
    pub fn new(cfg: EngineConfig) -> Self {
        Engine {
            cfg,
            units: BTreeMap::new(),
            floor: NONE,
            tap: false,
            recorded: Vec::new(),
            route_facts: false,
            orphans: false,
            spare_samples: Vec::new(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// The tenants with their own fold (and `other` once used), in order.
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.units.keys().map(|k| k.as_str())
    }

    /// Everything with an event time below this has been applied, in
    /// every tenant: the oldest tenant watermark (the floor before any
    /// event).
    pub fn watermark(&self) -> Millis {
        self.units
            .values()
            .map(|u| u.watermark())
            .min()
            .unwrap_or(self.floor)
            .max(self.floor)
    }

    /// The watermark of the fold an event of `tenant` goes to (`None` if
    /// that fold does not exist yet).
    pub fn tenant_watermark(&self, tenant: Option<&str>) -> Option<Millis> {
        self.units
            .get(self.fold_name(tenant))
            .map(|u| u.watermark())
    }

    /// The name of the fold an event of `tenant` goes to: its own while
    /// under the cap (the default tenant's always), else `other`.
    fn fold_name<'a>(&'a self, tenant: Option<&'a str>) -> &'a str {
        let name = tenant.unwrap_or(&self.cfg.default_tenant);
        if self.units.contains_key(name)
            || name == self.cfg.default_tenant
            || self.units.len() + 1 < self.cfg.max_tenants
        {
            name
        } else {
            OTHER
        }
    }

    /// Newest event time seen (`Millis::MIN` before any event).
    pub fn max_event_time(&self) -> Millis {
        self.units
            .values()
            .map(|u| u.max_event_time())
            .max()
            .unwrap_or(NONE)
    }

    /// Processing counters summed over the tenants.
    pub fn processing(&self) -> ProcessingStats {
        let mut p = ProcessingStats::default();
        for u in self.units.values() {
            p.add(u.processing());
        }
        p
    }

    pub fn open_interactions(&self) -> usize {
        self.units.values().map(|u| u.open_interactions()).sum()
    }

    pub fn buffered(&self) -> usize {
        self.units.values().map(|u| u.buffered()).sum()
    }

    /// Events parked for an interaction not known yet.
    pub fn parked(&self) -> usize {
        self.units.values().map(|u| u.parked()).sum()
    }

    /// Collect duration samples for live export (off by default; the shell
    /// turns it on once a partition is restored, so history is not
    /// re-exported).
    pub fn set_sample_tap(&mut self, on: bool) {
        self.tap = on;
        for u in self.units.values_mut() {
            u.set_sample_tap(on);
        }
    }

    /// Install decisions read back from the effects topic: when a restore
    /// reaches the same breach (same effect id), the recorded action is
    /// applied instead of a fresh pick (see `Fold`). Effect ids differ
    /// between tenants, so every tenant's fold gets them all.
    pub fn install_recorded_decisions(&mut self, effects: impl IntoIterator<Item = Effect>) {
        let effects: Vec<Effect> = effects
            .into_iter()
            .filter(|e| matches!(e, Effect::ReassignmentRequested(_)))
            .collect();
        for u in self.units.values_mut() {
            u.install_recorded_decisions(effects.iter().cloned());
        }
        self.recorded.extend(effects);
    }

    /// Take the samples collected so far, by series, labelled with their
    /// tenant.
    pub fn take_samples(&mut self) -> Vec<LabelledSeries> {
        let mut all = std::mem::take(&mut self.spare_samples);
        let mut spare: Vec<Vec<Millis>> = all.drain(..).map(|s| s.ms).collect();
        for (t, u) in &mut self.units {
            u.take_samples_into(t, &mut spare, &mut all);
        }
        all
    }

    /// Hand back a publication's samples once exported: the next
    /// [`Engine::take_samples`] reuses their room.
    pub fn recycle_samples(&mut self, mut samples: Vec<LabelledSeries>) {
        // Emptied now: a copy of the engine copies no samples.
        for s in &mut samples {
            s.ms.clear();
        }
        self.spare_samples = samples;
    }

    /// The fold of a tenant (`None`: the default tenant), created on first
    /// use; past the cap, the shared `other`.
    fn unit(&mut self, tenant: Option<&str>) -> &mut Fold {
        // Per event: an existing fold is found with one lookup and no copy
        // of its name; the usual engine, with one fold, without a search.
        let own = tenant.unwrap_or(&self.cfg.default_tenant);
        if self.units.len() == 1 && self.units.keys().next().is_some_and(|k| k == own) {
            return self.units.values_mut().next().expect("one fold");
        }
        if self.units.contains_key(own) {
            return self.units.get_mut(own).expect("present");
        }
        let name = CompactString::from(self.fold_name(tenant));
        if !self.units.contains_key(&name) {
            let mut u = Fold::new(self.cfg.for_tenant(&name));
            u.tenant = (name != self.cfg.default_tenant).then(|| name.clone());
            u.set_sample_tap(self.tap);
            u.install_recorded_decisions(self.recorded.iter().cloned());
            if self.route_facts {
                u.facts_out = Some(Vec::new());
            }
            if self.orphans {
                u.orphans_out = Some(Vec::new());
            }
            if self.floor != NONE {
                u.advance(self.floor, &mut Vec::new());
            }
            self.units.insert(name.clone(), u);
        }
        self.units.get_mut(&name).expect("inserted above")
    }

    /// Take one event: it goes to its tenant's fold. Effects decided on the
    /// way are appended to `out`.
    pub fn apply(&mut self, mut ev: Event, out: &mut Vec<Effect>) -> Outcome {
        let tenant = ev.tenant.take();
        let unit = self.unit(tenant.as_deref());
        ev.tenant = tenant;
        unit.apply(ev, out)
    }

    /// Hand the customer facts out (take them with
    /// [`Engine::drain_customer_facts`]) instead of deciding repeat
    /// contacts and FCR here: for the repartition path, where the facts of
    /// a customer's contacts on every partition meet in one engine
    /// ([`Engine::apply_customer_fact`]). Not saved in a checkpoint: the
    /// shell sets it on every engine it builds.
    pub fn route_customer_facts(&mut self) {
        self.route_facts = true;
        for u in self.units.values_mut() {
            u.facts_out.get_or_insert_with(Vec::new);
        }
    }

    /// Append the customer facts stated since the last call, per tenant in
    /// the order stated.
    pub fn drain_customer_facts(&mut self, out: &mut Vec<CustomerFact>) {
        for u in self.units.values_mut() {
            if let Some(f) = &mut u.facts_out {
                out.append(f);
            }
        }
    }

    /// Decide one customer fact from the repartition path (see
    /// `customers.rs`): the counts go to its tenant's fold, whose clock
    /// follows the facts (their time minus the allowed lateness), so its
    /// windows move on like a partition's.
    pub fn apply_customer_fact(&mut self, f: &CustomerFact) {
        let unit = self.unit(f.tenant.as_deref());
        unit.stage_fact(f);
    }

    /// Hand out the events given up for good (parked past the TTL, or
    /// finding the parking area full), with the reason, from now on: the
    /// shell dead-letters them ([`Engine::drain_orphans`]). Off by
    /// default, and not saved: a restore replays without it, since what
    /// it gives up was dead-lettered when it was live.
    pub fn collect_orphans(&mut self) {
        self.orphans = true;
        for u in self.units.values_mut() {
            u.orphans_out.get_or_insert_with(Vec::new);
        }
    }

    /// Append the events given up since the last call.
    pub fn drain_orphans(&mut self, out: &mut Vec<OrphanedEvent>) {
        for u in self.units.values_mut() {
            if let Some(o) = &mut u.orphans_out {
                out.append(o);
            }
        }
    }

    /// Move every tenant's watermark to `wm` (never backwards).
    pub fn advance(&mut self, wm: Millis, out: &mut Vec<Effect>) {
        self.floor = self.floor.max(wm);
        // Decisions kept for tenants not seen yet, once no new tenant can
        // reach them (a late event older than the dedup horizon still
        // could: it then gets a fresh pick, as without a record).
        let horizon = self.floor.saturating_sub(self.cfg.dedup_horizon);
        self.recorded.retain(|e| match e {
            Effect::ReassignmentRequested(r) => r.deadline >= horizon,
            Effect::SlaBreached(_) => false,
        });
        for u in self.units.values_mut() {
            u.advance(wm, out);
        }
    }

    /// End of input (replay): apply everything buffered, in every tenant
    /// (each up to its own newest event).
    pub fn flush(&mut self, out: &mut Vec<Effect>) {
        for u in self.units.values_mut() {
            u.flush(out);
        }
    }

    /// This tick's [`Publication`]: the samples taken and a fresh view,
    /// with its provisional part ([`Engine::provisional_view`]).
    pub fn publication(&mut self) -> Publication {
        let samples = self.take_samples();
        let mut view = self.view();
        view.provisional = self.provisional_view().map(Arc::new);
        let last = self.max_event_time();
        Publication {
            view,
            samples,
            last_event_ms: Some(last).filter(|&t| t != Millis::MIN),
        }
    }

    fn view_of(&self, tenant_view: impl Fn(&Fold) -> TenantView) -> View {
        let tenants: BTreeMap<String, TenantView> = self
            .units
            .iter()
            .map(|(t, u)| (t.to_string(), tenant_view(u)))
            .collect();
        View {
            as_of: tenants.values().filter_map(|t| t.as_of).max(),
            windows: self.cfg.windows.clone(),
            tenants,
            provisional: None,
        }
    }

    /// What the view will be once the watermark passes every event
    /// received, if nothing earlier arrives meanwhile: a copy of each
    /// tenant's fold that has events buffered, with its reorder buffer
    /// applied in canonical order (SLA clocks advanced to the newest
    /// event; their effects discarded). `None` when nothing is buffered.
    /// Its cost is a copy of the state per call, so the shell calls it
    /// once per publish, not per event.
    pub fn provisional_view(&self) -> Option<View> {
        if self.units.values().all(|u| u.buffered() == 0) {
            return None;
        }
        Some(self.view_of(|u| match u.provisional_view() {
            Some(v) => v,
            None => u.view(),
        }))
    }

    /// The raw state as of the watermark (without its provisional part).
    pub fn view(&self) -> View {
        self.view_of(|u| u.view())
    }

    /// The state as of the watermark, with every figure derived.
    pub fn snapshot(&self) -> Snapshot {
        self.view().snapshot()
    }
}
