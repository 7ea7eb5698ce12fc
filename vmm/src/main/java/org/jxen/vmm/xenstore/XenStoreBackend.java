package org.jxen.vmm.xenstore;

import static org.jxen.vmm.xenstore.XsWire.*;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.invoke.VarHandle;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedQueue;

import org.jxen.engine.memory.GuestRegion;
import org.jxen.vmm.backend.BackendLoop;
import org.jxen.vmm.backend.XenEvtchnHandle;

/**
 * The XenStore backend for one guest: the {@code xenstore_domain_interface} ring page in guest RAM, an interdomain
 * event channel served through {@link XenEvtchnHandle}, and an I/O thread woken through its eventfd.
 *
 * <p>Ring protocol: the guest produces requests (writes bytes, then req_prod with a barrier); we read req_prod
 * (acquire), copy, then publish req_cons (release); the same in the other direction for responses. Our own indexes
 * (req_cons, rsp_prod) are kept here, so a guest scribbling over them cannot confuse us. A guest index that claims more
 * than a ring's worth of data is garbage: the ring is reset (its pending bytes dropped). A header with a length over
 * XENSTORE_PAYLOAD_MAX gets an E2BIG reply and resets the input. Nothing ever reads or writes outside the page.
 */
public final class XenStoreBackend implements AutoCloseable {
    private static final int MASK = RING_SIZE - 1;

    private final GuestRegion ring;
    private final XenEvtchnHandle xce;
    private final int port;
    private final XsConnection connection;
    private final ByteArrayOutputStream input = new ByteArrayOutputStream();
    /**
     * Replies and watch events not yet in the ring. Lock-free: watch events are queued by whichever thread changed the
     * store, under the store's lock, while this backend's thread may hold its own monitor and wait for that lock
     * (handling a request); taking the monitor here too deadlocked both (a blkback thread switching its state while the
     * guest's next request was being handled).
     */
    private final ConcurrentLinkedQueue<byte[]> output = new ConcurrentLinkedQueue<>();
    private int outputOffset;
    private int reqCons;
    private int rspProd;
    private long requests;
    private final BackendLoop loop;

    /**
     * @param ring the interface page (at least {@link XsWire#INTERFACE_SIZE} bytes of guest RAM)
     * @param port this backend's port in {@code xce}, bound to the guest's store event channel
     */
    public XenStoreBackend(GuestRegion ring, XenEvtchnHandle xce, int port, XenStore store, int domid) {
        this(ring, xce, port, store, domid, null);
    }

