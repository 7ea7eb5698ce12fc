package org.jxen.engine.platform;

/**
 * Holds some vCPUs' singleshot timers outside {@link VcpuTimers}' own thread, e.g. KVM's Xen timer in kvm mode
 * ({@code KVM_XEN_VCPU_ATTR_TYPE_TIMER}), which then takes the guest's timer hypercalls and raises VIRQ_TIMER itself.
 * {@link VcpuTimers} asks it first, so the engine's view of every timer stays whole: a call for a vCPU it holds goes
 * to it, any other stays with the engine.
 */
public interface SingleshotKeeper {
    /** Arms {@code vcpu}'s timer at absolute system time {@code deadlineNs} if this keeper holds it; false if not. */
    boolean set(int vcpu, long deadlineNs);

    /** Stops {@code vcpu}'s timer if this keeper holds it; false if not. */
    boolean stop(int vcpu);

    /** The armed deadline of {@code vcpu}'s timer (0: none) if this keeper holds it, else -1. */
    long deadline(int vcpu);

    SingleshotKeeper NONE = new SingleshotKeeper() {
        @Override
        public boolean set(int vcpu, long deadlineNs) {
            return false;
        }

        @Override
        public boolean stop(int vcpu) {
            return false;
        }

        @Override
        public long deadline(int vcpu) {
            return -1;
        }
    };
}
