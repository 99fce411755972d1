//! Checkpoints: a restore is exactly the engine that was saved.
//!
//! - Property: on generated hostile logs (late and altered copies,
//!   duplicates, agent events, surveys, reopens, transfers, pauses, watermark
//!   ticks, expiry) with SLA policies on, checkpointing at any cut points,
//!   restoring and folding the rest gives the snapshot and the effects of one
//!   straight fold, byte for byte; a restored engine checkpoints to the same
//!   bytes.
//! - Damaged checkpoints are refused with the error that names why, and no
//!   input makes `restore` panic.
//! - A committed checkpoint of the current format version
//!   (`tests/data/checkpoint-v2.bin`) restores to figures worked out by
//!   hand; so does the one of format 1 (`checkpoint-v1.bin`), still read.
//!
//! Sizes and restore-vs-replay times are measured by `cargo bench --bench
//! checkpoint` (the service crate's benches).

use ccpulse_core::engine::checkpoint::{self, CheckpointError, FORMAT_VERSION, HEADER_LEN, MAGIC};
use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::{Engine, Outcome};
use ccpulse_core::event::codec::encode_effect_json;
use ccpulse_core::event::*;
use ccpulse_core::testkit::*;
use proptest::prelude::*;

/// SLA on every target (reassigning twice, then escalating), short windows
/// so rings wrap, one agent with own stats (the rest share `other`), a
/// short repeat window and the shortest idle TTL so housekeeping forgets
/// and expires within a generated log. Events 1 s behind the newest are
/// late.
const CFG: &str = r#"
[engine]
allowed_lateness = "1s"
dedup_horizon = "1m"
repeat_window = "20m"
idle_ttl = "1h"
windows = [
  { name = "1m", length = "1m", slice = "10s" },
  { name = "10m", length = "10m", slice = "1m" },
]
[limits]
max_agents = 1
max_queues = 3
[[sla.policies]]
name = "p"
first_response = "60s"
next_reply = "45s"
resolution = "5m"
max_reassignments = 2
reassign_on = ["first_response", "next_reply", "resolution"]
pause_statuses = ["waiting_on_customer"]
"#;

/// The same on a business calendar with a closed gap (10:05–10:10 Berlin).
const GAPPED: &str = r#"
[engine]
allowed_lateness = "1s"
dedup_horizon = "1m"
repeat_window = "20m"
idle_ttl = "1h"
windows = [
  { name = "1m", length = "1m", slice = "10s" },
  { name = "10m", length = "10m", slice = "1m" },
]
[limits]
max_agents = 1
[sla.calendars.gapped]
time_zone = "Europe/Berlin"
hours = { mon = ["10:00-10:05", "10:10-10:20"], tue = ["10:00-10:05", "10:10-10:20"] }
[[sla.policies]]
name = "p"
calendar = "gapped"
first_response = "60s"
next_reply = "45s"
resolution = "5m"
max_reassignments = 2
reassign_on = ["first_response", "next_reply", "resolution"]
pause_statuses = ["waiting_on_customer"]
"#;

const IDS: [&str; 3] = ["c0", "c1", "c2"];
const QUEUES: [&str; 4] = ["billing", "sales", "support", "vip"];
const AGENTS: [&str; 3] = ["a0", "a1", "a2"];
const KINDS: u8 = 16;

fn kind(k: u8, id: &str) -> InteractionEvent {
    match k % KINDS {
        0 => InteractionEvent::Queued {
            queue: "billing".into(),
            channel: Channel::Chat,
            priority: 0,
            customer_ref: Some(format!("cust-{id}")),
        },
        1 => InteractionEvent::Answered {
            agent_id: "a0".into(),
        },
        2 => InteractionEvent::Message {
            direction: Direction::Customer,
            agent_id: None,
        },
        3 => InteractionEvent::Message {
            direction: Direction::Agent,
            agent_id: None,
        },
        4 => InteractionEvent::Resolved {
            agent_id: Some("a1".into()),
        },
        5 => InteractionEvent::Abandoned,
        6 => InteractionEvent::Reopened,
        7 => InteractionEvent::Transferred {
            to_queue: Some("sales".into()),
            to_agent: None,
        },
        8 => InteractionEvent::StatusChanged {
            status: "waiting_on_customer".into(),
        },
        9 => InteractionEvent::StatusChanged {
            status: "open".into(),
        },
        10 => InteractionEvent::HoldStarted,
        11 => InteractionEvent::HoldEnded,
        12 => InteractionEvent::Ended,
        13 => InteractionEvent::WrapUpDone { agent_id: None },
        14 => InteractionEvent::Offered {
            agent_id: "a2".into(),
        },
        _ => InteractionEvent::Queued {
            queue: "support".into(),
            channel: Channel::Voice,
            priority: 2,
            customer_ref: None,
        },
    }
}

