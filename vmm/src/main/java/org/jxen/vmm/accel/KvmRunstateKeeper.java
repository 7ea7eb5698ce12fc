package org.jxen.vmm.accel;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntFunction;

import org.jxen.engine.platform.RunstateKeeper;
import org.jxen.engine.platform.Runstates;
import org.jxen.sys.Errno;
import org.jxen.sys.kvm.KvmException;

/**
 * kvm mode: each vCPU's runstate area kept by KVM ({@code KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR} and {@code _DATA};
 * {@code arch/x86/kvm/xen.c}: {@code kvm_xen_update_runstate_guest}). KVM accounts a vCPU as the host scheduler
 * sees it: running from each entry, runnable while preempted. That runnable time is the guest's steal time (Linux's
 * {@code xen_steal_clock}), which only the host kernel can know; jxen alone sees no preemption.
 *
 * <p>The engine's {@link Runstates} stays the truth: it tells this keeper when the guest registers, moves or drops an
 * area or changes the update flag, and asks it for a held vCPU's figures (a save, VCPUOP_get_runstate_info). Handing
 * over writes the engine's figures into KVM (KVM wants the entry time to equal the sum of the times: the time before
 * the domain existed counts as offline), then the area's address; giving back reads KVM's figures into the engine.
 * KVM takes one guest-physical range, so an area whose two pages are not adjacent in guest memory stays jxen's; so does
 * every area while the guest wants XEN_RUNSTATE_UPDATE and this KVM cannot bracket its writes with it.
 *
 * <p>Per-vCPU attributes are set on the vCPU's own thread ({@link AcceleratedVcpu#requestEntryWork}). A held vCPU's figures
 * are read from KVM on its own thread or while it is stopped, else from its area in guest memory, which KVM keeps
 * current.
 */
final class KvmRunstateKeeper implements RunstateKeeper {
    private static final Logger LOG = System.getLogger(KvmRunstateKeeper.class.getName());
    private static final long NOT_HELD = -1;
    private static final int ENTRY_WORD = (OFFSETOF_KVM_XEN_VCPU_ATTR_RUNSTATE_ENTRY_TIME - OFFSETOF_KVM_XEN_VCPU_ATTR_U) / 8;
    private static final int WORDS = (OFFSETOF_KVM_XEN_VCPU_ATTR_RUNSTATE_TIME_OFFLINE - OFFSETOF_KVM_XEN_VCPU_ATTR_U) / 8 + 1;

    private final KvmXenCalls calls;
    private final Runstates runstates;
    private final IntFunction<? extends AcceleratedVcpu> threads;
    private final boolean updateFlagOffered;
    /** The guest-physical address KVM writes each vCPU's area at, or NOT_HELD. */
    private final AtomicLongArray held;
    private final LongAdder handedOver = new LongAdder();
    private boolean toldUpdateFlag;
    private volatile boolean refused;

    KvmRunstateKeeper(KvmXenCalls calls, int vcpus, Runstates runstates, IntFunction<? extends AcceleratedVcpu> threads, boolean updateFlagOffered) {
        this.calls = calls;
        this.runstates = runstates;
        this.threads = threads;
        this.updateFlagOffered = updateFlagOffered;
        this.held = new AtomicLongArray(vcpus);
        for (int v = 0; v < vcpus; v++) held.set(v, NOT_HELD);
    }

    @Override
    public void changed(int vcpu) {
        if (vcpu < 0) {
            tellUpdateFlag();
            for (int v = 0; v < held.length(); v++) recheck(v);
        } else {
            recheck(vcpu);
        }
    }

    /** Before the guest runs (a restored domain's areas and flag are in place already). */
    void install() {
        changed(-1);
    }

    private synchronized void tellUpdateFlag() {
        boolean flag = runstates.updateFlag();
        if (!updateFlagOffered || flag == toldUpdateFlag) return;
        int rc = calls.setAttr(KVM_XEN_ATTR_TYPE_RUNSTATE_UPDATE_FLAG, flag ? 1 : 0);
        if (rc != 0) refuse("RUNSTATE_UPDATE_FLAG", rc);
        else toldUpdateFlag = flag;
    }

