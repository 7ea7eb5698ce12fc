package org.jxen.vmm.backend.net;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import org.jxen.vmm.backend.FrontRing;
import org.jxen.vmm.backend.FrontendRig;

/**
 * A netfront played by a test: a transmit and a receive ring, each slot written as raw bytes (so a test can write
 * anything, as a hostile frontend would), responses read back in order.
 */
final class NetFront {
    static final int TX_GFN = 0x40, RX_GFN = 0x41, RING_SIZE = 256;
    final FrontendRig rig;
    final String dir;
    final FrontRing tx, rx;
    final int port;

    NetFront(FrontendRig rig, int devid) {
        this.rig = rig;
        this.dir = "/local/domain/" + rig.domid + "/device/vif/" + devid;
        this.tx = new FrontRing(rig.page(TX_GFN), Netif.TX_SLOT, RING_SIZE);
        this.rx = new FrontRing(rig.page(RX_GFN), Netif.RX_SLOT, RING_SIZE);
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
        rx.write(ByteBuffer.allocate(Netif.RX_SLOT).order(ByteOrder.LITTLE_ENDIAN).putShort(0, (short) id).putInt(4, rig.grant(gfn, false)));
        rx.publish();
        assertEquals(0, rig.f.ports.send(port));
    }

    /** A transmit slot: gref, offset, flags, id, size. */
    static ByteBuffer txSlot(int gref, int offset, int flags, int id, int size) {
        return ByteBuffer.allocate(Netif.TX_SLOT).order(ByteOrder.LITTLE_ENDIAN).putInt(0, gref).putShort(4, (short) offset)
                .putShort(6, (short) flags).putShort(8, (short) id).putShort(10, (short) size);
    }

    /** Writes the slots and publishes them together, notifying. */
    void pushTx(ByteBuffer... slots) {
        for (ByteBuffer s : slots) tx.write(s);
        tx.publish();
        assertEquals(0, rig.f.ports.send(port));
    }

    record TxResponse(int id, int status) {}

    /** Waits for the next transmit response and consumes it. */
    TxResponse nextTx() throws InterruptedException {
        ByteBuffer b = tx.nextResponse(4);
        return new TxResponse(b.getShort(0) & 0xFFFF, b.getShort(2));
    }

    record RxResponse(int id, int offset, int flags, int status) {}

    /** Waits for the next receive response and consumes it. */
    RxResponse nextRx() throws InterruptedException {
        ByteBuffer b = rx.nextResponse(8);
        return new RxResponse(b.getShort(0) & 0xFFFF, b.getShort(2) & 0xFFFF, b.getShort(4) & 0xFFFF, b.getShort(6));
    }
}
