package org.jxen.engine.evtchn;

/**
 * Raises a 2-level port outside jxen's own writes: KVM's Xen support (KVM_XEN_HVM_EVTCHN_SEND) once jxen has promised
 * it that every event goes through the kernel (KVM_XEN_HVM_CONFIG_EVTCHN_SEND), so that a vCPU blocked in the kernel's
 * SCHEDOP_poll is woken. The raiser performs {@code evtchn_2l_set_pending}'s steps ({@code common/event_2l.c}: pending
 * bit, mask check, selector bit, {@code evtchn_upcall_pending}, the upcall) and wakes the vCPU wherever it waits.
 */
@FunctionalInterface
public interface TwoLevelRaiser {
    /** Raises {@code port} for {@code vcpu}; false if it cannot now (jxen then raises it in guest memory itself). */
    boolean raise(int vcpu, int port);

    /** No raiser: jxen writes every 2-level event into guest memory itself. */
    TwoLevelRaiser NONE = (vcpu, port) -> false;
}
