//! Retrying broker calls at start-up and during restore: with exponential
//! backoff, up to `kafka.retry_budget`, logging each failure. A broker that
//! is slow or electing a leader for a moment costs a retry; only a failure
//! that lasts the whole budget, or one that retrying cannot fix (bad
//! credentials, a missing topic, no permission), ends the process.

use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::error::PipelineError;

/// First wait after a failure; doubled per attempt up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// The timeout of one call within `budget`: a share of it, so a short
/// budget still sees retries (and their log lines) rather than one long
/// wait, and never more than librdkafka's usual 10 s.
pub(super) fn per_call(budget: Duration) -> Duration {
    (budget / 4).clamp(Duration::from_millis(500), Duration::from_secs(10))
}

/// Whether retrying can help: `false` for errors a retry repeats
/// (credentials, authorization, a topic that does not exist).
pub(super) fn transient(e: &KafkaError) -> bool {
    !matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::UnknownPartition
                | RDKafkaErrorCode::InvalidArgument
                | RDKafkaErrorCode::Fatal
                | RDKafkaErrorCode::Fenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::ProducerFenced
        )
    )
}

/// One broker call being retried.
pub(super) struct Retry<'a> {
    what: &'a str,
    budget: Duration,
    started: Instant,
    delay: Duration,
    attempts: u32,
}

impl<'a> Retry<'a> {
    /// `what` names the call in logs and errors ("reading the committed
    /// offset of t/0").
    pub(super) fn new(what: &'a str, budget: Duration) -> Self {
        Retry {
            what,
            budget,
            started: Instant::now(),
            delay: FIRST_DELAY,
            attempts: 0,
        }
    }

    /// Attempts so far.
    pub(super) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// A failure: the wait before the next attempt, or the error to give
    /// up with when it cannot help or the budget is spent.
    fn after(&mut self, cause: KafkaError) -> Result<Duration, PipelineError> {
        self.attempts += 1;
        let elapsed = self.started.elapsed();
        if !transient(&cause) {
            return Err(PipelineError::Kafka {
                context: self.what.to_string(),
                cause,
            });
        }
        if elapsed + self.delay > self.budget {
            return Err(PipelineError::Sustained {
                what: self.what.to_string(),
                attempts: self.attempts,
                elapsed_s: elapsed.as_secs(),
                cause,
            });
        }
        let wait = self.delay;
        warn!(
            what = self.what,
            attempt = self.attempts,
            retry_in_ms = wait.as_millis() as u64,
            budget_left_s = self.budget.saturating_sub(elapsed).as_secs(),
            error = %cause,
            "broker call failed; retrying"
        );
        self.delay = (self.delay * 2).min(MAX_DELAY);
        Ok(wait)
    }

    /// [`Self::after`] on a blocking thread: sleeps (in steps, so `stop`
    /// ends the wait at once).
    pub(super) fn failed_blocking(
        &mut self,
        cause: KafkaError,
        stop: &CancellationToken,
    ) -> Result<(), PipelineError> {
        let wait = self.after(cause)?;
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if stop.is_cancelled() {
                return Err(PipelineError::Stopped);
            }
            std::thread::sleep(Duration::from_millis(20).min(wait));
        }
        Ok(())
    }
}

/// Run `op` on this (blocking) thread until it succeeds, retrying
/// transient failures within `budget`.
pub(super) fn blocking<T>(
    what: &str,
    budget: Duration,
    stop: &CancellationToken,
    mut op: impl FnMut() -> Result<T, KafkaError>,
) -> Result<T, PipelineError> {
    let mut retry = Retry::new(what, budget);
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(e) => retry.failed_blocking(e, stop)?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout() -> KafkaError {
        KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut)
    }

    #[test]
    fn transient_failures_are_retried_until_they_pass() {
        let stop = CancellationToken::new();
        let mut calls = 0;
        let r = blocking("probe", Duration::from_secs(10), &stop, || {
            calls += 1;
            if calls < 3 {
                Err(timeout())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.expect("third call passes"), 3);
    }

    #[test]
    fn a_failure_lasting_the_budget_is_sustained() {
        let stop = CancellationToken::new();
        let started = Instant::now();
        let r: Result<(), _> =
            blocking(
                "probe",
                Duration::from_millis(700),
                &stop,
                || Err(timeout()),
            );
        // 200 + 400 ms of waits fit in 700 ms; the next (800 ms) does not.
        match r {
            Err(PipelineError::Sustained { attempts, .. }) => assert_eq!(attempts, 3),
            other => panic!("expected Sustained, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_millis(700));
    }

    #[test]
    fn errors_a_retry_cannot_fix_end_at_once() {
        let stop = CancellationToken::new();
        let mut calls = 0;
        let r: Result<(), _> = blocking("probe", Duration::from_secs(10), &stop, || {
            calls += 1;
            Err(KafkaError::MetadataFetch(RDKafkaErrorCode::Authentication))
        });
        assert!(matches!(r, Err(PipelineError::Kafka { .. })), "{r:?}");
        assert_eq!(calls, 1);
    }

    #[test]
    fn stop_ends_the_wait() {
        let stop = CancellationToken::new();
        stop.cancel();
        let r: Result<(), _> = blocking("probe", Duration::from_secs(10), &stop, || Err(timeout()));
        assert!(matches!(r, Err(PipelineError::Stopped)), "{r:?}");
    }
}
