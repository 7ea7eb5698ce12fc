package org.jxen.vmm.backend;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import org.jxen.engine.memory.GuestRegion;

/**
 * A frontend's side of one shared ring ({@code public/io/ring.h}) played by a test: requests written slot by slot as
 * raw bytes (a test can write anything, as a hostile frontend would) and published together, responses read back in
 * order, asking (rsp_event) to be notified of the next one.
 */
public final class FrontRing {
    private static final int REQ_PROD = 0, REQ_EVENT = 4, RSP_PROD = 8, RSP_EVENT = 12, HEADER = 64;
    public final GuestRegion page;
    private final int slotSize, size;
    private int reqProd, rspCons;

    /** SHARED_RING_INIT on {@code page} (zeroed): both event indexes 1. */
    public FrontRing(GuestRegion page, int slotSize, int size) {
        this.page = page;
        this.slotSize = slotSize;
        this.size = size;
        page.putIntVolatile(REQ_EVENT, 1);
        page.putIntVolatile(RSP_EVENT, 1);
    }

    /** Writes {@code request}'s first slot-size bytes into the next slot (not published yet). */
    public void write(ByteBuffer request) {
        long at = slot(reqProd++);
        for (int i = 0; i < slotSize; i++) page.putByte(at + i, request.get(i));
    }

    /** RING_PUSH_REQUESTS: the slots written so far become the backend's to take. */
    public void publish() {
        page.putIntRelease(REQ_PROD, reqProd);
    }

    /** Waits (generously) for the next response, consumes it and returns its first {@code length} bytes (little-endian). */
    public ByteBuffer nextResponse(int length) throws InterruptedException {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (page.getIntVolatile(RSP_PROD) == rspCons) {
            if (System.nanoTime() > deadline) fail("no response " + rspCons);
            Thread.sleep(1);
        }
        ByteBuffer r = page.asSegment().asSlice(slot(rspCons), length).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        rspCons++;
        page.putIntVolatile(RSP_EVENT, rspCons + 1); // notify me of the next one
        return r;
    }

    /** The requests published so far. */
    public int produced() {
        return reqProd;
    }

    private long slot(int index) {
        return HEADER + (long) (index & (size - 1)) * slotSize;
    }
}
