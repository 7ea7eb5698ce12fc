package org.jxen.engine.evtchn;

import static org.jxen.engine.abi.FifoLayout.*;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReferenceArray;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.memory.GuestBitmap;
import org.jxen.engine.memory.GuestBits;
import org.jxen.engine.memory.GuestRegion;

/**
 * The FIFO ABI (Xen's {@code event_fifo.c}): a 32-bit event word per port in guest pages the guest hands over one at a
 * time (EVTCHNOP_expand_array), and per vCPU a control block with a READY bitmap and the HEAD of 16 priority queues.
 *
 * <p>Raising a port ({@link #setPending}):
 * <ol>
 *   <li>no event word yet (its page is not in the array): remember the event, re-raise it when the page arrives;</li>
 *   <li>lock the queue the port was last linked on ({@code lastq}: vCPU and priority), re-checking that it did not
 *       move meanwhile;</li>
 *   <li>test-and-set PENDING (not a reason to stop: a pending but masked event gets linked on unmask);</li>
 *   <li>if the vCPU has no control block, stop (the guest may not unmask before it has one);</li>
 *   <li>if not MASKED and test-and-set LINKED was clear: forget a stale tail equal to this port, move to the new queue
 *       if (vCPU, priority) changed, and link: compare-and-set the tail word's LINK (fencing a guest unmask with
 *       BUSY) — if the tail is no longer linked the queue was empty, so write HEAD instead;</li>
 *   <li>if HEAD was written, test-and-set the priority's READY bit, and on its 0 to 1 edge mark events pending
 *       (upcall_pending, then the upcall);</li>
 *   <li>if PENDING was newly set, check pollers.</li>
 * </ol>
 * The guest may concurrently set or clear MASKED, clear PENDING, and clear LINKED and LINK of a linked word; it never
 * writes another bit of a word we link, so the tail cmpxchg fails at most a few times.
 *
 * <p>The send reads the guest words it will touch (the event word's segment and offset, the control block's READY
 * bitmap and HEAD words, the vCPU's upcall_pending from {@link SendWords}) before its first atomic, and then issues
 * only {@link GuestBits} operations on them (see {@code GuestBits} for why).
 *
 * <p>Fields guarded by a queue lock: that queue's tail. {@code lastq} is written under the old queue's lock and read
 * before taking it (then re-checked), as in Xen.
 */
public final class FifoAbi implements EventChannelAbi {
    /** One of a vCPU's 16 queues: its HEAD lives in the guest's control block, its tail only here. */
    private static final class Queue {
        final int vcpu;
        final int priority;
        final SpinLock lock = new SpinLock();
        int tail;

        Queue(int vcpu, int priority) {
            this.vcpu = vcpu;
            this.priority = priority;
        }
    }

    private final SharedState shared;
    private final UpcallSink upcalls;
    private final Pollers pollers;
    private final Queue[][] queues;
    /** A vCPU's control block: the region, and its READY bitmap and HEAD words as the send addresses them. */
    private record Control(GuestRegion region, GuestBitmap ready, MemorySegment segment, long head0) {
        static Control of(GuestRegion block) {
            return new Control(block, block.bitmap(CONTROL_READY, MAX_QUEUES), block.backing(),
                    block.bitmap(CONTROL_HEAD, 32L * MAX_QUEUES).base());
        }

        long head(int priority) {
            return head0 + 4L * priority;
        }
    }

    private final AtomicReferenceArray<Control> controlBlocks;
    private final SendWords.Cache words;
    private final AtomicReferenceArray<GuestRegion> eventPages = new AtomicReferenceArray<>(MAX_EVENT_ARRAY_PAGES);
    /** Ports covered by the event array (a multiple of WORDS_PER_PAGE); published after the page. */
    private volatile int eventWords;
    /** log2 of WORDS_PER_PAGE: a port's page is port >>> WORD_INDEX_BITS. */
    private static final int WORD_INDEX_BITS = Integer.numberOfTrailingZeros(WORDS_PER_PAGE);
    /** Per port: (last vCPU << 8) | last priority, the queue it was last linked on. */
    private final AtomicIntegerArray lastq = new AtomicIntegerArray(NR_CHANNELS);
    /** Per port: raised while it had no event word (Xen's evtchn->pending). */
    private final AtomicIntegerArray held = new AtomicIntegerArray(NR_CHANNELS / 32);

