package ccpulse.peer.streams;

import ccpulse.v1.Events.Channel;
import ccpulse.v1.Events.Direction;
import ccpulse.v1.Events.Envelope;
import ccpulse.v1.Events.InteractionEvent;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.google.protobuf.Timestamp;
import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Test input for the job: synthetic interaction lifecycles (queued, messages,
 * offered, answered or abandoned, holds, transfers, ended, wrapUpDone,
 * resolved) in event-time order, keyed by interaction id, as JSON or
 * protobuf; or the lines of a .jsonl file as they are. Creates the topics it
 * is given when they are missing.
 */
public final class Generate {
    static final String USAGE = String.join("\n",
            "usage: java -jar ccpulse-peer-streams.jar generate --brokers HOST:PORT --topic TOPIC",
            "           [--partitions P] [--create-topic OTHER]... [--format json|protobuf]",
            "           (--interactions I [--events N] [--start RFC3339] [--gap-ms MS] [--seed S]",
            "            | --file EVENTS.jsonl) [--copy-to FILE.jsonl]",
            "Defaults: --partitions 4, --format json, --gap-ms 250 (event time between arrivals),",
            "--start two hours ago (whole minute), --seed 1. --events caps the record count.",
            "--create-topic NAME also creates NAME with P partitions (e.g. the job's output topic).",
            "--copy-to writes the generated events as JSON lines too (for an independent check).",
            "Prints {\"records\":N,\"interactions\":I,...} on stdout.");

    static final String[] QUEUES = {"billing", "tech_support", "sales", "retention"};

    private Generate() {}

