package org.jxen.vmm.accel;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;
import java.util.function.IntConsumer;
import java.util.function.IntFunction;

import org.jxen.engine.platform.SingleshotKeeper;
import org.jxen.engine.platform.VcpuTimers;
import org.jxen.sys.Errno;
import org.jxen.sys.kvm.KvmException;

/**
 * kvm mode, 2-level events: each vCPU's singleshot timer held by KVM's Xen timer ({@code KVM_XEN_VCPU_ATTR_TYPE_TIMER};
 * {@code arch/x86/kvm/xen.c}: {@code kvm_xen_hcall_set_timer_op}, {@code kvm_xen_hcall_vcpu_op},
 * {@code kvm_xen_timer_callback}). While KVM holds it, the guest's set_timer_op and VCPUOP_set/stop_singleshot_timer by
 * VMCALL/VMMCALL never leave the kernel, and expiry sets the VIRQ_TIMER port pending from an hrtimer with no jxen
 * thread in between: two exits fewer per tick. The periodic timer stays jxen's (KVM has none).
 *
 * <p>The engine stays the truth. KVM holds vCPU v's timer only while v's VIRQ_TIMER port is routed, the guest is on
 * 2-level events and KVM knows shared_info (its hrtimer writes there). The engine's {@link VcpuTimers} asks this
 * keeper first, so a timer call that does reach jxen (the hypercall page's {@code out} stubs, a restore) goes to KVM
 * for a vCPU it holds, and a save reads KVM's deadline. Handing over moves the armed deadline across: to KVM with the
 * TIMER attribute; back by reading it (KVM_XEN_VCPU_GET_ATTR delivers an expired one first) and stopping KVM's.
 *
 * <p>A vCPU's attributes are set on its own thread ({@link AcceleratedVcpu#requestEntryWork}; KVM holds the vCPU's mutex
 * through KVM_RUN), so a change asked from another vCPU takes effect at that vCPU's next entry, as in QEMU's Xen
 * emulation. Until then KVM may still raise the old port: after a close from another vCPU, one late event can mark a
 * freed port pending (a guest ignores an event on a port it no longer has). After a switch to FIFO an expiry KVM
 * wrote into 2-level bits would be lost, so a timer given back then is raised once through the engine: an early
 * timer event is harmless, a lost one would stop the guest's clock events.
 */
final class KvmTimerKeeper implements SingleshotKeeper {
    private static final Logger LOG = System.getLogger(KvmTimerKeeper.class.getName());
    private final KvmXenCalls calls;
    /** u.timer's expires_ns as a word of the attribute's union (the first holds port and priority). */
    private static final int EXPIRES_WORD = (OFFSETOF_KVM_XEN_VCPU_ATTR_TIMER_EXPIRES_NS - OFFSETOF_KVM_XEN_VCPU_ATTR_U) / 8;

    private final VcpuTimers timers;
    private final IntFunction<? extends AcceleratedVcpu> threads;
    private final BooleanSupplier twoLevel, sharedInfoKnown;
    private final IntConsumer raiseTimerVirq;
    /** Each vCPU's routed VIRQ_TIMER port (0: none); guarded by this. */
    private final int[] routed;
    /** The port KVM's timer raises for each vCPU (0: KVM holds none); changed on that vCPU's thread or while it is stopped. */
    private final AtomicIntegerArray held;
    private final LongAdder handedOver = new LongAdder();
    private volatile boolean refused;

    KvmTimerKeeper(KvmXenCalls calls, int vcpus, VcpuTimers timers, IntFunction<? extends AcceleratedVcpu> threads, BooleanSupplier twoLevel, BooleanSupplier sharedInfoKnown,
            IntConsumer raiseTimerVirq) {
        this.calls = calls;
        this.timers = timers;
        this.threads = threads;
        this.twoLevel = twoLevel;
        this.sharedInfoKnown = sharedInfoKnown;
        this.raiseTimerVirq = raiseTimerVirq;
        this.routed = new int[vcpus];
        this.held = new AtomicIntegerArray(vcpus);
    }

    /** {@code port} now carries VIRQ_TIMER for {@code vcpu} (under the route table's lock). */
    void routed(int vcpu, int port) {
        synchronized (this) {
            routed[vcpu] = port;
        }
        recheck(vcpu);
    }

    /** {@code port}'s route left the table (before the port is freed); a no-op for any port but a vCPU's timer port. */
    void unrouted(int vcpu, int port) {
        synchronized (this) {
            if (routed[vcpu] != port) return;
            routed[vcpu] = 0;
        }
        recheck(vcpu);
    }