    /**
     * A backend resuming a saved one over the same ring (its indexes are in guest RAM): {@code saved} holds what
     * {@link #save} wrote (a partly received request, replies not yet in the ring, the connection's watches and
     * transactions), or is null for a new connection.
     */
    public XenStoreBackend(GuestRegion ring, XenEvtchnHandle xce, int port, XenStore store, int domid, DataInputStream saved)
            throws UncheckedIOException {
        this.ring = ring.slice(0, INTERFACE_SIZE);
        this.xce = xce;
        this.port = port;
        this.reqCons = ring.getIntVolatile(REQ_CONS);
        this.rspProd = ring.getIntVolatile(RSP_PROD);
        this.connection = new XsConnection(store, domid, this::enqueue);
        if (saved != null) {
            try {
                int partial = saved.readInt();
                if (partial < 0 || partial > RING_SIZE + HEADER_SIZE + PAYLOAD_MAX) throw new IOException("xenstore: partial request of " + partial);
                input.writeBytes(saved.readNBytes(partial));
                int pending = saved.readInt();
                if (pending < 0 || pending > 1 << 20) throw new IOException("xenstore: " + pending + " pending replies");
                for (int i = 0; i < pending; i++) {
                    int len = saved.readInt();
                    if (len < 0 || len > HEADER_SIZE + PAYLOAD_MAX) throw new IOException("xenstore: reply of " + len);
                    output.add(saved.readNBytes(len));
                }
                connection.restore(saved);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        this.loop = new BackendLoop("jxen-xenstore", xce, this::service);
    }

    /** Stops the I/O thread (for a save: the ring and this backend's state stay as they are); false if it would not. */
    public boolean pause() {
        return loop.stop();
    }

    /** After {@link #pause}, the save abandoned (a failed live migration): the I/O thread serves again. */
    public boolean unpause() {
        return loop.restart();
    }

    /** What a resumed backend needs (call after {@link #pause}): the partial request, unsent replies, the connection. */
    public synchronized void save(DataOutputStream out) throws IOException {
        byte[] in = input.toByteArray();
        out.writeInt(in.length);
        out.write(in);
        out.writeInt(output.size());
        int skip = outputOffset;
        for (byte[] m : output) {
            out.writeInt(m.length - skip);
            out.write(m, skip, m.length - skip);
            skip = 0;
        }
        connection.save(out);
    }

    /** Requests handled so far. */
    public synchronized long requests() {
        return requests;
    }

    private void enqueue(byte[] message) {
        output.add(message);
        if (loop != null) loop.wake(); // watch events from other threads need a pass to be sent
    }

    private synchronized void service() {
        boolean progress = false;
        // Look again after publishing req_cons: Linux notifies only when it sees the ring drained
        // (drivers/xen/xenbus/xenbus_comms.c xb_write: "if (prod <= intf->req_cons)"), so a request written while we
        // were reading brings no notification. The fence orders our req_cons store before the req_prod reload.
        while (readRequests()) {
            progress = true;
            VarHandle.fullFence();
        }
        // Likewise after publishing rsp_prod with output left over: the guest may have drained the ring meanwhile
        // and, with a stale producer index, not notified us (Linux re-reads it; a guest need not).
        while (writeResponses()) {
            progress = true;
            if (output.isEmpty()) break;
            VarHandle.fullFence();
        }
        if (progress) xce.notify(port);
    }

    private boolean readRequests() {
        int prod = ring.getIntVolatile(REQ_PROD);
        int avail = prod - reqCons;
        if (avail == 0) return false;
        if (avail < 0 || avail > RING_SIZE) { // garbage index: drop what the ring claims to hold
            reqCons = prod;
            ring.putIntRelease(REQ_CONS, reqCons);
            input.reset();
            return true;
        }
        while (avail > 0) {
            int at = reqCons & MASK;
            int n = Math.min(avail, RING_SIZE - at);
            byte[] chunk = new byte[n];
            MemorySegment.copy(ring.asSegment(), ValueLayout.JAVA_BYTE, REQ + at, chunk, 0, n);
            input.writeBytes(chunk);
            reqCons += n;
            avail -= n;
        }
        ring.putIntRelease(REQ_CONS, reqCons);
        parseMessages();
        return true;
    }

    private void parseMessages() {
        byte[] buf = input.toByteArray();
        int off = 0;
        while (buf.length - off >= HEADER_SIZE) {
            ByteBuffer h = ByteBuffer.wrap(buf, off, HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
            int type = h.getInt(), reqId = h.getInt(), txId = h.getInt(), len = h.getInt();
            if (len < 0 || len > PAYLOAD_MAX) {
                connection.reject(reqId, txId, "E2BIG");
                off = buf.length; // the stream cannot be trusted any more: start afresh
                break;
            }
            if (buf.length - off - HEADER_SIZE < len) break; // the rest has not arrived yet
            byte[] payload = Arrays.copyOfRange(buf, off + HEADER_SIZE, off + HEADER_SIZE + len);
            off += HEADER_SIZE + len;
            requests++;
            connection.handle(type, reqId, txId, payload);
        }
        input.reset();
        input.write(buf, off, buf.length - off);
    }

    private boolean writeResponses() {
        if (output.isEmpty()) return false;
        int cons = ring.getIntVolatile(RSP_CONS);
        int used = rspProd - cons;
        if (used < 0 || used > RING_SIZE) used = 0; // garbage index from the guest: treat the ring as drained
        int space = RING_SIZE - used;
        boolean wrote = false;
        while (space > 0 && !output.isEmpty()) {
            byte[] msg = output.peek();
            int at = rspProd & MASK;
            int n = Math.min(Math.min(space, msg.length - outputOffset), RING_SIZE - at);
            MemorySegment.copy(msg, outputOffset, ring.asSegment(), ValueLayout.JAVA_BYTE, RSP + at, n);
            outputOffset += n;
            rspProd += n;
            space -= n;
            wrote = true;
            if (outputOffset == msg.length) {
                output.poll();
                outputOffset = 0;
            }
        }
        if (wrote) ring.putIntRelease(RSP_PROD, rspProd);
        return wrote;
    }

    /** Stops the I/O thread and ends the connection; false (reported) if the thread would not stop. */
    public boolean stop() {
        boolean stopped = loop.stop();
        connection.close();
        return stopped;
    }

    @Override
    public void close() {
        stop();
    }
}
