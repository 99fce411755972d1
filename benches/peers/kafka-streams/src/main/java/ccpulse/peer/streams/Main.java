package ccpulse.peer.streams;

import java.io.File;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;

/**
 * Runs the queue job until it has processed --expect input records, then
 * prints one JSON line of figures to stdout and exits 0. Subcommands
 * {@code generate} and {@code dump} (see {@link Generate}, {@link Dump}) help
 * to test it. Everything else goes to stderr.
 */
public final class Main {
    static final String USAGE = String.join("\n",
            "usage: java -jar ccpulse-peer-streams.jar [run] --brokers HOST:PORT --input TOPIC --output TOPIC",
            "           --expect N [--app-id ID] [--guarantee at_least_once|exactly_once_v2]",
            "           [--format json|protobuf] [--threads K] [--state-dir DIR] [--grace-ms MS]",
            "           [--aggregation global|per-partition] [--store rocksdb|in-memory]",
            "           [--create-output PARTITIONS]",
            "           [--commit-interval-ms MS] [--timeout-s S] [--print-topology]",
            "       java -jar ccpulse-peer-streams.jar generate --help",
            "       java -jar ccpulse-peer-streams.jar dump --help",
            "",
            "Defaults: --app-id ccpulse-peer-streams, --guarantee at_least_once, --format json,",
            "--threads 1, --state-dir /tmp/kafka-streams, --grace-ms 5000, --timeout-s 3600,",
            "--aggregation per-partition (partials per input partition, as ccpulse; global: one aggregate",
            "per queue x channel after a shuffle, loses late records to cross-partition skew, see README),",
            "--store rocksdb (Streams' default stores; in-memory: Streams' in-memory stores, still changelogged);",
            "--create-output P creates the output topic (P partitions, replication 1) when missing;",
            "commit.interval.ms is Streams' default unless given (30000 ALO, 100 EOS).",
            "Prints {\"records\":N,\"seconds\":S,\"events_per_s\":R,\"cpu_seconds\":C,...} on stdout.");

    public static void main(String[] args) throws Exception {
        try {
            main1(args);
        } catch (IllegalArgumentException e) {
            System.err.println("ccpulse-peer-streams: " + e.getMessage());
            System.exit(2);
        }
    }

    private static void main1(String[] args) throws Exception {
        if (args.length > 0 && !args[0].startsWith("-")) {
            String[] rest = Arrays.copyOfRange(args, 1, args.length);
            switch (args[0]) {
                case "run":
                    System.exit(run(rest));
                    return;
                case "generate":
                    System.exit(Generate.main0(rest));
                    return;
                case "dump":
                    System.exit(Dump.main0(rest));
                    return;
                default:
                    System.err.println("unknown subcommand " + args[0] + "\n" + USAGE);
                    System.exit(2);
                    return;
            }
        }
        System.exit(run(args));
    }

