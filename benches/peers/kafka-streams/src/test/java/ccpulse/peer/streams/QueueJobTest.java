package ccpulse.peer.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The topology on a hand-worked input (TopologyTestDriver, no broker).
 * Windows are hopping: 5 min long, starting every 30 s, grace 5 s; a window
 * is named by its start.
 */
class QueueJobTest {
    private TopologyTestDriver driver;
    private TestInputTopic<byte[], byte[]> in;
    private TestOutputTopic<String, String> out;
    private Tracker tracker;

    @BeforeEach
    void setUp() {
        open(QueueJob.Aggregation.GLOBAL, QueueJob.Store.ROCKSDB);
    }

    private void open(QueueJob.Aggregation aggregation, QueueJob.Store store) {
        if (driver != null) {
            driver.close();
        }
        tracker = new Tracker(0);
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "test");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0); // every update reaches the output
        p.put(StreamsConfig.STATE_DIR_CONFIG, "target/test-state");
        driver = new TopologyTestDriver(
                QueueJob.build("events", "out", QueueJob.Format.JSON, aggregation, store, QueueJob.DEFAULT_GRACE,
                        tracker),
                p);
        in = driver.createInputTopic("events", new ByteArraySerializer(), new ByteArraySerializer());
        out = driver.createOutputTopic("out", new StringDeserializer(), new StringDeserializer());
    }

    @AfterEach
    void tearDown() {
        driver.close();
    }

    private void send(String json) {
        in.pipeInput((byte[]) null, json.getBytes(StandardCharsets.UTF_8));
    }

    private static String ev(String time, String id, String member) {
        return "{\"eventId\":\"e-" + id + "-" + time + "\",\"occurredAt\":\"2026-03-02T" + time
                + "Z\",\"interaction\":{\"interactionId\":\"" + id + "\"," + member + "}}";
    }

    private static String queued(String time, String id, String queue, String channel) {
        return ev(time, id, "\"queued\":{\"queue\":\"" + queue + "\",\"channel\":\"" + channel + "\"}");
    }

    private static long num(String json, String field) {
        Matcher m = Pattern.compile("\"" + field + "\":(-?\\d+)").matcher(json);
        assertTrue(m.find(), field + " in " + json);
        return Long.parseLong(m.group(1));
    }

    private static String mean(String json) {
        Matcher m = Pattern.compile("\"meanQueueWaitMs\":([^,}]+)").matcher(json);
        assertTrue(m.find(), json);
        return m.group(1);
    }

    private static void assertWindow(Map<String, String> latest, String key, long offered, long answered,
            long abandoned, String meanWait) {
        String v = latest.get(key);
        assertNotNull(v, "no output for " + key + " in " + latest.keySet());
        assertEquals(offered, num(v, "offered"), key + " offered: " + v);
        assertEquals(answered, num(v, "answered"), key + " answered: " + v);
        assertEquals(abandoned, num(v, "abandoned"), key + " abandoned: " + v);
        assertEquals(meanWait, mean(v), key + " mean wait: " + v);
    }

    @ParameterizedTest
    @EnumSource(QueueJob.Store.class)
    void countsAndMeanWaitPerQueueChannelWindow(QueueJob.Store store) {
        open(QueueJob.Aggregation.GLOBAL, store);
        send(queued("08:00:10", "i1", "billing", "CHANNEL_VOICE"));
        send(queued("08:00:20", "i2", "billing", "CHANNEL_VOICE"));
        send(ev("08:00:35", "i1", "\"offered\":{\"agentId\":\"a1\"}"));
        send(ev("08:00:40", "i1", "\"answered\":{\"agentId\":\"a1\"}")); // waited 30 s
        send(queued("08:00:50", "i3", "billing", "CHANNEL_VOICE"));
        send("{\"eventId\":\"x\",\"occurredAt\":\"2026-03-02T08:00:55Z\",\"agentStateChanged\":"
                + "{\"agentId\":\"a1\",\"state\":\"AGENT_STATE_BUSY\",\"queues\":[\"billing\"]}}");
        send(ev("08:01:20", "i2", "\"answered\":{\"agentId\":\"a2\"}")); // waited 60 s
        send(ev("08:01:40", "i3", "\"abandoned\":{}"));
        send(queued("08:02:00", "i4", "tech_support", "CHANNEL_CHAT"));
        send(ev("08:02:05", "i4", "\"message\":{\"direction\":\"DIRECTION_CUSTOMER\"}"));
        // Re-enters a queue: offered again in billing|CHAT, the wait restarts there.
        send(ev("08:02:30", "i4", "\"transferred\":{\"toQueue\":\"billing\"}"));
        send(ev("08:03:00", "i4", "\"answered\":{\"agentId\":\"a3\"}")); // waited 30 s in billing
        send(ev("08:03:10", "i3", "\"answered\":{\"agentId\":\"a1\"}")); // abandoned before: ignored
        send("{");                                                           // undecodable: counted, dropped
        send(ev("08:03:20", "i2", "\"answered\":{\"agentId\":\"a2\"}")); // not waiting: ignored
        send(queued("08:04:00", "i7", "sales", "CHANNEL_VOICE"));           // stream time -> 08:04:00
        // Late: every window holding 07:58:00 ended by 08:03:00 and closed at 08:03:05 (grace 5 s).
        send(queued("07:58:00", "i5", "billing", "CHANNEL_VOICE"));
        // Late but within grace for the windows starting 07:59:00, 07:59:30 and 08:00:00 only.
        send(queued("08:00:15", "i6", "billing", "CHANNEL_VOICE"));

        Map<String, String> latest = out.readKeyValuesToMap();
        String bv = "billing|CHANNEL_VOICE|2026-03-02T";
        assertWindow(latest, bv + "08:00:00Z", 4, 2, 1, "45000.0");
        assertWindow(latest, bv + "07:59:30Z", 4, 2, 1, "45000.0");
        assertWindow(latest, bv + "07:56:00Z", 3, 1, 0, "30000.0"); // [07:56, 08:01): closed before i6
        assertWindow(latest, bv + "07:55:30Z", 2, 0, 0, "null");    // [07:55:30, 08:00:30)
        assertWindow(latest, bv + "08:00:30Z", 1, 2, 1, "45000.0");
        assertWindow(latest, bv + "08:01:00Z", 0, 1, 1, "60000.0");
        assertWindow(latest, bv + "08:01:30Z", 0, 0, 1, "null");
        assertFalse(latest.containsKey(bv + "08:02:00Z"), "nothing of billing|VOICE after 08:01:40");
        assertFalse(latest.containsKey(bv + "07:53:30Z"), "the late 07:58:00 entry was dropped");
        assertEquals(13, latest.keySet().stream().filter(k -> k.startsWith(bv)).count()); // 07:55:30 .. 08:01:30

        String bc = "billing|CHANNEL_CHAT|2026-03-02T";
        assertWindow(latest, bc + "07:58:00Z", 1, 0, 0, "null");
        assertWindow(latest, bc + "08:00:00Z", 1, 1, 0, "30000.0");
        assertWindow(latest, bc + "08:02:30Z", 1, 1, 0, "30000.0");
        assertWindow(latest, bc + "08:03:00Z", 0, 1, 0, "30000.0");
        assertWindow(latest, "tech_support|CHANNEL_CHAT|2026-03-02T08:00:00Z", 1, 0, 0, "null");
        assertWindow(latest, "sales|CHANNEL_VOICE|2026-03-02T08:04:00Z", 1, 0, 0, "null");

        String v = latest.get(bv + "08:00:00Z");
        assertEquals(90000, num(v, "queueWaitSumMs"));
        assertTrue(v.contains("\"windowStart\":\"2026-03-02T08:00:00Z\",\"windowEnd\":\"2026-03-02T08:05:00Z\""), v);

        assertEquals(18, tracker.inputs());
        assertEquals(1, tracker.invalid());
        // offered x8 (7 queued incl. the dropped one, 1 transfer), answered x3, abandoned x1
        assertEquals(12, tracker.emitted());
        assertEquals(12, tracker.aggregated());
        double dropped = driver.metrics().entrySet().stream()
                .filter(e -> e.getKey().name().equals("dropped-records-total"))
                .mapToDouble(e -> ((Number) e.getValue().metricValue()).doubleValue()).sum();
        // Streams counts one drop per (record, expired window): 10 windows of the
        // 07:58:00 entry and 7 of the 08:00:15 one (all but 07:59:00, 07:59:30, 08:00:00).
        assertEquals(17.0, dropped, "late window updates");
    }

    @Test
    void examplesFileDecodesAndAggregates() throws Exception {
        Path file = Paths.get("../../../examples/all-kinds.jsonl");
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        long n = 0;
        for (String line : lines) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            assertTrue(JsonDecoder.decode(line.getBytes(StandardCharsets.UTF_8)).type != Event.INVALID, line);
            send(line);
            n++;
        }
        assertEquals(n, tracker.inputs());
        assertEquals(0, tracker.invalid());
        Map<String, String> latest = out.readKeyValuesToMap();
        // call-1001 queued 08:02:10.250, answered 08:02:19 (8.75 s); call-1002 queued 08:10:00, abandoned 08:11:30.
        assertWindow(latest, "billing|CHANNEL_VOICE|2026-03-02T08:00:00Z", 1, 1, 0, "8750.0");
        assertWindow(latest, "billing|CHANNEL_VOICE|2026-03-02T08:10:00Z", 1, 0, 1, "null");
        // call-1001 transferred to tech_support at 08:07:30 (it waits again), answered 08:07:40 (10 s);
        // chat-2001 is tech_support|CHAT.
        assertWindow(latest, "tech_support|CHANNEL_VOICE|2026-03-02T08:05:00Z", 1, 1, 0, "10000.0");
        assertWindow(latest, "tech_support|CHANNEL_CHAT|2026-03-02T08:05:00Z", 1, 1, 0, "25000.0");
        // email-3001 queued 08:20:00, answered 08:24:30 (270 s).
        assertWindow(latest, "billing|CHANNEL_EMAIL|2026-03-02T08:20:00Z", 1, 1, 0, "270000.0");
    }

    @Test
    void perPartitionModeKeysPartialsByInputPartition() {
        open(QueueJob.Aggregation.PER_PARTITION, QueueJob.Store.ROCKSDB);
        send(queued("08:00:10", "i1", "billing", "CHANNEL_VOICE"));
        send(queued("08:00:20", "i2", "billing", "CHANNEL_VOICE"));
        send(ev("08:00:40", "i1", "\"answered\":{\"agentId\":\"a1\"}"));
        send(ev("08:01:40", "i2", "\"abandoned\":{}"));
        Map<String, String> latest = out.readKeyValuesToMap();
        String key = "billing|CHANNEL_VOICE|2026-03-02T08:00:00Z|p0"; // the test driver has one partition
        assertWindow(latest, key, 2, 1, 1, "30000.0");
        assertTrue(latest.get(key).startsWith("{\"queue\":\"billing\",\"channel\":\"CHANNEL_VOICE\",\"partition\":0,"),
                latest.get(key));
        assertEquals(4, tracker.inputs());
        assertEquals(4, tracker.aggregated());
        Map<String, String> merged = Dump.merge(latest);
        assertTrue(merged.get("billing|CHANNEL_VOICE|2026-03-02T08:00:00Z").contains("\"meanQueueWaitMs\":30000.0"));
    }
}
