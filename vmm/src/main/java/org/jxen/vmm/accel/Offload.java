package org.jxen.vmm.accel;

/**
 * What a running domain asks its {@link Acceleration}: the answers differ per acceleration, the questions never
 * depend on which one it is. {@link #USER_SPACE} is jxen doing everything (user-space acceleration, and any domain's
 * platform before its acceleration is attached).
 */
public interface Offload {
    /**
     * An upcall for {@code vcpu} is due (its evtchn_upcall_pending set, an upcall vector set): true if the acceleration
     * delivers it (KVM injects the callback vector while upcall_pending is set; the vCPU was nudged to re-enter), false
     * if jxen must inject it (an MSI).
     */
    boolean deliverUpcall(int vcpu);

    /**
     * After a hypercall of {@code vcpu} that moved shared_info or a vcpu_info, or changed an upcall vector: true if the
     * acceleration keeps pvclock and the wallclock (it was told the new places), false if jxen republishes them.
     */
    boolean afterPlacement(int vcpu);

    /** In the grace period of an event-channel ABI switch: what works on 2-level events only stops when it ends. */
    void abiChecked();

    /** On vCPU {@code vcpu}'s thread before it enters the guest, when asked for (and before its first entry). */
    void beforeEntry(int vcpu);

    /**
     * Whether events can reach the guest without passing jxen (sends KVM delivers itself), so a vCPU blocked in jxen
     * (SCHEDOP_block or poll by jxen's hypercall page) must also re-check its wake conditions in guest memory.
     */
    boolean deliversWithoutJxen();

    /** What the acceleration has taken over so far (the control socket, tests). */
    Figures figures();

    /** With the guest stopped and every backend stopped: releases what the acceleration holds (irqfds). */
    void close();

    /**
     * @param portsDeliveredByKvm    send ports in KVM's table now
     * @param backendNotifiesByIrqfd backend notifies KVM raised through an irqfd
     * @param timersHandedToKvm      times a vCPU's singleshot timer went to KVM
     * @param runstatesHandedToKvm   times a vCPU's runstate area went to KVM
     * @param eventSendPromised      whether jxen raises every event through KVM now (KVM_XEN_HVM_CONFIG_EVTCHN_SEND)
     */
    record Figures(int portsDeliveredByKvm, long backendNotifiesByIrqfd, long timersHandedToKvm, long runstatesHandedToKvm,
            boolean eventSendPromised) {
        public static final Figures NONE = new Figures(0, 0, 0, 0, false);
    }

    Offload USER_SPACE = new Offload() {
        @Override
        public boolean deliverUpcall(int vcpu) {
            return false;
        }

        @Override
        public boolean afterPlacement(int vcpu) {
            return false;
        }

        @Override
        public void abiChecked() {}

        @Override
        public void beforeEntry(int vcpu) {}

        @Override
        public boolean deliversWithoutJxen() {
            return false;
        }

        @Override
        public Figures figures() {
            return Figures.NONE;
        }

        @Override
        public void close() {}
    };
}
