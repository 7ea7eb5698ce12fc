package org.jxen.bench.paired;

/**
 * One row of {@code jxen bench}: the same work done by jxen and by a C reference. A side either times a batch of
 * operations (returning the batch's total nanoseconds) or returns per-operation samples (latency rows).
 */
interface PairedOp extends AutoCloseable {
    /** The row's name in bench-format.md ("send-2l", ...). */
    String name();

    /** The jxen/C ratio the project aims at, or null. */
    Double target();

    /** Whether samples are per operation (latency) rather than per batch (throughput). */
    default boolean latency() {
        return false;
    }

    /** Whether there is a C side. */
    default boolean hasC() {
        return true;
    }

    /** Operations per batch (throughput rows) or samples per batch (latency rows). */
    long batch(boolean quick);

    /** A batch on the jxen side: total ns (throughput) — or fills {@code samples} (latency) and returns 0. */
    long runJxen(long iters, long[] samples);

    /** The same on the C side. */
    long runC(long iters, long[] samples);

    @Override
    default void close() {}
}