fn ix(event_id: String, at: Millis, id: &str, event: InteractionEvent) -> Event {
    Event {
        event_id,
        occurred_at: at,
        tenant: None,
        kind: EventKind::Interaction {
            interaction_id: id.into(),
            event,
        },
    }
}

/// One interaction's life: a start, then steps (gap in 15 s units, kind).
#[derive(Debug, Clone)]
struct Life {
    start: i64,
    steps: Vec<(i64, u8)>,
}

fn life() -> impl Strategy<Value = Life> {
    (0i64..8, prop::collection::vec((0i64..8, 0u8..KINDS), 0..12))
        .prop_map(|(start, steps)| Life { start, steps })
}

/// Something that arrives among the good events.
#[derive(Debug, Clone)]
enum Extra {
    /// An altered copy of a good event: new event id, shifted, maybe
    /// another kind (often late).
    Copy {
        of: prop::sample::Index,
        shift_ms: i64,
        kind: Option<u8>,
    },
    /// The very same event again (same id): a duplicate.
    Duplicate(prop::sample::Index),
    Agent {
        agent: usize,
        state: usize,
        queues: usize,
        at_s: i64,
    },
    Survey {
        id: usize,
        at_s: i64,
        score: u8,
    },
    /// The shell moves the watermark (an idle partition's tick).
    Tick {
        at_s: i64,
    },
}

fn extra() -> impl Strategy<Value = (prop::sample::Index, Extra)> {
    let shift = prop_oneof![
        Just(0i64),
        Just(-1),
        Just(-15_000),
        Just(45_000),
        Just(-60_000),
        -400_000i64..400_000,
    ];
    let e = prop_oneof![
        3 => (any::<prop::sample::Index>(), shift, proptest::option::of(0u8..KINDS))
            .prop_map(|(of, shift_ms, kind)| Extra::Copy { of, shift_ms, kind }),
        2 => any::<prop::sample::Index>().prop_map(Extra::Duplicate),
        3 => (0..AGENTS.len(), 0..5usize, 0..QUEUES.len(), -60i64..1_500).prop_map(
            |(agent, state, queues, at_s)| Extra::Agent { agent, state, queues, at_s }
        ),
        1 => (0..IDS.len(), 0i64..1_500, 1u8..=5).prop_map(|(id, at_s, score)| Extra::Survey { id, at_s, score }),
        2 => prop_oneof![0i64..1_500, 3_600i64..9_000].prop_map(|at_s| Extra::Tick { at_s }),
    ];
    (any::<prop::sample::Index>(), e)
}

#[derive(Debug, Clone)]
enum Step {
    Apply(Event),
    Advance(Millis),
}

/// The log in arrival order: the good events in time order, and the extras
/// inserted where they arrive.
fn hostile_log(lives: &[Life], extras: &[(prop::sample::Index, Extra)]) -> Vec<Step> {
    let mut good = Vec::new();
    for (i, l) in lives.iter().enumerate() {
        let id = IDS[i % IDS.len()];
        let mut t = T0 + l.start * 15_000;
        good.push((t, ix(format!("g{i}-0"), t, id, kind(0, id))));
        for (n, (gap, k)) in l.steps.iter().enumerate() {
            t += gap * 15_000;
            good.push((t, ix(format!("g{i}-{}", n + 1), t, id, kind(*k, id))));
        }
    }
    good.sort_by_key(|(t, _)| *t);
    let originals: Vec<Event> = good.into_iter().map(|(_, e)| e).collect();
    let mut log: Vec<Step> = originals.iter().cloned().map(Step::Apply).collect();
    for (n, (arrives, x)) in extras.iter().enumerate() {
        let step = match x {
            Extra::Copy {
                of,
                shift_ms,
                kind: k,
            } => {
                let mut e = of.get(&originals).clone();
                e.event_id = format!("x{n}");
                e.occurred_at += shift_ms;
                if let (
                    Some(k),
                    EventKind::Interaction {
                        event,
                        interaction_id,
                    },
                ) = (k, &mut e.kind)
                {
                    *event = kind(*k, interaction_id);
                }
                Step::Apply(e)
            }
            Extra::Duplicate(of) => Step::Apply(of.get(&originals).clone()),
            Extra::Agent {
                agent,
                state,
                queues,
                at_s,
            } => Step::Apply(Event {
                event_id: format!("ag{n}"),
                occurred_at: T0 + at_s * 1000,
                tenant: None,
                kind: EventKind::Agent(AgentStateChanged {
                    agent_id: AGENTS[*agent].into(),
                    state: AgentState::ALL[*state],
                    queues: QUEUES[..=*queues].iter().map(|q| q.to_string()).collect(),
                }),
            }),
            Extra::Survey { id, at_s, score } => Step::Apply(Event {
                event_id: format!("sv{n}"),
                occurred_at: T0 + at_s * 1000,
                tenant: None,
                kind: EventKind::Survey(SurveyAnswered {
                    interaction_id: IDS[*id].into(),
                    agent_id: Some(AGENTS[*id % AGENTS.len()].into()),
                    queue: "billing".into(),
                    channel: Channel::Chat,
                    score: SurveyScore::Csat(*score),
                }),
            }),
            Extra::Tick { at_s } => Step::Advance(T0 + at_s * 1000),
        };
        let at = arrives.index(log.len() + 1);
        log.insert(at, step);
    }
    log
}

