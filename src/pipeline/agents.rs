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

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::error::{kerr, PipelineError};
use super::kafka::reader;
use super::output::Out;
use super::records::dead_letter;
use super::settings::KafkaConfig;
use ccpulse_core::event::codec::{decode, DecodeError, Limits};
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
    pub(super) fn start(
        k: &Arc<KafkaConfig>,
        tracker: &TaskTracker,
        stop: CancellationToken,
        out: mpsc::Sender<Out>,
    ) -> Result<AgentFeed, PipelineError> {
        let log = Arc::new(RwLock::new(Vec::new()));
        let (len_tx, len) = watch::channel(0usize);
        let (cu_tx, caught_up) = watch::channel(false);
        let c = reader(k, "agents")?;
        let md = c
            .fetch_metadata(Some(&k.topics.agents), Duration::from_secs(10))
            .map_err(kerr("reading agent topic metadata"))?;
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
        let feed = AgentFeed {
            log: log.clone(),
            len,
            caught_up,
        };
        let topic = k.topics.agents.clone();
        let format = k.format;
        let dlq = k.topics.dead_letter.clone();
        tracker.spawn_blocking(move || {
            let limits = Limits::default();
            let mut eof = std::collections::BTreeSet::new();
            if parts == 0 {
                let _ = cu_tx.send(true);
            }
            while !stop.is_cancelled() {
                match c.poll(Duration::from_millis(200)) {
                    None => {}
                    Some(Err(KafkaError::PartitionEOF(p))) => {
                        eof.insert(p);
                        if eof.len() >= parts && !*cu_tx.borrow() {
                            let n = log.read().map(|l| l.len()).unwrap_or(0);
                            info!(events = n, "agent directory loaded");
                            let _ = cu_tx.send(true);
                        }
                    }
                    Some(Err(e)) => warn!(error = %e, topic = %topic, "agent topic read error"),
                    Some(Ok(m)) => {
                        let value = m.payload().unwrap_or_default();
                        let ct = super::topic::header(&m, "content-type");
                        let reference = m.timestamp().to_millis();
                        let decoded = decode(value, format.pick(value, ct), &limits, reference)
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
                                let n = match log.write() {
                                    Ok(mut l) => {
                                        l.push(ev);
                                        l.len()
                                    }
                                    Err(_) => continue,
                                };
                                let _ = len_tx.send(n);
                            }
                            Err(e) => {
                                let rec = dead_letter(&dlq, &m, &e);
                                let src: Arc<str> = Arc::from(m.topic());
                                if out
                                    .blocking_send(Out::Batch {
                                        source: (src, m.partition()),
                                        records: vec![rec],
                                        processed: None,
                                    })
                                    .is_err()
                                {
                                    break;
                                }
                            }
                        }
                    }
                }
            }
        });
        Ok(feed)
    }
}
