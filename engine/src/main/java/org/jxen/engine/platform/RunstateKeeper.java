package org.jxen.engine.platform;

/**
 * Keeps some vCPUs' runstates outside {@link Runstates}, e.g. KVM in kvm mode ({@code KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_*}),
 * which accounts a vCPU's time from the host scheduler's view (running, and runnable while preempted: the guest's
 * steal time) and writes its area. {@link Runstates} tells it what the guest changed and asks it for the figures of a
 * vCPU it holds, so a save or VCPUOP_get_runstate_info sees the keeper's.
 */
public interface RunstateKeeper {
    /** {@code vcpu}'s area was registered, moved or dropped, or the update flag changed (for {@code vcpu} -1: all). */
    void changed(int vcpu);

    /** {@code vcpu}'s figures if this keeper holds its runstate, else null. */
    Runstates.Figures figures(int vcpu);

    RunstateKeeper NONE = new RunstateKeeper() {
        @Override
        public void changed(int vcpu) {}

        @Override
        public Runstates.Figures figures(int vcpu) {
            return null;
        }
    };
}
