//! Feeding simulated traffic to Kafka (`ccpulse simulate`, `ccpulse demo`):
//! the pure simulator paced against a compressed wall clock, each event
//! produced to the topic of its kind, keyed by its partition key, with the
//! record timestamp set to the event time.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, Producer};
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::error::{kerr, PipelineError};
use super::input;
use super::settings::Topics;
use crate::sim::{SimConfig, Simulator};
use ccpulse_core::event::Millis;

/// How a feed runs.
#[derive(Debug, Clone)]
pub struct Feed {
    pub brokers: String,
    pub topics: Topics,
    pub sim: SimConfig,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Stop after this much simulated time (`None`: until cancelled).
    pub duration: Option<Millis>,
}

/// Produce until the duration is simulated or `stop` fires; returns the
/// number of events produced.
pub async fn run(f: Feed, stop: CancellationToken) -> Result<u64, PipelineError> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &f.brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .create()
        .map_err(kerr("creating the simulator's producer"))?;
    let start = f.sim.start;
    let mut sim = Simulator::new(f.sim.clone());
    let began = Instant::now();
    let mut buf = Vec::new();
    let mut produced = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let headers = input::json_headers();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let elapsed = began.elapsed().as_secs_f64() * f.speed * 1000.0;
        let mut target = start + elapsed as Millis;
        if let Some(d) = f.duration {
            target = target.min(start + d);
        }
        sim.advance_to(target, &mut buf);
        let mut pending = Vec::with_capacity(buf.len());
        for ev in buf.drain(..) {
            let delivery = input::send_event(&producer, &f.topics, &headers, &ev)
                .await
                .map_err(|e| PipelineError::Output(format!("simulator produce: {e}")))?;
            pending.push(delivery);
            produced += 1;
        }
        for f in pending {
            match f.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    return Err(PipelineError::Output(format!("simulator delivery: {e}")))
                }
                Err(_) => return Err(PipelineError::Output("simulator delivery cancelled".into())),
            }
        }
        if f.duration.is_some_and(|d| target >= start + d) {
            break;
        }
    }
    producer
        .flush(Duration::from_secs(10))
        .map_err(kerr("flushing the simulator's producer"))?;
    info!(events = produced, "simulator stopped");
    Ok(produced)
}