struct Run {
    /// After each step, after the flush and at the end: a digest of what
    /// can be read of the engine (watermark, newest event time, buffer,
    /// the snapshot) and how many effects came so far.
    trace: Vec<(u64, usize)>,
    snapshot: String,
    effects: Vec<String>,
    /// The checkpoint taken at each cut.
    checkpoints: Vec<Vec<u8>>,
}

fn snapshot_json(e: &Engine) -> String {
    serde_json::to_string(&e.snapshot()).expect("snapshot serializes")
}

fn digest(e: &Engine) -> u64 {
    let seen = format!(
        "{} {} {} {}",
        e.watermark(),
        e.max_event_time(),
        e.buffered(),
        snapshot_json(e)
    );
    xxhash_rust::xxh3::xxh3_64(seen.as_bytes())
}

/// Fold `log` with `recorded` decisions installed; before the steps at
/// `cuts` (`log.len()`: before the flush, `log.len() + 1`: after it),
/// replace the engine by its restored checkpoint. Then flush and run the
/// clocks out.
fn run(cfg: &EngineConfig, log: &[Step], recorded: &[Effect], cuts: &[usize]) -> Run {
    let mut e = Engine::new(cfg.clone());
    e.install_recorded_decisions(recorded.iter().cloned());
    let mut out = Vec::new();
    let mut checkpoints = Vec::new();
    let mut trace = Vec::new();
    let mut cut_here = |i: usize, e: &mut Engine| {
        if cuts.contains(&i) {
            *e = save_and_restore(cfg, e);
            checkpoints.push(e.checkpoint());
        }
    };
    for (i, step) in log.iter().enumerate() {
        cut_here(i, &mut e);
        match step {
            Step::Apply(ev) => {
                e.apply(ev.clone(), &mut out);
            }
            Step::Advance(t) => e.advance(*t, &mut out),
        }
        trace.push((digest(&e), out.len()));
    }
    cut_here(log.len(), &mut e);
    e.flush(&mut out);
    trace.push((digest(&e), out.len()));
    cut_here(log.len() + 1, &mut e);
    e.advance(T0 + 86_400_000, &mut out);
    trace.push((digest(&e), out.len()));
    Run {
        trace,
        snapshot: snapshot_json(&e),
        effects: out.iter().map(encode_effect_json).collect(),
        checkpoints,
    }
}

/// Checkpoint, restore, and check what can be checked on the spot: the
/// restored engine reads the same and checkpoints to the same bytes, and
/// `inspect` reports it.
fn save_and_restore(cfg: &EngineConfig, e: &Engine) -> Engine {
    let bytes = e.checkpoint();
    let restored = match Engine::restore(cfg.clone(), &bytes) {
        Ok(r) => r,
        Err(err) => panic!("a fresh checkpoint does not restore: {err}"),
    };
    assert!(
        restored.checkpoint() == bytes,
        "a restored engine checkpoints to other bytes"
    );
    assert_eq!(snapshot_json(&restored), snapshot_json(e));
    let info = checkpoint::inspect(&bytes).expect("inspect");
    assert_eq!(info.open_interactions, e.open_interactions() as u64);
    assert_eq!(info.buffered, e.buffered() as u64);
    assert_eq!(
        info.watermark,
        Some(e.watermark()).filter(|&w| w != Millis::MIN)
    );
    assert_eq!(info.processing, e.processing());
    assert_eq!(info.total_bytes, bytes.len() as u64);
    let s = info.sizes;
    let parts = s.interactions + s.queues + s.agents + s.sla + s.dedup + s.tracking + s.buffer;
    assert_eq!(parts + s.parking + s.other, info.total_bytes);
    assert_eq!(restored.parked(), e.parked());
    restored
}

