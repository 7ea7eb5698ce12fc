package org.jxen.vmm.xenstore;

import static org.jxen.vmm.xenstore.XsWire.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.testing.EventFixture;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;

/**
 * The guest's side of the XenStore ring, as a guest driver writes it: requests into req[] then req_prod (release),
 * EVTCHNOP_send on the store port; on an upcall, replies out of rsp[] then rsp_cons, and a send when it freed space.
 */
final class GuestXsClient {
    private final EventFixture f;
    private final GuestRegion ring;
    private final int port;
    private final Semaphore upcalls = new Semaphore(0);
    private int reqProd;
    private int rspCons;

    GuestXsClient(EventFixture f, GuestRegion ring, int port) {
        this.f = f;
        this.ring = ring;
        this.port = port;
        f.guest.setUpcallSink(v -> upcalls.release());
    }

    /** This client continuing from producer index {@code prod} (after the guest rewrote its ring index). */
    GuestXsClient resyncedTo(int prod) {
        reqProd = prod;
        return this;
    }

    /** Free bytes in the request ring. */
    int space() {
        return RING_SIZE - (reqProd - ring.getIntVolatile(REQ_CONS));
    }

    /** Writes one request (the caller made sure it fits) without notifying. */
    void put(int type, int reqId, int txId, byte[] payload) {
        putRaw(XsConnection.message(type, reqId, txId, payload));
    }

    /** Writes raw bytes (a guest may write anything) and publishes them. */
    void putRaw(byte[] m) {
        for (byte b : m) ring.putByte(REQ + (reqProd++ & (RING_SIZE - 1)), b);
        ring.putIntRelease(REQ_PROD, reqProd);
    }

    /**
     * Writes {@code chunk} as Linux's xb_write does (drivers/xen/xenbus/xenbus_comms.c): publish, then notify only
     * if the backend had consumed everything before it ({@code prod <= req_cons}); a backend must look again after
     * publishing its consumer index or it misses what arrived meanwhile.
     */
    void putLinuxStyle(byte[] chunk) {
        int prod = reqProd;
        for (byte b : chunk) ring.putByte(REQ + (reqProd++ & (RING_SIZE - 1)), b);
        ring.putIntRelease(REQ_PROD, reqProd);
        VarHandle.fullFence();
        if (prod - ring.getIntVolatile(REQ_CONS) <= 0) notifyBackend();
    }

    void notifyBackend() {
        f.ram.segment().set(ValueLayout.JAVA_INT, EventFixture.ARG_GPA, port);
        long rc = f.callRaw(EvtchnOp.SEND);
        if (rc != 0) throw new IllegalStateException("send " + rc);
    }

    /** A reply or watch event: header fields and payload. */
    record Message(int type, int reqId, int txId, byte[] payload) {
        String text() {
            return new String(payload, StandardCharsets.UTF_8);
        }
    }

    /** Takes the next whole message, waiting for upcalls; a reply missing for a minute is a lost one. */
    Message take() throws InterruptedException {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (true) {
            // Acknowledge first, then look: a reply that lands after the look raises a new upcall.
            f.acknowledge(0);
            f.clearPendingBit(port);
            Message m = poll();
            if (m != null) return m;
            long left = deadline - System.nanoTime();
            if (left <= 0 || !upcalls.tryAcquire(left, TimeUnit.NANOSECONDS)) throw new IllegalStateException("no reply within 60 s");
        }
    }

    private Message poll() {
        int prod = ring.getIntVolatile(RSP_PROD);
        if (prod - rspCons < HEADER_SIZE) return null;
        byte[] h = read(rspCons, HEADER_SIZE);
        ByteBuffer b = ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN);
        int type = b.getInt(), req = b.getInt(), tx = b.getInt(), len = b.getInt();
        if (prod - rspCons < HEADER_SIZE + len) return null;
        byte[] payload = read(rspCons + HEADER_SIZE, len);
        int before = rspCons;
        rspCons += HEADER_SIZE + len;
        ring.putIntRelease(RSP_CONS, rspCons);
        VarHandle.fullFence();
        // As Linux's xb_read (drivers/xen/xenbus/xenbus_comms.c): publish rsp_cons, then read rsp_prod *again* and tell
        // the backend if the ring was full. The producer index read above may be stale: a backend that filled the ring
        // meanwhile waits for room, and only a fresh read sees that it did.
        if (ring.getIntVolatile(RSP_PROD) - before >= RING_SIZE) notifyBackend();
        return new Message(type, req, tx, payload);
    }

    private byte[] read(int from, int n) {
        byte[] out = new byte[n];
        for (int i = 0; i < n; i++) out[i] = ring.getByte(RSP + ((from + i) & (RING_SIZE - 1)));
        return out;
    }

    /** One request, one reply (watch events that arrive first are skipped). */
    Message call(int type, int txId, String payload) throws InterruptedException {
        int reqId = 1000 + type;
        put(type, reqId, txId, payload.getBytes(StandardCharsets.UTF_8));
        notifyBackend();
        while (true) {
            Message m = take();
            if (m.type() != WATCH_EVENT) return m;
        }
    }
}