    FifoAbi(SharedState shared, UpcallSink upcalls, Pollers pollers) {
        this.shared = shared;
        this.upcalls = upcalls;
        this.pollers = pollers;
        int vcpus = shared.vcpuCount();
        this.queues = new Queue[vcpus][MAX_QUEUES];
        for (int v = 0; v < vcpus; v++) {
            for (int p = 0; p < MAX_QUEUES; p++) queues[v][p] = new Queue(v, p);
        }
        this.controlBlocks = new AtomicReferenceArray<>(vcpus);
        this.words = new SendWords.Cache(shared);
    }

    // ---- setup (under the domain's write lock) -------------------------------------------------------------------

    /** map_control_block: -EINVAL if the vCPU already has one. */
    int mapControlBlock(int vcpu, GuestRegion block) {
        if (controlBlocks.get(vcpu) != null) return -Errno.EINVAL;
        if ((block.baseOffset() & 7) != 0) throw new IllegalArgumentException("control block must be 8-byte aligned");
        controlBlocks.set(vcpu, Control.of(block));
        return 0;
    }

    /** The number of event-array pages so far. */
    int eventPages() {
        return eventWords / WORDS_PER_PAGE;
    }

    /** add_page_to_event_array: -ENOSPC past the limit; returns the first port the new page covers. */
    int addEventPage(GuestRegion page) {
        int slot = eventWords / WORDS_PER_PAGE;
        if (slot >= MAX_EVENT_ARRAY_PAGES) return -Errno.ENOSPC;
        if ((page.baseOffset() & 3) != 0) throw new IllegalArgumentException("event-array page must be 4-byte aligned");
        eventPages.set(slot, page);
        int first = eventWords;
        eventWords = first + WORDS_PER_PAGE; // volatile: publishes the page
        return first;
    }

    /** Remembers that {@code port} was pending before the switch (setup_ports). */
    void hold(int port) {
        setHeld(port, true);
    }

    /** Whether {@code port} has a held event; clears it. */
    boolean takeHeld(int port) {
        int bit = 1 << (port & 31);
        return (held.getAndUpdate(port >>> 5, w -> w & ~bit) & bit) != 0;
    }

    private void setHeld(int port, boolean value) {
        int bit = 1 << (port & 31);
        held.getAndUpdate(port >>> 5, w -> value ? w | bit : w & ~bit);
    }

    // ---- event words --------------------------------------------------------------------------------------------

    /** The page holding {@code port}'s word, or null (evtchn_fifo_word_from_port returned NULL). */
    private GuestRegion page(int port) {
        if (port < 0 || port >= eventWords) return null;
        // A plain read suffices: the page was stored before the volatile write of eventWords that the read above saw.
        return eventPages.getPlain(port >>> WORD_INDEX_BITS);
    }

    private static long wordOffset(int port) {
        return (long) (port & (WORDS_PER_PAGE - 1)) * 4;
    }

    /** The event word of {@code port} as the guest sees it (0 if there is none): for tests and inspection. */
    public int eventWord(int port) {
        GuestRegion page = page(port);
        return page == null ? 0 : page.getIntVolatile(wordOffset(port));
    }

    /** The tail of a queue (Xen-private state, saved with the domain). */
    int tail(int vcpu, int priority) {
        return queues[vcpu][priority].tail;
    }

    void setTail(int vcpu, int priority, int port) {
        queues[vcpu][priority].tail = port;
    }

    /** lastq of a port: (vCPU << 8) | priority. */
    int lastQueue(int port) {
        return lastq.get(port);
    }

    void setLastQueue(int port, int value) {
        lastq.set(port, value);
    }

    boolean isHeld(int port) {
        return (held.get(port >>> 5) & (1 << (port & 31))) != 0;
    }

    /** The event-array page of slot {@code i}. */
    GuestRegion eventPage(int i) {
        return eventPages.get(i);
    }

    /** The control block of {@code vcpu}, or null. */
    public GuestRegion controlBlock(int vcpu) {
        Control c = controlBlocks.get(vcpu);
        return c == null ? null : c.region();
    }

    // ---- EventChannelAbi ------------------------------------------------------------------------------------------

    @Override
    public int portLimit() {
        return NR_CHANNELS;
    }

    @Override
    public void init(int port, Channel channel) {
        // evtchn_fifo_init: the priority is reset by the bind (Channel.bound); a still-linked word only warns in Xen.
    }

