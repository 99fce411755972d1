package ccpulse.peer.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import java.time.OffsetDateTime;
import java.util.Random;
import org.junit.jupiter.api.Test;

class DecoderTest {
    @Test
    void rfc3339() {
        for (String s : new String[] {
            "2026-03-02T08:02:10Z", "2026-03-02T08:02:10.250Z", "2026-03-02T08:02:10.2Z",
            "2026-03-02T08:02:10.123456789+00:00", "2026-03-02T09:02:10+01:00", "2026-03-01T23:59:59.999-05:30",
            "2000-01-01T00:00:00Z", "2099-12-31T23:59:59.5Z", "2024-02-29T12:00:00Z"}) {
            assertEquals(OffsetDateTime.parse(s).toInstant().toEpochMilli(), Rfc3339.parseMillis(s), s);
        }
        assertEquals(1772438530250L, Rfc3339.parseMillis("2026-03-02T08:02:10.250Z"));
    }

    @Test
    void jsonFieldNamesBothWays() {
        String snake = "{\"event_id\":\"e\",\"occurred_at\":\"2026-03-02T08:00:00+00:00\",\"interaction\":"
                + "{\"interaction_id\":\"i\",\"queued\":{\"queue\":\"q\",\"channel\":2,\"priority\":1}}}";
        Event e = JsonDecoder.decode(snake.getBytes(StandardCharsets.UTF_8));
        assertEquals(Event.QUEUED, e.type);
        assertEquals("i", e.interactionId);
        assertEquals("q", e.queue);
        assertEquals(2, e.channel);
        String bad = "{\"eventId\":\"e\",\"occurredAt\":\"2026-03-02T08:00:00Z\",\"interaction\":"
                + "{\"interactionId\":\"i\",\"queued\":{\"queue\":\"q\",\"channel\":\"CHANNEL_UNSPECIFIED\"}}}";
        assertEquals(Event.INVALID, JsonDecoder.decode(bad.getBytes(StandardCharsets.UTF_8)).type);
        String tr = "{\"eventId\":\"e\",\"occurredAt\":\"2026-03-02T08:00:00Z\",\"interaction\":"
                + "{\"interactionId\":\"i\",\"transferred\":{\"to_agent\":\"a\"},\"unknown\":[1,{\"x\":2}]}}";
        Event t = JsonDecoder.decode(tr.getBytes(StandardCharsets.UTF_8));
        assertEquals(Event.TRANSFERRED, t.type);
        assertNull(t.toQueue);
        assertEquals("a", t.toAgent);
    }

    @Test
    void jsonAndProtobufAgree() {
        Random rng = new Random(7);
        long seq = 0;
        for (int i = 0; i < 200; i++) {
            for (Generate.Ev ev : Generate.lifecycle(i, 1772438400000L + i * 1234L, rng)) {
                ev.seq = seq++;
                Event j = JsonDecoder.decode(Generate.json(ev).getBytes(StandardCharsets.UTF_8));
                Event p = ProtoDecoder.decode(Generate.protobuf(ev));
                assertEquals(j.type, p.type, ev.kind);
                assertEquals(ev.t, j.occurredAtMs);
                assertEquals(j.occurredAtMs, p.occurredAtMs);
                assertEquals(j.interactionId, p.interactionId);
                assertEquals(j.queue, p.queue);
                assertEquals(j.channel, p.channel);
                assertEquals(j.toQueue, p.toQueue);
                assertEquals(j.toAgent, p.toAgent);
            }
        }
    }
}
