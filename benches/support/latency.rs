//! Produce-to-snapshot and produce-to-effect latency through the service's
//! HTTP API and its effects topic.
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
//! per queued event and kind of figures: from just before `send` to the
//! end of the first poll that shows it (an upper bound, within one poll
//! interval). Each poll reads two kinds of figures from the same answer:
//! - **ordered**: `queues[..]`, as of the event-time watermark (held back
//!   by `allowed_lateness` plus up to one tick, by design);
//! - **provisional**: `provisional.queues[..]`, every received event
//!   applied, when the answer has a `provisional` object; without one
//!   nothing waits for the watermark, and the ordered figures are current.
//!
//! **SLA effects**: the run's queues get a short `first_response` target
//! ([`Load::first_response`]), so interactions that wait longer breach. A
//! reader on the run's effects topic (read_committed, as any consumer of
//! effects reads it; started before the first event is produced) takes,
//! for each `SlaBreached` effect, the wall clock when it read it minus the
//! effect's `deadline` (event time, which is wall time here): how long
//! after the target ran out the effect was there to act on. Effects wait
//! for the watermark by design, so at the defaults this is about
//! `allowed_lateness` plus up to a tick.
//!
//! The service's settings (`support/service.rs`) apply one catch-all
//! policy with a 2 minute first response; the run's own, more specific
//! policy (`queues = ["p0", ..]`, the most specific match wins) comes
//! beside it (`Settings::policies`).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ccpulse_core::event::codec::{decode_effect_json, encode_protobuf};
use ccpulse_core::event::{Effect, Event, EventKind, InteractionEvent};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

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
    /// The run's queues' `first_response` target (`"2s"`): interactions
    /// not answered within it breach, and their effects are timed.
    pub first_response: &'a str,
}

/// Quantiles of one kind of sample.
#[derive(Clone, Copy, Debug)]
pub struct Quantiles {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub samples: usize,
}

impl Quantiles {
    /// `None` without samples.
    fn of(mut samples: Vec<Duration>) -> Option<Quantiles> {
        if samples.is_empty() {
            return None;
        }
        samples.sort();
        let q = |f: f64| samples[((samples.len() - 1) as f64 * f).round() as usize];
        Some(Quantiles {
            p50: q(0.5),
            p99: q(0.99),
            max: q(1.0),
            samples: samples.len(),
        })
    }
}

/// What one run measured.
pub struct Latency {
    /// Produce to the provisional figures (or the ordered ones when the
    /// answer has no `provisional`: nothing waits).
    pub provisional: Quantiles,
    /// Produce to the ordered figures (as of the watermark). Events in the
    /// last `allowed_lateness` wait for newer events that never come, so
    /// fewer are traced.
    pub ordered: Quantiles,
    /// Queued events produced (each is one sample per kind, when seen).
    pub queued: usize,
    /// `SlaBreached` effects: read − deadline; `None` if none was read.
    pub breaches: Option<Quantiles>,
    /// Of those, how many were read before their deadline (counted as 0:
    /// would mean event time ran ahead of the clock).
    pub early_breaches: usize,
    /// Snapshots that had a `provisional` object, of those read.
    pub with_provisional: u32,
    pub requests: u32,
    /// Mean time a snapshot request took.
    pub request: Duration,
    /// Where the provisional latency goes: per partition, the time between
    /// two polls whose provisional figures had moved on (how often the
    /// partition publishes, to within a poll)...
    pub provisional_steps: Option<Quantiles>,
    /// ...and, at each such poll while producing, the age of the newest
    /// event it showed (what the pipeline takes before a publish can show
    /// an event, plus up to a poll).
    pub provisional_freshest: Option<Quantiles>,
    /// The service's CPU seconds per second of wall time while producing
    /// and draining (2.0 = both cores of a 2-core machine).
    pub service_cpu: Option<f64>,
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
        policies: &run_policy(load),
        customer_stage: true,
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

    // The effects reader, assigned and polling before the first event.
    let stop = Arc::new(AtomicBool::new(false));
    let effects = {
        let consumer = effects_reader(load.brokers, &format!("{run}.effects"), load.partitions)?;
        let stop = stop.clone();
        thread::spawn(move || read_breaches(&consumer, &stop))
    };

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