fn without_agents(log: &[Step]) -> Vec<Step> {
    log.iter()
        .filter(|s| !matches!(s, Step::Apply(e) if matches!(e.kind, EventKind::Agent(_))))
        .cloned()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_restored_checkpoint_folds_on_exactly_like_the_engine_that_wrote_it(
        lives in prop::collection::vec(life(), 1..6),
        extras in prop::collection::vec(extra(), 0..14),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 1..4),
        gapped in any::<bool>(),
        replaying in any::<bool>(),
    ) {
        let cfg = engine_config_from_toml(if gapped { GAPPED } else { CFG });
        let mut log = hostile_log(&lives, &extras);
        // A restore replaying with the decisions read back from the effects
        // topic (and without the agent events, which it cannot reproduce):
        // recorded decisions not reached yet are part of the state.
        let recorded = if replaying {
            let mut e = Engine::new(cfg.clone());
            let mut fx = Vec::new();
            for s in &log {
                match s {
                    Step::Apply(ev) => { e.apply(ev.clone(), &mut fx); }
                    Step::Advance(t) => e.advance(*t, &mut fx),
                }
            }
            e.flush(&mut fx);
            e.advance(T0 + 86_400_000, &mut fx);
            log = without_agents(&log);
            fx
        } else {
            Vec::new()
        };
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(log.len() + 2)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let straight = run(&cfg, &log, &recorded, &[]);
        let cut = run(&cfg, &log, &recorded, &cuts);
        prop_assert_eq!(&cut.effects, &straight.effects);
        prop_assert_eq!(&cut.snapshot, &straight.snapshot);
        prop_assert_eq!(&cut.trace, &straight.trace);
        // The last checkpoint, taken after earlier restores, is the one an
        // uninterrupted fold writes at that point.
        let last = *cuts.last().expect("one cut at least");
        let once = run(&cfg, &log, &recorded, &[last]);
        prop_assert!(once.checkpoints.last() == cut.checkpoints.last());
    }
}

// ---------------------------------------------------------------------------
// Damaged checkpoints
// ---------------------------------------------------------------------------

/// A small engine with some of everything: open, waiting and resolved
/// interactions, clocks and timers, agents, a buffered event, duplicates.
fn sample_engine() -> (EngineConfig, Engine) {
    let cfg = engine_config_from_toml(CFG);
    let mut s = Scenario::new();
    s.agent(0.0, "a1", AgentState::Available, &["billing"])
        .queued_by(0.0, "c1", "billing", Channel::Chat, "k1")
        .answered(5.0, "c1", "a1")
        .message(8.0, "c1", Direction::Agent)
        .resolved(30.0, "c1", "a1")
        .queued(10.0, "c2", "billing", Channel::Chat)
        .queued(12.0, "c3", "sales", Channel::Voice)
        .abandoned(20.0, "c3")
        .queued(40.0, "c4", "billing", Channel::Voice);
    let mut e = Engine::new(cfg.clone());
    let mut out = Vec::new();
    for ev in &s.events {
        e.apply(ev.clone(), &mut out);
    }
    e.apply(s.events[1].clone(), &mut out); // a duplicate
    assert!(e.buffered() > 0 && e.open_interactions() > 0);
    (cfg, e)
}

/// Rewrite the header's check after editing the header.
fn reseal_header(bytes: &mut [u8]) {
    let check = xxhash_rust::xxh3::xxh3_64(&bytes[..36]) as u32;
    bytes[36..40].copy_from_slice(&check.to_le_bytes());
}

/// Replace the payload and fix its length and checksum (a payload that
/// passes every integrity check).
fn with_payload(bytes: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = bytes[..HEADER_LEN].to_vec();
    out[20..28].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    out[28..36].copy_from_slice(&xxhash_rust::xxh3::xxh3_64(payload).to_le_bytes());
    reseal_header(&mut out);
    out.extend_from_slice(payload);
    out
}

