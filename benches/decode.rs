//! Decode cost per event, protobuf vs proto3 JSON, on the realistic mix of
//! `examples/all-kinds.jsonl` (every kind, in the proportions of a real
//! morning: mostly interaction events). Reported as events per second.
//!
//! `*/parse` is the generated parser alone (prost or pbjson into wire types);
//! `*/decode` adds validation and the conversion to domain events, i.e. what
//! the consumer pays per record. `json/parse_bytes` and `json/parse_str`
//! are the same pbjson parse from bytes (serde_json checks each string's
//! UTF-8) and from a `str` checked once (what `decode` does).
//!
//! Time is the bench thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not the
//! wall clock: on shared cores another process's load preempts the thread
//! but does not count, so runs minutes apart compare. Figures are events
//! per CPU second, i.e. per core.

use std::hint::black_box;
use std::time::Duration;

use ccpulse_core::event::codec::{self, wire, Limits};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message as _;

/// The allocator the binary ships with (`src/main.rs`): decode allocates
/// its ids, so the figure is what the service pays only with the same one.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLES: &str = include_str!("../examples/all-kinds.jsonl");

fn records() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let limits = Limits::default();
    let events: Vec<_> = EXAMPLES
        .lines()
        .map(|l| codec::decode_json(l.as_bytes(), &limits, None).expect("examples are valid"))
        .collect();
    // As a producer would write them (canonical encodings).
    let json = events
        .iter()
        .map(|e| codec::encode_json(e).into_bytes())
        .collect();
    let pb = events.iter().map(codec::encode_protobuf).collect();
    (json, pb)
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-parameter; this clock exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f` once per record, `iters` times over; the thread's CPU time.
fn cpu<R>(records: &[Vec<u8>], iters: u64, f: impl Fn(&[u8]) -> R) -> Duration {
    let t0 = thread_cpu();
    for _ in 0..iters {
        for r in records {
            black_box(f(black_box(r)));
        }
    }
    thread_cpu() - t0
}

fn decode(c: &mut Criterion) {
    let (json, pb) = records();
    let limits = Limits::default();
    // A reference time so the skew check runs, as it does live.
    let reference = Some(1_772_449_200_000); // 2026-03-02T11:00:00Z

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(json.len() as u64));

    group.bench_function("protobuf/decode", |b| {
        b.iter_custom(|n| cpu(&pb, n, |r| codec::decode_protobuf(r, &limits, reference)))
    });
    group.bench_function("json/decode", |b| {
        b.iter_custom(|n| cpu(&json, n, |r| codec::decode_json(r, &limits, reference)))
    });
    group.bench_function("protobuf/parse", |b| {
        b.iter_custom(|n| cpu(&pb, n, |r| wire::Envelope::decode(r)))
    });
    group.bench_function("json/parse_bytes", |b| {
        b.iter_custom(|n| cpu(&json, n, |r| serde_json::from_slice::<wire::Envelope>(r)))
    });
    group.bench_function("json/parse_str", |b| {
        b.iter_custom(|n| {
            cpu(&json, n, |r| {
                std::str::from_utf8(r).map(serde_json::from_str::<wire::Envelope>)
            })
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
