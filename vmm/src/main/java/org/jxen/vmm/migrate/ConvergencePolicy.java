package org.jxen.vmm.migrate;

/**
 * When pre-copy stops and the stop-and-copy begins. QEMU's anchors: {@code downtime-limit} (its max-downtime, default
 * 300 ms), compared after each pass with the dirty bytes left over the bandwidth measured (migration/ram.c,
 * migration_iteration_run and migration_completion in migration/migration.c); and {@code auto-converge}, which throttles
 * the vCPUs (20 % first, +10 % per step) when a pass dirties more than half of what it sent, so the dirty rate falls
 * below the link's. jxen switches over as soon as the expected downtime fits the target, like QEMU; a guest that
 * dirties memory faster than the link moves it is not throttled but bounded: after {@link #maxRounds} passes it is
 * stopped anyway, with the longer downtime reported. Why: throttling takes an unbounded share of the guest's CPU for an
 * unbounded time, while a bound makes the total time predictable and costs a known, reported pause; under PVM or
 * emulation a vCPU's speed varies so much that throttle steps would be guesswork.
 *
 * <p>The expected downtime is the dirty pages over the link's measured rate, plus one read of all RAM at the
 * measured digest rate: the last round compares every page with the digest of what was sent (see
 * {@link MigrationSource}, pages jxen itself wrote).
 */
public record ConvergencePolicy(long maxDowntimeMillis, int maxRounds) {
    /** QEMU's default downtime limit. */
    public static final long DEFAULT_MAX_DOWNTIME_MILLIS = 300;
    /** Passes before the stop-and-copy regardless: with a guest that converges, a handful is enough. */
    public static final int DEFAULT_MAX_ROUNDS = 30;

    public ConvergencePolicy {
        if (maxDowntimeMillis < 1 || maxDowntimeMillis > 3_600_000) throw new IllegalArgumentException("--max-downtime must be 1..3600000 ms");
        if (maxRounds < 1) throw new IllegalArgumentException("at least one round");
    }

    public static ConvergencePolicy withMaxDowntime(long millis) {
        return new ConvergencePolicy(millis, DEFAULT_MAX_ROUNDS);
    }

    /** The stop-and-copy's expected length for {@code dirtyPages} at the measured link and digest rates (bytes/s). */
    public static long expectedDowntimeMillis(long dirtyPages, long linkBytesPerSecond, long ramBytes, long digestBytesPerSecond) {
        double send = (double) dirtyPages * MigrationSource.PAGE_RECORD / Math.max(1, linkBytesPerSecond);
        double digest = (double) ramBytes / Math.max(1, digestBytesPerSecond);
        return (long) Math.ceil((send + digest) * 1000);
    }

    /** Whether to stop and copy now, after {@code rounds} passes with {@code expectedMillis} expected. */
    public boolean switchOver(int rounds, long expectedMillis) {
        return expectedMillis <= maxDowntimeMillis || rounds >= maxRounds;
    }
}
