package org.jxen.engine.evtchn;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * A queue lock as Xen's FIFO code uses them: tiny critical sections, taken with one compare-and-set and released
 * with a release store (a ReentrantLock's unlock is a volatile store, a second fence per event). Spins briefly, then
 * yields, so a holder preempted on this 2-core host is not starved.
 */
final class SpinLock {
    private final AtomicInteger state = new AtomicInteger();

    void lock() {
        if (state.compareAndSet(0, 1)) return;
        int spins = 0;
        while (state.get() != 0 || !state.compareAndSet(0, 1)) {
            if (++spins < 128) Thread.onSpinWait();
            else Thread.yield();
        }
    }

    void unlock() {
        state.setRelease(0);
    }
}
