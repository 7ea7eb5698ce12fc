package org.jxen.engine.guestside;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.function.IntConsumer;

import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.evtchn.SharedState;
import org.jxen.engine.memory.GuestRegion;

/**
 * A Java thread standing in for a vCPU that consumes 2-level events as Linux's {@code events_2l.c} does: on an
 * upcall, loop { clear upcall_pending; exchange the selector with 0; for each selected word, take the ports that are
 * pending, unmasked and bound to this CPU; clear each one's pending bit and handle it } while upcall_pending is set.
 * It scans only after an upcall: an event whose upcall is lost stays lost, so tests can see it.
 */
public final class TwoLevelConsumer implements Runnable {
    private final int vcpu;
    private final SharedState shared;
    private final AtomicIntegerArray owner;
    private final IntConsumer handler;
    private final Semaphore upcalls = new Semaphore(0);
    private volatile boolean stop;

    /**
     * @param owner Linux's per-CPU event mask: owner[port] is the vCPU the guest believes the port is bound to
     * @param handler called with each consumed port (after its pending bit was cleared)
     */
    public TwoLevelConsumer(int vcpu, SharedState shared, AtomicIntegerArray owner, IntConsumer handler) {
        this.vcpu = vcpu;
        this.shared = shared;
        this.owner = owner;
        this.handler = handler;
    }

    /** The upcall: the vector arrived. */
    public void upcall() {
        upcalls.release();
    }

    public void stop() {
        stop = true;
        upcalls.release();
    }

    @Override
    public void run() {
        try {
            while (!stop) {
                if (!upcalls.tryAcquire(50, TimeUnit.MILLISECONDS)) continue;
                upcalls.drainPermits();
                handleUpcall();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void handleUpcall() {
        GuestRegion vi = shared.vcpuInfo(vcpu);
        do {
            vi.clearBit(SharedInfoLayout.UPCALL_PENDING, 0);
            scan(vi);
        } while (vi.testBit(SharedInfoLayout.UPCALL_PENDING, 0));
    }

    private void scan(GuestRegion vi) {
        GuestWidth w = shared.width();
        GuestRegion si = shared.sharedInfo();
        long sel = w == GuestWidth.BITS_64 ? vi.getAndSetLong(w.pendingSelOffset, 0)
                : Integer.toUnsignedLong(vi.getAndSetInt(w.pendingSelOffset, 0));
        int bits = w.bitsPerWord();
        while (sel != 0) {
            int word = Long.numberOfTrailingZeros(sel);
            sel &= sel - 1;
            for (int b = 0; b < bits; b++) {
                int port = word * bits + b;
                if (port >= owner.length() || owner.get(port) != vcpu) continue;
                if (si.testBit(w.maskOffset, port) || !si.testBit(w.pendingOffset, port)) continue;
                if (si.testAndClearBit(w.pendingOffset, port)) handler.accept(port);
            }
        }
    }
}
