package ccpulse.peer.streams;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads the job's output topic from the start (read_committed, no group) and
 * prints the latest value of each key, sorted by key, as "key TAB value";
 * then a count line on stderr.
 */
public final class Dump {
    static final String USAGE = "usage: java -jar ccpulse-peer-streams.jar dump --brokers HOST:PORT --topic TOPIC"
            + " [--idle-ms MS] [--merge]\n(prints the latest value per key; stops after MS, default 3000, without records;"
            + "\n--merge sums the per-partition partials \"queue|channel|windowStart|pN\" over N)";

    private Dump() {}

    static int main0(String[] argv) {
        Main.Args a = new Main.Args(argv);
        if (a.flag("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        String brokers = a.required("--brokers");
        String topic = a.required("--topic");
        long idleMs = Long.parseLong(a.get("--idle-ms", "3000"));
        boolean merge = a.flag("--merge");
        a.rejectUnknown();
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        Map<String, String> latest = new TreeMap<>();
        long total = 0;
        try (KafkaConsumer<String, String> c =
                new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo pi : c.partitionsFor(topic)) {
                tps.add(new TopicPartition(topic, pi.partition()));
            }
            c.assign(tps);
            c.seekToBeginning(tps);
            long lastData = System.currentTimeMillis();
            while (System.currentTimeMillis() - lastData < idleMs) {
                ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(200));
                for (ConsumerRecord<String, String> r : rs) {
                    latest.put(r.key(), r.value());
                    total++;
                }
                if (!rs.isEmpty()) {
                    lastData = System.currentTimeMillis();
                }
            }
        }
        if (merge) {
            latest = merge(latest);
        }
        for (Map.Entry<String, String> e : latest.entrySet()) {
            System.out.println(e.getKey() + "\t" + e.getValue());
        }
        System.err.printf("dump: %d records, %d keys%n", total, latest.size());
        return 0;
    }

    private static final Pattern PARTIAL = Pattern.compile("^(.*)\\|p\\d+$");
    private static final String[] FIELDS = {"offered", "answered", "abandoned", "queueWaitSumMs"};

    /** Sums per-partition partials by "queue|channel|windowStart". */
    static Map<String, String> merge(Map<String, String> partials) {
        Map<String, long[]> sums = new TreeMap<>();
        for (Map.Entry<String, String> e : partials.entrySet()) {
            Matcher m = PARTIAL.matcher(e.getKey());
            String key = m.matches() ? m.group(1) : e.getKey();
            long[] s = sums.computeIfAbsent(key, k -> new long[FIELDS.length]);
            for (int i = 0; i < FIELDS.length; i++) {
                Matcher f = Pattern.compile("\"" + FIELDS[i] + "\":(\\d+)").matcher(e.getValue());
                if (f.find()) {
                    s[i] += Long.parseLong(f.group(1));
                }
            }
        }
        Map<String, String> out = new TreeMap<>();
        for (Map.Entry<String, long[]> e : sums.entrySet()) {
            long[] s = e.getValue();
            out.put(e.getKey(), String.format("{\"offered\":%d,\"answered\":%d,\"abandoned\":%d,"
                    + "\"queueWaitSumMs\":%d,\"meanQueueWaitMs\":%s}", s[0], s[1], s[2], s[3],
                    s[1] == 0 ? "null" : Double.toString((double) s[3] / s[1])));
        }
        return out;
    }
}
