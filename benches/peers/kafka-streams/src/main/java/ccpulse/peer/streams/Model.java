package ccpulse.peer.streams;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/** The job's intermediate values and their compact binary serdes. */
public final class Model {
    private Model() {}

    /** Per interaction, in the state store keyed by interaction id. */
    public static final class InteractionState {
        public String queue;
        public int channel;
        /** When it last entered a queue (queued, or transferred to a queue). */
        public long queuedAtMs;
        /** In a queue now: an answer or abandon ends the wait. */
        public boolean waiting;

        public InteractionState(String queue, int channel, long queuedAtMs, boolean waiting) {
            this.queue = queue;
            this.channel = channel;
            this.queuedAtMs = queuedAtMs;
            this.waiting = waiting;
        }
    }

    /**
     * What one event adds to its queue x channel: one of offered, answered
     * (with its queue wait) or abandoned. Keyed by "queue|channel".
     */
    public static final class Contribution {
        public static final byte OFFERED = 1;
        public static final byte ANSWERED = 2;
        public static final byte ABANDONED = 3;

        public final byte kind;
        /** Queue wait for ANSWERED, else 0. */
        public final long waitMs;

        public Contribution(byte kind, long waitMs) {
            this.kind = kind;
            this.waitMs = waitMs;
        }
    }

    /** The windowed aggregate per queue x channel. */
    public static final class QueueAgg {
        public long offered;
        public long answered;
        public long abandoned;
        /** Sum of queue waits of the answered interactions. */
        public long waitSumMs;

        public QueueAgg add(Contribution c) {
            switch (c.kind) {
                case Contribution.OFFERED:
                    offered++;
                    break;
                case Contribution.ANSWERED:
                    answered++;
                    waitSumMs += c.waitMs;
                    break;
                case Contribution.ABANDONED:
                    abandoned++;
                    break;
                default:
                    break;
            }
            return this;
        }

        /** Mean queue wait of answered interactions (ASA), or -1 when none. */
        public double meanWaitMs() {
            return answered == 0 ? -1 : (double) waitSumMs / answered;
        }
    }

    public static Serde<InteractionState> stateSerde() {
        Serializer<InteractionState> ser = (topic, s) -> {
            if (s == null) {
                return null;
            }
            byte[] q = s.queue.getBytes(StandardCharsets.UTF_8);
            ByteBuffer b = ByteBuffer.allocate(1 + 1 + 8 + 4 + q.length);
            b.put((byte) s.channel).put((byte) (s.waiting ? 1 : 0)).putLong(s.queuedAtMs).putInt(q.length).put(q);
            return b.array();
        };
        Deserializer<InteractionState> de = (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            ByteBuffer b = ByteBuffer.wrap(bytes);
            int channel = b.get();
            boolean waiting = b.get() != 0;
            long at = b.getLong();
            int n = b.getInt();
            String q = new String(bytes, b.position(), n, StandardCharsets.UTF_8);
            return new InteractionState(q, channel, at, waiting);
        };
        return Serdes.serdeFrom(ser, de);
    }

    public static Serde<Contribution> contributionSerde() {
        Serializer<Contribution> ser = (topic, c) -> {
            if (c == null) {
                return null;
            }
            if (c.kind != Contribution.ANSWERED) {
                return new byte[] {c.kind};
            }
            return ByteBuffer.allocate(9).put(c.kind).putLong(c.waitMs).array();
        };
        Deserializer<Contribution> de = (topic, bytes) -> {
            if (bytes == null || bytes.length == 0) {
                return null;
            }
            long wait = bytes.length >= 9 ? ByteBuffer.wrap(bytes, 1, 8).getLong() : 0;
            return new Contribution(bytes[0], wait);
        };
        return Serdes.serdeFrom(ser, de);
    }

    public static Serde<QueueAgg> aggSerde() {
        Serializer<QueueAgg> ser = (topic, a) -> {
            if (a == null) {
                return null;
            }
            return ByteBuffer.allocate(32).putLong(a.offered).putLong(a.answered).putLong(a.abandoned)
                    .putLong(a.waitSumMs).array();
        };
        Deserializer<QueueAgg> de = (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            ByteBuffer b = ByteBuffer.wrap(bytes);
            QueueAgg a = new QueueAgg();
            a.offered = b.getLong();
            a.answered = b.getLong();
            a.abandoned = b.getLong();
            a.waitSumMs = b.getLong();
            return a;
        };
        return Serdes.serdeFrom(ser, de);
    }
}
