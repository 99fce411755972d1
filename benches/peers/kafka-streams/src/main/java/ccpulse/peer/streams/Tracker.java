package ccpulse.peer.streams;

import java.lang.management.ManagementFactory;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts what the topology does and notices the end of the run: the clock and
 * the CPU clock start at the first input record processed; the run is done
 * once {@code expect} input records were processed and every contribution they
 * sent through the repartition topic has been read back by the aggregation.
 * Shared by all stream threads.
 */
public final class Tracker {
    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    private final long expect;
    final AtomicLong inputs = new AtomicLong();
    final AtomicLong invalid = new AtomicLong();
    final AtomicLong emitted = new AtomicLong();
    final AtomicLong aggregated = new AtomicLong();
    final AtomicLong outputs = new AtomicLong();
    private final CountDownLatch done = new CountDownLatch(1);
    private volatile long startNanos;
    private volatile long startCpuNanos;
    private volatile long doneNanos;

    /** {@code expect <= 0}: never done (tests). */
    public Tracker(long expect) {
        this.expect = expect;
    }

    /** Process CPU time (all threads: stream threads, clients' I/O threads, GC, JIT), ns. */
    public static long processCpuNanos() {
        return OS.getProcessCpuTime();
    }

    void onInput(boolean valid) {
        if (!valid) {
            invalid.incrementAndGet();
        }
        long n = inputs.incrementAndGet();
        if (n == 1) {
            synchronized (this) {
                startNanos = System.nanoTime();
                startCpuNanos = processCpuNanos();
            }
        }
        check();
    }

    /** Before a contribution is forwarded to the repartition topic. */
    void onEmit() {
        emitted.incrementAndGet();
    }

    /** When the aggregation side reads a contribution back. */
    void onAggregate() {
        aggregated.incrementAndGet();
        check();
    }

    void onOutput() {
        outputs.incrementAndGet();
    }

    private void check() {
        if (expect > 0 && done.getCount() > 0 && inputs.get() >= expect && aggregated.get() >= emitted.get()) {
            synchronized (this) {
                if (done.getCount() > 0) {
                    doneNanos = System.nanoTime();
                    done.countDown();
                }
            }
        }
    }

    public CountDownLatch done() {
        return done;
    }

    public long startNanos() {
        synchronized (this) {
            return startNanos;
        }
    }

    public long startCpuNanos() {
        synchronized (this) {
            return startCpuNanos;
        }
    }

    public long doneNanos() {
        synchronized (this) {
            return doneNanos;
        }
    }

    public long inputs() {
        return inputs.get();
    }

    public long invalid() {
        return invalid.get();
    }

    public long emitted() {
        return emitted.get();
    }

    public long aggregated() {
        return aggregated.get();
    }

    public long outputs() {
        return outputs.get();
    }
}
