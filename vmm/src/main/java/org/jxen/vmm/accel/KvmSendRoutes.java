package org.jxen.vmm.accel;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.BitSet;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.IntUnaryOperator;

import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.fastpath.Route;
import org.jxen.engine.fastpath.RouteMirror;
import org.jxen.sys.Errno;
import org.jxen.vmm.backend.EventFdSignal;

/**
 * kvm mode: jxen's route table mirrored into KVM's table of outbound event channels (KVM_XEN_ATTR_TYPE_EVTCHN;
 * {@code arch/x86/kvm/xen.c}: {@code kvm_xen_hcall_evtchn_send}), so a guest's EVTCHNOP_send by VMCALL/VMMCALL on an
 * IPI port, a loopback interdomain port or a backend's port is delivered inside KVM, with no exit: the fast path of
 * the seed, in the kernel. A send on any other port still exits to jxen, whose table stays the truth (this is a
 * cache of it: a port missing here only costs an exit).
 *
 * <p>What KVM can carry: IPI routes and interdomain routes to a local port or an eventfd; not VIRQs (KVM refuses
 * EVTCHNSTAT_virq: its VIRQ_TIMER is the TIMER attribute). And only while the guest uses 2-level event channels: KVM
 * sets 2-level pending bits and nothing else. On the switch to FIFO the table is emptied ({@link #abiChecked}, run
 * in the switch's grace period, before the pending 2-level bits are carried over, so a send KVM finished is carried
 * and none comes after); back on 2-level (EVTCHNOP_reset closes every port first) routes are mirrored as they come.
 *
 * <p>VIRQ_TIMER routes go to {@link KvmTimerKeeper} instead, where KVM holds the vCPU's timer.
 *
 * <p>Removal waits out KVM's own senders (its deassign and reset call synchronize_srcu), so once the route table's
 * deassign returns no send in the kernel or in jxen can reach the port. Calls arrive under the route table's lock
 * (and {@link #abiChecked} under the port manager's); this object's lock is a leaf.
 */
final class KvmSendRoutes implements RouteMirror {
    private static final Logger LOG = System.getLogger(KvmSendRoutes.class.getName());
    private final KvmXenCalls vm;
    private final IntUnaryOperator apicIdOf;
    private final BooleanSupplier twoLevel;
    /** Send ports KVM holds now. */
    private final BitSet inKernel = new BitSet();
    private boolean refusalReported;
    private final KvmTimerKeeper timers;
    private final IntUnaryOperator timerPort;

    /**
     * @param timers where VIRQ_TIMER routes go (null: KVM has no Xen timer)
     * @param timerPort the port bound to VIRQ_TIMER on a vCPU (0: none)
     */
    KvmSendRoutes(KvmXenCalls vm, BooleanSupplier twoLevel, KvmTimerKeeper timers, IntUnaryOperator timerPort, IntUnaryOperator apicIdOf) {
        this.vm = vm;
        this.apicIdOf = apicIdOf;
        this.twoLevel = twoLevel;
        this.timers = timers;
        this.timerPort = timerPort;
    }

    @Override
    public synchronized void assigned(Route r) {
        if (r.type() == EvtchnOp.STAT_VIRQ) {
            if (timers != null && timerPort.applyAsInt(r.vcpu()) == r.sendPort()) timers.routed(r.vcpu(), r.sendPort());
            return;
        }
        if (!twoLevel.getAsBoolean()) return;
        int rc;
        if (r.signal() == null) rc = vm.assignPort(r.sendPort(), r.type(), r.targetPort(), apicIdOf.applyAsInt(r.vcpu()));
        else if (r.signal() instanceof EventFdSignal s) rc = vm.assignEventFd(r.sendPort(), r.type(), s.eventFd().fd());
        else return; // a signal that is no eventfd (tests' fakes) has nothing KVM can hold
        if (rc == 0) inKernel.set(r.sendPort());
        else refused("assign of port " + r.sendPort(), rc);
    }

    @Override
    public synchronized void updated(Route r) {
        if (!inKernel.get(r.sendPort())) return;
        int rc = vm.updatePort(r.sendPort(), r.type(), r.targetPort(), apicIdOf.applyAsInt(r.vcpu()));
        if (rc != 0) { // never leave KVM delivering to the old vCPU
            refused("update of port " + r.sendPort(), rc);
            remove(r.sendPort());
        }
    }

    @Override
    public synchronized void deassigned(Route r) {
        if (r.type() == EvtchnOp.STAT_VIRQ && timers != null) timers.unrouted(r.vcpu(), r.sendPort());
        if (inKernel.get(r.sendPort())) remove(r.sendPort());
    }

    @Override
    public synchronized void replaced(List<Route> routes) {
        empty();
        if (timers != null) timers.allUnrouted();
        for (Route r : routes) assigned(r);
    }

    /** After the guest's event-channel ABI may have changed: KVM keeps no route once it is not 2-level. */
    synchronized void abiChecked() {
        if (!twoLevel.getAsBoolean() && !inKernel.isEmpty()) empty();
        if (timers != null) timers.recheckAll(); // nor a timer
    }

    /** The send ports KVM delivers itself now (tests, the control socket). */
    synchronized BitSet portsInKernel() {
        return (BitSet) inKernel.clone();
    }

    private void remove(int port) {
        int rc = vm.deassignPort(port);
        if (rc != 0 && rc != -Errno.ENOENT) {
            // A route KVM might still hold, on a port jxen frees: empty the whole table rather than leave it.
            refused("deassign of port " + port, rc);
            empty();
            return;
        }
        inKernel.clear(port);
    }

    private void empty() {
        int rc = vm.resetPorts();
        if (rc != 0) throw new IllegalStateException("KVM refused to empty its event-channel table: " + Errno.describe(-rc));
        inKernel.clear();
    }

    /** A refusal leaves the port to jxen (correct, one exit slower): one line the first time. */
    private void refused(String what, int rc) {
        if (refusalReported) return;
        refusalReported = true;
        LOG.log(Level.WARNING, "KVM refused the event-channel " + what + " (" + Errno.describe(-rc) + "); such sends stay with jxen");
    }
}
