package org.jxen.vmm.backend.block;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import org.jxen.vmm.backend.FrontRing;
import org.jxen.vmm.backend.FrontendRig;

/**
 * A blkfront played by a test: one ring page (or several), requests written slot by slot as raw bytes (so tests can
 * write anything, as a hostile frontend would), responses read back by id, in the ring layout of a protocol (the
 * native x86_64-abi unless told).
 */
final class BlkFront {
    static final int RING_GFN = 0x40;
    final FrontendRig rig;
    final String dir;
    final FrontRing ring;
    final int port, ringSize = 32;
    final BlkifProtocol protocol;

    BlkFront(FrontendRig rig, int devid) {
        this(rig, devid, BlkifProtocol.X86_64);
    }

    BlkFront(FrontendRig rig, int devid, BlkifProtocol protocol) {
        this.rig = rig;
        this.protocol = protocol;
        this.dir = "/local/domain/" + rig.domid + "/device/vbd/" + devid;
        this.ring = new FrontRing(rig.page(RING_GFN), protocol.slotSize, ringSize);
        this.port = rig.allocPort();
    }

    String backend() {
        return rig.read(dir + "/backend");
    }

    /** talk_to_blkback: ring-ref, event-channel, protocol, feature-persistent, then Initialised; waits for Connected. */
    void connect(boolean persistent) throws InterruptedException {
        rig.await(backend() + "/state", "2");
        int ref = rig.grant(RING_GFN, false);
        rig.write(dir + "/ring-ref", Integer.toString(ref));
        rig.write(dir + "/event-channel", Integer.toString(port));
        rig.write(dir + "/protocol", protocol.key);
        rig.write(dir + "/feature-persistent", persistent ? "1" : "0");
        rig.write(dir + "/state", "3");
        rig.await(backend() + "/state", "4");
    }

    /** A slot to fill: the request's bytes (little-endian), written into the ring by {@link #push}. */
    ByteBuffer slot() {
        return ByteBuffer.allocate(protocol.slotSize).order(ByteOrder.LITTLE_ENDIAN);
    }

    ByteBuffer rw(int op, long id, long sector, int[]... segs) {
        ByteBuffer b = slot();
        b.put(0, (byte) op).put(1, (byte) segs.length).putLong(protocol.id, id).putLong(protocol.sector, sector);
        int at = protocol.segments;
        for (int i = 0; i < segs.length; i++) b.putInt(at + 8 * i, segs[i][0]).put(at + 4 + 8 * i, (byte) segs[i][1]).put(at + 5 + 8 * i, (byte) segs[i][2]);
        return b;
    }

    /** Writes the request into the next slot and publishes it (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY), notifying. */
    void push(ByteBuffer... requests) {
        for (ByteBuffer r : requests) ring.write(r);
        ring.publish();
        assertEquals(0, rig.f.ports.send(port));
    }

    record Response(long id, int op, int status) {}

    /** Waits for the next response and consumes it. */
    Response next() throws InterruptedException {
        ByteBuffer r = ring.nextResponse(protocol.responseSize);
        return new Response(r.getLong(0), r.get(8) & 0xFF, r.getShort(10));
    }

    /** Sends one request and returns its response's status (checking id and operation). */
    int call(ByteBuffer request) throws InterruptedException {
        push(request);
        Response r = next();
        assertEquals(request.getLong(protocol.id), r.id(), "response id");
        int op = request.get(0) & 0xFF;
        assertEquals(op == Blkif.OP_INDIRECT ? request.get(1) & 0xFF : op, r.op(), "response operation");
        return r.status();
    }
}
