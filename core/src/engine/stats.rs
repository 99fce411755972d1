//! Counters and histograms per queue × channel and per agent, kept both
//! cumulatively and per window pane.
//!
//! Every figure here is a count or a sum (mergeable: panes add into
//! windows, instances add in PromQL). Ratios, means and quantiles are
//! derived at read time in [`super::snapshot`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::hist::{Buckets, Hdr};
use super::settings::QueueSettings;
use super::window::{PaneData, Ring, WindowSpec};
use crate::event::Millis;

/// Declares a struct of `u64` counters that merge by addition.
macro_rules! counters {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name { $($(#[$fm])* pub $f: u64,)* }
        impl $name {
            pub fn merge_from(&mut self, o: &Self) {
                $(self.$f = self.$f.saturating_add(o.$f);)*
            }
        }
    };
}

counters! {
    /// Per queue × channel counts. "Within T" means a wait `<= T`, with T the
    /// queue's service-level threshold; "short" abandons waited `< S`.
    QueueCounters {
        /// Entries into this queue (first queueing and transfers in).
        offered,
        answered,
        answered_within_sl,
        abandoned,
        abandoned_within_sl,
        short_abandoned,
        /// Left the queue by a transfer before being answered.
        dequeued_by_transfer,
        dequeued_by_transfer_within_sl,
        /// First agent replies (first response time samples).
        first_responses,
        /// Completed agent handling segments (answer to wrap-up done).
        handled,
        handle_ms,
        talk_ms,
        hold_ms,
        wrap_up_ms,
        resolved,
        /// Resolutions that were first-contact at the time (no reopen, no
        /// repeat contact so far).
        fcr_candidates,
        /// Candidates later voided by a reopen or a repeat contact within
        /// the repeat window; attributed to the resolution's time.
        fcr_retracted,
        reopened,
        transfers,
        /// Interactions transferred at least once (counted at the first).
        transferred_interactions,
        /// Sum over resolutions of customer→agent exchanges.
        exchanges,
        /// Contacts from a customer who contacted within the repeat window.
        repeat_contacts,
        csat_responses,
        csat_sum,
        /// CSAT 4 or 5.
        csat_satisfied,
        nps_responses,
        /// NPS 9–10.
        nps_promoters,
        /// NPS 0–6.
        nps_detractors,
        ces_responses,
        ces_sum,
        /// SLA targets met before their deadline.
        sla_met,
        /// SLA targets missed (once per target and interaction), at the deadline.
        sla_breaches,
        /// Reassignments to a named free operator.
        sla_reassigned,
        /// Reassignments that re-queued with raised priority (nobody free).
        sla_requeued,
        /// Escalations after the maximum reassignments.
        sla_escalated,
    }
}

counters! {
    /// Per agent counts, and milliseconds spent in each presence state.
    AgentCounters {
        /// Interactions resolved/closed by this agent.
        closures,
        handled,
        handle_ms,
        csat_responses,
        csat_sum,
        csat_satisfied,
        offline_ms,
        available_ms,
        busy_ms,
        wrap_up_ms,
        away_ms,
    }
}

impl AgentCounters {
    pub fn state_ms_mut(&mut self, state: crate::event::AgentState) -> &mut u64 {
        use crate::event::AgentState::*;
        match state {
            Offline => &mut self.offline_ms,
            Available => &mut self.available_ms,
            Busy => &mut self.busy_ms,
            WrapUp => &mut self.wrap_up_ms,
            Away => &mut self.away_ms,
        }
    }
}

/// The duration distributions kept per queue × channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HistKind {
    /// Queue entry to answer.
    QueueWait,
    /// Creation to first agent reply.
    FirstResponse,
    /// Queue entry to abandon (customer patience).
    Abandon,
    /// Talk + hold + wrap-up of a handled segment.
    Handle,
    /// Creation to resolution.
    Resolution,
}

impl HistKind {
    pub const ALL: [HistKind; 5] = [
        HistKind::QueueWait,
        HistKind::FirstResponse,
        HistKind::Abandon,
        HistKind::Handle,
        HistKind::Resolution,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HistKind::QueueWait => "queue_wait",
            HistKind::FirstResponse => "first_response",
            HistKind::Abandon => "abandon",
            HistKind::Handle => "handle",
            HistKind::Resolution => "resolution",
        }
    }
}

/// One pane (or the cumulative total) of a queue × channel.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueuePane {
    pub c: QueueCounters,
    pub h: [Buckets; 5],
    /// Highest concurrency seen while this pane was current.
    pub peak_concurrent: u64,
}

impl PaneData for QueuePane {
    fn merge_from(&mut self, o: &Self) {
        self.c.merge_from(&o.c);
        for (a, b) in self.h.iter_mut().zip(o.h.iter()) {
            a.merge_from(b);
        }
        self.peak_concurrent = self.peak_concurrent.max(o.peak_concurrent);
    }
}

/// One pane (or the total) of an agent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AgentPane {
    pub c: AgentCounters,
    pub handle: Buckets,
}