    private void recheck(int v) {
        if (wanted(v) == held.get(v)) return;
        AcceleratedVcpu t = threads.apply(v);
        if (t != null) t.requestEntryWork();
    }

    /** Where KVM should write vCPU {@code v}'s area, or NOT_HELD. */
    private long wanted(int v) {
        Runstates.Area a = runstates.area(v);
        if (refused || a == null || !a.contiguous()) return NOT_HELD;
        if (runstates.updateFlag() && !updateFlagOffered) return NOT_HELD;
        return a.gpa1();
    }

    /** On vCPU {@code v}'s thread before it enters (or while it is stopped): KVM keeps its area iff it should. */
    void apply(int v) {
        synchronized (runstates) { // no registration, save or snapshot between reading one side and writing the other
            long want = wanted(v), now = held.get(v);
            if (want == now) return;
            if (now != NOT_HELD) giveBack(v);
            if (want != NOT_HELD) take(v, want);
        }
    }

    private void take(int v, long gpa) {
        Runstates.Figures f = runstates.ownFigures(v);
        long[] t = f.time();
        long sum = t[0] + t[1] + t[2] + t[3];
        // KVM keeps entry time == the sum of the times (all from system time 0); the engine counts from the domain's
        // start. The difference is time before the vCPU existed: offline.
        t[Runstates.OFFLINE] += Math.max(0, f.entryTime() - sum);
        long entry = Math.max(f.entryTime(), sum);
        int rc = calls.setVcpuAttr(v, KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_DATA, f.state(), entry, t[0], t[1], t[2], t[3]);
        if (rc == 0) rc = calls.setVcpuAttr(v, KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR, gpa);
        if (rc != 0) {
            refuse("RUNSTATE", rc);
            return;
        }
        held.set(v, gpa);
        handedOver.increment();
    }

    private void giveBack(int v) {
        Runstates.Figures f = read(v);
        int rc = calls.setVcpuAttr(v, KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR, -1L); // KVM_XEN_INVALID_GPA: KVM writes there no more
        if (rc != 0) refuse("RUNSTATE_ADDR (drop)", rc);
        held.set(v, NOT_HELD);
        if (f != null) runstates.takeBack(v, f);
    }

    private Runstates.Figures read(int v) {
        try {
            long[] w = calls.vcpuAttr(v, KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_DATA, WORDS);
            return new Runstates.Figures((int) w[0], w[ENTRY_WORD], new long[] {w[ENTRY_WORD + 1], w[ENTRY_WORD + 2], w[ENTRY_WORD + 3], w[ENTRY_WORD + 4]});
        } catch (KvmException e) {
            refuse("RUNSTATE_DATA (read)", -e.errno());
            return null;
        }
    }

    /** Asked by {@link Runstates} under its lock. */
    @Override
    public Runstates.Figures figures(int vcpu) {
        if (held.get(vcpu) == NOT_HELD) return null;
        AcceleratedVcpu t = threads.apply(vcpu);
        if (t == null) return null;
        if (t.isCurrent() || !t.alive()) return read(vcpu);
        for (int i = 0; i < 100; i++) { // KVM brackets its writes (update flag) or the copy is re-read: a torn one is rare
            Runstates.Figures f = runstates.readArea(vcpu);
            if (f != null) return f;
            Thread.onSpinWait();
        }
        return null; // the engine's own figures, older
    }

    /** A refusal leaves the areas with jxen (no steal time): one line. */
    private void refuse(String what, int rc) {
        if (!refused) LOG.log(Level.WARNING, "KVM refused KVM_XEN " + what + " (" + Errno.describe(-rc) + "); runstate areas stay with jxen");
        refused = true;
        for (int v = 0; v < held.length(); v++) recheck(v);
    }

    /** How many times a vCPU's runstate area went to KVM (tests, the control socket). */
    long handedOver() {
        return handedOver.sum();
    }
}
