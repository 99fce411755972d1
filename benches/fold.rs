//! Fold throughput over a realistic pre-decoded stream, side by side with
//! the floor of the work: upserting each event into a hash map keyed by
//! interaction id. Goal: the fold runs at >= 1/3 of the floor's speed.
//!
//! `fold/engine_with_sla_5000_agents`: the same arrivals in a large
//! center (5,000 agents on 50 queues), where each SLA reassignment picks
//! among the agents of one queue.
//!
//! `publish/view`: what a partition task pays on every publish tick
//! (`export.tick_interval`) to hand its figures to the exporter;
//! `publish/provisional_*`: what it pays on top while events wait for the
//! watermark (a copy of the engine with its reorder buffer applied), after
//! the stream above, with 100,000 interactions open, and with 200,000
//! resolutions tracked (what a week of traffic leaves for reopens, repeat
//! contacts and FCR).
//!
//! `cargo bench --bench fold`
//!
//! `CCPULSE_FOLD_EVENTS_OUT=events.pb cargo bench --bench fold` writes a
//! longer stream of the same traffic (60,000 interactions, 423,523 events;
//! `.pb` length-delimited protobuf, `.jsonl` JSON Lines) and exits: input
//! for `ccpulse replay --config examples/sla.toml events.pb`, under
//! `valgrind --tool=callgrind` for instruction counts that do not swing
//! with the machine's load (README, Performance).

use std::hint::black_box;

use ccpulse::sim::{generate, Traffic};
use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::Engine;
use ccpulse_core::event::file::{write_delimited, write_jsonl, FileFormat};
use ccpulse_core::event::{Channel, Event, EventKind, InteractionEvent};
use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use rustc_hash::FxHashMap;

fn stream() -> Vec<Event> {
    traffic(40_000)
}

/// `interactions` of the benches' traffic: 20 arrivals per second.
fn traffic(interactions: usize) -> Vec<Event> {
    generate(&Traffic {
        interactions,
        arrivals_per_second: 20.0,
        ..Traffic::default()
    })
}

