//! Checkpoints: the whole state of one partition's [`Engine`] as bytes, and
//! back, so that a restart or a rebalance restores a partition in seconds
//! instead of folding its whole retained log again.
//!
//! # What is guaranteed
//! [`Engine::restore`]`(cfg, &e.checkpoint())` is `e` for everything
//! observable: folding the same events after it gives the same snapshots and
//! the same effects, byte for byte, as `e` would, and checkpointing it again
//! gives the same bytes (property tests in `core/tests/checkpoint.rs`). A
//! checkpoint this binary cannot use (bad magic, unknown version, corrupt,
//! truncated, taken under other settings, undecodable, inconsistent) is
//! refused with a [`CheckpointError`] that says which; never a wrong engine,
//! never a panic. The shell then rebuilds the partition from its log, as
//! without a checkpoint.
//!
//! # Layout
//! A 40-byte header, then the payload. Integers in the header are little
//! endian.
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic [`MAGIC`], `89 43 43 50 4B 0D 0A 1A` (`\x89CCPK\r\n\x1a`: a first byte above ASCII and a CR LF, so a text-mode transfer that mangled the file is caught here) |
//! | 8..10 | format version, u16 ([`FORMAT_VERSION`]) |
//! | 10..12 | reserved, 0 |
//! | 12..20 | fingerprint of the settings the state was folded under, u64 ([`EngineConfig::fingerprint`]) |
//! | 20..28 | payload length in bytes, u64 |
//! | 28..36 | xxh3-64 of the payload, u64 |
//! | 36..40 | low 32 bits of the xxh3-64 of bytes 0..36: the header's own check |
//!
//! The payload is nine parts (eight in format 1), in this order, each a u64 (LE) length and
//! then that many bytes of [postcard] values (serde; integers as varints):
//!
//! | part | what it holds |
//! |---|---|
//! | summary | watermark, newest event times, housekeeping hour, processing counters, and the counts [`inspect`] reports |
//! | interactions | the open interactions' slab: every slot by index (`None` when free) and the free slots in reuse order; then (format 2) the segments of agents who transferred an interaction away, open for their after-call work, by slot |
//! | queues | per queue (by index): its name and, per channel, its stats: cumulative and per-pane counters and fixed-bucket histograms of every window ring, HDR histograms as `(value, count)` pairs, the waiting set, concurrency, volume |
//! | agents | the agent directory (by index) and the agent stats (by index; 0 is `other`) |
//! | sla | the timer wheel (its own serde form), the SLA clocks' slab (slots and free list), outcomes per queue × policy × target, recorded reassignment decisions not yet reached |
//! | dedup | per slice of the dedup horizon, the sorted 64-bit hashes of the event ids seen |
//! | tracking | resolved interactions (by their 64-bit hashes, sorted), for reopens; the customer stage's customers (by hash, sorted), each with its contacts and its resolutions counted as FCR (format 4; before, the last contact and the last FCR resolution) |
//! | buffer | the reorder buffer's events, in canonical order |
//! | parking | (format 2) events waiting for an interaction not known yet: per interaction id (sorted), its events in canonical order |
//!
//! Not saved, because rebuilt or transient: the id → slot index and the
//! name → index maps of queues and agents (rebuilt from the saved ids),
//! the local-time cache, and the sample tap (a restored engine has it off,
//! as a new one does; the shell turns it on once live).
//!
//! Reading checks, in this order, and stops at the first failure: the
//! magic, the version (before the header check: another version may have
//! another header), the header check, the length, the payload checksum,
//! the settings fingerprint, the decoding of each part, and the references
//! between parts.
//!
//! # Why this shape
//! - **Slots are kept exactly**, with the order free slots will be reused
//!   in: slots are referenced by waiting sets, SLA clocks and timer
//!   payloads, and the slots later interactions get must be the ones the
//!   uninterrupted fold would give (see `slots.rs`).
//! - **Same state, same bytes.** Hash sets and maps (dedup, tracking,
//!   recorded decisions) are written sorted; everything else is written in
//!   its own order. So a restored engine checkpoints to identical bytes,
//!   and two replicas can compare checkpoints by hash.
//! - **Compact.** Times are written relative to the watermark (and an
//!   interaction's own times relative to its creation), "no time" as an
//!   absent option, so most take 1–4 bytes; 64-bit hashes take a fixed 8
//!   bytes (a varint would take 10). Parts are framed with their length, so
//!   [`inspect`] reads sizes and the summary without decoding the rest.
//! - **Settings fingerprint.** The state means something only under the
//!   settings it was folded under (window shapes, caps, lateness, horizons,
//!   time zone, queue thresholds, SLA policies); restoring under other ones
//!   would give an engine that is neither the old nor the new one, so it
//!   is refused ([`CheckpointError::SettingsChanged`]).
//! - **Checksums.** The payload's xxh3-64 catches corruption at rest; the
//!   header has its own check so a damaged header is reported as such,
//!   not as "settings changed" or "truncated". After decoding, the
//!   references the fold indexes by (queue, agent, policy and stats
//!   indices, the links between interactions and their clocks) are
//!   checked, so even a well-formed but wrong payload cannot make the
//!   engine index out of bounds later.
//!
//! # Versions
//! [`FORMAT_VERSION`] changes whenever what a part holds, or how, changes;
//! that includes a field added to any state type that derives serde for
//! this (`stats`, `window`, `hist`, `records`, `clocks`, `types`,
//! `settings::QueueSettings`, the timer wheel, the events). This binary
//! writes [`FORMAT_VERSION`] and reads every version from
//! [`OLDEST_READABLE_VERSION`] on: an older form is read through mirrors
//! of the types that changed (`checkpoint_v1.rs`: format 1 had fewer
//! processing counters and no extremes in the fixed-bucket histograms) and
//! converted; anything else is refused
//! ([`CheckpointError::UnsupportedVersion`]) and the partition is rebuilt
//! from its log. `core/tests/data/checkpoint-v{N}.bin` are committed
//! checkpoints, one per readable version, that must keep restoring to
//! hand-checked figures: a test fails when the format changes without a
//! new version.
//!
//! Format 4 (the customer stage): the tracking part keeps per customer
//! their contacts (time, interaction hash, queue, channel, counted as a
//! repeat) and their resolutions counted as FCR (retracted or not), for
//! the stage's order-free rules (`customers.rs`); tenant parts are
//! format 4 too. Formats 1–3 kept only the last contact and the last FCR
//! resolution: a restore turns them into a contact already counted and a
//! resolution still open to retraction, which decides every later fact as
//! before.
//!
//! Format 3 (tenants): the same 40-byte header (the fingerprint is
//! [`EngineConfig::tenancy_fingerprint`]), then a payload of: the
//! engine's floor (i64 LE: the newest watermark given to `advance`), the
//! recorded decisions kept for tenants not seen yet (u64 LE length, then
//! postcard), the number of tenants (u64 LE), and per tenant in name
//! order its name and its fold's checkpoint (each a u64 LE length and the
//! bytes), which is a whole format-2 checkpoint (format 4: a format-4
//! one, [`TENANT_FORMAT_VERSION`]) checked against that tenant's
//! settings. Formats 1 and 2 hold one fold, restored as the default
//! tenant's.
//!
//! Format 2 (from format 1): the processing counters gained
//! `fcr_retractions_beyond_window`; fixed-bucket histograms carry their
//! smallest and largest sample; the interactions part ends with the
//! transferred-away segments (none in format 1, whose fold closed a
//! segment at the transfer); a ninth part holds the parked events (none in
//! format 1, whose fold dropped them as orphaned); the settings
//! fingerprint covers the parking settings, so a format-1 checkpoint is
//! checked against the fingerprint of the settings that existed then
//! ([`EngineConfig::fingerprint_format_1`]).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::hash::BuildHasher;
use std::marker::PhantomData;

