package ccpulse.peer.streams;

import ccpulse.peer.streams.Model.Contribution;
import ccpulse.peer.streams.Model.InteractionState;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Follows each interaction's queue, channel and queue-entry time in a state
 * store keyed by interaction id (the input is partitioned by interaction id,
 * so this runs before any repartition), and turns its events into
 * per-queue x channel contributions keyed "queue|channel" (with --aggregation
 * per-partition: "queue|channel|inputPartition"):
 * <ul>
 *   <li>queued: offered +1 in its queue; it now waits there;</li>
 *   <li>transferred with toQueue: offered +1 in the new queue (it waits again,
 *       the wait restarts); with toAgent only it leaves the queue unanswered;</li>
 *   <li>answered while waiting: answered +1 with wait = answered - entered;</li>
 *   <li>abandoned while waiting: abandoned +1; the interaction is forgotten.</li>
 * </ul>
 * Events of unknown interactions and answers/abandons of interactions not
 * waiting are ignored, as in ccpulse. Every input record is counted.
 */
final class InteractionProcessor implements Processor<byte[], Event, String, Contribution> {
    private static final Contribution OFFERED = new Contribution(Contribution.OFFERED, 0);
    private static final Contribution ABANDONED = new Contribution(Contribution.ABANDONED, 0);

    private final Tracker tracker;
    private final boolean perPartition;
    private ProcessorContext<String, Contribution> context;
    private KeyValueStore<String, InteractionState> store;

    InteractionProcessor(Tracker tracker, boolean perPartition) {
        this.tracker = tracker;
        this.perPartition = perPartition;
    }

    @Override
    public void init(ProcessorContext<String, Contribution> context) {
        this.context = context;
        this.store = context.getStateStore(QueueJob.INTERACTION_STORE);
    }

    @Override
    public void process(Record<byte[], Event> record) {
        Event e = record.value();
        boolean valid = e != null && e.type != Event.INVALID;
        if (valid) {
            apply(e, record);
        }
        tracker.onInput(valid);
    }

    private void apply(Event e, Record<byte[], Event> record) {
        long t = e.occurredAtMs;
        switch (e.type) {
            case Event.QUEUED: {
                InteractionState s = new InteractionState(e.queue, e.channel, t, true);
                store.put(e.interactionId, s);
                emit(record, s, OFFERED);
                break;
            }
            case Event.TRANSFERRED: {
                InteractionState s = store.get(e.interactionId);
                if (s == null) {
                    return;
                }
                if (e.toQueue != null) {
                    s.queue = e.toQueue;
                    s.queuedAtMs = t;
                    s.waiting = true;
                    store.put(e.interactionId, s);
                    emit(record, s, OFFERED);
                } else if (s.waiting) {
                    s.waiting = false;
                    store.put(e.interactionId, s);
                }
                break;
            }
            case Event.ANSWERED: {
                InteractionState s = store.get(e.interactionId);
                if (s == null || !s.waiting) {
                    return;
                }
                long wait = Math.max(0L, t - s.queuedAtMs);
                s.waiting = false;
                store.put(e.interactionId, s);
                emit(record, s, new Contribution(Contribution.ANSWERED, wait));
                break;
            }
            case Event.ABANDONED: {
                InteractionState s = store.get(e.interactionId);
                if (s == null || !s.waiting) {
                    return;
                }
                store.delete(e.interactionId);
                emit(record, s, ABANDONED);
                break;
            }
            default:
                break;
        }
    }

    private void emit(Record<byte[], Event> record, InteractionState s, Contribution c) {
        tracker.onEmit();
        String key = QueueJob.groupKey(s.queue, s.channel);
        if (perPartition) {
            key = key + '|' + context.recordMetadata().map(m -> m.partition()).orElse(0);
        }
        context.forward(record.withKey(key).withValue(c));
    }
}