fn restore_err(cfg: &EngineConfig, bytes: &[u8]) -> CheckpointError {
    match Engine::restore(cfg.clone(), bytes) {
        Ok(_) => panic!("a damaged checkpoint restored"),
        Err(e) => e,
    }
}

#[test]
fn every_flipped_byte_is_caught_and_named() {
    let (cfg, e) = sample_engine();
    let good = e.checkpoint();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x20;
        let err = restore_err(&cfg, &bad);
        let ok = match i {
            0..8 => err == CheckpointError::BadMagic,
            8..10 => matches!(err, CheckpointError::UnsupportedVersion { .. }),
            10..HEADER_LEN => err == CheckpointError::HeaderChecksum,
            _ => matches!(err, CheckpointError::PayloadChecksum { .. }),
        };
        assert!(ok, "byte {i} flipped: {err}");
        assert!(checkpoint::inspect(&bad).is_err(), "byte {i} flipped");
    }
}

#[test]
fn every_truncation_is_caught_and_extra_bytes_too() {
    let (cfg, e) = sample_engine();
    let good = e.checkpoint();
    for len in 0..good.len() {
        let err = restore_err(&cfg, &good[..len]);
        assert!(
            matches!(err, CheckpointError::Truncated { found, .. } if found == len as u64),
            "cut to {len} bytes: {err}"
        );
    }
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(
        restore_err(&cfg, &longer),
        CheckpointError::TrailingBytes { extra: 1 }
    );
}

#[test]
fn a_wrong_magic_or_version_is_refused_by_name() {
    let (cfg, e) = sample_engine();
    let good = e.checkpoint();
    assert_eq!(&good[..8], &MAGIC);
    assert_eq!(
        restore_err(&cfg, b"{\"watermark\": 1}"),
        CheckpointError::BadMagic
    );
    assert_eq!(restore_err(&cfg, b"\x89CCPX"), CheckpointError::BadMagic);
    for v in [0, FORMAT_VERSION + 1, u16::MAX] {
        let mut other = good.clone();
        other[8..10].copy_from_slice(&v.to_le_bytes());
        reseal_header(&mut other);
        let err = restore_err(&cfg, &other);
        assert_eq!(
            err,
            CheckpointError::UnsupportedVersion {
                found: v,
                supported: FORMAT_VERSION
            }
        );
        assert!(err.to_string().contains("version"), "{err}");
    }
}

#[test]
fn a_checkpoint_taken_under_other_settings_is_refused() {
    let (cfg, e) = sample_engine();
    let good = e.checkpoint();
    let changes = [
        ("allowed_lateness = \"1s\"", "allowed_lateness = \"2s\""),
        ("slice = \"10s\"", "slice = \"5s\""),
        ("idle_ttl = \"1h\"", "idle_ttl = \"2h\""),
        ("max_agents = 1", "max_agents = 2"),
        ("first_response = \"60s\"", "first_response = \"61s\""),
        (
            "[limits]",
            "[queues.billing]\nservice_level_threshold = \"30s\"\n[limits]",
        ),
        ("[engine]", "[engine]\ntime_zone = \"Europe/Berlin\""),
        ("[engine]", "[engine]\nparking_ttl = \"1m\""),
        ("max_agents = 1", "max_agents = 1\nmax_parked_events = 5"),
    ];
    for (from, to) in changes {
        let other = engine_config_from_toml(&CFG.replacen(from, to, 1));
        let err = restore_err(&other, &good);
        assert!(
            matches!(err, CheckpointError::SettingsChanged { checkpoint, current }
                if checkpoint == cfg.tenancy_fingerprint() && current == other.tenancy_fingerprint()),
            "{from} -> {to}: {err}"
        );
    }
    // The same settings written in another order are the same settings.
    let reordered = engine_config_from_toml(&format!(
        "[queues.b]\nservice_level_threshold = \"9s\"\n[queues.a]\nservice_level_threshold = \"8s\"\n{CFG}"
    ));
    let reordered2 = engine_config_from_toml(&format!(
        "[queues.a]\nservice_level_threshold = \"8s\"\n[queues.b]\nservice_level_threshold = \"9s\"\n{CFG}"
    ));
    assert_eq!(reordered.fingerprint(), reordered2.fingerprint());
    // The default settings (no SLA) are other settings too, and inspecting
    // needs none.
    assert!(matches!(
        restore_err(&EngineConfig::default(), &good),
        CheckpointError::SettingsChanged { .. }
    ));
    assert_eq!(
        checkpoint::inspect(&good).unwrap().settings_fingerprint,
        cfg.tenancy_fingerprint()
    );
}

