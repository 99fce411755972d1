//! `ccpulse demo`: a simulated contact center, live, on one machine: an
//! embedded broker (librdkafka's in-process mock cluster, a demo
//! convenience, not a production broker) or a given Kafka, the simulator
//! feeding it, and the full service with the wallboard.

use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::AppError;
use super::lifecycle::cancel_on;
use super::simulate::sim_config;
use crate::config::Config;
use crate::pipeline::feed::{self, Feed};

/// The demo's settings: short lateness so figures move quickly, frequent
/// commits, and SLA policies that produce reassignments within a minute.
pub const DEMO_CONFIG: &str = r#"
[engine]
allowed_lateness = "2s"

# The simulated clock runs --speed times faster than the wall clock, so its
# events are "in the future" of it by design.
[input]
max_future_skew = "3650d"

[kafka]
group_id = "ccpulse-demo"
processing_guarantee = "at_least_once"
commit_interval = "200ms"
idle_timeout = "10s"

[[sla.policies]]
name = "voice"
channels = ["voice"]
first_response = "1m"

[[sla.policies]]
name = "chat"
channels = ["chat"]
first_response = "2m"
next_reply = "3m"

[[sla.policies]]
name = "tickets"
channels = ["email", "web", "social"]
first_response = "1h"
resolution = "2d"
pause_statuses = ["waiting_on_customer"]
"#;

/// What `ccpulse demo` was asked for.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// A Kafka to use instead of the embedded broker (topics are created).
    pub brokers: Option<String>,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// HTTP address for the wallboard, metrics and API.
    pub http: SocketAddr,
    /// Stop after this long (real time); `None`: until shutdown.
    pub duration: Option<Duration>,
    pub seed: u64,
    /// Start an abandonment spike this long into the simulated day.
    pub spike_at: Option<Duration>,
}

/// Run the demo until `shutdown`, the duration, or a fatal error.
pub async fn demo(
    opts: DemoOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let mut cfg = Config::from_toml(DEMO_CONFIG, Path::new("(demo)"))?;
    cfg.http.listen = opts.http;
    // The embedded broker lives as long as this function.
    let _cluster;
    match opts.brokers {
        Some(b) => {
            cfg.kafka.brokers = b;
            cfg.kafka.create_topics = true;
            cfg.kafka.topic_partitions = 3;
        }
        None => {
            let c = rdkafka::mocking::MockCluster::new(1).map_err(AppError::EmbeddedBroker)?;
            let t = &cfg.kafka.topics;
            // The mock cluster neither compacts nor describes topic configs:
            // the checkpoints topic is a plain one here (fine for a demo).
            for topic in t
                .events
                .iter()
                .chain([&t.effects, &t.ticks, &t.checkpoints, &t.customers])
            {
                c.create_topic(topic, 3, 1)
                    .map_err(AppError::EmbeddedBroker)?;
            }
            for topic in [&t.agents, &t.dead_letter] {
                c.create_topic(topic, 1, 1)
                    .map_err(AppError::EmbeddedBroker)?;
            }
            cfg.kafka.brokers = c.bootstrap_servers();
            _cluster = c;
            eprintln!("ccpulse demo: embedded broker = librdkafka's in-process mock cluster at {} (a demo convenience, not a production broker; use --brokers for a real Kafka)", cfg.kafka.brokers);
        }
    }
    let base = format!("http://{}", cfg.http.listen);
    eprintln!("ccpulse demo: wallboard {base}/   metrics {base}/metrics   snapshot {base}/api/v1/snapshot   (Ctrl-C stops)");
    let feed = Feed {
        brokers: cfg.kafka.brokers.clone(),
        topics: cfg.kafka.topics.clone(),
        sim: sim_config(opts.seed, opts.spike_at, opts.speed),
        speed: opts.speed,
        duration: None,
    };

    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    cancel_on(&tracker, &stop, shutdown);
    if let Some(d) = opts.duration {
        cancel_on(&tracker, &stop, async move {
            tokio::time::sleep(d).await;
            tracing::info!("demo duration reached");
        });
    }
    let feeder = tracker.spawn(feed::run(feed, stop.clone()));
    let served = super::service::serve(cfg, {
        let stop = stop.clone();
        async move { stop.cancelled().await }
    })
    .await;
    stop.cancel();
    tracker.close();
    let fed = feeder
        .await
        .map_err(|_| AppError::TaskPanicked("simulator"))?;
    tracker.wait().await;
    served?;
    fed?;
    Ok(())
}

/// A listening address written `ip:port` or `host:port` (e.g.
/// `localhost:9900`): the host is resolved, and a loopback address is
/// preferred when the name has several.
pub fn listen_address(s: &str) -> Result<SocketAddr, AppError> {
    let usage = |why: &str| {
        AppError::Usage(format!(
            "{s:?} is not a listening address ({why}); write ip:port or host:port, e.g. 127.0.0.1:9900, localhost:9900 or 0.0.0.0:9900"
        ))
    };
    if let Ok(a) = s.trim().parse::<SocketAddr>() {
        return Ok(a);
    }
    let (host, port) = s.trim().rsplit_once(':').ok_or_else(|| usage("no port"))?;
    port.parse::<u16>().map_err(|_| usage("bad port"))?;
    if host.is_empty() {
        return Err(usage("no host"));
    }
    let found: Vec<SocketAddr> = s
        .trim()
        .to_socket_addrs()
        .map_err(|_| usage("unknown host"))?
        .collect();
    found
        .iter()
        .find(|a| a.ip().is_loopback() && a.is_ipv4())
        .or_else(|| found.iter().find(|a| a.ip().is_loopback()))
        .or_else(|| found.first())
        .copied()
        .ok_or_else(|| usage("unknown host"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_take_names_and_ips() {
        assert_eq!(
            listen_address("localhost:9901").unwrap(),
            "127.0.0.1:9901".parse().unwrap()
        );
        assert_eq!(
            listen_address("0.0.0.0:9900").unwrap(),
            "0.0.0.0:9900".parse().unwrap()
        );
        assert_eq!(
            listen_address("[::1]:9900").unwrap(),
            "[::1]:9900".parse().unwrap()
        );
        for bad in [
            "localhost",
            "localhost:x",
            ":9900",
            "no-such-host.invalid:9900",
        ] {
            let e = listen_address(bad).unwrap_err().to_string();
            assert!(e.contains("localhost:9900"), "{e}");
        }
    }
}