use compact_str::CompactString;
use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::checkpoint_v1::{AgentStatsV1, ProcessingV1, QueueStatsV1};
use super::clocks::{Clock, Clocks, SlaOutcomes, State, OFF};
use super::dedup::Dedup;
use super::fold::Fold;
use super::records::{Agent, Contact, Customer, FcrResolution, Interaction, Phase, Resolved};
use super::reorder::Pending;
use super::settings::EngineConfig;
use super::slots::Slots;
use super::stats::{AgentStats, QueueStats};
use super::tenants::Engine;
use super::tracked::Tracked;
use super::types::{ProcessingStats, NONE, NO_AGENT};
use super::window::{PaneData, Ring, WindowSpec};
use crate::event::{Channel, Effect, Event, EventKind, Millis, Reassignment, SlaTarget};
use crate::sla::wheel::{TimerId, TimerWheel};

/// The first 8 bytes of every checkpoint.
pub const MAGIC: [u8; 8] = [0x89, b'C', b'C', b'P', b'K', b'\r', b'\n', 0x1a];

/// The format this binary writes.
pub const FORMAT_VERSION: u16 = 4;

/// The format of one tenant's part inside a format-4 checkpoint: a whole
/// checkpoint of that tenant's fold (format 3 held format-2 parts).
pub const TENANT_FORMAT_VERSION: u16 = 4;

/// Formats up to this one hold one fold (before tenants); 3 and 4 hold a
/// part per tenant.
const LAST_SINGLE_FOLD_VERSION: u16 = 2;

/// The oldest format this binary still reads (see the module docs).
pub const OLDEST_READABLE_VERSION: u16 = 1;

/// Bytes before the payload.
pub const HEADER_LEN: usize = 40;

/// The payload's parts, in order (format 1 ends with `buffer`).
const PARTS: [&str; 9] = [
    "summary",
    "interactions",
    "queues",
    "agents",
    "sla",
    "dedup",
    "tracking",
    "buffer",
    "parking",
];

/// How many parts a payload of `version` has.
fn parts_of(version: u16) -> usize {
    if version == 1 {
        8
    } else {
        PARTS.len()
    }
}

/// Why a checkpoint cannot be used. Each names one cause; the shell logs
/// it and rebuilds the partition from its log instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("not a ccpulse checkpoint: the first bytes are not the checkpoint magic")]
    BadMagic,
    #[error(
        "checkpoint format version {found} is not supported: this binary reads versions {} to {supported}",
        OLDEST_READABLE_VERSION
    )]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("checkpoint truncated: {needed} bytes needed, {found} present")]
    Truncated { needed: u64, found: u64 },
    #[error("checkpoint header corrupt: its check does not match")]
    HeaderChecksum,
    #[error("checkpoint payload corrupt: xxh3-64 {found:016x}, the header says {expected:016x}")]
    PayloadChecksum { expected: u64, found: u64 },
    #[error("checkpoint followed by {extra} unexpected bytes")]
    TrailingBytes { extra: u64 },
    #[error(
        "checkpoint taken under other engine settings (fingerprint {checkpoint:016x}, the current settings have {current:016x}): its state does not apply"
    )]
    SettingsChanged { checkpoint: u64, current: u64 },
    #[error("checkpoint part `{part}` cannot be decoded: {reason}")]
    Undecodable { part: &'static str, reason: String },
    #[error("checkpoint state inconsistent: {0}")]
    Inconsistent(String),
}

/// Bytes of each part of a checkpoint, for operators (what is big?).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PartSizes {
    pub interactions: u64,
    /// Queue stats: counters, window rings, histograms, waiting sets.
    pub queues: u64,
    pub agents: u64,
    /// Timer wheel, SLA clocks, outcomes, recorded decisions.
    pub sla: u64,
    pub dedup: u64,
    /// Resolved interactions and customers remembered.
    pub tracking: u64,
    /// The reorder buffer.
    pub buffer: u64,
    /// Events parked for an interaction not known yet (format 2).
    pub parking: u64,
    /// Header, summary and part framing.
    pub other: u64,
}

/// What a checkpoint holds, read from its header and summary without
/// building the engine ([`inspect`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointInfo {
    pub version: u16,
    pub settings_fingerprint: u64,
    /// The tenants with a fold in it (format 3 on; empty before: one fold,
    /// the default tenant's).
    pub tenants: Vec<String>,
    /// `None` before the first event.
    pub watermark: Option<Millis>,
    /// Newest partition event time (`None` before the first).
    pub max_event_time: Option<Millis>,
    pub open_interactions: u64,
    /// Queues interned (including `other`).
    pub queues: u64,
    /// Queue × channel pairs with stats.
    pub queue_channels: u64,
    /// Agents in the directory.
    pub agents: u64,
    /// Events waiting in the reorder buffer.
    pub buffered: u64,
    pub dedup_ids: u64,
    /// Interactions with SLA clocks.
    pub sla_clocks: u64,
    pub pending_timers: u64,
    pub resolved_tracked: u64,
    pub customers_tracked: u64,
    pub recorded_decisions: u64,
    pub processing: ProcessingStats,
    pub total_bytes: u64,
    pub sizes: PartSizes,
}

// ---------------------------------------------------------------------------
// Wire forms
// ---------------------------------------------------------------------------

/// A 64-bit hash, written as 8 fixed bytes (a varint of a random 64-bit
/// value takes 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct H64(#[serde(with = "postcard::fixint::le")] u64);

fn opt_h64(h: u64) -> Option<H64> {
    (h != 0).then_some(H64(h))
}

fn from_opt_h64(h: Option<H64>) -> u64 {
    h.map_or(0, |h| h.0)
}

/// `t` relative to `base`; wrapping, so every value round-trips.
fn rel(t: Millis, base: Millis) -> Millis {
    t.wrapping_sub(base)
}

fn unrel(d: Millis, base: Millis) -> Millis {
    d.wrapping_add(base)
}

/// A time that may be `NONE`, relative to `base`.
fn opt_rel(t: Millis, base: Millis) -> Option<Millis> {
    (t != NONE).then(|| rel(t, base))
}

fn opt_unrel(d: Option<Millis>, base: Millis) -> Millis {
    d.map_or(NONE, |d| unrel(d, base))
}

fn opt_u32(v: u32) -> Option<u32> {
    (v != u32::MAX).then_some(v)
}

