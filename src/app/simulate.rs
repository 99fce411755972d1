//! `ccpulse simulate`: the simulator feeding a Kafka cluster until its
//! simulated duration is produced or shutdown.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::AppError;
use super::lifecycle::cancel_on;
use crate::config::Config;
use crate::pipeline::feed::{self, Feed};
use crate::sim::{SimConfig, Spike};

/// The simulated center, starting now with a local clock at 08:00 so a
/// demo opens on the morning ramp whatever the hour.
pub fn sim_config(seed: u64, spike_at: Option<std::time::Duration>) -> SimConfig {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let minute_of_day = (now / 60_000).rem_euclid(1440) as i32;
    let mut sim = SimConfig {
        seed,
        start: now,
        utc_offset_minutes: 8 * 60 - minute_of_day,
        ..Default::default()
    };
    if let Some(at) = spike_at {
        sim.spike = Some(Spike {
            at: now + at.as_millis() as i64,
            duration: 20 * 60_000,
            arrival_factor: 2.0,
            patience_factor: 0.15,
        });
    }
    sim
}

/// What `ccpulse simulate` was asked for.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    pub brokers: String,
    /// Base arrivals per hour (scaled by the intraday and weekday curves).
    pub rate: f64,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Simulated time to produce; `None`: until shutdown.
    pub duration: Option<std::time::Duration>,
    pub seed: u64,
    /// Start an abandonment spike this long into the simulated time.
    pub spike_at: Option<std::time::Duration>,
}

/// Produce simulated traffic to the topics of `cfg` until the duration is
/// simulated or `shutdown`; returns the events produced.
pub async fn simulate(
    opts: SimulateOptions,
    cfg: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<u64, AppError> {
    let mut sim = sim_config(opts.seed, opts.spike_at);
    sim.base_arrivals_per_hour = opts.rate;
    let feed = Feed {
        brokers: opts.brokers,
        topics: cfg.kafka.topics.clone(),
        sim,
        speed: opts.speed,
        duration: opts.duration.map(|d| d.as_millis() as i64),
    };
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    cancel_on(&tracker, &stop, shutdown);
    let n = feed::run(feed, stop.clone()).await;
    stop.cancel();
    tracker.close();
    tracker.wait().await;
    let n = n?;
    tracing::info!(events = n, "simulation produced");
    Ok(n)
}
