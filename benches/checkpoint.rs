//! Restoring a partition from its checkpoint vs replaying its log, side by
//! side in one run: `cargo bench --bench checkpoint`.
//!
//! The partition: `CCPULSE_BENCH_OPEN` (default 1,000,000) interactions
//! queued and still open, spread over 24 h of event time on 20 queues × 3
//! channels, plus one completed interaction (queued, answered 20 s later,
//! ended 3 min after that, wrapped up and resolved) per 5 open ones, so every window (5m, 15m, 1h,
//! 24h) and histogram holds data, and an SLA policy whose clocks run on
//! every open interaction. This is what a restore must rebuild.
//!
//! - **replay**: what a restore without a checkpoint does per record after
//!   fetching it: decode the protobuf bytes and fold, then flush.
//! - **checkpoint**: `Engine::checkpoint()` of that state (what a partition
//!   task does every `checkpoint_interval`), its size, and
//!   `Engine::restore` from the bytes (after the read from Kafka).
//!
//! Measured twice: with the open interactions' log as above, and with four
//! status changes in each one's history (a ticket's life), since replay
//! grows with the log while the checkpoint grows only with the state.
//!
//! Printed: both times and their ratio (goal ≥ 10×), checkpoint bytes per
//! open interaction (whole and the interactions part alone), and the
//! throughput cost of checkpointing at the default 30 s interval: the
//! partition task folds nothing while it encodes, so the cost is the
//! encode time over the interval (goal ≤ 5 %). The restored engine is
//! checked to checkpoint to the same bytes. Kafka I/O is left out of both
//! sides: fetching the log is per record, fetching a checkpoint is a few
//! large records, so the real ratio is larger than this one.

use std::time::Instant;

use ccpulse::config::Config;
use ccpulse_core::engine::checkpoint;
use ccpulse_core::engine::{Engine, EngineConfig};
use ccpulse_core::event::codec::{decode_protobuf, encode_protobuf, Limits};
use ccpulse_core::event::{Channel, Event, EventKind, InteractionEvent};

const T0: i64 = 1_793_610_000_000;
const DAY_MS: i64 = 86_400_000;
const CHANNELS: [Channel; 3] = [Channel::Voice, Channel::Chat, Channel::Email];

const CONFIG: &str = r#"
[engine]
allowed_lateness = "5s"

[[sla.policies]]
name = "resolve"
resolution = "3d"
"#;

fn event(id: String, at: i64, interaction: &str, event: InteractionEvent) -> Event {
    Event {
        event_id: id,
        occurred_at: at,
        tenant: None,
        kind: EventKind::Interaction {
            interaction_id: interaction.to_string(),
            event,
        },
    }
}

/// The partition's log, in event-time order, as protobuf records; each
/// open interaction has `history` status changes after its queueing (a
/// ticket's life before it is resolved: triage, waiting, updates).
fn log(open: usize, history: usize) -> Vec<Vec<u8>> {
    let step = DAY_MS / open as i64;
    let mut evs = Vec::with_capacity(open + open / 5 * 5);
    for i in 0..open {
        let at = T0 + i as i64 * step;
        let queue = format!("queue-{:02}", i % 20);
        let channel = CHANNELS[i % 3];
        let id = format!("open-{i:09}");
        evs.push(event(
            format!("{id}-q"),
            at,
            &id,
            InteractionEvent::Queued {
                queue: queue.clone(),
                channel,
                priority: 0,
                customer_ref: None,
            },
        ));
        for h in 0..history {
            evs.push(event(
                format!("{id}-s{h}"),
                at + 1_000 * (h as i64 + 1),
                &id,
                InteractionEvent::StatusChanged {
                    status: ["triage", "in_progress", "updated"][h % 3].to_string(),
                },
            ));
        }
        if i % 5 == 0 {
            let id = format!("done-{i:09}");
            evs.push(event(
                format!("{id}-q"),
                at,
                &id,
                InteractionEvent::Queued {
                    queue,
                    channel,
                    priority: 0,
                    customer_ref: None,
                },
            ));
            evs.push(event(
                format!("{id}-a"),
                at + 20_000,
                &id,
                InteractionEvent::Answered {
                    agent_id: format!("agent-{:03}", i % 300),
                },
            ));
            evs.push(event(
                format!("{id}-e"),
                at + 200_000,
                &id,
                InteractionEvent::Ended,
            ));
            evs.push(event(
                format!("{id}-w"),
                at + 230_000,
                &id,
                InteractionEvent::WrapUpDone { agent_id: None },
            ));
            evs.push(event(
                format!("{id}-r"),
                at + 231_000,
                &id,
                InteractionEvent::Resolved { agent_id: None },
            ));
        }
    }
    evs.sort_by_key(|e| e.occurred_at);
    evs.iter().map(encode_protobuf).collect()
}

