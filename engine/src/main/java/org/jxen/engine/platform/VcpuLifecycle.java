package org.jxen.engine.platform;

/** What the VMM does when the guest starts or stops a vCPU (VCPUOP_up / VCPUOP_down): run or park its thread. */
public interface VcpuLifecycle {
    /**
     * Runs {@code vcpu}: from {@code context} the first time after VCPUOP_initialise, or (context null) from where
     * VCPUOP_down stopped it.
     */
    void start(int vcpu, VcpuHvmContext context);

    /** Stops {@code vcpu} at its next exit (it may be the caller itself). */
    void stop(int vcpu);

    /** A lifecycle for an engine without vCPU threads: every transition is only recorded. */
    VcpuLifecycle NONE = new VcpuLifecycle() {
        @Override
        public void start(int vcpu, VcpuHvmContext context) {}

        @Override
        public void stop(int vcpu) {}
    };
}
