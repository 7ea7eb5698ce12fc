package org.jxen.engine.platform;

import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.hypercall.HypercallArgs;

/**
 * HYPERVISOR_set_timer_op(timeout): the caller's singleshot timer at absolute Xen system time {@code timeout}, or
 * stopped when it is 0 (a 32-bit caller passes the 64-bit value in two registers, low word first).
 */
public final class TimerOp {
    private final VcpuTimers timers;

    public TimerOp(VcpuTimers timers) {
        this.timers = timers;
    }

    public long handle(VcpuControl self, HypercallArgs args) {
        long timeout = args.mode() == GuestWidth.BITS_64 ? args.a1() : (args.a1() & 0xFFFF_FFFFL) | (args.a2() << 32);
        if (timeout == 0) timers.stopSingleshot(self.vcpu());
        else timers.setSingleshot(self.vcpu(), timeout);
        return 0;
    }
}
