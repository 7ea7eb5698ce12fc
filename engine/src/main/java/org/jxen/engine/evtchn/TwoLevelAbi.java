package org.jxen.engine.evtchn;

import java.util.Objects;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.memory.GuestRegion;

/**
 * The 2-level ABI (Xen's {@code event_2l.c}): a pending and a mask bitmap in shared_info, a per-vCPU selector word
 * with one bit per bitmap word, and the per-vCPU {@code evtchn_upcall_pending} byte.
 *
 * <p>Raising a port, each step an atomic RMW on guest memory and in this order (the guest consumes in the reverse
 * order: clear upcall_pending, exchange the selector, clear pending bits):
 * <ol>
 *   <li>test-and-set the pending bit; if it was already set, the event coalesces: done;</li>
 *   <li>if the mask bit is clear, test-and-set selector bit {@code port / BITS_PER_WORD} in the vCPU's
 *       vcpu_info; if it was clear, test-and-set upcall_pending, and on its 0 to 1 edge raise the upcall;</li>
 *   <li>pollers of the port are checked whether or not it is masked ({@code evtchn_check_pollers}).</li>
 * </ol>
 * With a {@link TwoLevelRaiser} (kvm mode) the raiser does steps 1 and 2 instead. Ports at or beyond the current
 * layout's limit are ignored rather than written past the bitmaps (a guest that
 * re-latches 32-bit mode with high ports bound must not make us write into the mask array).
 */
public final class TwoLevelAbi implements EventChannelAbi {
    private final SharedState shared;
    private final UpcallSink upcalls;
    private final Pollers pollers;
    /** Who raises instead of these writes (KVM's Xen support), or {@link TwoLevelRaiser#NONE}: jxen's own writes. */
    private final TwoLevelRaiser raiser;

    public TwoLevelAbi(SharedState shared, UpcallSink upcalls, Pollers pollers) {
        this(shared, upcalls, pollers, TwoLevelRaiser.NONE);
    }

    public TwoLevelAbi(SharedState shared, UpcallSink upcalls, Pollers pollers, TwoLevelRaiser raiser) {
        this.shared = shared;
        this.upcalls = upcalls;
        this.pollers = pollers;
        this.raiser = Objects.requireNonNull(raiser);
    }

    @Override
    public int portLimit() {
        return shared.width().twoLevelPorts();
    }

    @Override
    public void init(int port, Channel channel) {}

    @Override
    public void setPending(int vcpu, int port, int priority) {
        GuestWidth w = shared.width();
        if (port >= w.twoLevelPorts()) return;
        if (raiser.raise(vcpu, port)) {
            pollers.portPending(port); // jxen's own pollers (SCHEDOP_poll through its hypercall page)
            return;
        }
        GuestRegion si = shared.sharedInfo();
        if (si.testAndSetBit(w.pendingOffset, port)) return;
        if (!si.testBit(w.maskOffset, port)) raiseSelector(vcpu, port, w);
        pollers.portPending(port);
    }

    private void raiseSelector(int vcpu, int port, GuestWidth w) {
        GuestRegion vi = shared.vcpuInfo(vcpu);
        if (!vi.testAndSetBit(w.pendingSelOffset, port >>> w.selectorShift)) markEventsPending(vcpu, vi);
    }

    /** vcpu_mark_events_pending: the upcall fires only on the 0 to 1 edge of evtchn_upcall_pending. */
    private void markEventsPending(int vcpu, GuestRegion vi) {
        if (!vi.testAndSetBit(SharedInfoLayout.UPCALL_PENDING, 0)) upcalls.upcall(vcpu);
    }

    @Override
    public void clearPending(int port) {
        GuestWidth w = shared.width();
        if (port < w.twoLevelPorts()) shared.sharedInfo().clearBit(w.pendingOffset, port);
    }

    @Override
    public void unmask(int vcpu, int port, int priority) {
        GuestWidth w = shared.width();
        if (port >= w.twoLevelPorts()) return;
        GuestRegion si = shared.sharedInfo();
        if (si.testAndClearBit(w.maskOffset, port) && si.testBit(w.pendingOffset, port)) raiseSelector(vcpu, port, w);
    }

    @Override
    public boolean isPending(int port) {
        GuestWidth w = shared.width();
        return port < w.twoLevelPorts() && shared.sharedInfo().testBit(w.pendingOffset, port);
    }

    @Override
    public boolean isMasked(int port) {
        GuestWidth w = shared.width();
        return port < w.twoLevelPorts() && shared.sharedInfo().testBit(w.maskOffset, port);
    }

    @Override
    public boolean isBusy(int port) {
        return false;
    }

    @Override
    public int setPriority(int port, int priority) {
        return -Errno.ENOSYS;
    }
}
