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

/// How long an abandonment spike lasts in real time at least: the shipped
/// `AbandonmentSpike` alert compares a 5-minute abandon ratio (Prometheus
/// time: real time) with its baseline and fires after 2 minutes of that.
/// A spike of 20 simulated minutes at `--speed 60` would last 20 real
/// seconds and show as a blip; so a spike lasts
/// `max(20 simulated minutes, SPIKE_REAL_MINUTES real minutes)`.
pub const SPIKE_REAL_MINUTES: u64 = 12;

/// Real time the alert's baseline needs before a spike: its 3-hour window
/// ends 5 minutes back and wants at least 100 offered on the queue.
pub const SPIKE_MIN_LEAD_REAL_MINUTES: u64 = 8;

/// Arrivals per hour the default center is staffed for
/// ([`SimConfig::default`]); `--rate` scales the agents along.
fn default_rate() -> f64 {
    SimConfig::default().base_arrivals_per_hour
}

/// The simulated center, starting now; see [`simulated_center`].
pub fn sim_config(seed: u64, spike_at: Option<std::time::Duration>, speed: f64) -> SimConfig {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    simulated_center(now, seed, None, spike_at, speed)
}

/// The simulated center of `demo` and `simulate`, starting at `now_ms`
/// (Unix ms) with a local clock at 08:00 on a Tuesday, so a demo opens on
/// the morning ramp of a working day whatever the hour and the weekday.
/// `rate` (arrivals per simulated hour at the curves' peak) scales the
/// agents with it, so the load stays that of the default center. A spike
/// (`spike_at` into the simulated time) doubles arrivals and cuts
/// patience to 15 % for long enough, at `speed`, for the shipped
/// AbandonmentSpike alert to fire (see [`SPIKE_REAL_MINUTES`]).
pub fn simulated_center(
    now_ms: i64,
    seed: u64,
    rate: Option<f64>,
    spike_at: Option<std::time::Duration>,
    speed: f64,
) -> SimConfig {
    const DAY_MIN: i64 = 1440;
    let minute_of_day = (now_ms / 60_000).rem_euclid(DAY_MIN);
    // Local weekday of the UTC day now: 1970-01-01 was a Thursday (Monday = 0).
    let weekday = ((now_ms / 86_400_000) + 3).rem_euclid(7);
    let to_tuesday = (1 - weekday).rem_euclid(7);
    let mut sim = SimConfig {
        seed,
        start: now_ms,
        utc_offset_minutes: (8 * 60 - minute_of_day + to_tuesday * DAY_MIN) as i32,
        ..Default::default()
    };
    if let Some(rate) = rate {
        let scale = rate / default_rate();
        sim.agents = ((sim.agents as f64 * scale).round() as usize).max(5);
        sim.base_arrivals_per_hour = rate;
    }
    if let Some(at) = spike_at {
        let real_ms = (SPIKE_REAL_MINUTES * 60_000) as f64 * speed.max(0.0);
        let duration = (20 * 60_000).max(real_ms.min(i64::MAX as f64 / 2.0) as i64);
        sim.spike = Some(Spike {
            at: now_ms + at.as_millis() as i64,
            duration,
            arrival_factor: 2.0,
            patience_factor: 0.15,
        });
        let lead_real_s = at.as_secs_f64() / speed.max(f64::MIN_POSITIVE);
        if lead_real_s < (SPIKE_MIN_LEAD_REAL_MINUTES * 60) as f64 {
            tracing::warn!(
                spike_at = %humantime::format_duration(at),
                real_seconds_after_start = lead_real_s.round(),
                "the abandonment spike comes too early for the AbandonmentSpike alert, whose baseline needs about {SPIKE_MIN_LEAD_REAL_MINUTES} real minutes of history; at --speed {speed} use --spike-at {} or later",
                humantime::format_duration(std::time::Duration::from_secs(
                    (SPIKE_MIN_LEAD_REAL_MINUTES as f64 * 60.0 * speed).ceil() as u64
                ))
            );
        }
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
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let sim = simulated_center(now, opts.seed, Some(opts.rate), opts.spike_at, opts.speed);
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
