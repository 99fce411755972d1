//! The customer stage: repeat contacts and first-contact resolution (FCR),
//! decided per customer from three facts the interactions give:
//! a **contact** (an interaction created for a customer), a **resolution**
//! (one not reopened) and a **reopen** of a resolution.
//!
//! # Why a stage
//! Interactions are partitioned by interaction id (their events must be
//! ordered), but a customer's contacts may land on any partition. So the
//! fold does not decide repeats and FCR itself: it states facts
//! ([`CustomerFact`]), and whoever holds all of a customer's facts decides.
//! In one engine (the default) that is the fold itself, at once; across
//! partitions it is the fold that receives the facts re-keyed by customer
//! ([`super::Engine::apply_customer_fact`]), the way a Kafka Streams
//! repartition topic works, and its view merges with the partitions' views
//! like any other (every figure is a sum).
//!
//! # The rules, order-free
//! Contacts are ordered by `(time, interaction id hash)`. With `W` the
//! repeat window:
//! - a contact is a **repeat** when an earlier contact of the same customer
//!   lies at most `W` before it;
//! - a resolution of interaction `X` is **first-contact** unless `X` was
//!   reopened (then the partition never states it), `X`'s contact is a
//!   repeat, a later contact of the customer (after `X`'s) comes at most
//!   `W` after the resolution, or `X` is reopened at most `W` after it.
//!
//! Each rule is a property of the set of facts, not of their arrival
//! order, and facts only ever turn a resolution from first-contact to not
//! (and a contact from first to repeat). So the stage counts a resolution
//! as a candidate when it arrives first-contact and retracts it (once, at
//! the resolution's time) when a fact arriving later voids it; it counts a
//! repeat when a contact arrives (or later, when an earlier contact
//! arrives after it). Whatever the order, `fcr_candidates − fcr_retracted`
//! and `repeat_contacts` per pane end the same; only how the net FCR splits
//! into candidates and retractions depends on the order. Facts are
//! idempotent (a fact seen twice changes nothing), so at-least-once
//! delivery does not double count.
//!
//! Memory: a customer's contacts and resolutions are kept for twice the
//! repeat window after their time, counted from the newest fact (one window
//! for the rules, one of slack for facts from partitions that lag; never
//! from a watermark an idle partition moved with the wall clock), up to
//! `limits.max_tracked_customers` customers.

use smallvec::SmallVec;

use super::fold::Fold;
use super::records::{Contact, FcrResolution};
use super::types::{CustomerFact, FactKind};
use crate::event::{Channel, Millis};

/// One count the stage makes, applied after the customer's record is
/// updated.
enum Count {
    Repeat(Millis, u32, Channel),
    Candidate(Millis, u32, Channel),
    Retracted(Millis, u32, Channel),
}

impl Fold {
    /// State a fact: decided here at once (one engine), or handed out for
    /// the customer-keyed stage when the engine routes facts
    /// ([`super::Engine::route_customer_facts`]).
    pub(super) fn customer_fact(
        &mut self,
        kind: FactKind,
        customer: u64,
        interaction: u64,
        at: Millis,
        queue: u32,
        channel: Channel,
    ) {
        match &mut self.facts_out {
            Some(out) => out.push(CustomerFact {
                tenant: self.tenant.clone(),
                customer,
                interaction,
                at,
                queue: self.queue_names[queue as usize].clone(),
                channel,
                kind,
            }),
            None => self.decide(kind, customer, interaction, at, queue, channel),
        }
    }

    /// A fact from the repartition path: its queue by name.
    fn apply_fact(&mut self, f: &CustomerFact) {
        let q = self.queue_id(&f.queue);
        self.decide(f.kind, f.customer, f.interaction, f.at, q, f.channel);
    }

    /// A fact from the repartition path, moving this fold's clock.
    pub(super) fn stage_fact(&mut self, f: &CustomerFact) {
        self.apply_fact(f);
        self.missed_window = false;
        self.max_seen = self.max_seen.max(f.at);
        self.max_any = self.max_any.max(f.at);
        let wm = f.at.saturating_sub(self.cfg.allowed_lateness);
        self.advance(wm, &mut Vec::new());
    }

