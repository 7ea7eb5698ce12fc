package org.jxen.engine.evtchn;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * SCHEDOP_poll's building block (Xen: {@code d->poll_mask}, {@code v->poll_evtchn}, {@code evtchn_check_pollers}).
 * A polling vCPU arms itself, then checks its ports, then sleeps; a port becoming pending (masked or not) wakes every
 * vCPU polling that port, or polling several ports, exactly once.
 */
public final class Pollers {
    /** Wakes a vCPU sleeping in SCHEDOP_poll. */
    @FunctionalInterface
    public interface Waker {
        void wake(int vcpu);
    }

    private final AtomicLongArray pollMask;
    /** The single port a vCPU polls, or -1 when it polls several. */
    private final AtomicIntegerArray pollPort;
    private final int vcpuCount;
    /** How many vCPUs are armed: lets the raise path skip the scan with one read (Xen: bitmap_empty). */
    private final AtomicInteger armed = new AtomicInteger();
    private volatile Waker waker = vcpu -> {};

    public Pollers(int vcpuCount) {
        this.vcpuCount = vcpuCount;
        this.pollMask = new AtomicLongArray((vcpuCount + 63) / 64);
        this.pollPort = new AtomicIntegerArray(vcpuCount);
    }

    public void setWaker(Waker waker) {
        this.waker = waker;
    }

    /**
     * Arms {@code vcpu} for {@code ports} (the port itself for one, -1 for several). The caller must check the ports'
     * pending bits after this (the volatile write orders the arm before those reads).
     */
    public void arm(int vcpu, int singlePortOrMinus1) {
        pollPort.set(vcpu, singlePortOrMinus1);
        armed.incrementAndGet();
        long before = pollMask.getAndUpdate(vcpu >>> 6, w -> w | (1L << vcpu));
        if ((before & (1L << vcpu)) != 0) armed.decrementAndGet(); // was armed already
    }

    /** Disarms {@code vcpu}; returns true if it was still armed (nobody woke it). */
    public boolean disarm(int vcpu) {
        long bit = 1L << vcpu;
        boolean was = (pollMask.getAndUpdate(vcpu >>> 6, w -> w & ~bit) & bit) != 0;
        if (was) armed.decrementAndGet();
        return was;
    }

    /** Whether {@code vcpu} is armed. */
    public boolean isArmed(int vcpu) {
        return (pollMask.get(vcpu >>> 6) & (1L << vcpu)) != 0;
    }

    /** Called when {@code port} became pending: wakes every interested poller (and disarms it). */
    public void portPending(int port) {
        if (armed.get() == 0) return;
        for (int word = 0; word < pollMask.length(); word++) {
            long bits = pollMask.get(word);
            while (bits != 0) {
                int vcpu = word * 64 + Long.numberOfTrailingZeros(bits);
                bits &= bits - 1;
                if (vcpu >= vcpuCount) break;
                int polled = pollPort.get(vcpu);
                if ((polled <= 0 || polled == port) && disarm(vcpu)) waker.wake(vcpu);
            }
        }
    }
}