#[test]
fn a_checkpoint_taken_under_other_tenant_settings_is_refused() {
    let (_, e) = sample_engine();
    let good = e.checkpoint();
    let changes = [
        "[engine]\ndefault_tenant = \"main\"",
        "[limits]\nmax_tenants = 7",
        "[tenants.acme.queue_defaults]\nservice_level_threshold = \"9s\"",
        "[[tenants.acme.sla.policies]]\nname = \"acme\"\nfirst_response = \"5m\"",
    ];
    for change in changes {
        let toml = merge_toml(CFG, change);
        let other = engine_config_from_toml(&toml);
        let err = restore_err(&other, &good);
        assert!(
            matches!(err, CheckpointError::SettingsChanged { .. }),
            "{change}: {err}"
        );
    }
}

/// `CFG` with one more table, or a field added to one of its tables.
fn merge_toml(base: &str, extra: &str) -> String {
    let (head, _) = extra.split_once('\n').unwrap();
    if base.contains(head) {
        base.replacen(head, extra, 1)
    } else {
        format!("{base}\n{extra}\n")
    }
}

#[test]
fn an_intact_but_undecodable_payload_is_refused() {
    let (cfg, e) = sample_engine();
    let good = e.checkpoint();
    for payload in [&b""[..], &[0u8; 64][..], &[0xff; 300][..]] {
        let err = restore_err(&cfg, &with_payload(&good, payload));
        assert!(matches!(err, CheckpointError::Undecodable { .. }), "{err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A payload damaged in ways its checksum does not catch (changed, then
    /// resealed) restores to something or is refused: never a panic, and
    /// what restores checkpoints again.
    #[test]
    fn no_payload_makes_restore_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let (cfg, e) = sample_engine();
        let good = e.checkpoint();
        let mut payload = good[HEADER_LEN..].to_vec();
        for (at, v) in &edits {
            let i = at.index(payload.len());
            payload[i] = *v;
        }
        let keep = cut.index(payload.len() + 1).max(payload.len() * 9 / 10);
        payload.truncate(keep);
        if let Ok(r) = Engine::restore(cfg, &with_payload(&good, &payload)) {
            let _ = r.checkpoint();
        }
    }
}

// ---------------------------------------------------------------------------
// The committed checkpoint
// ---------------------------------------------------------------------------

/// A checkpoint of the current format, written by
/// `this_binary_writes_the_committed_checkpoint_byte_for_byte`.
const GOLDEN: &[u8] = include_bytes!("data/checkpoint-v4.bin");

/// The same engine in format 3 (customers as their last contact, before
/// the customer stage).
const GOLDEN_V3: &[u8] = include_bytes!("data/checkpoint-v3.bin");

/// The same scenario's checkpoint as format 2 wrote it (before tenants).
const GOLDEN_V2: &[u8] = include_bytes!("data/checkpoint-v2.bin");

/// The same scenario, written by the binary of format 1 (no extremes in
/// the fixed-bucket histograms, fewer processing counters): still read.
const GOLDEN_V1: &[u8] = include_bytes!("data/checkpoint-v1.bin");

/// First response 60 s on every queue; no reassignment (only breaches).
/// One small window keeps the file small.
const GOLDEN_CFG: &str = r#"
[engine]
windows = [{ name = "5m", length = "5m", slice = "1m" }]
[[sla.policies]]
name = "fr"
first_response = "60s"
reassign_on = []
"#;

/// The golden scenario, up to the checkpoint: default engine settings
/// (5 s allowed lateness) but for the window, with the policy above. Times
/// in seconds from T0, in arrival order.
fn golden_scenario() -> Scenario {
    let mut s = Scenario::new();
    s.agent(0.0, "ann", AgentState::Available, &["billing"])
        .queued_by(0.0, "c1", "billing", Channel::Voice, "cust-1")
        .queued(5.0, "c2", "billing", Channel::Voice)
        .answered(10.0, "c1", "ann")
        .queued(20.0, "c3", "billing", Channel::Chat)
        .queued(30.0, "c4", "sales", Channel::Voice)
        .ended(40.0, "c1")
        .abandoned(40.0, "c2")
        .wrapped(45.0, "c1")
        .answered(70.0, "c4", "bob")
        .resolved(72.0, "c4", "bob")
        .queued(74.0, "c5", "billing", Channel::Voice)
        .survey(76.0, "c1", Some("ann"), "billing", SurveyScore::Csat(5));
    s
}

/// Fold the golden scenario, then c2's `queued` again (a duplicate) and a
/// late `queued` of c6 at 50 s (the watermark is at 76 - 5 = 71 s).
fn golden_engine() -> Engine {
    let s = golden_scenario();
    let mut e = Engine::new(engine_config_from_toml(GOLDEN_CFG));
    let mut out = Vec::new();
    for ev in &s.events {
        e.apply(ev.clone(), &mut out);
    }
    assert_eq!(e.apply(s.events[2].clone(), &mut out), Outcome::Duplicate);
    let mut late = Scenario::new();
    late.queued(50.0, "c6", "sales", Channel::Chat);
    late.events[0].event_id = "late-c6".into();
    assert_eq!(e.apply(late.events[0].clone(), &mut out), Outcome::Late);
    assert!(out.is_empty());
    e
}

#[test]
fn the_committed_checkpoint_restores_to_the_figures_worked_out_by_hand() {
    let (snap, straight) = restore_golden(GOLDEN, FORMAT_VERSION);
    assert_eq!(snap, straight);
}

/// A format-3 checkpoint (customers before the customer stage) restores
/// to the same figures as the straight fold.
#[test]
fn a_format_3_checkpoint_still_restores_to_the_same_figures() {
    let (snap, straight) = restore_golden(GOLDEN_V3, 3);
    assert_eq!(snap, straight);
}

/// A format-2 checkpoint (one fold, before tenants) restores into the
/// default tenant, to the same figures as the straight fold.
#[test]
fn a_format_2_checkpoint_still_restores_into_the_default_tenant() {
    let (snap, straight) = restore_golden(GOLDEN_V2, 2);
    assert_eq!(snap, straight);
    let cfg = engine_config_from_toml(GOLDEN_CFG);
    let e = Engine::restore(cfg, GOLDEN_V2).unwrap();
    assert_eq!(e.tenants().collect::<Vec<_>>(), ["default"]);
}

/// A format-1 checkpoint restores to the same hand-worked figures and folds
/// on to the same effects. Its histograms carry no extremes, so until
/// samples with known extremes merge in, its interpolated quantiles are
/// format 1's (unclamped); everything else is the straight fold's.
#[test]
fn a_format_1_checkpoint_still_restores_to_the_same_figures() {
    let (snap, straight) = restore_golden(GOLDEN_V1, 1);
    let strip = |json: &str| {
        let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
        strip_quantiles(&mut v);
        v
    };
    assert_eq!(strip(&snap), strip(&straight));
    assert_ne!(snap, straight, "the quantiles are format 1's");
}

fn strip_quantiles(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for k in ["p50_seconds", "p90_seconds", "p99_seconds"] {
                m.remove(k);
            }
            m.values_mut().for_each(strip_quantiles);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_quantiles),
        _ => {}
    }
}

