//! Produce-to-snapshot latency through the service's HTTP API.
//!
//! Events are produced at a fixed rate with event time = now, so the
//! watermark moves with the wall clock as in production. Each partition
//! `k` gets its own queue, `p<k>`: every `queued` event keyed to partition
//! `k` is rewritten into queue `p<k>`, and the bench remembers when it
//! produced each of them. A partition folds its events in event-time
//! order, which here is production order, so when the snapshot
//! (`GET /api/v1/snapshot`, polled every few tens of milliseconds) shows
//! `offered = n` in `queues[queue = p<k>].total.counts`, the first `n`
//! queued events produced to partition `k` are in the figures. One sample
//! per queued event: from just before `send` to the end of the first poll
//! that shows it (an upper bound, within one poll interval).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ccpulse_core::event::codec::encode_protobuf;
use ccpulse_core::event::{Event, EventKind, InteractionEvent};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use super::service::{Service, Settings};

/// What one latency run is asked to do.
pub struct Load<'a> {
    pub brokers: &'a str,
    pub partitions: i32,
    /// Interaction and survey events in event-time order (their times are
    /// replaced by the clock as they are produced).
    pub template: &'a [Event],
    pub rate: u64,
    pub seconds: u64,
    pub poll: Duration,
}

/// Quantiles of one run.
pub struct Latency {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub samples: usize,
    pub queued: usize,
    /// Mean time a snapshot request took.
    pub request: Duration,
}

pub fn run(
    bin: &Path,
    dir: &Path,
    create_topic: &dyn Fn(&str, i32),
    load: &Load,
    timing: Option<(&str, &str)>,
    run: &str,
) -> Result<Latency, String> {
    let total = (load.rate * load.seconds) as usize;
    if load.template.len() < total {
        return Err(format!(
            "the template has {} events, {total} are needed",
            load.template.len()
        ));
    }
    let (input, agents) = (format!("{run}.in"), format!("{run}.agents"));
    let settings = Settings {
        brokers: load.brokers,
        group: run,
        guarantee: None,
        format: "protobuf",
        input: &input,
        agents: &agents,
        outputs: run,
        timing,
    };
    create_topic(&input, load.partitions);
    create_topic(&agents, 1);
    for (t, p) in settings.output_topics(load.partitions) {
        create_topic(&t, p);
    }
    let mut svc = Service::start(bin, dir, run, &settings);
    if !svc.wait_ready(Duration::from_secs(60)) {
        eprintln!("{run}: /readyz not 200 after 60 s; producing anyway");
    }

    // When each partition's queued events were produced, in order.
    let produced: Arc<Vec<Mutex<Vec<Instant>>>> = Arc::new(
        (0..load.partitions)
            .map(|_| Mutex::new(Vec::new()))
            .collect(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let producer = {
        let (produced, done) = (produced.clone(), done.clone());
        let events: Vec<Event> = load.template[..total].to_vec();
        let (brokers, topic, rate, parts) = (
            load.brokers.to_string(),
            input.clone(),
            load.rate,
            load.partitions,
        );
        thread::spawn(move || {
            produce_paced(&brokers, &topic, parts, rate, events, &produced);
            done.store(true, Ordering::Release);
        })
    };

    let mut seen = vec![0usize; load.partitions as usize];
    let mut samples = Vec::with_capacity(total);
    let (mut requests, mut request_time) = (0u32, Duration::ZERO);
    let mut finished: Option<Instant> = None;
    // After the last event, 2 s (more than a tick) for what can still
    // become visible; events in the last `allowed_lateness` wait for newer
    // events that never come (until `idle_timeout`), and are not counted.
    let drain = Duration::from_secs(2);
    while finished.is_none_or(|f| f.elapsed() < drain) {
        if finished.is_none() && done.load(Ordering::Acquire) {
            finished = Some(Instant::now());
        }
        let asked = Instant::now();
        let answer = svc.get("/api/v1/snapshot");
        let now = Instant::now();
        if let Ok((200, body)) = answer {
            requests += 1;
            request_time += now - asked;
            let offered = offered_per_partition(&body, load.partitions);
            for (k, n) in offered.into_iter().enumerate() {
                let Ok(times) = produced[k].lock() else {
                    continue;
                };
                let n = n.min(times.len());
                samples.extend(times[seen[k].min(n)..n].iter().map(|t| now - *t));
                seen[k] = seen[k].max(n);
            }
        } else {
            svc.check_alive();
        }
        thread::sleep(load.poll.saturating_sub(asked.elapsed()));
    }
    producer
        .join()
        .map_err(|_| "the producer thread panicked".to_string())?;
    let _ = svc.stop();
    let queued = produced
        .iter()
        .map(|p| p.lock().map_or(0, |v| v.len()))
        .sum();
    samples.sort();
    let q = |f: f64| samples[((samples.len() - 1) as f64 * f).round() as usize];
    if samples.is_empty() {
        return Err(format!("no queued event of {queued} became visible"));
    }
    Ok(Latency {
        p50: q(0.5),
        p99: q(0.99),
        max: q(1.0),
        samples: samples.len(),
        queued,
        request: request_time / requests.max(1),
    })
}

/// The partition of a key: fixed, so each partition's events can be put in
/// their own queue.
fn partition_of(key: &str, partitions: i32) -> i32 {
    (xxhash_rust::xxh3::xxh3_64(key.as_bytes()) % partitions as u64) as i32
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Sends `events` at `rate` per second, stamping each with the clock and
/// putting queued events of partition `k` in queue `p<k>`.
fn produce_paced(
    brokers: &str,
    topic: &str,
    partitions: i32,
    rate: u64,
    events: Vec<Event>,
    produced: &[Mutex<Vec<Instant>>],
) {
    // librdkafka's defaults (linger.ms 5), as a typical producer.
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("latency producer");
    let t0 = Instant::now();
    for (i, mut e) in events.into_iter().enumerate() {
        let due = t0 + Duration::from_secs_f64(i as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let k = partition_of(e.key(), partitions);
        let queued = if let EventKind::Interaction {
            event: InteractionEvent::Queued { queue, .. },
            ..
        } = &mut e.kind
        {
            *queue = format!("p{k}");
            true
        } else {
            false
        };
        e.occurred_at = now_ms();
        let value = encode_protobuf(&e);
        if queued {
            if let Ok(mut v) = produced[k as usize].lock() {
                v.push(Instant::now());
            }
        }
        let mut record = BaseRecord::to(topic)
            .key(e.key())
            .payload(&value)
            .partition(k)
            .timestamp(e.occurred_at);
        while let Err((_, r)) = p.send(record) {
            record = r;
            thread::sleep(Duration::from_millis(1));
        }
    }
    if let Err(e) = p.flush(Duration::from_secs(30)) {
        eprintln!("latency producer flush: {e}");
    }
}

/// `offered` of queue `p<k>` over its channels, per partition `k`.
fn offered_per_partition(snapshot: &str, partitions: i32) -> Vec<usize> {
    let mut out = vec![0usize; partitions as usize];
    let Ok(v) = serde_json::from_str::<serde_json::Value>(snapshot) else {
        return out;
    };
    for q in v["queues"].as_array().into_iter().flatten() {
        let k = q["queue"]
            .as_str()
            .and_then(|n| n.strip_prefix('p'))
            .and_then(|k| k.parse::<usize>().ok());
        if let Some(slot) = k.and_then(|k| out.get_mut(k)) {
            *slot += q["total"]["counts"]["offered"].as_u64().unwrap_or(0) as usize;
        }
    }
    out
}