fn from_opt_u32(v: Option<u32>) -> u32 {
    v.unwrap_or(u32::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Counts {
    open_interactions: u64,
    queues: u64,
    queue_channels: u64,
    agents: u64,
    agent_stats: u64,
    buffered: u64,
    dedup_ids: u64,
    sla_clocks: u64,
    pending_timers: u64,
    resolved: u64,
    customers: u64,
    recorded_decisions: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Summary<P = ProcessingStats> {
    watermark: Millis,
    max_seen: Millis,
    max_any: Millis,
    housekeeping_hour: i64,
    processing: P,
    counts: Counts,
}

impl Summary<ProcessingV1> {
    fn upgrade(self) -> Summary {
        Summary {
            watermark: self.watermark,
            max_seen: self.max_seen,
            max_any: self.max_any,
            housekeeping_hour: self.housekeeping_hour,
            processing: self.processing.into(),
            counts: self.counts,
        }
    }
}

/// The summary part, in the form of `version`.
fn read_summary(version: u16, part: &[u8]) -> Result<Summary, CheckpointError> {
    let mut r = Reader::new(PARTS[0], part);
    let s = if version == 1 {
        r.take::<Summary<ProcessingV1>>("summary")?.upgrade()
    } else {
        r.take::<Summary>("summary")?
    };
    r.finish()?;
    Ok(s)
}

/// An open interaction: times relative to the watermark (creation) and to
/// its creation (the rest).
#[derive(Debug, Serialize, Deserialize)]
struct InteractionWire<S> {
    id: S,
    customer: Option<H64>,
    created_at: Millis,
    queued_at: Option<Millis>,
    seg_start: Option<Millis>,
    hold_started: Option<Millis>,
    ended_at: Option<Millis>,
    last_activity: Millis,
    hold_ms: Millis,
    agent: Option<u32>,
    queue: u32,
    priority: u32,
    sla: Option<u32>,
    exchanges: u16,
    channel: Channel,
    phase: Phase,
    flags: u8,
}

impl<'a> InteractionWire<&'a str> {
    fn of(it: &'a Interaction, base: Millis) -> Self {
        let c = it.created_at;
        InteractionWire {
            id: it.id.as_str(),
            customer: opt_h64(it.customer),
            created_at: rel(c, base),
            queued_at: opt_rel(it.queued_at, c),
            seg_start: opt_rel(it.seg_start, c),
            hold_started: opt_rel(it.hold_started, c),
            ended_at: opt_rel(it.ended_at, c),
            last_activity: rel(it.last_activity, c),
            hold_ms: it.hold_ms,
            agent: opt_u32(it.agent),
            queue: it.queue,
            priority: it.priority,
            sla: opt_u32(it.sla),
            exchanges: it.exchanges,
            channel: it.channel,
            phase: it.phase,
            flags: it.flags,
        }
    }
}

impl InteractionWire<CompactString> {
    fn into_interaction(self, base: Millis) -> Interaction {
        let c = unrel(self.created_at, base);
        Interaction {
            id: self.id,
            customer: from_opt_h64(self.customer),
            created_at: c,
            queued_at: opt_unrel(self.queued_at, c),
            seg_start: opt_unrel(self.seg_start, c),
            hold_started: opt_unrel(self.hold_started, c),
            ended_at: opt_unrel(self.ended_at, c),
            last_activity: unrel(self.last_activity, c),
            hold_ms: self.hold_ms,
            agent: from_opt_u32(self.agent),
            queue: self.queue,
            priority: self.priority,
            sla: from_opt_u32(self.sla),
            exchanges: self.exchanges,
            channel: self.channel,
            phase: self.phase,
            flags: self.flags,
        }
    }
}

/// One SLA clock that is not [`OFF`]; times relative to the watermark.
#[derive(Debug, Serialize, Deserialize)]
struct ClockWire {
    state: State,
    started: Option<Millis>,
    consumed: Millis,
    deadline: Option<Millis>,
    timer: Option<TimerId>,
    /// `None` when the run was started by the event that opened the clocks
    /// (first response and resolution always are).
    origin: Option<H64>,
    at_risk: bool,
    breached: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct ClocksWire {
    interaction: u32,
    origin: H64,
    policy: u16,
    attempts: u32,
    paused: u8,
    escalated: bool,
    /// `None` for a clock that is [`OFF`] (most of them).
    clocks: [Option<ClockWire>; 3],
}

impl ClocksWire {
    fn of(c: &Clocks, base: Millis) -> Self {
        let clock = |k: &Clock| {
            (*k != OFF).then(|| ClockWire {
                state: k.state,
                started: opt_rel(k.started, base),
                consumed: k.consumed,
                deadline: opt_rel(k.deadline, base),
                timer: k.timer,
                origin: (k.origin != c.origin).then_some(H64(k.origin)),
                at_risk: k.at_risk,
                breached: k.breached,
            })
        };
        ClocksWire {
            interaction: c.interaction,
            origin: H64(c.origin),
            policy: c.policy,
            attempts: c.attempts,
            paused: c.paused,
            escalated: c.escalated,
            clocks: [
                clock(&c.clocks[0]),
                clock(&c.clocks[1]),
                clock(&c.clocks[2]),
            ],
        }
    }

    fn into_clocks(self, base: Millis) -> Clocks {
        let opening = self.origin.0;
        let clock = |k: Option<ClockWire>| match k {
            None => OFF,
            Some(k) => Clock {
                state: k.state,
                started: opt_unrel(k.started, base),
                consumed: k.consumed,
                deadline: opt_unrel(k.deadline, base),
                timer: k.timer,
                origin: k.origin.map_or(opening, |o| o.0),
                at_risk: k.at_risk,
                breached: k.breached,
            },
        };
        let [a, b, c] = self.clocks;
        Clocks {
            interaction: self.interaction,
            origin: self.origin.0,
            policy: self.policy,
            attempts: self.attempts,
            paused: self.paused,
            escalated: self.escalated,
            clocks: [clock(a), clock(b), clock(c)],
        }
    }
}

/// A resolved interaction remembered: resolution time relative to the
/// watermark, creation relative to the resolution.
#[derive(Debug, Serialize, Deserialize)]
struct ResolvedWire {
    key: H64,
    customer: Option<H64>,
    resolved_at: Millis,
    created_at: Millis,
    queue: u32,
    priority: u32,
    channel: Channel,
    fcr_candidate: bool,
}

/// A customer of the customer stage (format 4): times relative to the
/// watermark, a resolution's creation relative to its resolution.
#[derive(Debug, Serialize, Deserialize)]
struct CustomerWire {
    key: H64,
    contacts: Vec<ContactWire>,
    resolutions: Vec<FcrWire>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ContactWire {
    at: Millis,
    interaction: H64,
    queue: u32,
    channel: Channel,
    repeat: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct FcrWire {
    interaction: H64,
    resolved_at: Millis,
    created_at: Millis,
    queue: u32,
    channel: Channel,
    retracted: bool,
}

/// A customer before format 4: their last contact and their last
/// resolution still counted as FCR.
#[derive(Debug, Serialize, Deserialize)]
struct CustomerWireV3 {
    key: H64,
    last_contact: Millis,
    fcr_resolution: Option<H64>,
}

/// A seq written from an exact-size iterator, without collecting it first.
struct SeqOf<F>(F);

impl<F, I> Serialize for SeqOf<F>
where
    F: Fn() -> I,
    I: ExactSizeIterator,
    I::Item: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

/// A seq read element by element, each converted by `f` as it comes, into
/// a `Vec` sized once from the seq's length (postcard reports it only when
/// the bytes left can hold that many elements, so a corrupt length cannot
/// make it allocate much). Large parts go through this: serde's own `Vec`
/// grows from a capped guess, and a wire form collected first would take
/// a second pass and as much memory again.
struct Converted<W, F> {
    f: F,
    wire: PhantomData<fn() -> W>,
}

fn converted<W, F>(f: F) -> Converted<W, F> {
    Converted {
        f,
        wire: PhantomData,
    }
}

impl<'de, W, U, F> DeserializeSeed<'de> for Converted<W, F>
where
    W: Deserialize<'de>,
    F: FnMut(W) -> U,
{
    type Value = Vec<U>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<U>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, W, U, F> Visitor<'de> for Converted<W, F>
where
    W: Deserialize<'de>,
    F: FnMut(W) -> U,
{
    type Value = Vec<U>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Vec<U>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(w) = seq.next_element::<W>()? {
            out.push((self.f)(w));
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// A postcard flavor appending to a `Vec` we own (no copy per part).
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

struct Writer {
    buf: Vec<u8>,
    /// Start of the current part's bytes (after its length).
    start: usize,
}

impl Writer {
    fn begin(&mut self) {
        self.buf.extend_from_slice(&[0; 8]);
        self.start = self.buf.len();
    }

    fn put<T: Serialize + ?Sized>(&mut self, v: &T) {
        // Writing into a Vec cannot run out of room, and every state type
        // has a known length and no fallible custom serializer.
        if let Err(e) = postcard::serialize_with_flavor(v, Append(&mut self.buf)) {
            unreachable!("checkpoint: serializing engine state failed: {e}");
        }
    }

    fn end(&mut self) {
        let len = (self.buf.len() - self.start) as u64;
        self.buf[self.start - 8..self.start].copy_from_slice(&len.to_le_bytes());
    }
}

impl Fold {
    /// The whole state as a checkpoint (see the [module docs](self) for the
    /// format). Deterministic: the same state gives the same bytes.
    pub fn checkpoint(&self) -> Vec<u8> {
        let base = self.watermark;
        let mut w = Writer {
            buf: Vec::with_capacity(HEADER_LEN + 64 * 1024 + self.interactions.len() * 80),
            start: 0,
        };
        w.buf.extend_from_slice(&[0; HEADER_LEN]);

        // summary
        w.begin();
        w.put(&Summary {
            watermark: self.watermark,
            max_seen: self.max_seen,
            max_any: self.max_any,
            housekeeping_hour: self.housekeeping_hour,
            processing: self.stats.clone(),
            counts: self.counts(),
        });
        w.end();

        // interactions
        w.begin();
        w.put(&SeqOf(|| {
            self.interactions
                .entries()
                .map(|e| e.map(|it| InteractionWire::of(it, base)))
        }));
        w.put(&self.interactions.free_list());
        w.put(&self.legs);
        w.end();

        // queues
        w.begin();
        let queues: Vec<(&CompactString, &[Option<Box<QueueStats>>; 5])> =
            self.queue_names.iter().zip(&self.queues).collect();
        w.put(&queues);
        w.end();

        // agents
        w.begin();
        w.put(&self.agents);
        w.put(&self.agent_stats);
        w.end();

        // sla
        w.begin();
        w.put(&self.sla_wheel);
        w.put(&SeqOf(|| {
            self.sla_clocks
                .entries()
                .map(|e| e.map(|c| ClocksWire::of(c, base)))
        }));
        w.put(&self.sla_clocks.free_list());
        let detail: Vec<(&(u32, u16, SlaTarget), &SlaOutcomes)> = self.sla_detail.iter().collect();
        w.put(&detail);
        let mut recorded: Vec<(&String, &Reassignment)> = self.recorded.iter().collect();
        recorded.sort_unstable_by(|a, b| a.0.cmp(b.0));
        w.put(&recorded);
        w.end();

        // dedup
        w.begin();
        w.put(&SeqOf(|| {
            self.dedup.buckets().map(|(s, hashes)| {
                let hashes: Vec<H64> = hashes.into_iter().map(H64).collect();
                (s, hashes)
            })
        }));
        w.end();

        // tracking
        w.begin();
        let mut resolved: Vec<(&u64, &Resolved)> = self.resolved.iter().collect();
        resolved.sort_unstable_by_key(|(k, _)| **k);
        w.put(&SeqOf(|| {
            resolved.iter().map(|(&key, r)| ResolvedWire {
                key: H64(key),
                customer: opt_h64(r.customer),
                resolved_at: rel(r.resolved_at, base),
                created_at: rel(r.created_at, r.resolved_at),
                queue: r.queue,
                priority: r.priority,
                channel: r.channel,
                fcr_candidate: r.fcr_candidate,
            })
        }));
        let mut customers: Vec<(&u64, &Customer)> = self.customers.iter().collect();
        customers.sort_unstable_by_key(|(k, _)| **k);
        w.put(&SeqOf(|| {
            customers.iter().map(|(&key, c)| CustomerWire {
                key: H64(key),
                contacts: c
                    .contacts
                    .iter()
                    .map(|x| ContactWire {
                        at: rel(x.at, base),
                        interaction: H64(x.interaction),
                        queue: x.queue,
                        channel: x.channel,
                        repeat: x.repeat,
                    })
                    .collect(),
                resolutions: c
                    .resolutions
                    .iter()
                    .map(|r| FcrWire {
                        interaction: H64(r.interaction),
                        resolved_at: rel(r.resolved_at, base),
                        created_at: rel(r.created_at, r.resolved_at),
                        queue: r.queue,
                        channel: r.channel,
                        retracted: r.retracted,
                    })
                    .collect(),
            })
        }));
        w.end();

        // buffer
        w.begin();
        w.put(&SeqOf(|| self.buffer.iter().map(|p| &p.ev)));
        w.end();

        // parking
        w.begin();
        w.put(&SeqOf(|| {
            self.parked.iter().map(|(id, list)| {
                let events: Vec<&Event> = list.iter().map(|p| &p.ev).collect();
                (id, events)
            })
        }));
        w.end();

        seal(&mut w.buf, TENANT_FORMAT_VERSION, self.cfg.fingerprint());
        w.buf
    }

    fn counts(&self) -> Counts {
        Counts {
            open_interactions: self.interactions.len() as u64,
            queues: self.queue_names.len() as u64,
            queue_channels: self.queues.iter().flatten().flatten().count() as u64,
            agents: self.agents.len() as u64,
            agent_stats: self.agent_stats.len() as u64,
            buffered: self.buffer.len() as u64,
            dedup_ids: self.dedup.len() as u64,
            sla_clocks: self.sla_clocks.len() as u64,
            pending_timers: self.sla_wheel.len() as u64,
            resolved: self.resolved.len() as u64,
            customers: self.customers.len() as u64,
            recorded_decisions: self.recorded.len() as u64,
        }
    }
}

/// Fill in the header of `buf` (its first [`HEADER_LEN`] bytes, reserved)
/// for the payload after it.
fn seal(buf: &mut [u8], version: u16, fingerprint: u64) {
    let payload_len = (buf.len() - HEADER_LEN) as u64;
    let hash = xxhash_rust::xxh3::xxh3_64(&buf[HEADER_LEN..]);
    let header = &mut buf[..HEADER_LEN];
    header[0..8].copy_from_slice(&MAGIC);
    header[8..10].copy_from_slice(&version.to_le_bytes());
    header[10..12].copy_from_slice(&[0, 0]);
    header[12..20].copy_from_slice(&fingerprint.to_le_bytes());
    header[20..28].copy_from_slice(&payload_len.to_le_bytes());
    header[28..36].copy_from_slice(&hash.to_le_bytes());
    let check = xxhash_rust::xxh3::xxh3_64(&header[..36]) as u32;
    header[36..40].copy_from_slice(&check.to_le_bytes());
}

impl Engine {
    /// The whole state as a checkpoint: format 3, one part per tenant (see
    /// the [module docs](self)). Deterministic: the same state gives the
    /// same bytes.
    pub fn checkpoint(&self) -> Vec<u8> {
        let mut buf = vec![0; HEADER_LEN];
        buf.extend_from_slice(&self.floor.to_le_bytes());
        let recorded = postcard::to_allocvec(&self.recorded).expect("effects serialize");
        buf.extend_from_slice(&(recorded.len() as u64).to_le_bytes());
        buf.extend_from_slice(&recorded);
        buf.extend_from_slice(&(self.units.len() as u64).to_le_bytes());
        for (name, u) in &self.units {
            let part = u.checkpoint();
            buf.extend_from_slice(&(name.len() as u64).to_le_bytes());
            buf.extend_from_slice(name.as_bytes());
            buf.extend_from_slice(&(part.len() as u64).to_le_bytes());
            buf.extend_from_slice(&part);
        }
        seal(&mut buf, FORMAT_VERSION, self.cfg.tenancy_fingerprint());
        buf
    }

    /// The engine a checkpoint holds, under `cfg`, which must be the
    /// settings it was taken under. Formats 1 and 2 (before tenants) hold
    /// one fold: it becomes the default tenant's. Folding on from it is
    /// exactly folding on from the engine that wrote it. Errors name why a
    /// checkpoint cannot be used; the caller then rebuilds from the log.
    pub fn restore(cfg: EngineConfig, bytes: &[u8]) -> Result<Engine, CheckpointError> {
        let (header, payload) = open_payload(bytes)?;
        let mut e = Engine::new(cfg);
        if header.version <= LAST_SINGLE_FOLD_VERSION {
            let tenant = e.cfg.default_tenant.clone();
            let u = Fold::restore(e.cfg.for_tenant(&tenant), bytes)?;
            e.units.insert(tenant.into(), u);
            return Ok(e);
        }
        let current = e.cfg.tenancy_fingerprint();
        if header.fingerprint != current {
            return Err(CheckpointError::SettingsChanged {
                checkpoint: header.fingerprint,
                current,
            });
        }
        let (floor, recorded, units) = tenant_parts(payload)?;
        e.floor = floor;
        e.recorded = recorded;
        for (name, part) in units {
            if e.units.contains_key(name) {
                return Err(inconsistent(format!("tenant {name:?} twice")));
            }
            let mut u = Fold::restore(e.cfg.for_tenant(name), part)?;
            u.tenant = (name != e.cfg.default_tenant).then(|| name.into());
            e.units.insert(name.into(), u);
        }
        Ok(e)
    }
}

/// The fingerprint a checkpoint of `version` must carry to restore under
/// `cfg`: format 1 and 2 hold the default tenant's fold (format 1 of the
/// settings that existed then), format 3 every tenant's.
pub fn settings_fingerprint(cfg: &EngineConfig, version: u16) -> u64 {
    match version {
        1 => cfg.for_tenant(&cfg.default_tenant).fingerprint_format_1(),
        2 => cfg.for_tenant(&cfg.default_tenant).fingerprint(),
        _ => cfg.tenancy_fingerprint(),
    }
}

/// A format-3 payload: the floor, the recorded decisions kept for tenants
/// not seen yet, then each tenant's name and part.
#[allow(clippy::type_complexity)]
fn tenant_parts(
    payload: &[u8],
) -> Result<(Millis, Vec<Effect>, Vec<(&str, &[u8])>), CheckpointError> {
    let undecodable = |reason: &str| CheckpointError::Undecodable {
        part: "tenants",
        reason: reason.to_string(),
    };
    let mut rest = payload;
    let mut take = |n: u64, what: &str| -> Result<&[u8], CheckpointError> {
        if n > rest.len() as u64 {
            return Err(undecodable(&format!("{what} runs past the payload")));
        }
        let (a, b) = rest.split_at(n as usize);
        rest = b;
        Ok(a)
    };
    let floor = le_u64(take(8, "the floor")?) as i64;
    let n = le_u64(take(8, "the recorded decisions' length")?);
    let recorded: Vec<Effect> = postcard::from_bytes(take(n, "the recorded decisions")?)
        .map_err(|e| undecodable(&format!("recorded decisions: {e}")))?;
    let count = le_u64(take(8, "the tenant count")?);
    let mut units = Vec::new();
    for _ in 0..count {
        let n = le_u64(take(8, "a tenant name's length")?);
        let name = std::str::from_utf8(take(n, "a tenant name")?)
            .map_err(|_| undecodable("a tenant name is not UTF-8"))?;
        let n = le_u64(take(8, "a tenant part's length")?);
        units.push((name, take(n, "a tenant part")?));
    }
    if !rest.is_empty() {
        return Err(undecodable(&format!(
            "{} bytes after the last tenant",
            rest.len()
        )));
    }
    Ok((floor, recorded, units))
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

struct Header {
    version: u16,
    fingerprint: u64,
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Check the header and the payload's integrity (any readable version);
/// the payload.
fn open_payload(bytes: &[u8]) -> Result<(Header, &[u8]), CheckpointError> {
    let found = bytes.len() as u64;
    let head = &bytes[..bytes.len().min(MAGIC.len())];
    if head != &MAGIC[..head.len()] {
        return Err(CheckpointError::BadMagic);
    }
    if bytes.len() < 10 {
        return Err(CheckpointError::Truncated {
            needed: HEADER_LEN as u64,
            found,
        });
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(CheckpointError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if bytes.len() < HEADER_LEN {
        return Err(CheckpointError::Truncated {
            needed: HEADER_LEN as u64,
            found,
        });
    }
    let check = u32::from_le_bytes([bytes[36], bytes[37], bytes[38], bytes[39]]);
    if xxhash_rust::xxh3::xxh3_64(&bytes[..36]) as u32 != check {
        return Err(CheckpointError::HeaderChecksum);
    }
    let fingerprint = le_u64(&bytes[12..20]);
    let payload_len = le_u64(&bytes[20..28]);
    let expected = le_u64(&bytes[28..36]);
    let needed = (HEADER_LEN as u64).saturating_add(payload_len);
    if found < needed {
        return Err(CheckpointError::Truncated { needed, found });
    }
    if found > needed {
        return Err(CheckpointError::TrailingBytes {
            extra: found - needed,
        });
    }
    let payload = &bytes[HEADER_LEN..];
    let hash = xxhash_rust::xxh3::xxh3_64(payload);
    if hash != expected {
        return Err(CheckpointError::PayloadChecksum {
            expected,
            found: hash,
        });
    }
    Ok((
        Header {
            version,
            fingerprint,
        },
        payload,
    ))
}

/// Check one fold's checkpoint (formats 1 and 2, alone or as a tenant's
/// part of format 3); its parts.
fn open(bytes: &[u8]) -> Result<(Header, [&[u8]; 9]), CheckpointError> {
    let (header, payload) = open_payload(bytes)?;
    let version = header.version;
    if version > TENANT_FORMAT_VERSION || version == LAST_SINGLE_FOLD_VERSION + 1 {
        return Err(CheckpointError::UnsupportedVersion {
            found: version,
            supported: TENANT_FORMAT_VERSION,
        });
    }
    let mut parts: [&[u8]; 9] = [&[]; 9];
    let mut rest = payload;
    for (i, name) in PARTS.iter().enumerate().take(parts_of(version)) {
        let undecodable = |reason: &str| CheckpointError::Undecodable {
            part: name,
            reason: reason.to_string(),
        };
        if rest.len() < 8 {
            return Err(undecodable("its length is missing"));
        }
        let len = le_u64(rest);
        rest = &rest[8..];
        if len > rest.len() as u64 {
            return Err(undecodable("its length runs past the payload"));
        }
        let (part, tail) = rest.split_at(len as usize);
        parts[i] = part;
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(CheckpointError::Undecodable {
            part: "payload",
            reason: format!("{} bytes after the last part", rest.len()),
        });
    }
    Ok((header, parts))
}

/// Reads the postcard values of one part in order.
struct Reader<'a> {
    part: &'static str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(part: &'static str, bytes: &'a [u8]) -> Self {
        Reader { part, rest: bytes }
    }

    fn take<T: Deserialize<'a>>(&mut self, what: &str) -> Result<T, CheckpointError> {
        self.take_seed(what, PhantomData::<T>)
    }

    fn take_seed<S: DeserializeSeed<'a>>(
        &mut self,
        what: &str,
        seed: S,
    ) -> Result<S::Value, CheckpointError> {
        let mut de = postcard::Deserializer::from_bytes(self.rest);
        let read = seed
            .deserialize(&mut de)
            .and_then(|v| Ok((v, de.finalize()?)));
        match read {
            Ok((v, rest)) => {
                self.rest = rest;
                Ok(v)
            }
            Err(e) => Err(CheckpointError::Undecodable {
                part: self.part,
                reason: format!("{what}: {e}"),
            }),
        }
    }

    fn finish(self) -> Result<(), CheckpointError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(CheckpointError::Undecodable {
                part: self.part,
                reason: format!("{} bytes left over", self.rest.len()),
            })
        }
    }
}

fn inconsistent(msg: impl Into<String>) -> CheckpointError {
    CheckpointError::Inconsistent(msg.into())
}

/// What a checkpoint holds, from its header and summary: integrity is
/// checked (magic, version, checksums) but not the settings, and the engine
/// is not built.
pub fn inspect(bytes: &[u8]) -> Result<CheckpointInfo, CheckpointError> {
    let (header, payload) = open_payload(bytes)?;
    if header.version <= LAST_SINGLE_FOLD_VERSION {
        return inspect_fold(bytes);
    }
    let (floor, recorded, units) = tenant_parts(payload)?;
    let mut info = CheckpointInfo {
        version: header.version,
        settings_fingerprint: header.fingerprint,
        tenants: Vec::new(),
        // Before any tenant: the newest advance.
        watermark: (floor != NONE).then_some(floor),
        max_event_time: None,
        open_interactions: 0,
        queues: 0,
        queue_channels: 0,
        agents: 0,
        buffered: 0,
        dedup_ids: 0,
        sla_clocks: 0,
        pending_timers: 0,
        resolved_tracked: 0,
        customers_tracked: 0,
        recorded_decisions: 0,
        processing: ProcessingStats::default(),
        total_bytes: bytes.len() as u64,
        sizes: PartSizes::default(),
    };
    let mut parts_bytes = 0;
    for (name, part) in units {
        let u = inspect_fold(part)?;
        info.tenants.push(name.to_string());
        // Every tenant has applied everything before the oldest watermark
        // (none while some tenant has none).
        info.watermark = if info.tenants.len() == 1 {
            u.watermark
        } else {
            info.watermark.min(u.watermark)
        };
        info.max_event_time = info.max_event_time.max(u.max_event_time);
        info.open_interactions += u.open_interactions;
        info.queues += u.queues;
        info.queue_channels += u.queue_channels;
        info.agents += u.agents;
        info.buffered += u.buffered;
        info.dedup_ids += u.dedup_ids;
        info.sla_clocks += u.sla_clocks;
        info.pending_timers += u.pending_timers;
        info.resolved_tracked += u.resolved_tracked;
        info.customers_tracked += u.customers_tracked;
        info.recorded_decisions += u.recorded_decisions;
        info.processing.add(&u.processing);
        let (a, b) = (&mut info.sizes, &u.sizes);
        a.interactions += b.interactions;
        a.queues += b.queues;
        a.agents += b.agents;
        a.sla += b.sla;
        a.dedup += b.dedup;
        a.tracking += b.tracking;
        a.buffer += b.buffer;
        a.parking += b.parking;
        parts_bytes += b.interactions
            + b.queues
            + b.agents
            + b.sla
            + b.dedup
            + b.tracking
            + b.buffer
            + b.parking;
    }
    info.recorded_decisions += recorded.len() as u64;
    info.sizes.other = bytes.len() as u64 - parts_bytes;
    Ok(info)
}

/// [`inspect`] of one fold's checkpoint (formats 1 and 2).
fn inspect_fold(bytes: &[u8]) -> Result<CheckpointInfo, CheckpointError> {
    let (header, parts) = open(bytes)?;
    let s = read_summary(header.version, parts[0])?;
    let len = |i: usize| parts[i].len() as u64;
    let sizes = PartSizes {
        interactions: len(1),
        queues: len(2),
        agents: len(3),
        sla: len(4),
        dedup: len(5),
        tracking: len(6),
        buffer: len(7),
        parking: len(8),
        other: bytes.len() as u64 - (1..9).map(len).sum::<u64>(),
    };
    let known = |t: Millis| (t != NONE).then_some(t);
    let c = s.counts;
    Ok(CheckpointInfo {
        version: header.version,
        settings_fingerprint: header.fingerprint,
        tenants: Vec::new(),
        watermark: known(s.watermark),
        max_event_time: known(s.max_seen),
        open_interactions: c.open_interactions,
        queues: c.queues,
        queue_channels: c.queue_channels,
        agents: c.agents,
        buffered: c.buffered,
        dedup_ids: c.dedup_ids,
        sla_clocks: c.sla_clocks,
        pending_timers: c.pending_timers,
        resolved_tracked: c.resolved,
        customers_tracked: c.customers,
        recorded_decisions: c.recorded_decisions,
        processing: s.processing,
        total_bytes: bytes.len() as u64,
        sizes,
    })
}

type QueuesWire = Vec<(CompactString, [Option<Box<QueueStats>>; 5])>;
type QueuesWireV1 = Vec<(CompactString, [Option<Box<QueueStatsV1>>; 5])>;

impl Fold {
    /// The fold a checkpoint holds, under `cfg`, which must be the
    /// settings it was taken under (same [`EngineConfig::fingerprint`]).
    /// Folding on from it is exactly folding on from the engine that wrote
    /// it. Errors name why a checkpoint cannot be used; the caller then
    /// rebuilds from the log.
    pub fn restore(cfg: EngineConfig, bytes: &[u8]) -> Result<Fold, CheckpointError> {
        let (header, parts) = open(bytes)?;
        let current = if header.version == 1 {
            cfg.fingerprint_format_1()
        } else {
            cfg.fingerprint()
        };
        if header.fingerprint != current {
            return Err(CheckpointError::SettingsChanged {
                checkpoint: header.fingerprint,
                current,
            });
        }
        let mut e = Fold::new(cfg);
        let v1 = header.version == 1;

        let s = read_summary(header.version, parts[0])?;
        let base = s.watermark;
        e.watermark = s.watermark;
        e.max_seen = s.max_seen;
        e.max_any = s.max_any;
        e.housekeeping_hour = s.housekeeping_hour;
        e.stats = s.processing;

        let mut r = Reader::new(PARTS[1], parts[1]);
        let entries = r.take_seed(
            "slots",
            converted(|w: Option<InteractionWire<CompactString>>| {
                w.map(|w| w.into_interaction(base))
            }),
        )?;
        let free: Vec<u32> = r.take("free slots")?;
        if !v1 {
            e.legs = r.take("transferred-away segments")?;
        }
        r.finish()?;
        e.interactions = Slots::from_parts(entries, &free)
            .map_err(|m| inconsistent(format!("interaction slots: {m}")))?;

        let mut r = Reader::new(PARTS[2], parts[2]);
        let queues: QueuesWire = if v1 {
            r.take::<QueuesWireV1>("queues")?
                .into_iter()
                .map(|(name, stats)| (name, stats.map(|q| q.map(|q| Box::new((*q).into())))))
                .collect()
        } else {
            r.take("queues")?
        };
        r.finish()?;
        for (name, stats) in queues {
            e.queue_names.push(name);
            e.queues.push(stats);
        }

        let mut r = Reader::new(PARTS[3], parts[3]);
        e.agents = r.take::<Vec<Agent>>("directory")?;
        e.agent_stats = if v1 {
            r.take::<Vec<AgentStatsV1>>("stats")?
                .into_iter()
                .map(AgentStats::from)
                .collect()
        } else {
            r.take::<Vec<AgentStats>>("stats")?
        };
        r.finish()?;

        let mut r = Reader::new(PARTS[4], parts[4]);
        e.sla_wheel = r.take::<TimerWheel<u64>>("timer wheel")?;
        let entries = r.take_seed(
            "clock slots",
            converted(|w: Option<ClocksWire>| w.map(|w| w.into_clocks(base))),
        )?;
        let free: Vec<u32> = r.take("free clock slots")?;
        let detail: Vec<((u32, u16, SlaTarget), SlaOutcomes)> = r.take("outcomes")?;
        let recorded: Vec<(String, Reassignment)> = r.take("recorded decisions")?;
        r.finish()?;
        e.sla_clocks = Slots::from_parts(entries, &free)
            .map_err(|m| inconsistent(format!("SLA clock slots: {m}")))?;
        e.sla_detail = detail.into_iter().collect::<BTreeMap<_, _>>();
        e.recorded = recorded.into_iter().collect::<FxHashMap<_, _>>();

        let mut r = Reader::new(PARTS[5], parts[5]);
        let buckets: Vec<(i64, Vec<H64>)> = r.take("buckets")?;
        r.finish()?;
        e.dedup = Dedup::from_buckets(
            e.cfg.dedup_horizon,
            buckets
                .into_iter()
                .map(|(s, h)| (s, h.into_iter().map(|h| h.0).collect())),
        )
        .map_err(inconsistent)?;

        let mut r = Reader::new(PARTS[6], parts[6]);
        let resolved = r.take_seed(
            "resolved",
            converted(|w: ResolvedWire| {
                let resolved_at = unrel(w.resolved_at, base);
                let r = Resolved {
                    customer: from_opt_h64(w.customer),
                    created_at: unrel(w.created_at, resolved_at),
                    resolved_at,
                    queue: w.queue,
                    priority: w.priority,
                    channel: w.channel,
                    fcr_candidate: w.fcr_candidate,
                };
                (w.key.0, r)
            }),
        )?;
        if header.version <= LAST_SINGLE_FOLD_VERSION {
            let customers = r.take_seed(
                "customers",
                converted(|w: CustomerWireV3| {
                    (
                        w.key.0,
                        unrel(w.last_contact, base),
                        from_opt_h64(w.fcr_resolution),
                    )
                }),
            )?;
            r.finish()?;
            e.resolved = resolved.into_iter().collect();
            e.customers = customers_before_format_4(&mut e.resolved, customers);
        } else {
            let customers = r.take_seed(
                "customers",
                converted(|w: CustomerWire| {
                    let contacts = w
                        .contacts
                        .into_iter()
                        .map(|x| Contact {
                            at: unrel(x.at, base),
                            interaction: x.interaction.0,
                            queue: x.queue,
                            channel: x.channel,
                            repeat: x.repeat,
                        })
                        .collect();
                    let resolutions = w
                        .resolutions
                        .into_iter()
                        .map(|r| {
                            let resolved_at = unrel(r.resolved_at, base);
                            FcrResolution {
                                interaction: r.interaction.0,
                                created_at: unrel(r.created_at, resolved_at),
                                resolved_at,
                                queue: r.queue,
                                channel: r.channel,
                                retracted: r.retracted,
                            }
                        })
                        .collect();
                    (
                        w.key.0,
                        Customer {
                            contacts,
                            resolutions,
                        },
                    )
                }),
            )?;
            r.finish()?;
            e.resolved = resolved.into_iter().collect();
            e.customers = customers.into_iter().collect();
        }

        let mut r = Reader::new(PARTS[7], parts[7]);
        let buffer: Vec<Event> = r.take("events")?;
        r.finish()?;
        e.buffer = buffer
            .into_iter()
            .map(Pending::new)
            .collect::<VecDeque<_>>();

        if !v1 {
            let mut r = Reader::new(PARTS[8], parts[8]);
            let parked: Vec<(CompactString, Vec<Event>)> = r.take("parked events")?;
            r.finish()?;
            e.restore_parked(parked)?;
        }

        if e.counts() != s.counts {
            return Err(inconsistent(format!(
                "the summary counts {:?}, the parts hold {:?}",
                s.counts,
                e.counts()
            )));
        }
        e.check_references()?;
        e.rebuild_indexes()?;
        Ok(e)
    }

    /// Install parked events read back: each list for its interaction id,
    /// in canonical order, ids unique, within the cap.
    fn restore_parked(
        &mut self,
        parked: Vec<(CompactString, Vec<Event>)>,
    ) -> Result<(), CheckpointError> {
        let mut len = 0usize;
        let mut oldest = NONE;
        for (id, events) in parked {
            let list: Vec<Pending> = events.into_iter().map(Pending::new).collect();
            let sorted = list.windows(2).all(|w| w[0].key() <= w[1].key());
            let theirs = list.iter().all(|p| {
                matches!(&p.ev.kind, EventKind::Interaction { interaction_id, .. }
                    if interaction_id.as_str() == id.as_str())
            });
            if list.is_empty() || !sorted || !theirs {
                return Err(inconsistent(format!(
                    "parked events of one interaction: empty, out of order or another's ({} events)",
                    list.len()
                )));
            }
            len += list.len();
            let first = list[0].t;
            oldest = if oldest == NONE {
                first
            } else {
                oldest.min(first)
            };
            if self.parked.insert(id, list).is_some() {
                return Err(inconsistent("parked events: an interaction id twice"));
            }
        }
        if len > self.cfg.max_parked_events {
            return Err(inconsistent(format!(
                "{len} parked events, over limits.max_parked_events"
            )));
        }
        self.parked_len = len;
        self.parked_oldest = oldest;
        Ok(())
    }

    /// Every index one part holds into another is in range, and
    /// interactions and their clocks link to each other: what the fold
    /// indexes with `[]` cannot panic on a restored engine. (References the
    /// fold only looks up, such as waiting sets and timer ids, need no
    /// check for that.) Sequential scans, and one look-up per clock.
    fn check_references(&self) -> Result<(), CheckpointError> {
        let nq = self.queue_names.len();
        let na = self.agents.len();
        let np = self.cfg.policies.list.len();
        let windows = &self.cfg.windows;
        if self.queues.len() != nq {
            return Err(inconsistent("queue names and queue stats differ in number"));
        }
        for (q, chans) in self.queues.iter().enumerate() {
            if chans
                .iter()
                .flatten()
                .any(|qs| !rings_fit(&qs.tiers, windows))
            {
                return Err(inconsistent(format!(
                    "queue {q}: window rings do not match the windows"
                )));
            }
        }
        if self.agent_stats.is_empty() {
            return Err(inconsistent("no `other` agent stats"));
        }
        for (i, st) in self.agent_stats.iter().enumerate() {
            if !rings_fit(&st.tiers, windows) {
                return Err(inconsistent(format!(
                    "agent stats {i}: window rings do not match the windows"
                )));
            }
        }
        for (i, a) in self.agents.iter().enumerate() {
            if a.stats as usize >= self.agent_stats.len()
                || a.queues.iter().any(|&q| q as usize >= nq)
            {
                return Err(inconsistent(format!("agent {i}: index out of range")));
            }
        }
        for (&slot, l) in &self.legs {
            let bad_agent = l.agent != NO_AGENT && l.agent as usize >= na;
            if self.interactions.get(slot as usize).is_none() || l.queue as usize >= nq || bad_agent
            {
                return Err(inconsistent(format!(
                    "transferred-away segment of slot {slot}: index out of range"
                )));
            }
        }
        let mut with_clocks = 0;
        for (slot, it) in self.interactions.iter() {
            let bad_agent = it.agent != NO_AGENT && it.agent as usize >= na;
            if it.queue as usize >= nq || bad_agent {
                return Err(inconsistent(format!(
                    "interaction slot {slot}: index out of range"
                )));
            }
            with_clocks += (it.sla != u32::MAX) as usize;
        }
        // Each clock's interaction points back at it (so no two clocks share
        // one), and as many interactions have clocks as there are clocks:
        // the links are one to one, both ways.
        for (sla, c) in self.sla_clocks.iter() {
            let linked = self
                .interactions
                .get(c.interaction as usize)
                .is_some_and(|it| it.sla as usize == sla);
            if !linked || c.policy as usize >= np {
                return Err(inconsistent(format!(
                    "SLA clocks slot {sla}: not linked to its interaction, or out of range"
                )));
            }
        }
        if with_clocks != self.sla_clocks.len() {
            return Err(inconsistent(format!(
                "{with_clocks} interactions have SLA clocks, {} clocks are kept",
                self.sla_clocks.len()
            )));
        }
        if self
            .sla_detail
            .keys()
            .any(|&(q, p, _)| q as usize >= nq || p as usize >= np)
        {
            return Err(inconsistent("SLA outcomes name an unknown queue or policy"));
        }
        if self.resolved.values().any(|r| r.queue as usize >= nq) {
            return Err(inconsistent(
                "a resolved interaction names an unknown queue",
            ));
        }
        if self.customers.values().any(|c| {
            c.contacts.iter().any(|x| x.queue as usize >= nq)
                || c.resolutions.iter().any(|r| r.queue as usize >= nq)
        }) {
            return Err(inconsistent("a customer's contact names an unknown queue"));
        }
        if self.customers.values().any(|c| {
            c.contacts
                .windows(2)
                .any(|w| (w[0].at, w[0].interaction) >= (w[1].at, w[1].interaction))
        }) {
            return Err(inconsistent("a customer's contacts are out of order"));
        }
        if self
            .buffer
            .iter()
            .zip(self.buffer.iter().skip(1))
            .any(|(a, b)| a.key() > b.key())
        {
            return Err(inconsistent("the reorder buffer is out of order"));
        }
        Ok(())
    }

    /// The id → slot index, the name → index maps and the agents serving
    /// each queue, from the saved ids and queue lists.
    fn rebuild_indexes(&mut self) -> Result<(), CheckpointError> {
        let mut index = HashTable::with_capacity(self.interactions.len());
        let interactions = &self.interactions;
        for (slot, it) in interactions.iter() {
            let h = FxBuildHasher.hash_one(it.id.as_str());
            let entry = index.entry(
                h,
                |&s: &u32| interactions[s as usize].id == it.id,
                |&s| FxBuildHasher.hash_one(interactions[s as usize].id.as_str()),
            );
            match entry {
                hashbrown::hash_table::Entry::Occupied(_) => {
                    return Err(inconsistent(format!(
                        "interaction slot {slot}: its id is open twice"
                    )))
                }
                hashbrown::hash_table::Entry::Vacant(v) => {
                    v.insert(slot as u32);
                }
            }
        }
        self.index = index;
        for (q, name) in self.queue_names.iter().enumerate() {
            if self.queue_ids.insert(name.clone(), q as u32).is_some() {
                return Err(inconsistent(format!("queue {name:?} interned twice")));
            }
        }
        for (a, agent) in self.agents.iter().enumerate() {
            if self.agent_ids.insert(agent.id.clone(), a as u32).is_some() {
                return Err(inconsistent(format!("agent {:?} interned twice", agent.id)));
            }
            super::agents::serve(&mut self.serving, a as u32, &agent.queues, true);
        }
        Ok(())
    }
}

/// Whether window rings have the shapes the configured windows give.
fn rings_fit<T: PaneData>(tiers: &[Ring<T>], windows: &[WindowSpec]) -> bool {
    tiers.len() == windows.len() && tiers.iter().zip(windows).all(|(r, w)| r.fits(w))
}

/// The customer stage's state from a checkpoint before format 4, which
/// kept per customer the last contact and the last resolution still
/// counted as FCR (the only one a later contact could void). The contact
/// becomes one already counted (as a repeat or not, it is not counted
/// again); the resolution, one the stage may still retract. Resolutions
/// with a customer are the stage's from now on, so the partition's own
/// record of them stops being a candidate.
fn customers_before_format_4(
    resolved: &mut Tracked<Resolved>,
    old: Vec<(u64, Millis, u64)>,
) -> Tracked<Customer> {
    let mut out = Tracked::default();
    for (key, last_contact, fcr_resolution) in old {
        let mut c = Customer::default();
        let fcr = resolved.get(&fcr_resolution).filter(|r| r.fcr_candidate);
        // Its queue and channel are never read again (it is counted);
        // the resolution's, or the first queue, keep the references sound.
        let (queue, channel) = fcr.map_or((0, Channel::Voice), |r| (r.queue, r.channel));
        c.contacts.push(Contact {
            at: last_contact,
            interaction: 0,
            queue,
            channel,
            repeat: true,
        });
        if let Some(r) = fcr {
            c.resolutions.push(FcrResolution {
                interaction: fcr_resolution,
                created_at: r.created_at,
                resolved_at: r.resolved_at,
                queue: r.queue,
                channel: r.channel,
                retracted: false,
            });
        }
        out.insert(key, c);
    }
    let with_customer: Vec<u64> = resolved
        .iter()
        .filter(|(_, r)| r.customer != 0 && r.fcr_candidate)
        .map(|(k, _)| *k)
        .collect();
    for k in with_customer {
        if let Some(r) = resolved.get_mut(&k) {
            r.fcr_candidate = false;
        }
    }
    out
}
