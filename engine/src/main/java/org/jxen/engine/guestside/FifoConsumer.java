package org.jxen.engine.guestside;

import static org.jxen.engine.abi.FifoLayout.*;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;
import java.util.function.IntFunction;

import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.evtchn.SharedState;
import org.jxen.engine.memory.GuestRegion;

/**
 * A Java thread standing in for a vCPU that consumes FIFO events as Linux's {@code events_fifo.c} does: on an
 * upcall, loop { clear upcall_pending; ready = xchg(READY, 0); while ready: take the highest-priority queue, unlink
 * its head event with compare-and-set (clear LINKED and LINK, keep the LINK as the next head), clear the queue's
 * ready bit when the link was 0, and if the event is pending and unmasked, clear PENDING and handle it; fold in a
 * new xchg(READY, 0) } while upcall_pending. The local head of each queue survives between upcalls, as Linux's
 * per-CPU {@code cpu_queue} does. Also the guest-side mask and unmask ({@code clear_masked_cond}).
 */
public final class FifoConsumer implements Runnable {
    private final int vcpu;
    private final SharedState shared;
    private final GuestRegion controlBlock;
    private final IntFunction<GuestRegion> wordPage;
    private final IntConsumer handler;
    private final int[] localHead = new int[MAX_QUEUES];
    private final Semaphore upcalls = new Semaphore(0);
    private volatile boolean stop;

    /**
     * @param controlBlock this vCPU's control block (the region it registered with init_control)
     * @param wordPage the guest's event-array page holding a port's word (the pages it gave with expand_array)
     */
    public FifoConsumer(int vcpu, SharedState shared, GuestRegion controlBlock, IntFunction<GuestRegion> wordPage,
            IntConsumer handler) {
        this.vcpu = vcpu;
        this.shared = shared;
        this.controlBlock = controlBlock;
        this.wordPage = wordPage;
        this.handler = handler;
    }

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
            int ready = controlBlock.getAndSetInt(CONTROL_READY, 0);
            while (ready != 0) {
                int q = Integer.numberOfTrailingZeros(ready); // priority 0 is the highest
                ready = consumeOne(q, ready);
                ready |= controlBlock.getAndSetInt(CONTROL_READY, 0);
            }
        } while (vi.testBit(SharedInfoLayout.UPCALL_PENDING, 0));
    }

    private int consumeOne(int priority, int ready) {
        int head = localHead[priority];
        if (head == 0) head = controlBlock.getIntVolatile(headOffset(priority)); // reached the tail last time
        int port = head;
        GuestRegion page = wordPage.apply(port);
        long off = (long) (port % WORDS_PER_PAGE) * 4;
        head = clearLinked(page, off);
        if (head == 0) ready &= ~(1 << priority);
        int w = page.getIntVolatile(off);
        if ((w & (1 << PENDING)) != 0 && (w & (1 << MASKED)) == 0 && page.testAndClearBit(off, PENDING)) {
            handler.accept(port);
        }
        localHead[priority] = head;
        return ready;
    }

    /** Clears LINKED and LINK atomically; returns the LINK it had. */
    private static int clearLinked(GuestRegion page, long off) {
        while (true) {
            int w = page.getIntVolatile(off);
            int cleared = w & ~((1 << LINKED) | LINK_MASK);
            if (page.compareAndSetInt(off, w, cleared)) return w & LINK_MASK;
        }
    }

    /** Linux's mask: set MASKED. */
    public static void mask(GuestRegion page, int port) {
        page.setBit((long) (port % WORDS_PER_PAGE) * 4, MASKED);
    }

    /**
     * Linux's clear_masked_cond: clear MASKED unless the event is PENDING (then the hypervisor must unmask, to link
     * it), never while Xen holds the word BUSY. Returns false when the caller must use EVTCHNOP_unmask.
     */
    public static boolean clearMaskedCond(GuestRegion page, int port) {
        long off = (long) (port % WORDS_PER_PAGE) * 4;
        while (true) {
            int w = page.getIntVolatile(off);
            if ((w & (1 << MASKED)) == 0) return true;
            if ((w & (1 << PENDING)) != 0) return false;
            int old = w & ~(1 << BUSY);
            if (page.compareAndSetInt(off, old, old & ~(1 << MASKED))) return true;
            Thread.onSpinWait();
        }
    }
}