    static int main0(String[] argv) throws Exception {
        Main.Args a = new Main.Args(argv);
        if (a.flag("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        String brokers = a.required("--brokers");
        String topic = a.required("--topic");
        int partitions = Integer.parseInt(a.get("--partitions", "4"));
        String extraTopic = a.get("--create-topic", null);
        String format = a.get("--format", "json").toLowerCase(Locale.ROOT);
        String file = a.get("--file", null);
        long interactions = Long.parseLong(a.get("--interactions", "0"));
        long maxEvents = Long.parseLong(a.get("--events", Long.toString(Long.MAX_VALUE)));
        String startArg = a.get("--start", null);
        long gap = Long.parseLong(a.get("--gap-ms", "250"));
        long seed = Long.parseLong(a.get("--seed", "1"));
        String copyTo = a.get("--copy-to", null);
        a.rejectUnknown();
        if (file == null && interactions <= 0) {
            throw new IllegalArgumentException("give --interactions I or --file F\n" + USAGE);
        }
        long start = startArg != null ? Rfc3339.parseMillis(startArg)
                : Instant.now().truncatedTo(ChronoUnit.MINUTES).minus(2, ChronoUnit.HOURS).toEpochMilli();

        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        try (Admin admin = Admin.create(ap)) {
            Set<String> existing = admin.listTopics().names().get();
            List<NewTopic> create = new ArrayList<>();
            for (String t : extraTopic == null ? new String[] {topic} : new String[] {topic, extraTopic}) {
                if (!existing.contains(t)) {
                    create.add(new NewTopic(t, partitions, (short) 1));
                }
            }
            if (!create.isEmpty()) {
                admin.createTopics(create).all().get();
                System.err.println("generate: created " + create);
            }
        }

        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        pp.put(ProducerConfig.LINGER_MS_CONFIG, 20);
        pp.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        long records = 0;
        long t0 = System.nanoTime();
        try (KafkaProducer<String, byte[]> producer =
                new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer())) {
            if (file != null) {
                try (BufferedReader r = Files.newBufferedReader(Paths.get(file), StandardCharsets.UTF_8)) {
                    String line;
                    while ((line = r.readLine()) != null && records < maxEvents) {
                        line = line.trim();
                        if (line.isEmpty() || line.startsWith("#")) {
                            continue;
                        }
                        byte[] bytes = line.getBytes(StandardCharsets.UTF_8);
                        Event e = JsonDecoder.decode(bytes);
                        String key = e.interactionId != null ? e.interactionId : Integer.toString(line.hashCode());
                        producer.send(new ProducerRecord<>(topic, key, bytes));
                        records++;
                    }
                }
            } else {
                java.io.Writer copy = copyTo == null ? null
                        : Files.newBufferedWriter(Paths.get(copyTo), StandardCharsets.UTF_8);
                Random rng = new Random(seed);
                PriorityQueue<Ev> pending = new PriorityQueue<>();
                long seq = 0;
                boolean proto = format.equals("protobuf");
                outer:
                for (long i = 0; i < interactions; i++) {
                    long arrival = start + i * gap;
                    while (!pending.isEmpty() && pending.peek().t < arrival) {
                        if (records >= maxEvents) {
                            break outer;
                        }
                        send(producer, topic, pending.poll(), proto, copy);
                        records++;
                    }
                    for (Ev ev : lifecycle(i, arrival, rng)) {
                        ev.seq = seq++;
                        pending.add(ev);
                    }
                }
                while (!pending.isEmpty() && records < maxEvents) {
                    send(producer, topic, pending.poll(), proto, copy);
                    records++;
                }
                if (copy != null) {
                    copy.close();
                }
            }
            producer.flush();
        }
        double s = (System.nanoTime() - t0) / 1e9;
        System.err.printf("generate: %d records to %s in %.2f s%n", records, topic, s);
        Map<String, Object> out = new java.util.LinkedHashMap<>();
        out.put("records", records);
        out.put("interactions", file != null ? -1 : interactions);
        out.put("topic", topic);
        if (file == null) {
            out.put("start", Instant.ofEpochMilli(start).toString());
        }
        System.out.println(Main.toJson(out));
        return 0;
    }

    /** One synthetic event. */
    static final class Ev implements Comparable<Ev> {
        final long t;
        final String id;
        final String kind;
        String queue;
        int channel;
        String agent;
        int direction;
        long seq;

        Ev(long t, String id, String kind) {
            this.t = t;
            this.id = id;
            this.kind = kind;
        }

        @Override
        public int compareTo(Ev o) {
            int c = Long.compare(t, o.t);
            return c != 0 ? c : Long.compare(seq, o.seq);
        }
    }

    static List<Ev> lifecycle(long i, long t0, Random rng) {
        List<Ev> out = new ArrayList<>(12);
        String id = "int-" + i;
        String queue = QUEUES[rng.nextInt(QUEUES.length)];
        int r = rng.nextInt(10);
        int channel = r < 5 ? 1 : r < 8 ? 2 : 3; // voice, chat, email
        String agent = "agent-" + rng.nextInt(50);
        Ev q = new Ev(t0, id, "queued");
        q.queue = queue;
        q.channel = channel;
        out.add(q);
        if (channel != 1) {
            out.add(msg(t0 + 2_000, id, 1, null));
        }
        long wait = 3_000 + rng.nextInt(117_000);
        if (rng.nextInt(100) < 15) {
            out.add(new Ev(t0 + wait, id, "abandoned"));
            return out;
        }
        long ta = t0 + wait;
        Ev offered = new Ev(Math.max(t0 + 1, ta - 2_000), id, "offered");
        offered.agent = agent;
        out.add(offered);
        Ev answered = new Ev(ta, id, "answered");
        answered.agent = agent;
        out.add(answered);
        if (channel != 1) {
            out.add(msg(ta + 5_000, id, 2, agent));
            out.add(msg(ta + 20_000, id, 1, null));
            out.add(msg(ta + 30_000, id, 2, agent));
        } else if (rng.nextInt(100) < 30) {
            out.add(new Ev(ta + 40_000, id, "holdStarted"));
            out.add(new Ev(ta + 55_000, id, "holdEnded"));
        }
        if (rng.nextInt(100) < 10) {
            Ev tr = new Ev(ta + 70_000, id, "transferred");
            tr.queue = QUEUES[(java.util.Arrays.asList(QUEUES).indexOf(queue) + 1) % QUEUES.length];
            out.add(tr);
            String agent2 = "agent-" + rng.nextInt(50);
            Ev o2 = new Ev(ta + 75_000, id, "offered");
            o2.agent = agent2;
            out.add(o2);
            Ev a2 = new Ev(ta + 80_000, id, "answered");
            a2.agent = agent2;
            out.add(a2);
            agent = agent2;
        }
        out.add(new Ev(ta + 150_000, id, "ended"));
        Ev w = new Ev(ta + 180_000, id, "wrapUpDone");
        w.agent = agent;
        out.add(w);
        Ev res = new Ev(ta + 181_000, id, "resolved");
        res.agent = agent;
        out.add(res);
        return out;
    }

    private static Ev msg(long t, String id, int direction, String agent) {
        Ev m = new Ev(t, id, "message");
        m.direction = direction;
        m.agent = agent;
        return m;
    }

    private static void send(KafkaProducer<String, byte[]> p, String topic, Ev ev, boolean proto,
            java.io.Writer copy) throws java.io.IOException {
        String json = proto && copy == null ? null : json(ev);
        byte[] v = proto ? protobuf(ev) : json.getBytes(StandardCharsets.UTF_8);
        p.send(new ProducerRecord<>(topic, ev.id, v));
        if (copy != null) {
            copy.write(json);
            copy.write('\n');
        }
    }

    static String json(Ev ev) {
        StringBuilder sb = new StringBuilder(200);
        sb.append("{\"eventId\":\"").append(ev.id).append('-').append(ev.seq)
                .append("\",\"occurredAt\":\"").append(Instant.ofEpochMilli(ev.t))
                .append("\",\"tenant\":\"bench\",\"interaction\":{\"interactionId\":\"").append(ev.id)
                .append("\",\"").append(ev.kind).append("\":");
        switch (ev.kind) {
            case "queued":
                sb.append("{\"queue\":\"");
                JsonStringEncoder.getInstance().quoteAsString(ev.queue, sb);
                sb.append("\",\"channel\":\"").append(Event.channelName(ev.channel)).append("\"}");
                break;
            case "offered":
            case "answered":
            case "wrapUpDone":
            case "resolved":
                sb.append("{\"agentId\":\"").append(ev.agent).append("\"}");
                break;
            case "message":
                sb.append("{\"direction\":\"").append(ev.direction == 1 ? "DIRECTION_CUSTOMER" : "DIRECTION_AGENT")
                        .append('"');
                if (ev.agent != null) {
                    sb.append(",\"agentId\":\"").append(ev.agent).append('"');
                }
                sb.append('}');
                break;
            case "transferred":
                sb.append("{\"toQueue\":\"");
                JsonStringEncoder.getInstance().quoteAsString(ev.queue, sb);
                sb.append("\"}");
                break;
            default:
                sb.append("{}");
        }
        return sb.append("}}").toString();
    }

    static byte[] protobuf(Ev ev) {
        InteractionEvent.Builder ie = InteractionEvent.newBuilder().setInteractionId(ev.id);
        switch (ev.kind) {
            case "queued":
                ie.setQueued(InteractionEvent.Queued.newBuilder().setQueue(ev.queue)
                        .setChannel(Channel.forNumber(ev.channel)));
                break;
            case "offered":
                ie.setOffered(InteractionEvent.Offered.newBuilder().setAgentId(ev.agent));
                break;
            case "answered":
                ie.setAnswered(InteractionEvent.Answered.newBuilder().setAgentId(ev.agent));
                break;
            case "message": {
                InteractionEvent.Message.Builder m = InteractionEvent.Message.newBuilder()
                        .setDirection(ev.direction == 1 ? Direction.DIRECTION_CUSTOMER : Direction.DIRECTION_AGENT);
                if (ev.agent != null) {
                    m.setAgentId(ev.agent);
                }
                ie.setMessage(m);
                break;
            }
            case "holdStarted":
                ie.setHoldStarted(InteractionEvent.HoldStarted.getDefaultInstance());
                break;
            case "holdEnded":
                ie.setHoldEnded(InteractionEvent.HoldEnded.getDefaultInstance());
                break;
            case "transferred":
                ie.setTransferred(InteractionEvent.Transferred.newBuilder().setToQueue(ev.queue));
                break;
            case "abandoned":
                ie.setAbandoned(InteractionEvent.Abandoned.getDefaultInstance());
                break;
            case "ended":
                ie.setEnded(InteractionEvent.Ended.getDefaultInstance());
                break;
            case "wrapUpDone":
                ie.setWrapUpDone(InteractionEvent.WrapUpDone.newBuilder().setAgentId(ev.agent));
                break;
            case "resolved":
                ie.setResolved(InteractionEvent.Resolved.newBuilder().setAgentId(ev.agent));
                break;
            default:
                throw new IllegalStateException(ev.kind);
        }
        return Envelope.newBuilder()
                .setEventId(ev.id + "-" + ev.seq)
                .setOccurredAt(Timestamp.newBuilder().setSeconds(Math.floorDiv(ev.t, 1000))
                        .setNanos((int) Math.floorMod(ev.t, 1000) * 1_000_000))
                .setTenant("bench")
                .setInteraction(ie)
                .build()
                .toByteArray();
    }
}
