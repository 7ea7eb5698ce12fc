package org.jxen.engine.platform;

import java.util.function.LongSupplier;

/**
 * Xen system time as the calling vCPU's guest reads it from its pvclock now, asked on that vCPU's own thread. A
 * singleshot deadline is on this clock (Xen compares it with NOW(), the clock it also writes the guest's pvclock from:
 * {@code common/sched/core.c}, {@code arch/x86/time.c}), so a timer's delay is measured from here; the host clock the
 * timer then runs on only has to keep pace over that delay, not since the domain started. KVM's Xen timer does the
 * same where it can ({@code arch/x86/kvm/xen.c kvm_xen_start_timer}: the guest's pvclock read as the guest would).
 */
@FunctionalInterface
public interface GuestClock {
    long now(VcpuControl self);

    /** The host's system time for every vCPU (where the guest's pvclock follows it, or nothing closer is known). */
    static GuestClock of(LongSupplier systemTimeNanos) {
        return self -> systemTimeNanos.getAsLong();
    }
}