fn fold(c: &mut Criterion) {
    let events = stream();
    let mut g = c.benchmark_group("fold");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.sample_size(10);

    g.bench_function("baseline_hashmap_upsert", |b| {
        b.iter_batched(
            || events.clone(),
            |evs| {
                let mut map: FxHashMap<String, Event> = FxHashMap::default();
                for ev in evs {
                    match map.get_mut(ev.key()) {
                        Some(slot) => *slot = ev,
                        None => {
                            map.insert(ev.key().to_owned(), ev);
                        }
                    }
                }
                black_box(map.len())
            },
            BatchSize::LargeInput,
        )
    });

    g.bench_function("engine", |b| {
        b.iter_batched(
            || events.clone(),
            |evs| black_box(fold_all(&EngineConfig::default(), evs)),
            BatchSize::LargeInput,
        )
    });
    // The same stream with SLA policies on every interaction (first
    // response, next reply, resolution): the cost of the timer wheel and
    // the clocks, side by side with the run above.
    let sla = ccpulse::config::Config::from_toml(
        "[[sla.policies]]\nname = \"all\"\nfirst_response = \"2m\"\nnext_reply = \"5m\"\nresolution = \"4h\"\n",
        std::path::Path::new("bench.toml"),
    )
    .map(|c| c.engine)
    .unwrap_or_default();
    g.bench_function("engine_with_sla", |b| {
        b.iter_batched(
            || events.clone(),
            |evs| black_box(fold_all(&sla, evs)),
            BatchSize::LargeInput,
        )
    });
    // A large center: 5,000 agents on 50 queues (two each), the same
    // arrivals. A reassignment looks at the 200 agents serving its queue,
    // not at all 5,000.
    let large = generate(&Traffic {
        interactions: 40_000,
        arrivals_per_second: 20.0,
        agents: 5_000,
        queues: (0..50).map(|q| format!("queue-{q}")).collect(),
        ..Traffic::default()
    });
    g.throughput(Throughput::Elements(large.len() as u64));
    g.bench_function("engine_with_sla_5000_agents", |b| {
        b.iter_batched(
            || large.clone(),
            |evs| black_box(fold_all(&sla, evs)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// Folds `events` into a fresh engine: open interactions and effects
/// after the flush.
fn fold_all(cfg: &EngineConfig, events: Vec<Event>) -> (usize, usize) {
    let mut e = Engine::new(cfg.clone());
    let mut out = Vec::new();
    for ev in events {
        e.apply(ev, &mut out);
    }
    e.flush(&mut out);
    (e.open_interactions(), out.len())
}

/// The read side after the stream above: one `view()` per publish tick
/// per partition (it copies the HDR histograms of every queue × channel).
fn publish(c: &mut Criterion) {
    let mut e = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for ev in stream() {
        e.apply(ev, &mut out);
    }
    let queues: usize = e.view().tenants.values().map(|t| t.queues.len()).sum();
    let mut g = c.benchmark_group("publish");
    g.throughput(Throughput::Elements(queues as u64));
    g.bench_function(format!("view_{queues}_queue_channels"), |b| {
        b.iter(|| black_box(e.view()))
    });
    assert!(
        e.buffered() > 0,
        "the stream's last seconds wait for the watermark"
    );
    g.bench_function(
        format!(
            "provisional_{}_open_{}_buffered",
            e.open_interactions(),
            e.buffered()
        ),
        |b| b.iter(|| black_box(e.provisional_view())),
    );
    let big = open_engine(100_000);
    g.bench_function(
        format!(
            "provisional_{}_open_{}_buffered",
            big.open_interactions(),
            big.buffered()
        ),
        |b| b.iter(|| black_box(big.provisional_view())),
    );
    let tracked = tracked_engine(200_000);
    g.bench_function(
        format!(
            "provisional_{}_resolutions_tracked_{}_buffered",
            200_000,
            tracked.buffered()
        ),
        |b| b.iter(|| black_box(tracked.provisional_view())),
    );
    g.finish();
}

/// `n` customers' contacts, queued and resolved 10 ms apart on 20 queues:
/// each resolution is remembered for reopens, repeat contacts and FCR
/// (`engine.repeat_window`, a week by default), as a week of traffic
/// leaves them; the last 5 s wait for the watermark.
fn tracked_engine(n: usize) -> Engine {
    let mut e = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    let at = |i: usize| 1_793_610_000_000 + 10 * i as i64;
    for i in 0..n {
        let id = format!("int-{i:012}");
        let queued = InteractionEvent::Queued {
            queue: format!("queue-{}", i % 20),
            channel: Channel::Voice,
            priority: 0,
            customer_ref: Some(format!("cust-{i:09}")),
        };
        let resolved = InteractionEvent::Resolved { agent_id: None };
        for (k, event) in [(0, queued), (1, resolved)] {
            e.apply(
                Event {
                    event_id: format!("e-{i}-{k}"),
                    occurred_at: at(i) + k,
                    tenant: None,
                    kind: EventKind::Interaction {
                        interaction_id: id.clone(),
                        event,
                    },
                },
                &mut out,
            );
        }
    }
    e
}

/// `n` calls queued 10 ms apart on 20 queues and never answered: the last
/// 5 s of them (the lateness) wait for the watermark.
fn open_engine(n: usize) -> Engine {
    let mut e = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for i in 0..n {
        e.apply(
            Event {
                event_id: format!("q-{i}"),
                occurred_at: 1_793_610_000_000 + 10 * i as i64,
                tenant: None,
                kind: EventKind::Interaction {
                    interaction_id: format!("int-{i:012}"),
                    event: InteractionEvent::Queued {
                        queue: format!("queue-{}", i % 20),
                        channel: Channel::Voice,
                        priority: 0,
                        customer_ref: None,
                    },
                },
            },
            &mut out,
        );
    }
    e
}

/// The replay input described in the module docs, laid out as its name
/// says (the replay reads it by the same rule).
fn write_events(path: &std::path::Path) {
    let events = traffic(60_000);
    let file =
        std::fs::File::create(path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    let writer = std::io::BufWriter::new(file);
    let written = match FileFormat::from_path(path) {
        Some(FileFormat::Delimited) => write_delimited(&events, writer),
        Some(FileFormat::JsonLines) => write_jsonl(&events, writer),
        None => panic!("{}: name it .pb or .jsonl", path.display()),
    };
    written.unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    eprintln!("{} events written to {}", events.len(), path.display());
}

criterion_group!(benches, fold, publish);

fn main() {
    if let Some(path) = std::env::var_os("CCPULSE_FOLD_EVENTS_OUT") {
        return write_events(std::path::Path::new(&path));
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
