package org.jxen.vmm.accel;

import java.util.OptionalLong;
import java.util.function.IntFunction;
import java.util.function.IntUnaryOperator;
import java.util.function.LongSupplier;

import org.jxen.sys.kvm.KvmVm;

/**
 * How a domain's Xen work is split between jxen and the host's KVM, chosen once per domain (as Xen's
 * {@code evtchn_port_ops} is per domain, or cloud-hypervisor's {@code hypervisor::new()} probes once). The VMM asks
 * it, never a mode flag:
 * <ul>
 * <li>{@link UserSpaceAcceleration}: hypercalls arrive through jxen's hypercall page only, and jxen raises and
 *     injects every event (any KVM);</li>
 * <li>{@link KvmXenAcceleration}: KVM's Xen support (KVM_CAP_XEN_HVM) intercepts VMCALL/VMMCALL and keeps, as far as
 *     {@link XenOffer} says it can, shared_info and vcpu_info, pvclock, the callback vector, timers, runstates, send
 *     routes, backend irqfds and EVTCHN_SEND; jxen's engine stays the truth.</li>
 * </ul>
 * Building a domain: {@link #vmcallRefusal} before anything is built, {@link #configureVm} and {@link #systemTime}
 * with the VM, {@link #attach} once the engine exists; what the running domain then asks is the {@link Offload}.
 */
public sealed interface Acceleration permits UserSpaceAcceleration, KvmXenAcceleration {
    /** Why a guest that calls Xen by VMCALL/VMMCALL (no hypercall page) cannot run here; null if it can. */
    String vmcallRefusal();

    /** The new VM's Xen configuration, before any vCPU exists. */
    void configureVm(KvmVm vm);

    /**
     * The domain's system time (pvclock, timers, runstates, saves), in nanoseconds: a resumed domain's continues from
     * {@code resumedAt}.
     */
    LongSupplier systemTime(KvmVm vm, OptionalLong resumedAt);

    /**
     * Takes over the work it can from the engine (through the engine's hooks), before the guest runs; the vCPUs may not
     * exist yet ({@code vcpus} answers null), and each runs {@link Offload#beforeEntry} before its first entry.
     *
     * @param calls    KVM's Xen ioctls on this domain's VM and vCPUs
     * @param apicIdOf the local APIC id of a Xen vCPU id (KVM names vCPUs in event delivery by it)
     */
    Offload attach(EngineParts engine, KvmXenCalls calls, IntFunction<? extends AcceleratedVcpu> vcpus, IntUnaryOperator apicIdOf);

    /** For {@code jxen run}'s line: what takes hypercalls and which features KVM keeps. */
    String describe();

    /**
     * Whether KVM delivers a 2-level guest's events in the kernel (sends on routed ports, the callback vector) — what a
     * FIFO guest gives up, since KVM's delivery is 2-level only ({@code arch/x86/kvm/xen.c}).
     */
    boolean kernelDeliversTwoLevel();
}
