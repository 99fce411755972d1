//! The replicated agent directory: every instance reads the whole agent
//! topic and keeps its events, so every partition task can fold the same
//! agent states (for the picker and occupancy).
//!
//! Agent events are kept in arrival order in one shared log; tasks follow
//! it by index (and get a wake-up on each append), and a restoring task
//! merges a copy of it by event time into its replay. Memory: all agent
//! events within the topic's retention (agent events are few: state
//! changes of staff, not contacts).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use std::time::{SystemTime, UNIX_EPOCH};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use super::error::{kerr, PipelineError};
use super::fatal::Fatal;
use super::kafka::{reader, Reader};
use super::output::Out;
use super::records::{dead_letter, dead_letter_cap};
use super::retry::{blocking, per_call, Retry};
use super::settings::KafkaConfig;
use ccpulse_core::event::codec::{decode, DecodeError, Limits};
use ccpulse_core::event::Millis;
use ccpulse_core::event::{Event, EventKind};

#[derive(Clone)]
pub(super) struct AgentFeed {
    pub(super) log: Arc<RwLock<Vec<Event>>>,
    /// Log length after each append.
    pub(super) len: watch::Receiver<usize>,
    /// True once the topic was read to its end at start-up.
    pub(super) caught_up: watch::Receiver<bool>,
}

impl AgentFeed {
    /// Start reading the agent topic on a tracked blocking thread. It ends
    /// when `stop` fires; a failure that lasts `kafka.retry_budget` raises
    /// `fatal`.
    pub(super) fn start(
        k: &Arc<KafkaConfig>,
        limits: &Limits,
        tracker: &TaskTracker,
        stop: CancellationToken,
        fatal: Fatal,
        out: mpsc::Sender<Out>,
    ) -> Result<AgentFeed, PipelineError> {
        let log = Arc::new(RwLock::new(Vec::new()));
        let (len_tx, len) = watch::channel(0usize);
        let (cu_tx, caught_up) = watch::channel(false);
        let c = reader(k, "agents")?;
        let feed = AgentFeed {
            log: log.clone(),
            len,
            caught_up,
        };
        let reading = Reading {
            k: k.clone(),
            limits: limits.clone(),
            dead_letter_cap: dead_letter_cap(k),
            log,
            len_tx,
            cu_tx,
            out,
            stop,
        };
        tracker.spawn_blocking(move || {
            if let Err(e) = reading.run(&c) {
                fatal.raise("agents", e);
            }
        });
        Ok(feed)
    }
}

/// The agent feed's blocking loop and what it writes to.
struct Reading {
    k: Arc<KafkaConfig>,
    limits: Limits,
    dead_letter_cap: usize,
    log: Arc<RwLock<Vec<Event>>>,
    len_tx: watch::Sender<usize>,
    cu_tx: watch::Sender<bool>,
    out: mpsc::Sender<Out>,
    stop: CancellationToken,
}

impl Reading {
    fn run(self, c: &Reader) -> Result<(), PipelineError> {
        let k = &self.k;
        let budget = Duration::from_millis(k.retry_budget.max(0) as u64);
        let topic = k.topics.agents.as_str();
        let what = format!("reading the metadata of the agent topic {topic}");
        let md = blocking(&what, budget, &self.stop, || {
            c.fetch_metadata(Some(topic), per_call(budget))
        })?;
        let mut tpl = TopicPartitionList::new();
        let mut parts = 0;
        for t in md.topics() {
            for p in t.partitions() {
                tpl.add_partition_offset(t.name(), p.id(), Offset::Beginning)
                    .map_err(kerr("building the agent assignment"))?;
                parts += 1;
            }
        }
        c.assign(&tpl).map_err(kerr("assigning the agent topic"))?;
        let mut eof = std::collections::BTreeSet::new();
        if parts == 0 {
            let _ = self.cu_tx.send(true);
        }
        let what = format!("reading the agent topic {topic}");
        let mut retry = Retry::new(&what, budget);
        while !self.stop.is_cancelled() {
            match c.poll(Duration::from_millis(200)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    eof.insert(p);
                    if eof.len() >= parts && !*self.cu_tx.borrow() {
                        let n = self.log.read().map(|l| l.len()).unwrap_or(0);
                        info!(events = n, "agent directory loaded");
                        let _ = self.cu_tx.send(true);
                    }
                }
                Some(Err(e)) => retry.failed_blocking(e, &self.stop)?,
                Some(Ok(m)) => {
                    retry = Retry::new(&what, budget);
                    if !self.take(&m) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// One agent record: into the log, or to the dead-letter topic. `false`
    /// once the output is gone (shutting down).
    fn take(&self, m: &BorrowedMessage<'_>) -> bool {
        let value = m.payload().unwrap_or_default();
        let ct = super::topic::header(m, "content-type");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as Millis);
        let reference = m.timestamp().to_millis().map_or(now, |t| t.min(now));
        let decoded = decode(
            value,
            self.k.format.pick(value, ct),
            &self.limits,
            Some(reference),
        )
        .and_then(|ev| match ev.kind {
            EventKind::Agent(_) => Ok(ev),
            _ => Err(DecodeError::Invalid {
                field: "kind".into(),
                reason: format!(
                    "{} on the agent topic; send it to an events topic",
                    ev.kind_name()
                ),
            }),
        });
        match decoded {
            Ok(ev) => {
                let n = match self.log.write() {
                    Ok(mut l) => {
                        l.push(ev);
                        l.len()
                    }
                    Err(_) => return true,
                };
                let _ = self.len_tx.send(n);
                true
            }
            Err(e) => {
                let rec = dead_letter(&self.k.topics.dead_letter, self.dead_letter_cap, m, &e);
                let src: Arc<str> = Arc::from(m.topic());
                self.out
                    .blocking_send(Out::Batch {
                        source: (src, m.partition()),
                        records: vec![rec],
                        processed: None,
                    })
                    .is_ok()
            }
        }
    }
}
