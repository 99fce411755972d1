package ccpulse.peer.streams;

/**
 * The part of one ccpulse input event ({@code ccpulse.v1.Envelope}) that the
 * queue job needs, decoded from JSON or protobuf. Mutable and allocation-light
 * on purpose: one is made per input record.
 */
public final class Event {
    /** Could not be decoded, or a required field is missing. Counted, then dropped. */
    public static final byte INVALID = 0;
    /** A valid event that is not an interaction event (agent state, survey). */
    public static final byte NOT_INTERACTION = 1;
    /** An interaction event the job does not use (offered, message, ended, ...). */
    public static final byte INTERACTION_OTHER = 2;
    public static final byte QUEUED = 3;
    public static final byte ANSWERED = 4;
    public static final byte ABANDONED = 5;
    public static final byte TRANSFERRED = 6;

    public byte type = INVALID;
    /** Event time (occurredAt), epoch milliseconds; -1 when absent. */
    public long occurredAtMs = -1;
    public String interactionId;
    /** queued: the queue. */
    public String queue;
    /** queued: the channel number (ccpulse.v1.Channel), 0 when absent. */
    public int channel;
    /** transferred: the target queue, null when none. */
    public String toQueue;
    /** transferred: the target agent, null when none. */
    public String toAgent;

    static Event invalid() {
        return new Event();
    }

    /** Apply the rules the job depends on; returns this event or marks it invalid. */
    Event validate() {
        if (type == INVALID) {
            return this;
        }
        if (occurredAtMs < 0) {
            type = INVALID;
            return this;
        }
        if (type == NOT_INTERACTION) {
            return this;
        }
        if (interactionId == null || interactionId.isEmpty()) {
            type = INVALID;
        } else if (type == QUEUED
                && (queue == null || queue.isEmpty() || channel < 1 || channel > 5)) {
            type = INVALID;
        } else if (type == TRANSFERRED) {
            if (toQueue != null && toQueue.isEmpty()) {
                toQueue = null;
            }
            if (toAgent != null && toAgent.isEmpty()) {
                toAgent = null;
            }
            if (toQueue == null && toAgent == null) {
                type = INVALID;
            }
        }
        return this;
    }

    private static final String[] CHANNELS = {
        "CHANNEL_UNSPECIFIED", "CHANNEL_VOICE", "CHANNEL_CHAT", "CHANNEL_EMAIL", "CHANNEL_WEB", "CHANNEL_SOCIAL"
    };

    /** The proto enum name of a channel number. */
    public static String channelName(int channel) {
        return channel >= 0 && channel < CHANNELS.length ? CHANNELS[channel] : Integer.toString(channel);
    }

    /** The channel number of a proto enum name, or 0 when unknown. */
    public static int channelNumber(String name) {
        for (int i = 1; i < CHANNELS.length; i++) {
            if (CHANNELS[i].equals(name)) {
                return i;
            }
        }
        return 0;
    }
}
