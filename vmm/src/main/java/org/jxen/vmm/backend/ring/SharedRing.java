package org.jxen.vmm.backend.ring;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.List;

import org.jxen.engine.memory.GuestRegion;

/**
 * The back end of a Xen shared ring ({@code public/io/ring.h}, DEFINE_RING_TYPES): a header of four indexes
 * (req_prod, req_event, rsp_prod, rsp_event) padded to 64 bytes, then a power-of-two number of fixed-size slots
 * spread over one or more granted pages that need not be contiguous (a slot may straddle two pages). Our private
 * indexes (req_cons, rsp_prod_pvt) live here, never in guest memory.
 *
 * <p>Every request is copied out of the ring once before it is looked at, so a frontend that rewrites a slot
 * meanwhile cannot make the backend see two versions of it. A producer index claiming more requests than the ring
 * holds is reported as {@link #BROKEN}: the backend stops that ring, as Linux's RING_REQUEST_PROD_OVERFLOW check does.
 */
public final class SharedRing {
    /** {@link #unconsumedRequests()} of a ring whose frontend claims more than it can hold. */
    public static final int BROKEN = -1;
    private static final int REQ_PROD = 0, REQ_EVENT = 4, RSP_PROD = 8, RSP_EVENT = 12, HEADER = 64, PAGE = 4096;

    private final GuestRegion[] pages;
    private final int slotSize, size;
    private int reqCons, rspProdPvt;

    private SharedRing(List<GuestRegion> pages, int slotSize, int reqCons, int rspProdPvt) {
        if (pages.isEmpty()) throw new IllegalArgumentException("a ring needs a page");
        this.pages = pages.toArray(GuestRegion[]::new);
        this.slotSize = slotSize;
        this.size = slots(pages.size(), slotSize);
        this.reqCons = reqCons;
        this.rspProdPvt = rspProdPvt;
    }

    /** __RING_SIZE: the slots {@code pageCount} pages hold, rounded down to a power of two. */
    public static int slots(int pageCount, int slotSize) {
        return Integer.highestOneBit((pageCount * PAGE - HEADER) / slotSize);
    }

    /**
     * RING_HAS_UNCONSUMED_REQUESTS: requests published and not yet taken, limited by the room for their responses;
     * {@link #BROKEN} when the producer index is more than a ring ahead of our responses.
     */
    public int unconsumedRequests() {
        int prod = pages[0].getIntVolatile(REQ_PROD); // acquire: the slots it covers are written
        if (prod - rspProdPvt > size || prod - reqCons < 0) return BROKEN;
        int published = prod - reqCons;
        int room = size - (reqCons - rspProdPvt);
        return Math.min(published, room);
    }

    /**
     * RING_FINAL_CHECK_FOR_REQUESTS: whether more requests are there; if none, asks the frontend (req_event) to
     * notify on the next one and looks once more, so a request published meanwhile is not slept through.
     */
    public boolean finalCheckForRequests() {
        if (unconsumedRequests() != 0) return true;
        pages[0].putIntVolatile(REQ_EVENT, reqCons + 1);
        VarHandle.fullFence();
        return unconsumedRequests() != 0;
    }

    /**
     * RING_FINAL_CHECK_FOR_REQUESTS for {@code count} requests at once (a frame that needs that many receive buffers):
     * whether they are there; if not, asks to be notified when the frontend's producer index reaches them.
     */
    public boolean finalCheckForRequests(int count) {
        int n = unconsumedRequests();
        if (n == BROKEN || n >= count) return true;
        pages[0].putIntVolatile(REQ_EVENT, reqCons + count);
        VarHandle.fullFence();
        n = unconsumedRequests();
        return n == BROKEN || n >= count;
    }

    /** The shared and private indexes, for a report on a stalled guest (read from any thread: a snapshot). */
    public String describe() {
        GuestRegion h = pages[0];
        return "req_prod " + h.getIntVolatile(REQ_PROD) + " req_cons " + reqCons + " req_event " + h.getIntVolatile(REQ_EVENT)
                + " rsp_prod " + h.getIntVolatile(RSP_PROD) + " rsp_prod_pvt " + rspProdPvt + " rsp_event " + h.getIntVolatile(RSP_EVENT);
    }

    /** The slot size the ring was attached with. */
    public int slotSize() {
        return slotSize;
    }

    /** Copies the next request's slot into {@code into} (at least {@code slotSize} bytes) and consumes it. */
    public void takeRequest(byte[] into) {
        copyOut(slotOffset(reqCons), into, slotSize);
        reqCons++;
    }

    /** Writes a response of {@code length} bytes into the next response slot (published by {@link #pushResponses}). */
    public void putResponse(byte[] from, int length) {
        if (length > slotSize) throw new IllegalArgumentException("a response larger than a slot");
        copyIn(slotOffset(rspProdPvt), from, length);
        rspProdPvt++;
    }

    /**
     * RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publishes the responses written so far; true if the frontend asked (by
     * rsp_event) to be notified of one of them.
     */
    public boolean pushResponses() {
        int old = pages[0].getIntVolatile(RSP_PROD);
        int now = rspProdPvt;
        if (old == now) return false;
        pages[0].putIntRelease(RSP_PROD, now); // the slots before the index
        VarHandle.fullFence(); // the index before reading rsp_event
        int event = pages[0].getIntVolatile(RSP_EVENT);
        return Integer.compareUnsigned(now - event, now - old) < 0;
    }

    /**
     * The back end of a frontend's ring over {@code pages}, whose slots are {@code slotSize} bytes (the larger of
     * request and response): our indexes start from what the shared page says (a fresh ring is zeroed by its
     * frontend, so both are 0 then).
     */
    public static SharedRing attach(List<GuestRegion> pages, int slotSize) {
        int rspProd = pages.getFirst().getIntVolatile(RSP_PROD);
        return new SharedRing(pages, slotSize, rspProd, rspProd);
    }

    private long slotOffset(int index) {
        return HEADER + (long) (index & (size - 1)) * slotSize;
    }

    /** Copies a slot's bytes out of the ring; a slot may run from one page into the next. */
    private void copyOut(long at, byte[] into, int length) {
        int page = (int) (at / PAGE), off = (int) (at % PAGE), first = Math.min(length, PAGE - off);
        MemorySegment.copy(pages[page].asSegment(), ValueLayout.JAVA_BYTE, off, into, 0, first);
        if (first < length) MemorySegment.copy(pages[page + 1].asSegment(), ValueLayout.JAVA_BYTE, 0, into, first, length - first);
    }

    private void copyIn(long at, byte[] from, int length) {
        int page = (int) (at / PAGE), off = (int) (at % PAGE), first = Math.min(length, PAGE - off);
        MemorySegment.copy(from, 0, pages[page].asSegment(), ValueLayout.JAVA_BYTE, off, first);
        if (first < length) MemorySegment.copy(from, first, pages[page + 1].asSegment(), ValueLayout.JAVA_BYTE, 0, length - first);
    }
}
