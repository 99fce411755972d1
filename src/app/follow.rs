//! `ccpulse follow-queue-log`: follow a live Asterisk queue_log
//! ([`crate::sources::follow`]) and produce the mapped events to the input
//! topics, as `ccpulse run` reads them ([`crate::pipeline::input`]): keyed by
//! [`Event::key`](ccpulse_core::event::Event::key), proto3 JSON values with
//! the event time as the record time. The position is saved to the state
//! file only after the broker acknowledged every event before it, so a
//! restart never loses a line and at worst produces a batch again (the
//! same event ids, which the engine drops).

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, Producer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::AppError;
use super::lifecycle::cancel_on;
use crate::config::Config;
use crate::pipeline::{input, PipelineError};
use crate::sources::follow::{FollowState, Follower};

/// What `ccpulse follow-queue-log` was asked for.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// The queue_log to follow.
    pub file: PathBuf,
    /// Where the position is kept between runs.
    pub state: PathBuf,
    /// Without a saved position, start at the file's start (else its end).
    pub from_start: bool,
    /// Overrides `kafka.brokers`.
    pub brokers: Option<String>,
    /// How often the file is checked for new lines.
    pub poll_interval: Duration,
}

/// What a follow run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowReport {
    pub lines: u64,
    pub events: u64,
    pub bad_lines: u64,
    pub ignored_lines: u64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Follow until `shutdown`; the batch in flight is delivered and its
/// position saved before returning.
pub async fn follow(
    opts: FollowOptions,
    cfg: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<FollowReport, AppError> {
    let mut client = ClientConfig::new();
    for (k, v) in &cfg.kafka.properties {
        client.set(k, v);
    }
    let brokers = opts
        .brokers
        .clone()
        .unwrap_or_else(|| cfg.kafka.brokers.clone());
    client
        .set("bootstrap.servers", &brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20");
    let producer: FutureProducer = client.create().map_err(|cause| PipelineError::Kafka {
        context: "creating the queue_log follower's producer".into(),
        cause,
    })?;
    let topics = &cfg.kafka.topics;
    let headers = input::json_headers();
    let saved = FollowState::load(&opts.state)?;
    if let Some(s) = &saved {
        tracing::info!(
            offset = s.offset,
            line = s.line,
            "resuming the queue_log from the saved position"
        );
    }
    let mut follower = Follower::new(&opts.file, cfg.input.clone(), saved, opts.from_start);
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    cancel_on(&tracker, &stop, shutdown);
    let mut report = FollowReport::default();
    let result = loop {
        let batch = match follower.poll(now_ms()) {
            Ok(b) => b,
            Err(e) => break Err(AppError::from(e)),
        };
        report.lines += batch.lines;
        report.ignored_lines += batch.ignored;
        for (path, e) in &batch.errors {
            report.bad_lines += 1;
            tracing::warn!(file = %path.display(), position = %format!("line {}", e.line), reason = e.reason_code(), problem = %e.problem, "skipping bad queue_log line");
        }
        let mut pending = Vec::with_capacity(batch.events.len());
        for ev in &batch.events {
            match input::send_event(&producer, topics, &headers, ev).await {
                Ok(delivery) => pending.push(delivery),
                Err(e) => {
                    return Err(PipelineError::Output(format!("queue_log produce: {e}")).into())
                }
            }
        }
        let mut failed = None;
        for f in pending {
            match f.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => failed = Some(format!("queue_log delivery: {e}")),
                Err(_) => failed = Some("queue_log delivery cancelled".into()),
            }
        }
        if let Some(f) = failed {
            // The position is not saved: a restart produces this batch again.
            break Err(PipelineError::Output(f).into());
        }
        report.events += batch.events.len() as u64;
        if batch.lines > 0 {
            if let Err(e) = batch.state.save(&opts.state) {
                break Err(e.into());
            }
        }
        if batch.lines >= crate::sources::follow::MAX_BATCH_LINES {
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => break Ok(()),
            _ = tokio::time::sleep(opts.poll_interval) => {}
        }
    };
    stop.cancel();
    tracker.close();
    tracker.wait().await;
    let _ = producer.flush(Duration::from_secs(10));
    tracing::info!(
        lines = report.lines,
        events = report.events,
        bad_lines = report.bad_lines,
        ignored_lines = report.ignored_lines,
        "queue_log follower stopped"
    );
    result.map(|()| report)
}
