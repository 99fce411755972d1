//! Timer structures under SLA-like load: 1M pending timers with deadlines
//! spread over 24 h, the timer wheel side by side with two baselines.
//!
//! - `schedule_cancel`: schedule a timer and cancel the oldest pending one
//!   (an SLA met: the request was handled before its deadline). The number
//!   pending stays at 1M.
//! - `schedule_fire`: schedule a timer 0-24 h ahead and advance the clock by
//!   24 h / 1M, which fires one timer per step on average (an SLA
//!   breached). The number pending stays around 1M.
//!
//! Baselines: `BinaryHeap` with lazy cancellation (a generation check when
//! an entry is popped, and a compaction when cancelled entries outnumber
//! live ones) and `BTreeMap<(deadline, seq), payload>`.
//!
//! Run: `cargo bench --bench timers -- --warm-up-time 1 --measurement-time 3`

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::hint::black_box;
use std::time::Instant;

use ccpulse_core::event::Millis;
use ccpulse_core::sla::wheel::{TimerId, TimerWheel};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const PENDING: usize = 1_000_000;
const SPREAD: Millis = 24 * 3_600 * 1_000;
/// Clock step of `schedule_fire`: one expected expiry per step.
const STEP: Millis = SPREAD / PENDING as Millis;
/// 2026-01-01T00:00:00Z.
const START: Millis = 1_767_225_600_000;

/// SplitMix64: a fixed-seed generator, so every run sees the same load.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `1..=SPREAD`.
    fn offset(&mut self) -> Millis {
        1 + (self.next() % SPREAD as u64) as Millis
    }
}

trait Timers {
    type Id: Copy;
    const NAME: &'static str;
    fn new(start: Millis) -> Self;
    fn schedule(&mut self, deadline: Millis, payload: u64) -> Self::Id;
    fn cancel(&mut self, id: Self::Id) -> Option<u64>;
    /// Fires everything due; returns the sum of the payloads fired.
    fn advance(&mut self, now: Millis) -> u64;
}

impl Timers for TimerWheel<u64> {
    type Id = TimerId;
    const NAME: &'static str = "wheel";
    fn new(start: Millis) -> Self {
        TimerWheel::new(start)
    }
    fn schedule(&mut self, deadline: Millis, payload: u64) -> TimerId {
        TimerWheel::schedule(self, deadline, payload)
    }
    fn cancel(&mut self, id: TimerId) -> Option<u64> {
        TimerWheel::cancel(self, id)
    }
    fn advance(&mut self, now: Millis) -> u64 {
        let mut sum = 0;
        TimerWheel::advance(self, now, |_, _, p| sum += p);
        sum
    }
}

/// `BinaryHeap` of `(deadline, seq, slot)`; a slot table holds payloads and
/// the live seq, so a cancelled (or reused) slot's heap entry is skipped
/// when popped.
struct HeapTimers {
    heap: BinaryHeap<Reverse<(Millis, u64, u32)>>,
    slots: Vec<(u64, Option<u64>)>,
    free: Vec<u32>,
    next_seq: u64,
    live: usize,
}

impl Timers for HeapTimers {
    type Id = (u64, u32);
    const NAME: &'static str = "binary_heap";
    fn new(_start: Millis) -> Self {
        HeapTimers {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
            live: 0,
        }
    }
    fn schedule(&mut self, deadline: Millis, payload: u64) -> (u64, u32) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = (seq, Some(payload));
                slot
            }
            None => {
                self.slots.push((seq, Some(payload)));
                (self.slots.len() - 1) as u32
            }
        };
        self.heap.push(Reverse((deadline, seq, slot)));
        self.live += 1;
        (seq, slot)
    }
    fn cancel(&mut self, (seq, slot): (u64, u32)) -> Option<u64> {
        let entry = &mut self.slots[slot as usize];
        if entry.0 != seq {
            return None;
        }
        let payload = entry.1.take()?;
        self.free.push(slot);
        self.live -= 1;
        if self.heap.len() > 2 * self.live + 1024 {
            let slots = &self.slots;
            self.heap.retain(|Reverse((_, seq, slot))| {
                let (live_seq, payload) = &slots[*slot as usize];
                live_seq == seq && payload.is_some()
            });
        }
        Some(payload)
    }
    fn advance(&mut self, now: Millis) -> u64 {
        let mut sum = 0;
        while let Some(&Reverse((deadline, seq, slot))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            let entry = &mut self.slots[slot as usize];
            if entry.0 == seq {
                if let Some(p) = entry.1.take() {
                    sum += p;
                    self.free.push(slot);
                    self.live -= 1;
                }
            }
        }
        sum
    }
}

struct BTreeTimers {
    map: BTreeMap<(Millis, u64), u64>,
    next_seq: u64,
}

impl Timers for BTreeTimers {
    type Id = (Millis, u64);
    const NAME: &'static str = "btree_map";
    fn new(_start: Millis) -> Self {
        BTreeTimers {
            map: BTreeMap::new(),
            next_seq: 0,
        }
    }
    fn schedule(&mut self, deadline: Millis, payload: u64) -> (Millis, u64) {
        let key = (deadline, self.next_seq);
        self.next_seq += 1;
        self.map.insert(key, payload);
        key
    }
    fn cancel(&mut self, id: (Millis, u64)) -> Option<u64> {
        self.map.remove(&id)
    }
    fn advance(&mut self, now: Millis) -> u64 {
        let mut sum = 0;
        while let Some(entry) = self.map.first_entry() {
            if entry.key().0 > now {
                break;
            }
            sum += entry.remove();
        }
        sum
    }
}

fn schedule_cancel<T: Timers>(c: &mut Criterion) {
    let mut rng = Rng(7);
    let mut timers = T::new(START);
    let mut ring: Vec<T::Id> = (0..PENDING as u64)
        .map(|p| timers.schedule(START + rng.offset(), p))
        .collect();
    let mut oldest = 0;
    let mut group = c.benchmark_group("schedule_cancel");
    group.throughput(Throughput::Elements(1));
    group.bench_function(T::NAME, |b| {
        b.iter_custom(|iters| {
            let begin = Instant::now();
            for i in 0..iters {
                let id = timers.schedule(START + rng.offset(), i);
                black_box(timers.cancel(ring[oldest]));
                ring[oldest] = id;
                oldest = (oldest + 1) % PENDING;
            }
            begin.elapsed()
        })
    });
    group.finish();
}

fn schedule_fire<T: Timers>(c: &mut Criterion) {
    let mut rng = Rng(11);
    let mut timers = T::new(START);
    let mut now = START;
    for p in 0..PENDING as u64 {
        timers.schedule(now + rng.offset(), p);
    }
    let mut group = c.benchmark_group("schedule_fire");
    group.throughput(Throughput::Elements(1));
    group.bench_function(T::NAME, |b| {
        b.iter_custom(|iters| {
            let begin = Instant::now();
            for i in 0..iters {
                timers.schedule(now + rng.offset(), i);
                now += STEP;
                black_box(timers.advance(now));
            }
            begin.elapsed()
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    schedule_cancel::<TimerWheel<u64>>(c);
    schedule_cancel::<HeapTimers>(c);
    schedule_cancel::<BTreeTimers>(c);
    schedule_fire::<TimerWheel<u64>>(c);
    schedule_fire::<HeapTimers>(c);
    schedule_fire::<BTreeTimers>(c);
}

criterion_group!(timers, benches);
criterion_main!(timers);