/// Restore `bytes` (of format `version`), check the hand-worked figures,
/// fold on to 100 s and check the effects against a fold that never
/// stopped; the restored and the straight snapshots, as JSON.
fn restore_golden(bytes: &[u8], version: u16) -> (String, String) {
    let cfg = engine_config_from_toml(GOLDEN_CFG);
    let e = match Engine::restore(cfg.clone(), bytes) {
        Ok(e) => e,
        Err(err) => panic!("the committed v{version} checkpoint does not restore: {err}"),
    };
    let info = checkpoint::inspect(bytes).unwrap();
    assert_eq!(info.version, version);
    assert_eq!(info.watermark, Some(ms(71.0)));
    assert_eq!(info.max_event_time, Some(ms(76.0)));
    // Applied: the 10 events before 71 s, and c6 (late, at once).
    // Buffered: c4's `resolved` (72 s), c5's `queued` (74 s), the survey.
    assert_eq!(info.buffered, 3);
    let p = &info.processing;
    assert_eq!(
        (p.events_received, p.events_applied, p.duplicates, p.late),
        (15, 11, 1, 1)
    );
    // Open: c1 (idle after its wrap-up), c3 and c6 (waiting), c4 (with
    // bob); c2 abandoned.
    assert_eq!(info.open_interactions, 4);
    // billing, sales; billing voice and chat, sales voice and chat.
    assert_eq!((info.queues, info.queue_channels), (2, 4));
    assert_eq!(info.agents, 2);
    // Every open interaction has clocks; pending timers: c3's breach (due
    // 80 s; its at-risk at 68 s fired) and c6's at-risk (98 s). c1's and
    // c4's first responses were met by answering the call.
    assert_eq!((info.sla_clocks, info.pending_timers), (4, 2));
    assert_eq!((info.resolved_tracked, info.customers_tracked), (0, 1));
    // 14 distinct event ids, all within the 2 min horizon.
    assert_eq!(info.dedup_ids, 14);

    let snap = e.snapshot();
    let bv = queue(&snap, "billing", Channel::Voice);
    let c = &bv.total.counts;
    // c1 answered after 10 s (within the 20 s SL), handled 35 s (30 s talk
    // + 5 s wrap-up); c2 abandoned after 35 s (not short, not within).
    assert_eq!(
        (
            c.offered,
            c.answered,
            c.answered_within_sl,
            c.abandoned,
            c.abandoned_within_sl,
            c.short_abandoned,
            c.handled,
            c.handle_ms
        ),
        (2, 1, 1, 1, 0, 0, 1, 35_000)
    );
    assert_eq!(bv.now.waiting, 0);
    let bc = queue(&snap, "billing", Channel::Chat);
    assert_eq!((bc.total.counts.offered, bc.now.waiting), (1, 1));
    assert_eq!(bc.now.oldest_waiting_age_seconds, Some(51.0)); // 71 - 20
    let sv = queue(&snap, "sales", Channel::Voice);
    let c = &sv.total.counts;
    // c4 answered after 40 s: outside the SL, inside the 60 s first response.
    assert_eq!(
        (
            c.offered,
            c.answered,
            c.answered_within_sl,
            c.sla_met,
            c.resolved
        ),
        (1, 1, 0, 1, 0)
    );
    let sc = queue(&snap, "sales", Channel::Chat);
    assert_eq!(sc.now.oldest_waiting_age_seconds, Some(21.0)); // 71 - 50

    // Folding on: c4's resolution, c5 and the survey apply; c3's first
    // response breaches at 80 s (the one effect); c6's at-risk passes at
    // 98 s (its breach is due at 110 s).
    let mut e = e;
    let mut out = Vec::new();
    e.advance(ms(100.0), &mut out);
    let b = breaches(&out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (b[0].interaction_id.as_str(), b[0].deadline),
        ("c3", ms(80.0))
    );
    let snap = e.snapshot();
    assert_eq!(snap.processing.stats.events_applied, 14);
    let bv = queue(&snap, "billing", Channel::Voice);
    assert_eq!(
        (bv.total.counts.offered, bv.total.counts.csat_responses),
        (3, 1)
    );
    assert_eq!(
        queue(&snap, "sales", Channel::Voice).total.counts.resolved,
        1
    );
    assert_eq!(queue(&snap, "sales", Channel::Chat).now.sla_at_risk, 1);
    // And all of it as a fold that never stopped.
    let mut straight = golden_engine();
    let mut fx = Vec::new();
    straight.advance(ms(100.0), &mut fx);
    assert_eq!(
        out.iter().map(encode_effect_json).collect::<Vec<_>>(),
        fx.iter().map(encode_effect_json).collect::<Vec<_>>()
    );
    (
        serde_json::to_string(&snap).unwrap(),
        snapshot_json(&straight),
    )
}

/// If this fails, the checkpoint format (or what the golden scenario folds
/// to) changed: raise `FORMAT_VERSION` when the format changed, point
/// `GOLDEN` at the new file, and write it with
/// `CCPULSE_WRITE_GOLDEN=1 cargo test -p ccpulse-core --test checkpoint byte_for_byte`.
#[test]
#[allow(clippy::disallowed_methods)] // a test that may write its own data file
fn this_binary_writes_the_committed_checkpoint_byte_for_byte() {
    if std::env::var_os("CCPULSE_WRITE_GOLDEN").is_some() {
        let path = format!(
            "{}/tests/data/checkpoint-v{FORMAT_VERSION}.bin",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::write(&path, golden_engine().checkpoint()).expect("write the golden checkpoint");
        return;
    }
    assert!(
        golden_engine().checkpoint() == GOLDEN,
        "the golden scenario no longer checkpoints to tests/data/checkpoint-v{FORMAT_VERSION}.bin"
    );
}
