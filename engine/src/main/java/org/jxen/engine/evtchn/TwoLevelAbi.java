package org.jxen.engine.evtchn;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.memory.GuestBitmap;
import org.jxen.engine.memory.GuestBits;
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
 *
 * <p>The send reads its words ({@link SendWords}: segment, word offset and mask of each bit, bounds proven when the
 * layout last changed) into locals before its first atomic and then issues only {@link GuestBits} operations, so each
 * locked instruction is followed by FFM's own checks and nothing else (see {@code GuestBits} for why that matters).
 */
public final class TwoLevelAbi implements EventChannelAbi {
    private final SharedState shared;
    private final UpcallSink upcalls;
    private final Pollers pollers;
    /** Who raises instead of these writes (KVM's Xen support), or {@link TwoLevelRaiser#NONE}: jxen's own writes. */
    private final TwoLevelRaiser raiser;
    private final SendWords.Cache words;

    public TwoLevelAbi(SharedState shared, UpcallSink upcalls, Pollers pollers) {
        this(shared, upcalls, pollers, TwoLevelRaiser.NONE);
    }

    public TwoLevelAbi(SharedState shared, UpcallSink upcalls, Pollers pollers, TwoLevelRaiser raiser) {
        this.shared = shared;
        this.upcalls = upcalls;
        this.pollers = pollers;
        this.raiser = Objects.requireNonNull(raiser);
        this.words = new SendWords.Cache(shared);
    }

    @Override
    public int portLimit() {
        return shared.width().twoLevelPorts();
    }

    @Override
    public void init(int port, Channel channel) {}

    @Override
    public void setPending(int vcpu, int port, int priority) {
        SendWords sw = words.get();
        if (Integer.compareUnsigned(port, sw.twoLevelPorts) >= 0) return;
        if (raiser.raise(vcpu, port)) {
            pollers.portPending(port); // jxen's own pollers (SCHEDOP_poll through its hypercall page)
            return;
        }
        GuestBitmap pending = sw.pending, mask = sw.mask;
        SendWords.Vcpu v = sw.vcpu(vcpu);
        GuestBitmap selector = v.selector(), upcall = v.upcallPending();
        int selectorBit = port >>> sw.selectorShift;
        MemorySegment si = pending.segment(), vi = selector.segment();
        long pendingWord = pending.word(port), maskWord = mask.word(port);
        long selectorWord = selector.word(selectorBit), upcallWord = upcall.word(0);
        int portMask = pending.mask(port), maskMask = mask.mask(port);
        int selectorMask = selector.mask(selectorBit), upcallMask = upcall.mask(0);
        if (GuestBits.testAndSet(si, pendingWord, portMask) != 0) return;
        if (GuestBits.test(si, maskWord, maskMask) == 0
                && GuestBits.testAndSet(vi, selectorWord, selectorMask) == 0
                && GuestBits.testAndSet(vi, upcallWord, upcallMask) == 0) {
            upcalls.upcall(vcpu); // vcpu_mark_events_pending: only on the 0 to 1 edge of upcall_pending
        }
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
