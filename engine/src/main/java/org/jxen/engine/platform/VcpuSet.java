package org.jxen.engine.platform;

import org.jxen.engine.abi.Errno;

/**
 * The vCPUs' up/down state and Xen's rules for VCPUOP_initialise / up / down / is_up ({@code common/domain.c}):
 * vCPU 0 starts initialised and up, the others down and uninitialised; initialise on an initialised vCPU is -EEXIST;
 * up needs an initialised vCPU (-EINVAL otherwise) and is a no-op on a running one; down of the last running vCPU is
 * -EINVAL; is_up answers 1 or 0. The VMM's {@link VcpuLifecycle} runs or parks the threads.
 */
public final class VcpuSet {
    private final boolean[] initialised;
    private final boolean[] up;
    private final VcpuHvmContext[] context;
    private final VcpuLifecycle lifecycle;

    public VcpuSet(int vcpus, VcpuLifecycle lifecycle) {
        initialised = new boolean[vcpus];
        up = new boolean[vcpus];
        context = new VcpuHvmContext[vcpus];
        this.lifecycle = lifecycle;
        initialised[0] = true;
        up[0] = true;
    }

    public synchronized boolean isInitialised(int vcpu) {
        return initialised[vcpu];
    }

    public synchronized int initialise(int vcpu, VcpuHvmContext ctx) {
        if (initialised[vcpu]) return -Errno.EEXIST;
        initialised[vcpu] = true;
        context[vcpu] = ctx;
        return 0;
    }

    public synchronized int up(int vcpu) {
        if (!initialised[vcpu]) return -Errno.EINVAL;
        if (up[vcpu]) return 0;
        up[vcpu] = true;
        lifecycle.start(vcpu, context[vcpu]); // null after the first start: resume where VCPUOP_down left it
        context[vcpu] = null;
        return 0;
    }

    public synchronized int down(int vcpu) {
        if (!up[vcpu]) return 0;
        int running = 0;
        for (boolean u : up) if (u) running++;
        if (running == 1) return -Errno.EINVAL; // the domain's last running vCPU
        up[vcpu] = false;
        lifecycle.stop(vcpu);
        return 0;
    }

    public synchronized boolean isUp(int vcpu) {
        return up[vcpu];
    }

    /** Per vCPU: initialised, up, and the context an initialised vCPU not yet up will start in (else null). */
    public record Saved(boolean[] initialised, boolean[] up, VcpuHvmContext[] pending) {}

    public synchronized Saved save() {
        return new Saved(initialised.clone(), up.clone(), context.clone());
    }

    /** Takes over a saved domain's vCPU states without starting anything: the VMM resumes the vCPUs that are up. */
    public synchronized void restore(Saved s) {
        int n = up.length;
        if (s.initialised().length != n || s.up().length != n || s.pending().length != n) throw new IllegalArgumentException("vCPU states: count");
        boolean any = false;
        for (int v = 0; v < n; v++) {
            if (s.up()[v] && !s.initialised()[v]) throw new IllegalArgumentException("vCPU " + v + " up but not initialised");
            any |= s.up()[v];
        }
        if (!any) throw new IllegalArgumentException("no vCPU is up");
        for (int v = 0; v < n; v++) {
            initialised[v] = s.initialised()[v];
            up[v] = s.up()[v];
            context[v] = s.pending()[v];
        }
    }
}
