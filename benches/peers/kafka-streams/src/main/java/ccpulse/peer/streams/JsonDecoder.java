package ccpulse.peer.streams;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;

/**
 * Decodes the proto3 JSON mapping of {@code ccpulse.v1.Envelope} with Jackson's
 * streaming parser, keeping only what the queue job uses. Field names are
 * accepted in lowerCamelCase and as written in the .proto; enums by name or
 * number; unknown fields are skipped.
 */
public final class JsonDecoder {
    private static final JsonFactory FACTORY = new JsonFactory();

    private JsonDecoder() {}

    public static Event decode(byte[] bytes) {
        if (bytes == null) {
            return Event.invalid();
        }
        Event e = new Event();
        boolean kindSeen = false;
        try (JsonParser p = FACTORY.createParser(bytes)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return Event.invalid();
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String f = p.currentName();
                JsonToken v = p.nextToken();
                switch (f) {
                    case "occurredAt":
                    case "occurred_at":
                        if (v != JsonToken.VALUE_STRING) {
                            return Event.invalid();
                        }
                        e.occurredAtMs = Rfc3339.parseMillis(p.getText());
                        break;
                    case "interaction":
                        if (v != JsonToken.START_OBJECT || kindSeen) {
                            return Event.invalid();
                        }
                        kindSeen = true;
                        interaction(p, e);
                        break;
                    case "agentStateChanged":
                    case "agent_state_changed":
                    case "surveyAnswered":
                    case "survey_answered":
                        if (v != JsonToken.START_OBJECT || kindSeen) {
                            return Event.invalid();
                        }
                        kindSeen = true;
                        e.type = Event.NOT_INTERACTION;
                        p.skipChildren();
                        break;
                    default:
                        p.skipChildren();
                }
            }
        } catch (IOException | IllegalArgumentException ex) {
            return Event.invalid();
        }
        if (!kindSeen) {
            return Event.invalid();
        }
        return e.validate();
    }

    /** At the START_OBJECT of {@code interaction}; leaves the parser at its END_OBJECT. */
    private static void interaction(JsonParser p, Event e) throws IOException {
        e.type = Event.INVALID; // until exactly one member names what happened
        int members = 0;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String f = p.currentName();
            JsonToken v = p.nextToken();
            switch (f) {
                case "interactionId":
                case "interaction_id":
                    e.interactionId = v == JsonToken.VALUE_STRING ? p.getText() : null;
                    break;
                case "queued":
                    members++;
                    e.type = Event.QUEUED;
                    queued(p, e);
                    break;
                case "answered":
                    members++;
                    e.type = Event.ANSWERED;
                    p.skipChildren();
                    break;
                case "abandoned":
                    members++;
                    e.type = Event.ABANDONED;
                    p.skipChildren();
                    break;
                case "transferred":
                    members++;
                    e.type = Event.TRANSFERRED;
                    transferred(p, e);
                    break;
                case "offered":
                case "message":
                case "holdStarted":
                case "hold_started":
                case "holdEnded":
                case "hold_ended":
                case "ended":
                case "wrapUpDone":
                case "wrap_up_done":
                case "resolved":
                case "reopened":
                case "statusChanged":
                case "status_changed":
                    members++;
                    e.type = Event.INTERACTION_OTHER;
                    p.skipChildren();
                    break;
                default:
                    p.skipChildren();
            }
        }
        if (members != 1) {
            e.type = Event.INVALID;
        }
    }

    private static void queued(JsonParser p, Event e) throws IOException {
        if (p.currentToken() != JsonToken.START_OBJECT) {
            p.skipChildren();
            return;
        }
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String f = p.currentName();
            JsonToken v = p.nextToken();
            switch (f) {
                case "queue":
                    e.queue = v == JsonToken.VALUE_STRING ? p.getText() : null;
                    break;
                case "channel":
                    if (v == JsonToken.VALUE_STRING) {
                        e.channel = Event.channelNumber(p.getText());
                    } else if (v == JsonToken.VALUE_NUMBER_INT) {
                        e.channel = p.getIntValue();
                    } else {
                        e.channel = 0;
                    }
                    break;
                default:
                    p.skipChildren();
            }
        }
    }

    private static void transferred(JsonParser p, Event e) throws IOException {
        if (p.currentToken() != JsonToken.START_OBJECT) {
            p.skipChildren();
            return;
        }
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String f = p.currentName();
            JsonToken v = p.nextToken();
            switch (f) {
                case "toQueue":
                case "to_queue":
                    e.toQueue = v == JsonToken.VALUE_STRING ? p.getText() : null;
                    break;
                case "toAgent":
                case "to_agent":
                    e.toAgent = v == JsonToken.VALUE_STRING ? p.getText() : null;
                    break;
                default:
                    p.skipChildren();
            }
        }
    }
}
