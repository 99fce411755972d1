//! Decode cost per event, protobuf vs proto3 JSON, on the realistic mix of
//! `examples/all-kinds.jsonl` (every kind, in the proportions of a real
//! morning: mostly interaction events). Reported as events per second.
//!
//! `*/parse` is the generated parser alone (prost or pbjson into wire types);
//! `*/decode` adds validation and the conversion to domain events, i.e. what
//! the consumer pays per record.

use std::hint::black_box;

use ccpulse_core::event::codec::{self, wire, Limits};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message as _;

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

fn decode(c: &mut Criterion) {
    let (json, pb) = records();
    let limits = Limits::default();
    // A reference time so the skew check runs, as it does live.
    let reference = Some(1_772_449_200_000); // 2026-03-02T11:00:00Z

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(json.len() as u64));

    group.bench_function("protobuf/decode", |b| {
        b.iter(|| {
            for r in &pb {
                let _ = black_box(codec::decode_protobuf(black_box(r), &limits, reference));
            }
        })
    });
    group.bench_function("json/decode", |b| {
        b.iter(|| {
            for r in &json {
                let _ = black_box(codec::decode_json(black_box(r), &limits, reference));
            }
        })
    });
    group.bench_function("protobuf/parse", |b| {
        b.iter(|| {
            for r in &pb {
                let _ = black_box(wire::Envelope::decode(black_box(r.as_slice())));
            }
        })
    });
    group.bench_function("json/parse", |b| {
        b.iter(|| {
            for r in &json {
                let _ = black_box(serde_json::from_slice::<wire::Envelope>(black_box(r)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
