package org.jxen.vmm.accel;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.Arrays;
import java.util.function.IntFunction;

import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.SharedState;
import org.jxen.engine.hvm.HvmParam;
import org.jxen.engine.hvm.HvmParams;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.platform.XenVersion;
import org.jxen.sys.Errno;

/**
 * kvm mode: the guest-visible Xen state KVM's Xen support keeps, in step with the engine's (Linux
 * {@code Documentation/virt/kvm/api.rst}, KVM_XEN_HVM_SET_ATTR / KVM_XEN_VCPU_SET_ATTR; {@code arch/x86/kvm/xen.c}).
 * The engine stays authoritative: after a hypercall that can latch the width, move shared_info or a vcpu_info, or
 * change an upcall vector, {@link #sync} compares the engine's view with what KVM was last told and tells it the
 * difference. With shared_info and the vcpu_infos known, KVM writes pvclock and the wallclock there (so system time
 * is KVM's clock) and injects the domain-wide callback vector itself while a vCPU's {@code evtchn_upcall_pending}
 * is set, as Xen does ({@code arch/x86/hvm/irq.c: hvm_vcpu_has_pending_irq}): no LAPIC ISR bit, no EOI, level.
 *
 * <p>KVM holds a vCPU's mutex through KVM_RUN, so per-vCPU attributes are set by that vCPU's own thread before it
 * next enters the guest ({@link AcceleratedVcpu#requestEntryWork}); the calling vCPU applies its own at once.
 */
final class KvmSharedInfoSync {
    private static final Logger LOG = System.getLogger(KvmSharedInfoSync.class.getName());
    /** KVM_XEN_INVALID_GFN / KVM_XEN_INVALID_GPA: not mapped. */
    private static final long INVALID = -1L;

    private final KvmXenCalls vm;
    private final SharedState shared;
    private final HvmParams params;
    private final GuestMemory ram;
    private final IntFunction<? extends AcceleratedVcpu> threads;
    private final int vcpuCount;

    private Runnable afterSharedInfoPlaced = () -> {};
    private int toldLongMode = -1;
    private volatile long toldSharedInfoGfn = INVALID;
    private int toldCallbackVector;
    private final long[] vcpuInfoGpa, toldVcpuInfoGpa;
    private final int[] vcpuVector, toldVcpuVector;

    KvmSharedInfoSync(KvmXenCalls vm, SharedState shared, HvmParams params, GuestMemory ram, int vcpuCount, IntFunction<? extends AcceleratedVcpu> threads) {
        this.vm = vm;
        this.shared = shared;
        this.params = params;
        this.ram = ram;
        this.vcpuCount = vcpuCount;
        this.threads = threads;
        vcpuInfoGpa = new long[vcpuCount];
        toldVcpuInfoGpa = new long[vcpuCount];
        Arrays.fill(vcpuInfoGpa, INVALID);
        Arrays.fill(toldVcpuInfoGpa, INVALID);
        vcpuVector = new int[vcpuCount];
        toldVcpuVector = new int[vcpuCount];
    }

    /**
     * Before any vCPU runs: each vCPU's Xen id (it names vCPUs in KVM's event delivery) and the version KVM answers
     * XENVER_version with in the kernel.
     */
    void install() {
        for (int v = 0; v < vcpuCount; v++) check("VCPU_ID", vm.setVcpuAttr(v, KVM_XEN_VCPU_ATTR_TYPE_VCPU_ID, v));
        check("XEN_VERSION", vm.setAttr(KVM_XEN_ATTR_TYPE_XEN_VERSION, (XenVersion.MAJOR << 16) | XenVersion.MINOR));
    }