/// One side-by-side measurement; its table row.
fn measure(cfg: &EngineConfig, open: usize, history: usize) -> String {
    let limits = Limits::default();
    let records = log(open, history);
    let bytes_in: usize = records.iter().map(Vec::len).sum();
    println!(
        "partition: {} records ({:.1} MB protobuf), {history} status changes per open interaction, {open} interactions open at the end",
        records.len(),
        bytes_in as f64 / 1e6
    );

    // Replay: decode and fold every record.
    let started = Instant::now();
    let mut engine = Engine::new(cfg.clone());
    let mut sink = Vec::new();
    for r in &records {
        let ev = decode_protobuf(r, &limits, None).expect("decodable record");
        engine.apply(ev, &mut sink);
        sink.clear();
    }
    engine.flush(&mut sink);
    let replay = started.elapsed();
    drop(records);

    // Checkpoint: encode, then restore from the bytes.
    let started = Instant::now();
    let bytes = engine.checkpoint();
    let encode = started.elapsed();
    let started = Instant::now();
    let restored = Engine::restore(cfg.clone(), &bytes).expect("restorable checkpoint");
    let restore = started.elapsed();
    assert!(
        restored.checkpoint() == bytes,
        "the restored engine checkpoints to other bytes"
    );
    let info = checkpoint::inspect(&bytes).expect("inspectable checkpoint");
    assert_eq!(info.open_interactions as usize, open, "open interactions");

    let ratio = replay.as_secs_f64() / restore.as_secs_f64();
    let cost = encode.as_secs_f64() / INTERVAL_S;
    println!(
        "  replay (decode + fold) {:.3} s, restore from checkpoint {:.3} s: {ratio:.1}x (goal >= 10x: {})",
        replay.as_secs_f64(),
        restore.as_secs_f64(),
        if ratio >= 10.0 { "met" } else { "NOT met" }
    );
    println!(
        "  checkpoint {:.1} MB, {:.1} B per open interaction ({:.1} in the interactions part); {:?}",
        bytes.len() as f64 / 1e6,
        bytes.len() as f64 / open as f64,
        info.sizes.interactions as f64 / open as f64,
        info.sizes
    );
    println!(
        "  encode {:.3} s = {:.2} % of a {INTERVAL_S:.0} s interval folded nothing (goal <= 5 %: {})",
        encode.as_secs_f64(),
        cost * 100.0,
        if cost <= 0.05 { "met" } else { "NOT met" }
    );
    format!(
        "| {open} | {history} | {:.3} | {:.3} | {ratio:.1}x | {:.1} | {:.1} | {:.3} | {:.2} % |",
        replay.as_secs_f64(),
        restore.as_secs_f64(),
        bytes.len() as f64 / 1e6,
        bytes.len() as f64 / open as f64,
        encode.as_secs_f64(),
        cost * 100.0
    )
}

/// `kafka.checkpoint_interval`'s default.
const INTERVAL_S: f64 = 30.0;

fn main() {
    let open: usize = std::env::var("CCPULSE_BENCH_OPEN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let cfg = Config::from_toml(CONFIG, std::path::Path::new("bench.toml"))
        .expect("bench config")
        .engine;
    // The replay grows with the log, the checkpoint with the state: the
    // same open interactions with a longer history before them.
    let rows: Vec<String> = [0, 4].iter().map(|&h| measure(&cfg, open, h)).collect();
    println!();
    println!("| open interactions | status changes each | replay s | restore s | ratio | checkpoint MB | B/open | encode s | cost @30s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    println!("reproduce: cargo bench --bench checkpoint");
}