    /** Every VIRQ_TIMER route is gone (the route table was emptied or replaced; the new ones follow). */
    void allUnrouted() {
        synchronized (this) {
            Arrays.fill(routed, 0);
        }
        recheckAll();
    }

    /** After the ABI or shared_info's place may have changed. */
    void recheckAll() {
        for (int v = 0; v < routed.length; v++) recheck(v);
    }

    /** Asks vCPU {@code v} to bring KVM in step at its next entry (at once, on its own thread). */
    private void recheck(int v) {
        if (wanted(v) == held.get(v)) return;
        AcceleratedVcpu t = threads.apply(v);
        if (t != null) t.requestEntryWork();
    }

    private synchronized int wanted(int v) {
        return refused || !twoLevel.getAsBoolean() || !sharedInfoKnown.getAsBoolean() ? 0 : routed[v];
    }

    /** On vCPU {@code v}'s thread before it enters (or while it is stopped): KVM holds its timer iff it should. */
    void apply(int v) {
        int want = wanted(v);
        int now = held.get(v);
        if (want == now) return;
        synchronized (timers) { // no engine timer call for v between reading one side and arming the other
            if (now != 0) giveBack(v);
            if (want != 0) take(v, want);
        }
    }

    private void take(int v, int port) {
        long deadline = timers.detachSingleshot(v);
        int rc = calls.setVcpuAttr(v, KVM_XEN_VCPU_ATTR_TYPE_TIMER, timerWord(port), deadline);
        if (rc != 0) {
            refuse("TIMER", rc);
            if (deadline != 0) timers.setSingleshot(v, deadline); // held is still 0: the engine's again
            return;
        }
        held.set(v, port);
        handedOver.increment();
    }

    private void giveBack(int v) {
        long deadline = 0;
        boolean known = true;
        try {
            deadline = calls.vcpuAttr(v, KVM_XEN_VCPU_ATTR_TYPE_TIMER, EXPIRES_WORD + 1)[EXPIRES_WORD];
        } catch (KvmException e) {
            refuse("TIMER (read back)", -e.errno());
            known = false;
        }
        int rc = calls.setVcpuAttr(v, KVM_XEN_VCPU_ATTR_TYPE_TIMER, 0, 0);
        if (rc != 0) refuse("TIMER (stop)", rc);
        held.set(v, 0);
        if (deadline != 0) timers.setSingleshot(v, deadline);
        // Unknown, or it may have fired into 2-level bits the guest no longer reads: one event rather than none.
        else if (!known || !twoLevel.getAsBoolean()) raiseTimerVirq.accept(v);
    }

    private static long timerWord(int port) {
        return port | KVM_IRQ_ROUTING_XEN_EVTCHN_PRIO_2LEVEL << 32;
    }

    /** A refusal leaves every timer with the engine (correct, two exits slower per tick): one line. */
    private void refuse(String what, int rc) {
        if (!refused) LOG.log(Level.WARNING, "KVM refused KVM_XEN " + what + " (" + Errno.describe(-rc) + "); vCPU timers stay with jxen");
        refused = true;
        recheckAll();
    }

    // SingleshotKeeper: asked by VcpuTimers under its lock; a held vCPU's calls come from its own thread (a timer
    // hypercall names only the caller), or from a save or restore while it is stopped.

    @Override
    public boolean set(int vcpu, long deadlineNs) {
        int port = held.get(vcpu);
        if (port == 0) return false;
        int rc = calls.setVcpuAttr(vcpu, KVM_XEN_VCPU_ATTR_TYPE_TIMER, timerWord(port), deadlineNs);
        if (rc != 0) refuse("TIMER", rc); // KVM kept what it had; the next entry gives it back
        return true;
    }

    @Override
    public boolean stop(int vcpu) {
        return set(vcpu, 0); // port set, no expiry: KVM stops the timer and keeps the port
    }

    @Override
    public long deadline(int vcpu) {
        if (held.get(vcpu) == 0) return -1;
        try {
            return calls.vcpuAttr(vcpu, KVM_XEN_VCPU_ATTR_TYPE_TIMER, EXPIRES_WORD + 1)[EXPIRES_WORD];
        } catch (KvmException e) {
            return 0;
        }
    }

    /** How many times a vCPU's timer went to KVM (tests, the control socket). */
    long handedOver() {
        return handedOver.sum();
    }

    /** The vCPUs whose timer KVM holds now. */
    int heldNow() {
        int n = 0;
        for (int v = 0; v < held.length(); v++) if (held.get(v) != 0) n++;
        return n;
    }
}