    static int run(String[] argv) throws Exception {
        Args a = new Args(argv);
        if (a.flag("--help") || a.flag("-h")) {
            System.out.println(USAGE);
            return 0;
        }
        String brokers = a.required("--brokers");
        String input = a.required("--input");
        String output = a.required("--output");
        long expect = Long.parseLong(a.required("--expect"));
        String appId = a.get("--app-id", "ccpulse-peer-streams");
        String guarantee = a.get("--guarantee", "at_least_once");
        QueueJob.Format format = QueueJob.Format.valueOf(a.get("--format", "json").toUpperCase(Locale.ROOT));
        int threads = Integer.parseInt(a.get("--threads", "1"));
        String stateDir = a.get("--state-dir", new File(System.getProperty("java.io.tmpdir"), "kafka-streams").getPath());
        Duration grace = Duration.ofMillis(Long.parseLong(a.get("--grace-ms", "5000")));
        String commitInterval = a.get("--commit-interval-ms", null);
        QueueJob.Aggregation aggregation = QueueJob.Aggregation.valueOf(
                a.get("--aggregation", "per-partition").toUpperCase(Locale.ROOT).replace('-', '_'));
        long timeoutS = Long.parseLong(a.get("--timeout-s", "3600"));
        boolean printTopology = a.flag("--print-topology");
        String createOutput = a.get("--create-output", null);
        QueueJob.Store store = QueueJob.Store.valueOf(
                a.get("--store", "rocksdb").toUpperCase(Locale.ROOT).replace('-', '_'));
        a.rejectUnknown();
        if (expect <= 0) {
            throw new IllegalArgumentException("--expect must be positive");
        }
        if (!guarantee.equals(StreamsConfig.AT_LEAST_ONCE) && !guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2)) {
            throw new IllegalArgumentException("--guarantee must be at_least_once or exactly_once_v2");
        }

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        if (commitInterval != null) {
            p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Long.parseLong(commitInterval));
        }

        if (createOutput != null) {
            createTopic(brokers, output, Integer.parseInt(createOutput));
        }
        Tracker tracker = new Tracker(expect);
        Topology topology = QueueJob.build(input, output, format, aggregation, store, grace, tracker);
        if (printTopology) {
            System.err.println(topology.describe());
        }
        StreamsConfig effective = new StreamsConfig(p);
        System.err.printf("ccpulse-peer-streams: kafka-streams %s, app-id %s, %s, %s input, %s aggregation, %s stores, %d thread(s), "
                        + "commit.interval.ms %s, statestore.cache.max.bytes %s, grace %d ms, state dir %s%n",
                org.apache.kafka.common.utils.AppInfoParser.getVersion(), appId, guarantee,
                format.name().toLowerCase(Locale.ROOT), aggregation.name().toLowerCase(Locale.ROOT),
                store.name().toLowerCase(Locale.ROOT), threads,
                effective.getLong(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG),
                effective.getLong(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG), grace.toMillis(), stateDir);

        KafkaStreams streams = new KafkaStreams(topology, p);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        streams.setUncaughtExceptionHandler(ex -> {
            failure.compareAndSet(null, ex);
            tracker.done().countDown();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.PENDING_ERROR) {
                failure.compareAndSet(null, new IllegalStateException("Kafka Streams went to " + now));
                tracker.done().countDown();
            }
        });
        streams.cleanUp(); // local state of a previous run with this app id
        streams.start();

        boolean finished = tracker.done().await(timeoutS, TimeUnit.SECONDS);
        long doneNanos = tracker.doneNanos();
        long droppedRecords = sumMetric(streams, "dropped-records-total");
        long closeStart = System.nanoTime();
        streams.close(Duration.ofMinutes(2));
        long end = System.nanoTime();
        long endCpu = Tracker.processCpuNanos();

        if (failure.get() != null) {
            System.err.println("ccpulse-peer-streams: failed: " + failure.get());
            failure.get().printStackTrace();
            return 1;
        }
        if (!finished || doneNanos == 0) {
            System.err.printf("ccpulse-peer-streams: timed out after %d s with %d of %d records processed "
                            + "(%d contributions sent, %d aggregated)%n", timeoutS, tracker.inputs(), expect,
                    tracker.emitted(), tracker.aggregated());
            return 3;
        }
        long start = tracker.startNanos();
        double seconds = (end - start) / 1e9;
        double cpu = (endCpu - tracker.startCpuNanos()) / 1e9;
        long records = tracker.inputs();
        Map<String, Object> out = new java.util.LinkedHashMap<>();
        out.put("records", records);
        out.put("seconds", round(seconds));
        out.put("events_per_s", round(records / seconds));
        out.put("cpu_seconds", round(cpu));
        out.put("cpu_s_per_million", round(cpu * 1e6 / records));
        out.put("processing_seconds", round((doneNanos - start) / 1e9));
        out.put("close_seconds", round((end - closeStart) / 1e9));
        out.put("contributions", tracker.emitted());
        out.put("output_records", tracker.outputs());
        out.put("invalid_records", tracker.invalid());
        out.put("dropped_window_updates", droppedRecords);
        out.put("guarantee", guarantee);
        out.put("format", format.name().toLowerCase(Locale.ROOT));
        out.put("aggregation", aggregation.name().toLowerCase(Locale.ROOT).replace('_', '-'));
        out.put("store", store.name().toLowerCase(Locale.ROOT).replace('_', '-'));
        out.put("threads", threads);
        out.put("kafka_streams", org.apache.kafka.common.utils.AppInfoParser.getVersion());
        System.out.println(toJson(out));
        System.out.flush();
        return 0;
    }

    static void createTopic(String brokers, String topic, int partitions) throws Exception {
        Properties ap = new Properties();
        ap.put(org.apache.kafka.clients.admin.AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(ap)) {
            if (!admin.listTopics().names().get().contains(topic)) {
                admin.createTopics(java.util.List.of(
                        new org.apache.kafka.clients.admin.NewTopic(topic, partitions, (short) 1))).all().get();
                System.err.println("ccpulse-peer-streams: created topic " + topic + " with " + partitions + " partitions");
            }
        }
    }

    /** Sum of a Streams metric over all its tags (e.g. dropped-records-total over tasks). */
    static long sumMetric(KafkaStreams streams, String name) {
        double sum = 0;
        for (Map.Entry<MetricName, ? extends Metric> m : streams.metrics().entrySet()) {
            if (m.getKey().name().equals(name)) {
                Object v = m.getValue().metricValue();
                if (v instanceof Number && !Double.isNaN(((Number) v).doubleValue())) {
                    sum += ((Number) v).doubleValue();
                }
            }
        }
        return (long) sum;
    }

    private static double round(double v) {
        return Math.round(v * 1e6) / 1e6;
    }

    static String toJson(Map<String, Object> m) {
        StringBuilder sb = new StringBuilder("{");
        for (Map.Entry<String, Object> e : m.entrySet()) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            sb.append('"').append(e.getKey()).append("\":");
            Object v = e.getValue();
            if (v instanceof String) {
                sb.append('"').append(v).append('"');
            } else {
                sb.append(v);
            }
        }
        return sb.append('}').toString();
    }

    /** --name value / --name=value / --flag. */
    static final class Args {
        private final Map<String, String> values = new TreeMap<>();
        private final java.util.Set<String> used = new java.util.HashSet<>();

        Args(String[] argv) {
            for (int i = 0; i < argv.length; i++) {
                String s = argv[i];
                if (!s.startsWith("-")) {
                    throw new IllegalArgumentException("unexpected argument " + s);
                }
                int eq = s.indexOf('=');
                if (eq > 0) {
                    values.put(s.substring(0, eq), s.substring(eq + 1));
                } else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) {
                    values.put(s, argv[++i]);
                } else {
                    values.put(s, "");
                }
            }
        }

        String get(String name, String dflt) {
            used.add(name);
            String v = values.get(name);
            return v == null || v.isEmpty() ? dflt : v;
        }

        String required(String name) {
            String v = get(name, null);
            if (v == null) {
                throw new IllegalArgumentException(name + " is required\n" + USAGE);
            }
            return v;
        }

        boolean flag(String name) {
            used.add(name);
            return values.containsKey(name);
        }

        void rejectUnknown() {
            for (String k : values.keySet()) {
                if (!used.contains(k)) {
                    throw new IllegalArgumentException("unknown option " + k);
                }
            }
        }
    }
}
