//! Writing ccpulse events to the input topics, for everything that feeds
//! the service (`simulate`, `demo`, `follow-queue-log`, `bridge`): which
//! topic an event goes to, and a send that waits while the producer's
//! queue is full. One place, so every feeder partitions and routes events
//! the way `run` reads them.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

use super::settings::Topics;
use ccpulse_core::event::codec::encode_json;
use ccpulse_core::event::{Event, EventKind};

/// The input topic `run` reads `ev` from: agent events from the agent
/// topic, survey answers from the second events topic when there is one,
/// everything else from the first.
pub fn topic_for<'t>(topics: &'t Topics, ev: &Event) -> &'t str {
    match &ev.kind {
        EventKind::Agent(_) => &topics.agents,
        EventKind::Survey(_) => topics.events.get(1).unwrap_or(&topics.events[0]),
        EventKind::Interaction { .. } => &topics.events[0],
    }
}

/// The headers every fed event carries.
pub fn json_headers() -> OwnedHeaders {
    OwnedHeaders::new().insert(Header {
        key: "content-type",
        value: Some("application/json"),
    })
}

/// Hand `rec` to the producer, waiting while its queue is full (the broker
/// is slow or away: backpressure instead of an error).
pub async fn send(
    producer: &FutureProducer,
    mut rec: FutureRecord<'_, [u8], [u8]>,
) -> Result<DeliveryFuture, KafkaError> {
    loop {
        match producer.send_result(rec) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                rec = back;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// Produce `ev` as proto3 JSON to its input topic ([`topic_for`]), keyed by
/// its partition key, with the record timestamp set to its event time.
pub async fn send_event(
    producer: &FutureProducer,
    topics: &Topics,
    headers: &OwnedHeaders,
    ev: &Event,
) -> Result<DeliveryFuture, KafkaError> {
    let value = encode_json(ev);
    let rec = FutureRecord::to(topic_for(topics, ev))
        .key(ev.key().as_bytes())
        .payload(value.as_bytes())
        .timestamp(ev.occurred_at)
        .headers(headers.clone());
    send(producer, rec).await
}
