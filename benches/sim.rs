//! Simulator throughput: events generated per second for a week of the
//! default center (120 agents, ~600 contacts in the peak hour). A plain
//! timing, no statistics: the figure is for orientation, not a gate.
//!
//! `cargo bench --bench sim`

use std::hint::black_box;
use std::time::Instant;

use ccpulse::sim::{SimConfig, Simulator};

const DAY: i64 = 86_400_000;

fn main() {
    for (name, cfg) in [
        ("default center, 7 days", SimConfig::default()),
        (
            "4x center (480 agents, 2,400/h peak), 2 days",
            SimConfig {
                base_arrivals_per_hour: 2_400.0,
                agents: 480,
                ..SimConfig::default()
            },
        ),
    ] {
        let days = if name.starts_with("default") { 7 } else { 2 };
        let mut best = f64::INFINITY;
        let mut events = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let mut sim = Simulator::new(cfg.clone());
            let mut out = Vec::new();
            // Hour by hour, as a paced demo would drive it.
            for h in 1..=days * 24 {
                sim.advance_to(cfg.start + h * DAY / 24, &mut out);
            }
            best = best.min(t.elapsed().as_secs_f64());
            events = black_box(out).len();
        }
        println!(
            "{name}: {events} events in {:.1} ms = {:.2} M events/s",
            best * 1e3,
            events as f64 / best / 1e6
        );
    }
}