impl PaneData for AgentPane {
    fn merge_from(&mut self, o: &Self) {
        self.c.merge_from(&o.c);
        self.handle.merge_from(&o.handle);
    }
}

/// Offered volume bucketed by local time of the event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub by_hour: [u64; 24],
    /// Monday first.
    pub by_weekday: [u64; 7],
    /// January first.
    pub by_month: [u64; 12],
}

/// Everything kept for one queue × channel. Serde: for checkpoints
/// (`checkpoint.rs`); a change of fields is a change of the checkpoint
/// format.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueStats {
    pub settings: QueueSettings,
    pub total: QueuePane,
    pub hdr: [Hdr; 5],
    pub tiers: Vec<Ring<QueuePane>>,
    /// Interactions waiting now, by (queue entry time, slot): the first is
    /// the oldest waiting.
    #[serde(with = "waiting_set")]
    pub waiting: BTreeSet<(Millis, u32)>,
    /// In queue + in progress now.
    pub concurrent: u64,
    pub volume: Volume,
}

/// A waiting set in its order, each time written as the difference from
/// the previous one (small, so a short varint), and read back by bulk
/// building (linear for sorted input) rather than one insert at a time.
pub(super) mod waiting_set {
    use std::collections::BTreeSet;

    use serde::{Deserialize, Deserializer, Serializer};

    use crate::event::Millis;

    pub fn serialize<S: Serializer>(
        set: &BTreeSet<(Millis, u32)>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut prev: Millis = 0;
        serializer.collect_seq(set.iter().map(|&(t, slot)| {
            let d = t.wrapping_sub(prev);
            prev = t;
            (d, slot)
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeSet<(Millis, u32)>, D::Error> {
        let deltas = Vec::<(Millis, u32)>::deserialize(deserializer)?;
        let mut prev: Millis = 0;
        Ok(deltas
            .into_iter()
            .map(|(d, slot)| {
                prev = prev.wrapping_add(d);
                (prev, slot)
            })
            .collect())
    }
}

impl QueueStats {
    pub fn new(settings: QueueSettings, windows: &[WindowSpec]) -> Self {
        QueueStats {
            settings,
            total: QueuePane::default(),
            hdr: Default::default(),
            tiers: windows.iter().map(Ring::new).collect(),
            waiting: BTreeSet::new(),
            concurrent: 0,
            volume: Volume::default(),
        }
    }

    /// Apply `f` to the total and to the pane of time `t` in every tier.
    /// Returns false if some tier no longer holds `t` (late beyond window).
    pub fn record(&mut self, t: Millis, f: impl Fn(&mut QueueCounters)) -> bool {
        f(&mut self.total.c);
        let mut all = true;
        for r in &mut self.tiers {
            match r.pane_mut(t) {
                Some(p) => f(&mut p.c),
                None => all = false,
            }
        }
        all
    }

    /// Record a duration sample of `kind` at time `t`.
    pub fn observe(&mut self, kind: HistKind, t: Millis, v: Millis) -> bool {
        let k = kind as usize;
        self.total.h[k].record(v);
        self.hdr[k].record(v);
        let mut all = true;
        for r in &mut self.tiers {
            match r.pane_mut(t) {
                Some(p) => p.h[k].record(v),
                None => all = false,
            }
        }
        all
    }

    /// Change the concurrency level at time `t`, keeping pane peaks: a pane
    /// first touched records the level it started at, so a window's peak is
    /// the max over its panes and the current level.
    pub fn shift_concurrency(&mut self, t: Millis, up: bool) {
        let before = self.concurrent;
        self.concurrent = if up {
            before + 1
        } else {
            before.saturating_sub(1)
        };
        let after = self.concurrent;
        self.total.peak_concurrent = self.total.peak_concurrent.max(after);
        for r in &mut self.tiers {
            if let Some((p, _)) = r.pane_mut_fresh(t) {
                p.peak_concurrent = p.peak_concurrent.max(before).max(after);
            }
        }
    }
}

/// Windowed and cumulative stats of one agent (or of the `other` bucket).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentStats {
    pub total: AgentPane,
    pub tiers: Vec<Ring<AgentPane>>,
}

impl AgentStats {
    pub fn new(windows: &[WindowSpec]) -> Self {
        AgentStats {
            total: AgentPane::default(),
            tiers: windows.iter().map(Ring::new).collect(),
        }
    }

    pub fn record(&mut self, t: Millis, f: impl Fn(&mut AgentPane)) {
        f(&mut self.total);
        for r in &mut self.tiers {
            if let Some(p) = r.pane_mut(t) {
                f(p);
            }
        }
    }

    /// Time spent in `state` over `[from, to)`, split across panes.
    pub fn add_state_time(&mut self, state: crate::event::AgentState, from: Millis, to: Millis) {
        if to <= from {
            return;
        }
        *self.total.c.state_ms_mut(state) += (to - from) as u64;
        for r in &mut self.tiers {
            r.add_interval(from, to, |p, d| *p.c.state_ms_mut(state) += d as u64);
        }
    }
}