    let parts = load.partitions as usize;
    let (mut seen_ordered, mut seen_provisional) = (vec![0usize; parts], vec![0usize; parts]);
    let (mut ordered, mut provisional) = (Vec::with_capacity(total), Vec::with_capacity(total));
    let (mut requests, mut request_time, mut with_provisional) = (0u32, Duration::ZERO, 0u32);
    let (mut last_step, mut steps, mut freshest) = (vec![None; parts], Vec::new(), Vec::new());
    let (cpu0, t0) = (svc.cpu_seconds(), Instant::now());
    let mut finished: Option<Instant> = None;
    // After the last event, 2 s (more than a tick) for what can still
    // become visible; events in the last `allowed_lateness` wait for newer
    // events that never come (until `idle_timeout`), and are not counted
    // in the ordered figures.
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
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) else {
                stop.store(true, Ordering::Release);
                return Err(format!(
                    "/api/v1/snapshot answered 200 with a body that is not JSON: {}",
                    body.chars().take(200).collect::<String>()
                ));
            };
            let current = match v.get("provisional").filter(|p| !p.is_null()) {
                Some(p) => {
                    with_provisional += 1;
                    p
                }
                None => &v,
            };
            for (k, n) in offered_per_partition(current, load.partitions)
                .into_iter()
                .enumerate()
            {
                let Ok(times) = produced[k].lock() else {
                    continue;
                };
                let n = n.min(times.len());
                if n > seen_provisional[k] {
                    if let Some(last) = last_step[k] {
                        steps.push(now - last);
                    }
                    last_step[k] = Some(now);
                    // After the last event, the newest shown only ages.
                    if finished.is_none() {
                        freshest.push(now - times[n - 1]);
                    }
                }
            }
            for (figures, seen, samples) in [
                (&v, &mut seen_ordered, &mut ordered),
                (current, &mut seen_provisional, &mut provisional),
            ] {
                for (k, n) in offered_per_partition(figures, load.partitions)
                    .into_iter()
                    .enumerate()
                {
                    let Ok(times) = produced[k].lock() else {
                        continue;
                    };
                    let n = n.min(times.len());
                    samples.extend(times[seen[k].min(n)..n].iter().map(|t| now - *t));
                    seen[k] = seen[k].max(n);
                }
            }
        } else {
            svc.check_alive();
        }
        thread::sleep(load.poll.saturating_sub(asked.elapsed()));
    }
    let service_cpu = cpu0
        .zip(svc.cpu_seconds())
        .map(|(a, b)| (b - a) / t0.elapsed().as_secs_f64());
    stop.store(true, Ordering::Release);
    producer
        .join()
        .map_err(|_| "the producer thread panicked".to_string())?;
    let late_ms = effects
        .join()
        .map_err(|_| "the effects reader thread panicked".to_string())??;
    let _ = svc.stop();
    let queued = produced
        .iter()
        .map(|p| p.lock().map_or(0, |v| v.len()))
        .sum();
    let none_seen = |what: &str| {
        format!(
            "no queued event of {queued} became visible in the {what} figures \
             ({requests} snapshots read; log: {})",
            dir.join(format!("{run}.log")).display()
        )
    };
    let provisional = Quantiles::of(provisional).ok_or_else(|| none_seen("provisional"))?;
    let ordered = Quantiles::of(ordered).ok_or_else(|| none_seen("ordered"))?;
    let early_breaches = late_ms.iter().filter(|&&ms| ms < 0).count();
    let breaches = Quantiles::of(
        late_ms
            .into_iter()
            .map(|ms| Duration::from_millis(ms.max(0) as u64))
            .collect(),
    );
    Ok(Latency {
        provisional,
        ordered,
        queued,
        breaches,
        early_breaches,
        with_provisional,
        requests,
        request: request_time / requests.max(1),
        provisional_steps: Quantiles::of(steps),
        provisional_freshest: Quantiles::of(freshest),
        service_cpu,
    })
}

/// The run's SLA policy: `first_response` on its queues `p0`...
fn run_policy(load: &Load) -> String {
    let queues: Vec<String> = (0..load.partitions).map(|k| format!("\"p{k}\"")).collect();
    format!(
        "[[sla.policies]]\nname = \"latency\"\nqueues = [{}]\nfirst_response = \"{}\"\n",
        queues.join(", "),
        load.first_response
    )
}

/// A read_committed consumer of every partition of `topic`, from the
/// beginning, not in any group's way (it commits nothing).
fn effects_reader(brokers: &str, topic: &str, partitions: i32) -> Result<BaseConsumer, String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{topic}.latency-reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "10")
        .create()
        .map_err(|e| format!("effects reader for {topic}: {e}"))?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| format!("effects reader, {topic}/{p}: {e}"))?;
    }
    c.assign(&tpl)
        .map_err(|e| format!("effects reader, assign {topic}: {e}"))?;
    Ok(c)
}

/// Until `stop`: for each `SlaBreached` effect read, the wall clock when it
/// was read minus its deadline, in ms (event time = wall time here).
fn read_breaches(c: &BaseConsumer, stop: &AtomicBool) -> Result<Vec<i64>, String> {
    let mut late = Vec::new();
    while !stop.load(Ordering::Acquire) {
        match c.poll(Duration::from_millis(20)) {
            Some(Ok(m)) => {
                let read = now_ms();
                let value = m.payload().unwrap_or_default();
                match decode_effect_json(value) {
                    Ok(Effect::SlaBreached(b)) => late.push(read - b.deadline),
                    Ok(_) => {}
                    Err(e) => {
                        return Err(format!(
                            "effect at {}/{} offset {} is not a JSON effect: {e}",
                            m.topic(),
                            m.partition(),
                            m.offset()
                        ))
                    }
                }
            }
            Some(Err(e)) => eprintln!("effects reader: {e}"),
            None => {}
        }
    }
    Ok(late)
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

/// `offered` of queue `p<k>` over its channels, per partition `k`, in
/// `figures` (a snapshot, or its `provisional` object: the same shape).
fn offered_per_partition(figures: &serde_json::Value, partitions: i32) -> Vec<usize> {
    let mut out = vec![0usize; partitions as usize];
    for q in figures["queues"].as_array().into_iter().flatten() {
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
