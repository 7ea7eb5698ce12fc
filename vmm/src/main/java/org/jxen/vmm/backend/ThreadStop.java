package org.jxen.vmm.backend;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;

/**
 * Joining a thread that may touch guest memory or a domain descriptor before that memory is unmapped. A thread that
 * does not stop is a bug: it is logged as an error and the caller must then leave the memory mapped (a leak),
 * never unmap it under the thread (a crash).
 */
public final class ThreadStop {
    private static final Logger LOG = System.getLogger(ThreadStop.class.getName());

    /** Long enough for any thread that was asked to stop and is merely slow (a loaded machine, an emulated host). */
    public static final long JOIN_MILLIS = 60_000;

    private ThreadStop() {}

    /** Waits for {@code t} to end; false (an error logged naming {@code what}) if it did not. */
    public static boolean join(Thread t, String what) {
        if (t == null || t == Thread.currentThread()) return true;
        boolean interrupted = false;
        long deadline = System.nanoTime() + JOIN_MILLIS * 1_000_000L;
        while (t.isAlive()) {
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0) break;
            try {
                t.join(left);
            } catch (InterruptedException e) {
                interrupted = true; // finish the join: returning early would let the caller unmap under the thread
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
        if (!t.isAlive()) return true;
        LOG.log(Level.ERROR, what + " (thread " + t.getName() + ") did not stop within " + JOIN_MILLIS / 1000
                + " s; the memory it can reach stays mapped");
        return false;
    }
}