    /// Apply the rules of the module docs to one fact.
    fn decide(
        &mut self,
        kind: FactKind,
        customer: u64,
        interaction: u64,
        at: Millis,
        queue: u32,
        channel: Channel,
    ) {
        let window = self.cfg.repeat_window;
        let room = self.customers.len() < self.cfg.max_tracked_customers;
        let Some(c) = self.customers.get_or_insert_default(customer, room) else {
            // Untracked: no repeat can be known, and a resolution is
            // counted but can never be retracted.
            self.stats.tracking_overflow += 1;
            if let FactKind::Resolved { .. } = kind {
                self.count(Count::Candidate(at, queue, channel));
            }
            return;
        };
        // A fact usually makes no count or one or two: no allocation.
        let mut counts: SmallVec<[Count; 4]> = SmallVec::new();
        match kind {
            FactKind::Contact => {
                let key = (at, interaction);
                let pos = c.contacts.partition_point(|x| (x.at, x.interaction) < key);
                if c.contacts
                    .get(pos)
                    .is_some_and(|x| (x.at, x.interaction) == key)
                {
                    return; // seen before
                }
                let repeat = c.contacts[..pos].iter().any(|x| at - x.at <= window);
                if repeat {
                    counts.push(Count::Repeat(at, queue, channel));
                    // Its own resolution, if that arrived first.
                    retract(&mut c.resolutions, move |r| r.interaction == interaction)
                        .for_each(|r| counts.push(r));
                }
                // Later contacts this one makes repeats (it arrived late).
                for x in c.contacts[pos..].iter_mut() {
                    if !x.repeat && x.at - at <= window {
                        x.repeat = true;
                        counts.push(Count::Repeat(x.at, x.queue, x.channel));
                        let ix = x.interaction;
                        retract(&mut c.resolutions, move |r| r.interaction == ix)
                            .for_each(|r| counts.push(r));
                    }
                }
                // Earlier interactions' resolutions it follows within the
                // window.
                retract(&mut c.resolutions, move |r| {
                    (r.created_at, r.interaction) < key && at <= r.resolved_at + window
                })
                .for_each(|r| counts.push(r));
                c.contacts.insert(
                    pos,
                    Contact {
                        at,
                        interaction,
                        queue,
                        channel,
                        repeat,
                    },
                );
            }
            FactKind::Resolved { created_at } => {
                if c.resolutions
                    .iter()
                    .any(|r| r.interaction == interaction && r.resolved_at == at)
                {
                    return; // seen before
                }
                let key = (created_at, interaction);
                let voided = c.contacts.iter().any(|x| {
                    let k = (x.at, x.interaction);
                    (k == key && x.repeat) || (k > key && x.at <= at + window)
                });
                if !voided {
                    counts.push(Count::Candidate(at, queue, channel));
                    c.resolutions.push(FcrResolution {
                        interaction,
                        created_at,
                        resolved_at: at,
                        queue,
                        channel,
                        retracted: false,
                    });
                }
            }
            FactKind::Reopened { resolved_at } => {
                if at - resolved_at > window {
                    return;
                }
                let same = move |r: &FcrResolution| {
                    r.interaction == interaction && r.resolved_at == resolved_at
                };
                if c.resolutions.iter().any(same) {
                    retract(&mut c.resolutions, same).for_each(|r| counts.push(r));
                } else {
                    // Ahead of its resolution (or of a resolution that
                    // was no candidate): it is never to count.
                    c.resolutions.push(FcrResolution {
                        interaction,
                        created_at: resolved_at,
                        resolved_at,
                        queue,
                        channel,
                        retracted: true,
                    });
                }
            }
        }
        for n in counts {
            self.count(n);
        }
    }

    fn count(&mut self, n: Count) {
        match n {
            Count::Repeat(t, q, ch) => {
                if !self
                    .queue_stats(q, ch)
                    .record(t, |c| c.repeat_contacts += 1)
                {
                    self.missed_window = true;
                }
            }
            Count::Candidate(t, q, ch) => {
                if !self.queue_stats(q, ch).record(t, |c| c.fcr_candidates += 1) {
                    self.missed_window = true;
                }
            }
            // Dated at the resolution by definition: one a window no
            // longer holds is not a late event.
            Count::Retracted(t, q, ch) => {
                if !self.queue_stats(q, ch).record(t, |c| c.fcr_retracted += 1) {
                    self.stats.fcr_retractions_beyond_window += 1;
                }
            }
        }
    }

    /// Forget what no fact within the slack can still change (module docs).
    pub(super) fn prune_customers(&mut self, watermark: Millis) {
        let horizon = watermark.saturating_sub(self.cfg.repeat_window.saturating_mul(2));
        self.customers.retain(|_, c| {
            c.contacts.last().is_some_and(|x| x.at >= horizon)
                || c.resolutions.iter().any(|r| r.resolved_at >= horizon)
        });
        let stale: Vec<u64> = self
            .customers
            .iter()
            .filter(|(_, c)| {
                c.contacts.first().is_some_and(|x| x.at < horizon)
                    || c.resolutions.iter().any(|r| r.resolved_at < horizon)
            })
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            if let Some(c) = self.customers.get_mut(&k) {
                c.contacts.retain(|x| x.at >= horizon);
                c.resolutions.retain(|r| r.resolved_at >= horizon);
            }
        }
    }
}

/// Retract the resolutions `which` selects that are not retracted yet.
fn retract<'a>(
    resolutions: &'a mut [FcrResolution],
    which: impl Fn(&FcrResolution) -> bool + 'a,
) -> impl Iterator<Item = Count> + 'a {
    resolutions
        .iter_mut()
        .filter(move |r| !r.retracted && which(r))
        .map(|r| {
            r.retracted = true;
            Count::Retracted(r.resolved_at, r.queue, r.channel)
        })
}
