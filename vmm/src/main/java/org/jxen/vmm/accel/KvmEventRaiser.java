package org.jxen.vmm.accel;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.function.BooleanSupplier;
import java.util.function.IntFunction;
import java.util.function.IntPredicate;
import java.util.function.IntUnaryOperator;

import org.jxen.engine.evtchn.TwoLevelRaiser;
import org.jxen.engine.platform.VcpuControl;
import org.jxen.sys.Errno;

/**
 * kvm mode, 2-level events: jxen's raises go through KVM (KVM_XEN_HVM_EVTCHN_SEND), after jxen promised so with
 * KVM_XEN_HVM_CONFIG_EVTCHN_SEND. With that promise KVM runs a guest's SCHEDOP_poll (by VMCALL/VMMCALL) in the kernel,
 * blocking the vCPU until a polled port is pending ({@code arch/x86/kvm/xen.c}: {@code kvm_xen_schedop_poll}); only
 * a raise that passes through KVM wakes it ({@code kvm_xen_check_poller}). Without the promise KVM answers a poll as a
 * yield, and a guest's PV spinlock spins.
 *
 * <p>KVM raises 2-level events only, so the promise is withdrawn when the guest switches to FIFO ({@link #abiChecked},
 * in the switch's grace period: a poll is then a yield again, which is always correct) and made again on the first
 * raise after a return to 2-level. Until KVM knows where shared_info is, jxen raises in guest memory itself (KVM would
 * have nowhere to write); a refusal does the same, reported once.
 */
final class KvmEventRaiser implements TwoLevelRaiser {
    private static final Logger LOG = System.getLogger(KvmEventRaiser.class.getName());
    private final KvmXenCalls vm;
    private final IntUnaryOperator apicIdOf;
    private final int hypercallMsr;
    private final BooleanSupplier twoLevel, sharedInfoInKernel;
    private final IntFunction<? extends VcpuControl> vcpus;
    private final IntPredicate upcallRoute;
    private volatile boolean promised;
    /** A refused send was reported (once); a refused promise is not tried again. Apart: one must not silence the other. */
    private volatile boolean sendRefusalReported, promiseRefused;

    KvmEventRaiser(KvmXenCalls vm, int hypercallMsr, BooleanSupplier twoLevel, BooleanSupplier sharedInfoInKernel,
            IntFunction<? extends VcpuControl> vcpus, IntPredicate upcallRoute, IntUnaryOperator apicIdOf) {
        this.vm = vm;
        this.apicIdOf = apicIdOf;
        this.upcallRoute = upcallRoute;
        this.hypercallMsr = hypercallMsr;
        this.twoLevel = twoLevel;
        this.sharedInfoInKernel = sharedInfoInKernel;
        this.vcpus = vcpus;
    }

    /** Before the guest runs: the promise, if the guest starts (or was restored) on 2-level events. */
    void install() {
        if (twoLevel.getAsBoolean()) promise(true);
    }

    @Override
    public boolean raise(int vcpu, int port) {
        if (!sharedInfoInKernel.getAsBoolean()) return false;
        if (!promised) promise(true);
        int rc = vm.send(port, apicIdOf.applyAsInt(vcpu));
        if (rc != 0) {
            if (!sendRefusalReported) LOG.log(Level.WARNING, "KVM refused KVM_XEN_HVM_EVTCHN_SEND (" + Errno.describe(-rc) + "); jxen raises events itself");
            sendRefusalReported = true;
            return false;
        }
        // KVM kicked it out of the guest or out of its own poll; a wait in jxen (SCHEDOP_block, or a poll by jxen's
        // hypercall page) ends only if the vCPU has an upcall route, as in Xen (hvm_assert_evtchn_irq kicks nobody
        // otherwise; a poller of this very port was woken through the engine's pollers).
        VcpuControl c = vcpus.apply(vcpu);
        if (c != null && upcallRoute.test(vcpu)) c.wake();
        return true;
    }

    /** After the guest's event-channel ABI may have changed: no promise while it is not 2-level. */
    void abiChecked() {
        if (promised && !twoLevel.getAsBoolean()) promise(false);
    }

    private synchronized void promise(boolean on) {
        if (promised == on || (on && promiseRefused)) return;
        try {
            vm.hvmConfig(KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL | (on ? KVM_XEN_HVM_CONFIG_EVTCHN_SEND : 0), hypercallMsr);
            promised = on;
        } catch (RuntimeException e) { // KVM keeps its previous flags: a poll stays what it was
            LOG.log(Level.WARNING, "KVM refused to " + (on ? "take" : "drop") + " the EVTCHN_SEND promise: " + e.getMessage());
            promiseRefused = true;
        }
    }

    /** Whether jxen has promised KVM to raise every event through it (tests, the control socket). */
    boolean promised() {
        return promised;
    }
}