    @Override
    public void setPending(int vcpu, int port, int priority) {
        GuestRegion page = page(port);
        if (page == null) {
            setHeld(port, true);
            return;
        }
        MemorySegment events = page.backing();
        long word = page.baseOffset() + wordOffset(port);
        Queue q = queues[vcpu][priority];
        Control cb = controlBlocks.get(vcpu);
        Queue oldQ = lockOldQueue(port);
        Queue locked = oldQ;
        boolean linked = true;
        int wasPending;
        try {
            wasPending = GuestBits.testAndSet(events, word, 1 << PENDING);
            if (cb == null) {
                // No control block: the guest may not unmask before it has one, so the event can wait as PENDING.
            } else if (GuestBits.test(events, word, 1 << MASKED) == 0 && GuestBits.testAndSet(events, word, 1 << LINKED) == 0) {
                if (oldQ.tail == port) oldQ.tail = 0; // it was consumed: the old queue's tail is stale
                if (oldQ != q) {
                    lastq.set(port, (vcpu << 8) | priority);
                    oldQ.lock.unlock();
                    locked = null;
                    q.lock.lock();
                    locked = q;
                }
                linked = q.tail != 0 && setLink(q.tail, port);
                // Xen's write_atomic: a plain store; the READY test-and-set below orders it for the guest.
                if (!linked) GuestBits.putRelease(cb.segment(), cb.head(priority), port);
                q.tail = port;
            }
        } finally {
            if (locked != null) locked.lock.unlock();
        }
        if (!linked) {
            GuestBitmap ready = cb.ready();
            if (GuestBits.testAndSet(ready.segment(), ready.word(priority), ready.mask(priority)) == 0) markEventsPending(vcpu);
        }
        if (wasPending == 0) pollers.portPending(port);
    }

    /** lock_old_queue: lock the queue of lastq, then make sure lastq did not change meanwhile. */
    private Queue lockOldQueue(int port) {
        while (true) {
            int last = lastq.get(port);
            Queue old = queues[last >>> 8][last & 0xFF];
            old.lock.lock();
            if (lastq.get(port) == last) return old;
            old.lock.unlock();
        }
    }

    /**
     * evtchn_fifo_set_link: set the tail word's LINK to {@code port} iff the tail is still LINKED. Returns false if
     * it was not linked (the guest consumed it: the queue is empty). BUSY blocks the guest's unmask while we retry.
     */
    private boolean setLink(int tailPort, int port) {
        GuestRegion page = page(tailPort);
        if (page == null) return false;
        long off = wordOffset(tailPort);
        int r = trySetLink(page, off, page.getIntVolatile(off), port);
        if (r >= 0) return r == 1;
        page.setBit(off, BUSY);
        for (int attempt = 0; attempt < 4; attempt++) {
            r = trySetLink(page, off, page.getIntVolatile(off), port);
            if (r >= 0) {
                if (r == 0) page.clearBit(off, BUSY);
                return r == 1;
            }
        }
        // The guest keeps changing the word: give up linking (Xen: "not linked"), the event stays pending.
        page.clearBit(off, BUSY);
        return true;
    }

    /** 1: linked; 0: the tail is not linked; -1: the word changed under us. */
    private static int trySetLink(GuestRegion page, long off, int w, int port) {
        if ((w & (1 << LINKED)) == 0) return 0;
        int updated = (w & ~((1 << BUSY) | LINK_MASK)) | port;
        return page.compareAndSetInt(off, w, updated) ? 1 : -1;
    }

    /** vcpu_mark_events_pending: the upcall fires only on the 0 to 1 edge of evtchn_upcall_pending. */
    private void markEventsPending(int vcpu) {
        GuestBitmap upcall = words.get().vcpu(vcpu).upcallPending();
        if (GuestBits.testAndSet(upcall.segment(), upcall.word(0), upcall.mask(0)) == 0) upcalls.upcall(vcpu);
    }

    @Override
    public void clearPending(int port) {
        setHeld(port, false);
        GuestRegion page = page(port);
        if (page != null) page.clearBit(wordOffset(port), PENDING); // the guest unlinks non-pending events itself
    }

    @Override
    public void unmask(int vcpu, int port, int priority) {
        GuestRegion page = page(port);
        if (page == null) return;
        long off = wordOffset(port);
        page.clearBit(off, MASKED);
        if (page.testBit(off, PENDING)) setPending(vcpu, port, priority);
    }

    @Override
    public boolean isPending(int port) {
        GuestRegion page = page(port);
        return page != null && page.testBit(wordOffset(port), PENDING);
    }

    @Override
    public boolean isMasked(int port) {
        GuestRegion page = page(port);
        return page == null || page.testBit(wordOffset(port), MASKED);
    }

    @Override
    public boolean isBusy(int port) {
        GuestRegion page = page(port);
        return page != null && page.testBit(wordOffset(port), LINKED);
    }

    @Override
    public boolean hasPriorities() {
        return true;
    }

    @Override
    public int setPriority(int port, int priority) {
        // Future events go to the new queue; one already linked stays where it is (Xen does the same).
        return priority < 0 || priority > PRIORITY_MIN ? -Errno.EINVAL : 0;
    }
}