    /**
     * Tells KVM what changed since the last call: VM-wide attributes at once, per-vCPU ones by their threads before
     * their next entry ({@code caller}'s own now: it is the calling thread, between exits; -1 for none).
     */
    synchronized void sync(int caller) {
        int longMode = shared.width() == GuestWidth.BITS_64 ? 1 : 0;
        if (longMode != toldLongMode) { // first: the layout of what KVM writes next
            check("LONG_MODE", vm.setAttr(KVM_XEN_ATTR_TYPE_LONG_MODE, longMode));
            toldLongMode = longMode;
        }
        long gfn = gpaOf(shared.sharedInfo());
        gfn = gfn == INVALID ? INVALID : gfn >>> GuestMemory.PAGE_SHIFT;
        if (gfn != toldSharedInfoGfn) {
            check("SHARED_INFO", vm.setAttr(KVM_XEN_ATTR_TYPE_SHARED_INFO, gfn));
            toldSharedInfoGfn = gfn;
            afterSharedInfoPlaced.run();
        }
        long cb = params.get(HvmParam.CALLBACK_IRQ);
        int callback = (cb >>> 56) == HvmParam.CALLBACK_TYPE_VECTOR ? (int) (cb & 0xFF) : 0;
        if (callback != toldCallbackVector) {
            check("UPCALL_VECTOR", vm.setAttr(KVM_XEN_ATTR_TYPE_UPCALL_VECTOR, callback));
            toldCallbackVector = callback;
        }
        for (int v = 0; v < vcpuCount; v++) {
            vcpuInfoGpa[v] = gpaOf(shared.vcpuInfo(v));
            vcpuVector[v] = params.vcpuUpcallVector(v);
            if (vcpuInfoGpa[v] == toldVcpuInfoGpa[v] && vcpuVector[v] == toldVcpuVector[v]) continue;
            if (v == caller) {
                applyVcpu(v);
                continue;
            }
            AcceleratedVcpu t = threads.apply(v);
            if (t != null) t.requestEntryWork(); // one not created yet applies everything before its first entry
        }
    }

    /** On vCPU {@code v}'s thread (or before it runs): its vcpu_info address and per-vCPU upcall vector. */
    synchronized void applyVcpu(int v) {
        if (vcpuInfoGpa[v] != toldVcpuInfoGpa[v]) {
            // KVM then writes this vCPU's pvclock there (a clock update is requested with it) and reads
            // evtchn_upcall_pending there to inject the callback vector.
            check("VCPU_INFO", vm.setVcpuAttr(v, KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO, vcpuInfoGpa[v]));
            toldVcpuInfoGpa[v] = vcpuInfoGpa[v];
        }
        if (vcpuVector[v] != toldVcpuVector[v]) {
            check("vCPU UPCALL_VECTOR", vm.setVcpuAttr(v, KVM_XEN_VCPU_ATTR_TYPE_UPCALL_VECTOR, vcpuVector[v]));
            toldVcpuVector[v] = vcpuVector[v];
        }
    }

    /** Runs after KVM is told where shared_info is (what waited for it can go to KVM now). Before the guest runs. */
    void afterSharedInfoPlaced(Runnable r) {
        afterSharedInfoPlaced = r;
    }

    /** Whether KVM knows where shared_info is (it can raise 2-level events there). */
    boolean sharedInfoKnown() {
        return toldSharedInfoGfn != INVALID;
    }

    /** Whether KVM injects the domain-wide callback vector (set and not overridden by {@code vcpu}'s own vector). */
    boolean kernelInjects(int vcpu) {
        return params.vcpuUpcallVector(vcpu) == 0;
    }

    /** The guest-physical address of a region in guest RAM; INVALID for one of jxen's private pages. */
    private long gpaOf(GuestRegion r) {
        return r.backing().address() == ram.segment().address() ? r.baseOffset() : INVALID;
    }

    /**
     * A refused attribute is jxen's bug or a KVM too old for the attribute: one line, and the guest goes on with what
     * the engine did (its hypercall already answered).
     */
    private static void check(String what, int rc) {
        if (rc < 0) LOG.log(Level.WARNING, "KVM refused KVM_XEN " + what + ": " + Errno.describe(-rc));
    }
}
