package org.jxen.vmm.accel;

import org.jxen.engine.platform.VcpuControl;

/**
 * What an acceleration needs of a vCPU's thread: KVM holds a vCPU's mutex through KVM_RUN, so per-vCPU state is set
 * by that vCPU's own thread, in {@link Offload#beforeEntry}, which {@link #requestEntryWork} asks for.
 */
public interface AcceleratedVcpu extends VcpuControl {
    /** Runs {@link Offload#beforeEntry} on this vCPU's thread before its next KVM_RUN, taking it out of the one it is in. */
    void requestEntryWork();

    /** Takes the thread out of KVM_RUN so that it enters again (KVM re-evaluates what it injects). */
    void nudge();

    /** Whether the caller is this vCPU's thread (it may then make the vCPU's ioctls). */
    boolean isCurrent();

    /** Whether the thread runs (a stopped vCPU's ioctls are any thread's to make). */
    boolean alive();
}
