package ccpulse.peer.streams;

import ccpulse.peer.streams.Model.Contribution;
import ccpulse.peer.streams.Model.QueueAgg;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The topology (--aggregation global):
 * <pre>
 *  input (key: interaction id; value: ccpulse.v1.Envelope, JSON or protobuf)
 *    -> decode (source serde) + event time from occurredAt (OccurredAtExtractor)
 *    -> "interactions" processor with a persistent KV store (interaction id -> queue, channel,
 *       queued-at, waiting), changelogged; emits offered / answered(wait) / abandoned
 *       contributions keyed "queue|channel"
 *    -> repartition topic "&lt;app-id&gt;-by-queue-channel-repartition" (the aggregation key differs
 *       from the partition key)
 *    -> hopping windows, size 5 min, advance 30 s, grace 5 s (default), aggregate
 *       {offered, answered, abandoned, waitSum} in a persistent window store, changelogged,
 *       behind the record cache
 *    -> output topic (key "queue|channel|windowStart", value JSON)
 * </pre>
 * With --aggregation per-partition (the command line's default) the contributions are keyed
 * "queue|channel|p" (p = input partition) and a partitioner keeps them on
 * repartition partition p, so each aggregation task sees exactly one input
 * partition's records in their order and keeps that partition's stream time,
 * as ccpulse's per-partition engines do. The output then holds per-partition
 * partial aggregates keyed "queue|channel|windowStart|pN", to be summed over N.
 */
public final class QueueJob {
    public static final String INTERACTION_STORE = "interactions";
    public static final String AGG_STORE = "queue-channel-5m";
    public static final String REPARTITION_NAME = "by-queue-channel";
    public static final Duration WINDOW_SIZE = Duration.ofMinutes(5);
    public static final Duration WINDOW_ADVANCE = Duration.ofSeconds(30);
    public static final Duration DEFAULT_GRACE = Duration.ofSeconds(5);

    public enum Format { JSON, PROTOBUF }

    public enum Aggregation { GLOBAL, PER_PARTITION }

    /**
     * ROCKSDB: Streams' default persistent stores (the window store is segmented: one RocksDB
     * instance per segment of max(retention / 2, 60 s) of event time). IN_MEMORY: Streams'
     * in-memory stores. Both are changelogged.
     */
    public enum Store { ROCKSDB, IN_MEMORY }

    private QueueJob() {}

    public static Topology build(String input, String output, Format format, Aggregation aggregation,
            Duration grace, Tracker tracker) {
        return build(input, output, format, aggregation, Store.ROCKSDB, grace, tracker);
    }

    public static Topology build(String input, String output, Format format, Aggregation aggregation,
            Store store, Duration grace, Tracker tracker) {
        boolean perPartition = aggregation == Aggregation.PER_PARTITION;
        boolean inMemory = store == Store.IN_MEMORY;
        StreamsBuilder b = new StreamsBuilder();
        b.addStateStore(Stores.keyValueStoreBuilder(
                inMemory ? Stores.inMemoryKeyValueStore(INTERACTION_STORE)
                        : Stores.persistentKeyValueStore(INTERACTION_STORE),
                Serdes.String(), Model.stateSerde()));
        Materialized<String, QueueAgg, WindowStore<Bytes, byte[]>> windows = inMemory
                ? Materialized.<String, QueueAgg>as(Stores.inMemoryWindowStore(
                        AGG_STORE, WINDOW_SIZE.plus(grace), WINDOW_SIZE, false))
                : Materialized.<String, QueueAgg, WindowStore<Bytes, byte[]>>as(AGG_STORE);

        Serde<Contribution> contributions = Model.contributionSerde();
        b.stream(input, Consumed.with(Serdes.ByteArray(), eventSerde(format))
                        .withTimestampExtractor(new OccurredAtExtractor())
                        .withName("events"))
                .process(() -> new InteractionProcessor(tracker, perPartition), Named.as("interactions"),
                        INTERACTION_STORE)
                .repartition(perPartition
                        ? Repartitioned.with(Serdes.String(), contributions).withName(REPARTITION_NAME)
                                .withStreamPartitioner(QueueJob::samePartition)
                        : Repartitioned.with(Serdes.String(), contributions).withName(REPARTITION_NAME))
                .peek((k, v) -> tracker.onAggregate(), Named.as("count-contributions"))
                .groupByKey(Grouped.with(Serdes.String(), contributions))
                .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW_SIZE, grace).advanceBy(WINDOW_ADVANCE))
                .aggregate(QueueAgg::new, (k, c, agg) -> agg.add(c), Named.as("aggregate"),
                        windows.withKeySerde(Serdes.String())
                                .withValueSerde(Model.aggSerde()))
                .toStream(Named.as("changes"))
                .filter((k, v) -> v != null, Named.as("non-null"))
                .map((wk, agg) -> perPartition
                        ? KeyValue.pair(outputKeyPerPartition(wk), outputValue(wk, agg))
                        : KeyValue.pair(outputKey(wk), outputValue(wk, agg)), Named.as("format"))
                .peek((k, v) -> tracker.onOutput(), Named.as("count-outputs"))
                .to(output, Produced.with(Serdes.String(), Serdes.String()).withName("output"));
        return b.build();
    }

    static Serde<Event> eventSerde(Format format) {
        Serializer<Event> none = (topic, e) -> {
            throw new UnsupportedOperationException("events are only read");
        };
        Deserializer<Event> de = format == Format.PROTOBUF
                ? (topic, bytes) -> ProtoDecoder.decode(bytes)
                : (topic, bytes) -> JsonDecoder.decode(bytes);
        return Serdes.serdeFrom(none, de);
    }

    /** The aggregation key of a queue x channel. */
    static String groupKey(String queue, int channel) {
        return queue + '|' + Event.channelName(channel);
    }

    /** Per-partition mode: the input partition at the end of "queue|channel|p" goes to partition p. */
    static Optional<Set<Integer>> samePartition(String topic, String key, Contribution value, int numPartitions) {
        int p = Integer.parseInt(key.substring(key.lastIndexOf('|') + 1));
        return Optional.of(Collections.singleton(p % numPartitions));
    }

    /** Per-partition mode: "queue|channel|p" -> "queue|channel|windowStart|pN". */
    static String outputKeyPerPartition(Windowed<String> wk) {
        String k = wk.key();
        int bar = k.lastIndexOf('|');
        return k.substring(0, bar) + '|' + Instant.ofEpochMilli(wk.window().start()) + "|p" + k.substring(bar + 1);
    }

    /** "queue|channel|windowStart", windowStart in RFC 3339 UTC. */
    static String outputKey(Windowed<String> wk) {
        return wk.key() + '|' + Instant.ofEpochMilli(wk.window().start());
    }

    static String outputValue(Windowed<String> wk, QueueAgg a) {
        String k = wk.key();
        int bar = k.lastIndexOf('|');
        String partition = null;
        if (!k.substring(bar + 1).startsWith("CHANNEL_")) { // per-partition: "queue|channel|p"
            partition = k.substring(bar + 1);
            k = k.substring(0, bar);
            bar = k.lastIndexOf('|');
        }
        StringBuilder sb = new StringBuilder(200);
        sb.append("{\"queue\":\"");
        JsonStringEncoder.getInstance().quoteAsString(k.substring(0, bar), sb);
        sb.append("\",\"channel\":\"").append(k, bar + 1, k.length()).append('"');
        if (partition != null) {
            sb.append(",\"partition\":").append(partition);
        }
        sb
                .append(",\"windowStart\":\"").append(Instant.ofEpochMilli(wk.window().start()))
                .append("\",\"windowEnd\":\"").append(Instant.ofEpochMilli(wk.window().end()))
                .append("\",\"offered\":").append(a.offered)
                .append(",\"answered\":").append(a.answered)
                .append(",\"abandoned\":").append(a.abandoned)
                .append(",\"queueWaitSumMs\":").append(a.waitSumMs)
                .append(",\"meanQueueWaitMs\":");
        if (a.answered == 0) {
            sb.append("null");
        } else {
            sb.append(a.meanWaitMs());
        }
        return sb.append('}').toString();
    }
}
