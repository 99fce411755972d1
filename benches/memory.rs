//! Memory per open interaction with 1M interactions open, and the fixed
//! cost of one queue × channel and one agent, measured by a counting
//! allocator around the system one.
//!
//! `cargo bench --bench memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::Engine;
use ccpulse_core::event::{
    AgentState, AgentStateChanged, Channel, Event, EventKind, InteractionEvent,
};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: delegates every call to `System`, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const T0: i64 = 1_793_610_000_000;

fn queued(i: usize, queue: &str, ch: Channel) -> Event {
    Event {
        event_id: format!("q-{i}"),
        occurred_at: T0 + i as i64,
        tenant: None,
        kind: EventKind::Interaction {
            interaction_id: format!("int-{i:012}"),
            event: InteractionEvent::Queued {
                queue: queue.into(),
                channel: ch,
                priority: 0,
                customer_ref: None,
            },
        },
    }
}

fn main() {
    // Criterion passes flags such as `--bench`; this bench takes none.
    const N: usize = 1_000_000;
    // No lateness buffer and no id horizon: measure interaction state only.
    let cfg = EngineConfig {
        allowed_lateness: 0,
        dedup_horizon: 0,
        ..EngineConfig::default()
    };
    let mut e = Engine::new(cfg.clone());
    let mut out = Vec::new();
    // Warm up the one queue × channel so its fixed cost is not counted.
    e.apply(queued(0, "billing", Channel::Voice), &mut out);
    let before = live();
    for i in 1..=N {
        e.apply(queued(i, "billing", Channel::Voice), &mut out);
    }
    e.flush(&mut out);
    let after = live();
    let per = (after - before) as f64 / N as f64;
    println!("open interactions: {}", e.open_interactions());
    println!("bytes per open interaction (1M open, ids of 16 bytes): {per:.1}");

    let mut e = Engine::new(cfg.clone());
    let before = live();
    for (i, q) in ["q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9"]
        .iter()
        .enumerate()
    {
        e.apply(queued(i, q, Channel::Voice), &mut out);
    }
    e.flush(&mut out);
    let per_queue = (live() - before) as f64 / 10.0;
    println!(
        "bytes per queue x channel (default 4 windows, incl. one open interaction): {per_queue:.0}"
    );

    let mut e = Engine::new(cfg);
    let before = live();
    for i in 0..1000 {
        e.apply(
            Event {
                event_id: format!("a-{i}"),
                occurred_at: T0 + i,
                tenant: None,
                kind: EventKind::Agent(AgentStateChanged {
                    agent_id: format!("agent-{i}"),
                    state: AgentState::Available,
                    queues: vec!["billing".into()],
                }),
            },
            &mut out,
        );
    }
    e.flush(&mut out);
    println!(
        "bytes per agent (default 4 windows): {:.0}",
        (live() - before) as f64 / 1000.0
    );
}
