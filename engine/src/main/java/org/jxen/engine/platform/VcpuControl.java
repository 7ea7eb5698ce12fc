package org.jxen.engine.platform;

import java.util.OptionalLong;
import java.util.function.BooleanSupplier;

/**
 * What platform hypercalls need from the VMM about the calling vCPU: block it until an event (or a deadline), yield,
 * and shut the domain down. The VMM implements it with vCPU threads; tests with plain Java threads.
 */
public interface VcpuControl {
    /** The Xen vCPU id of the caller. */
    int vcpu();

    /**
     * Starts a block: forgets wake-ups that came before (Xen's VPF_blocked is set here: earlier kicks do not count).
     * The caller then checks its wake conditions and calls {@link #block}; a wake between the two is not lost.
     */
    void prepareBlock();

    /**
     * Blocks the calling vCPU until {@link #wake} (an upcall or a poller wake) or until {@code deadlineNanos}
     * (System.nanoTime(); Long.MAX_VALUE: no deadline). Returns at once if woken since {@link #prepareBlock}.
     */
    void block(long deadlineNanos);

    /**
     * {@link #block(long)}, where {@code woken} tells whether the caller's wake conditions hold now (read from guest
     * memory). A VMM in which events can reach the guest without passing jxen (KVM delivering routed sends itself)
     * re-checks it while blocked; the others need not.
     */
    default void block(long deadlineNanos, BooleanSupplier woken) {
        block(deadlineNanos);
    }

    /** Wakes the vCPU blocked in {@link #block} (or makes its next block return at once). */
    void wake();

    void yield();

    /**
     * This vCPU's TSC now, read on its own thread (the guest's pvclock extrapolates from it); empty where the VMM
     * cannot read it.
     */
    default OptionalLong guestTsc() {
        return OptionalLong.empty();
    }

    /** SCHEDOP_shutdown: the domain stops with this reason (SHUTDOWN_poweroff 0, reboot 1, suspend 2, crash 3...). */
    void shutdown(int reason);
}
