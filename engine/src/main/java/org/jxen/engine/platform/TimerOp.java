package org.jxen.engine.platform;

import java.util.function.LongSupplier;

import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.hypercall.HypercallArgs;

/**
 * HYPERVISOR_set_timer_op(timeout): the caller's singleshot timer at absolute Xen system time {@code timeout}, or
 * stopped when it is 0 (a 32-bit caller passes the 64-bit value in two registers, low word first). As Xen's
 * {@code do_set_timer_op} ({@code common/sched/core.c}), a timeout that wrapped negative or lies more than 2^50 ns
 * (about 13 days) ahead, which old Linux guests produce when their jiffies wrap, fires 100 ms from now instead.
 */
public final class TimerOp {
    /** Xen's bound for a believable timeout (offset >> 50 != 0 is not) and the delay used instead. */
    static final int SANE_OFFSET_BITS = 50;
    static final long HUGE_TIMEOUT_DELAY_NS = 100_000_000L;

    private final VcpuTimers timers;
    private final GuestClock guestClock;

    public TimerOp(VcpuTimers timers, LongSupplier systemTimeNanos) {
        this(timers, GuestClock.of(systemTimeNanos));
    }

    /** Deadlines measured against {@code guestClock}, the caller's own pvclock (see {@link GuestClock}). */
    public TimerOp(VcpuTimers timers, GuestClock guestClock) {
        this.timers = timers;
        this.guestClock = guestClock;
    }

    public long handle(VcpuControl self, HypercallArgs args) {
        long timeout = args.mode() == GuestWidth.BITS_64 ? args.a1() : (args.a1() & 0xFFFF_FFFFL) | (args.a2() << 32);
        if (timeout == 0) {
            timers.stopSingleshot(self.vcpu());
            return 0;
        }
        long now = guestClock.now(self);
        long offset = timeout - now;
        if (timeout < 0 || offset > 0 && (offset >>> SANE_OFFSET_BITS) != 0) timeout = now + HUGE_TIMEOUT_DELAY_NS;
        timers.setSingleshot(self.vcpu(), timeout, now);
        return 0;
    }
}
