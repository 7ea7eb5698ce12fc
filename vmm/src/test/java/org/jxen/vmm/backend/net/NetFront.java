package org.jxen.vmm.backend.net;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import org.jxen.engine.memory.GuestRegion;
import org.jxen.vmm.backend.FrontendRig;

/**
 * A netfront played by a test: a transmit and a receive ring, each slot written as raw bytes (so a test can write
 * anything, as a hostile frontend would), responses read back in order.
 */
final class NetFront {
    static final int TX_GFN = 0x40, RX_GFN = 0x41, RING_SIZE = 256;
    final FrontendRig rig;
    final String dir;
    final GuestRegion tx, rx;
    final int port;
    int txProd, txCons, rxProd, rxCons;

    NetFront(FrontendRig rig, int devid) {
        this.rig = rig;
        this.dir = "/local/domain/" + rig.domid + "/device/vif/" + devid;
        this.tx = rig.page(TX_GFN);
        this.rx = rig.page(RX_GFN);
        for (GuestRegion r : new GuestRegion[] {tx, rx}) {
            r.putIntVolatile(4, 1); // SHARED_RING_INIT: req_event = rsp_event = 1
            r.putIntVolatile(12, 1);
        }
        this.port = rig.allocPort();
    }

    String backend() {
        return rig.read(dir + "/backend");
    }

    /** xennet_connect: the rings, the port and the receive features, then Connected; waits for the backend's Connected. */
    void connect() throws InterruptedException {
        rig.await(backend() + "/state", "2");
        rig.write(dir + "/tx-ring-ref", Integer.toString(rig.grant(TX_GFN, false)));
        rig.write(dir + "/rx-ring-ref", Integer.toString(rig.grant(RX_GFN, false)));
        rig.write(dir + "/event-channel", Integer.toString(port));
        rig.write(dir + "/request-rx-copy", "1");
        rig.write(dir + "/feature-rx-notify", "1");
        rig.write(dir + "/feature-sg", "1");
        rig.write(dir + "/state", "4");
        rig.await(backend() + "/state", "4");
    }

    /** Posts a receive buffer: the page {@code gfn}, granted writable, under {@code id}. */
    void postRx(int id, long gfn) {
        long at = 64 + (long) (rxProd & (RING_SIZE - 1)) * Netif.RX_SLOT;
        rx.asSegment().asSlice(at, 8).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN).putShort(0, (short) id).putInt(4, rig.grant(gfn, false));
        rxProd++;
        rx.putIntRelease(0, rxProd);
        assertEquals(0, rig.f.ports.send(port));
    }

    /** A transmit slot: gref, offset, flags, id, size. */
    static ByteBuffer txSlot(int gref, int offset, int flags, int id, int size) {
        return ByteBuffer.allocate(Netif.TX_SLOT).order(ByteOrder.LITTLE_ENDIAN).putInt(0, gref).putShort(4, (short) offset)
                .putShort(6, (short) flags).putShort(8, (short) id).putShort(10, (short) size);
    }

    /** Writes the slots and publishes them together, notifying. */
    void pushTx(ByteBuffer... slots) {
        for (ByteBuffer s : slots) {
            long at = 64 + (long) (txProd & (RING_SIZE - 1)) * Netif.TX_SLOT;
            for (int i = 0; i < Netif.TX_SLOT; i++) tx.putByte(at + i, s.get(i));
            txProd++;
        }
        tx.putIntRelease(0, txProd);
        assertEquals(0, rig.f.ports.send(port));
    }

    record TxResponse(int id, int status) {}

    /** Waits for the next transmit response and consumes it. */
    TxResponse nextTx() throws InterruptedException {
        awaitResponse(tx, txCons);
        var b = tx.asSegment().asSlice(64 + (long) (txCons & (RING_SIZE - 1)) * Netif.TX_SLOT, 4).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        txCons++;
        tx.putIntVolatile(12, txCons + 1);
        return new TxResponse(b.getShort(0) & 0xFFFF, b.getShort(2));
    }

    record RxResponse(int id, int offset, int flags, int status) {}

    /** Waits for the next receive response and consumes it. */
    RxResponse nextRx() throws InterruptedException {
        awaitResponse(rx, rxCons);
        var b = rx.asSegment().asSlice(64 + (long) (rxCons & (RING_SIZE - 1)) * Netif.RX_SLOT, 8).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        rxCons++;
        rx.putIntVolatile(12, rxCons + 1);
        return new RxResponse(b.getShort(0) & 0xFFFF, b.getShort(2) & 0xFFFF, b.getShort(4) & 0xFFFF, b.getShort(6));
    }

    private static void awaitResponse(GuestRegion ring, int cons) throws InterruptedException {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (ring.getIntVolatile(8) == cons) {
            if (System.nanoTime() > deadline) fail("no response " + cons);
            Thread.sleep(1);
        }
    }
}
