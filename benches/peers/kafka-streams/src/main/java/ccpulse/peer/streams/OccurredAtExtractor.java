package ccpulse.peer.streams;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.streams.processor.TimestampExtractor;

/**
 * Event time = the event's {@code occurredAt} (RFC 3339 in JSON, a Timestamp in
 * protobuf), already decoded by the source serde: Streams hands the extractor
 * the deserialized value. An undecodable record keeps the partition's current
 * stream time so that it neither moves time nor is dropped before it is counted.
 */
public final class OccurredAtExtractor implements TimestampExtractor {
    @Override
    public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
        Object v = record.value();
        if (v instanceof Event) {
            long t = ((Event) v).occurredAtMs;
            if (t >= 0) {
                return t;
            }
        }
        return Math.max(partitionTime, 0L);
    }
}
