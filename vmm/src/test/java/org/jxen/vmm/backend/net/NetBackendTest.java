package org.jxen.vmm.backend.net;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.sys.SyscallException;
import org.jxen.sys.TapDevice;
import org.jxen.vmm.backend.FrontendRig;
import org.jxen.vmm.backend.HostNetwork;

/**
 * netback driven by a Java netfront over real rings, grants, event channels and XenStore, joined to a real TAP whose
 * far end is this host's network stack: the host's kernel is the oracle (it drops a UDP datagram whose checksum we
 * finished wrongly). Needs CAP_NET_ADMIN and {@code ip} to make the TAP; skipped with the reason elsewhere (CI runs
 * as root; inside tools/kvm-vm the Linux guest's NIC test covers the same path).
 */
class NetBackendTest {
    private static final byte[] GUEST_MAC = HexFormat.ofDelimiter(":").parseHex("00:16:3e:00:00:02");
    private static final int DATA_GFN = 0x50, RX_BUFFERS_GFN = 0x80, RX_BUFFERS = 16;
    private String tapName;
    private TapDevice tap;
    private byte[] subnet;

    @BeforeEach
    void makeTap() throws Exception {
        tapName = "jxn" + (ProcessHandle.current().pid() % 100_000) + "t" + new Random().nextInt(100);
        try {
            tap = TapDevice.open(tapName);
        } catch (SyscallException e) {
            assumeTrue(false, "cannot create a TAP here (" + e.getMessage() + "): needs CAP_NET_ADMIN and /dev/net/tun");
        }
        int third = 100 + new Random().nextInt(100);
        subnet = new byte[] {10, (byte) 213, (byte) third};
        assumeTrue(configureTap(), "cannot configure " + tapName + " with ip(8)");
    }

    /** The host's end of the TAP: address .1 of the subnet, up, the guest's address .2 known at its MAC. */
    private boolean configureTap() throws InterruptedException {
        return HostNetwork.ip("addr", "add", ip(1) + "/24", "dev", tapName) && HostNetwork.ip("link", "set", tapName, "up")
                && HostNetwork.ip("neigh", "replace", ip(2), "lladdr", "00:16:3e:00:00:02", "dev", tapName);
    }

    @AfterEach
    void dropTap() {
        if (tap != null) tap.close(); // idempotent; the backend closed it already if it was attached
    }

    private String ip(int host) {
        return (subnet[0] & 0xFF) + "." + (subnet[1] & 0xFF) + "." + (subnet[2] & 0xFF) + "." + host;
    }

    private byte[] hostMac() throws IOException {
        return HexFormat.ofDelimiter(":").parseHex(Files.readString(Path.of("/sys/class/net", tapName, "address")).strip());
    }

    /** An Ethernet + IPv4 + UDP frame; with {@code blankChecksum} the UDP checksum is garbage (NETTXF_csum_blank's promise). */
    private byte[] udpFrame(int sourcePort, int destPort, byte[] payload, boolean blankChecksum) throws IOException {
        int ipLength = 20 + 8 + payload.length;
        ByteBuffer f = ByteBuffer.allocate(14 + ipLength);
        f.put(hostMac()).put(GUEST_MAC).putShort((short) 0x0800);
        f.put((byte) 0x45).put((byte) 0).putShort((short) ipLength).putShort((short) 1).putShort((short) 0x4000).put((byte) 64).put((byte) 17)
                .putShort((short) 0).put(InetAddress.getByName(ip(2)).getAddress()).put(InetAddress.getByName(ip(1)).getAddress());
        f.putShort(24, (short) ~PartialChecksum.fold(PartialChecksum.add(MemorySegment.ofArray(f.array()), 14, 20)));
        f.putShort((short) sourcePort).putShort((short) destPort).putShort((short) (8 + payload.length)).putShort((short) (blankChecksum ? 0x1234 : 0));
        f.put(payload);
        return f.array();
    }

    /** Copies {@code bytes} into guest page {@code gfn} at {@code offset} and grants it read-only. */
    private static int grantData(FrontendRig rig, long gfn, int offset, byte[] bytes, int from, int length) {
        GuestRegion p = rig.page(gfn);
        for (int i = 0; i < length; i++) p.putByte(offset + i, bytes[from + i]);
        return rig.grant(gfn, true);
    }

    @Test
    void framesCrossTheTapBothWaysAndChecksumsAreFinished() throws Exception {
        NetSpec spec = NetSpec.parse("tap=" + tapName + ",mac=00:16:3e:00:00:02");
        try (FrontendRig rig = new FrontendRig(); NetBackend be = new NetBackend(rig.context, 0, spec, new TapLink(tap));
                DatagramSocket host = new DatagramSocket(new InetSocketAddress(ip(1), 0))) {
            NetFront fe = new NetFront(rig, 0);
            assertEquals("00:16:3e:00:00:02", rig.read(fe.dir + "/mac"));
            assertEquals("1", rig.read(fe.backend() + "/feature-rx-copy"));
            fe.connect();
            for (int i = 0; i < RX_BUFFERS; i++) fe.postRx(i, RX_BUFFERS_GFN + i);
            host.setSoTimeout(20_000);

            // Guest to host, in one slot, checksum left to the backend: the host's UDP socket gets it only if it is right.
            byte[] hello = "hello from netfront".getBytes();
            byte[] frame = udpFrame(4000, host.getLocalPort(), hello, true);
            fe.pushTx(NetFront.txSlot(grantData(rig, DATA_GFN, 100, frame, 0, frame.length), 100, Netif.TXF_CSUM_BLANK, 7, frame.length));
            assertEquals(new NetFront.TxResponse(7, Netif.RSP_OKAY), fe.nextTx());
            DatagramPacket got = new DatagramPacket(new byte[2048], 2048);
            host.receive(got);
            assertArrayEquals(hello, Arrays.copyOf(got.getData(), got.getLength()));

            // Two slots (the second in another page), checksum again blank: 1,200 bytes of payload.
            byte[] big = new byte[1200];
            new Random(5).nextBytes(big);
            frame = udpFrame(4001, host.getLocalPort(), big, true);
            int firstPart = 700;
            fe.pushTx(NetFront.txSlot(grantData(rig, DATA_GFN + 1, 4096 - firstPart, frame, 0, firstPart), 4096 - firstPart,
                            Netif.TXF_CSUM_BLANK | Netif.TXF_MORE_DATA, 8, frame.length),
                    NetFront.txSlot(grantData(rig, DATA_GFN + 2, 0, frame, firstPart, frame.length - firstPart), 0, 0, 9, frame.length - firstPart));
            assertEquals(new NetFront.TxResponse(8, Netif.RSP_OKAY), fe.nextTx());
            assertEquals(new NetFront.TxResponse(9, Netif.RSP_OKAY), fe.nextTx());
            host.receive(got);
            assertArrayEquals(big, Arrays.copyOf(got.getData(), got.getLength()));

            // Host to guest: a datagram to the guest's address comes out of the receive ring (after whatever else the
            // host's stack sends on a new interface: IPv6 solicitations and the like).
            byte[] reply = "hello from the host".getBytes();
            host.send(new DatagramPacket(reply, reply.length, new InetSocketAddress(ip(2), 5555)));
            assertArrayEquals(reply, awaitUdpTo(fe, rig, 5555));
            assertTrue(rig.f.pending(fe.port), "the responses raised the frontend's port");
            assertTrue(be.counters().get("tx-packets") >= 2 && be.counters().get("rx-packets") >= 1, be.counters().toString());
        }
    }

    /**
     * The payload of the next UDP datagram to {@code port} out of the receive ring (after whatever else the host's stack
     * sends on a new interface: IPv6 solicitations and the like), each buffer posted again.
     */
    private static byte[] awaitUdpTo(NetFront fe, FrontendRig rig, int port) throws InterruptedException {
        for (int n = 0; n < 200; n++) {
            NetFront.RxResponse r = fe.nextRx();
            assertTrue(r.status() > 0 && r.flags() == 0 && r.offset() == 0, r.toString());
            GuestRegion page = rig.f.ram.page(RX_BUFFERS_GFN + r.id()).orElseThrow();
            byte[] b = new byte[r.status()];
            page.asSegment().asByteBuffer().get(b);
            fe.postRx(r.id(), RX_BUFFERS_GFN + r.id());
            boolean udpToUs = b.length >= 42 && (b[12] & 0xFF) == 0x08 && b[13] == 0 && b[23] == 17 && ((b[36] & 0xFF) << 8 | (b[37] & 0xFF)) == port;
            if (udpToUs) return Arrays.copyOfRange(b, 42, b.length);
        }
        return fail("the datagram never reached the receive ring");
    }

    /** A datagram from the guest to {@code host}'s socket, sent in one slot with its checksum left to the backend. */
    private void sendFromGuest(FrontendRig rig, NetFront fe, DatagramSocket host, byte[] payload, int id) throws Exception {
        byte[] frame = udpFrame(4000 + id, host.getLocalPort(), payload, true);
        fe.pushTx(NetFront.txSlot(grantData(rig, DATA_GFN, 100, frame, 0, frame.length), 100, Netif.TXF_CSUM_BLANK, id, frame.length));
        assertEquals(new NetFront.TxResponse(id, Netif.RSP_OKAY), fe.nextTx());
        DatagramPacket got = new DatagramPacket(new byte[2048], 2048);
        host.receive(got);
        assertArrayEquals(payload, Arrays.copyOf(got.getData(), got.getLength()));
    }

    /**
     * A save and restore with the NIC connected: the backend pauses and writes its record, the domain is restored into
     * a new one over the same RAM, the TAP is attached again (here it went away with the old domain: it is made and
     * configured anew), and a new backend takes the rings over: frames cross both ways on the same rings and port.
     */
    @Test
    void aConnectedNicIsTakenOverAfterASaveAndRestore() throws Exception {
        NetSpec spec = NetSpec.parse("tap=" + tapName + ",mac=00:16:3e:00:00:02");
        FrontendRig rig = new FrontendRig();
        FrontendRig restored = null;
        NetBackend before = new NetBackend(rig.context, 0, spec, new TapLink(tap));
        try {
            NetFront fe = new NetFront(rig, 0);
            fe.connect();
            for (int i = 0; i < RX_BUFFERS; i++) fe.postRx(i, RX_BUFFERS_GFN + i);
            try (DatagramSocket host = new DatagramSocket(new InetSocketAddress(ip(1), 0))) {
                host.setSoTimeout(20_000);
                sendFromGuest(rig, fe, host, "before the save".getBytes(), 7);
            }

            assertTrue(before.pause());
            ByteArrayOutputStream record = new ByteArrayOutputStream(), tree = new ByteArrayOutputStream();
            before.save(new DataOutputStream(record));
            rig.store.writeTree(new DataOutputStream(tree));
            restored = new FrontendRig(rig, tree.toByteArray());
            before.close(); // the old domain's backend lets the TAP go
            tap = TapDevice.open(tapName);
            assumeTrue(configureTap(), "cannot configure " + tapName + " again");

            DataInputStream in = new DataInputStream(new ByteArrayInputStream(record.toByteArray()));
            assertEquals(NetBackend.KIND, in.readUTF());
            NetBackend.SavedNic saved = NetBackend.readDevice(in);
            assertEquals(0, saved.devid());
            assertEquals(spec.link(), saved.spec().link());
            assertArrayEquals(spec.mac(), saved.spec().mac());
            try (NetBackend after = new NetBackend(restored.context, saved, new TapLink(tap), in);
                    DatagramSocket host = new DatagramSocket(new InetSocketAddress(ip(1), 0))) {
                assertTrue(after.connected(), "the connection is taken over");
                host.setSoTimeout(20_000);
                sendFromGuest(rig, fe, host, "after the restore".getBytes(), 8);
                byte[] reply = "to the restored guest".getBytes();
                host.send(new DatagramPacket(reply, reply.length, new InetSocketAddress(ip(2), 5556)));
                assertArrayEquals(reply, awaitUdpTo(fe, rig, 5556));
            }
        } finally {
            before.close();
            (restored != null ? restored : rig).close();
        }
    }

    @Test
    void aHostileFrontendGetsErrorsOrStopsItsVifAndNothingElse() throws Exception {
        NetSpec spec = NetSpec.parse("tap=" + tapName);
        try (FrontendRig rig = new FrontendRig(); NetBackend be = new NetBackend(rig.context, 0, spec, new TapLink(tap))) {
            NetFront fe = new NetFront(rig, 0);
            fe.connect();
            byte[] frame = udpFrame(1, 2, new byte[64], false);
            // A grant that does not exist: that packet fails, the vif goes on.
            fe.pushTx(NetFront.txSlot(4000, 0, 0, 1, frame.length));
            assertEquals(new NetFront.TxResponse(1, Netif.RSP_ERROR), fe.nextTx());
            // A frame shorter than its Ethernet header is refused too.
            int ref = grantData(rig, DATA_GFN, 0, frame, 0, frame.length);
            fe.pushTx(NetFront.txSlot(ref, 0, 0, 2, 10));
            assertEquals(new NetFront.TxResponse(2, Netif.RSP_ERROR), fe.nextTx());
            // A fragment larger than what remains of its packet: refused, every slot answered.
            fe.pushTx(NetFront.txSlot(ref, 0, Netif.TXF_MORE_DATA, 3, 80), NetFront.txSlot(ref, 0, 0, 4, 200));
            assertEquals(new NetFront.TxResponse(3, Netif.RSP_ERROR), fe.nextTx());
            assertEquals(new NetFront.TxResponse(4, Netif.RSP_ERROR), fe.nextTx());
            // A good one still goes through.
            fe.pushTx(NetFront.txSlot(ref, 0, 0, 5, frame.length));
            assertEquals(new NetFront.TxResponse(5, Netif.RSP_OKAY), fe.nextTx());
            assertEquals("4", rig.read(fe.backend() + "/state"));
            assertEquals(3, be.counters().get("tx-errors"));

            // A slot that runs off its page breaks the protocol: the vif stops, with its reason, and only the vif.
            fe.pushTx(NetFront.txSlot(ref, 4000, 0, 6, 200));
            rig.await(fe.backend() + "/state", "5");
            assertTrue(rig.read(fe.backend() + "/error").contains("crosses its page"), rig.read(fe.backend() + "/error"));
            assertFalse(be.connected());
            assertEquals(0, rig.f.ports.send(rig.allocPort()), "the domain's event channels still work");

            // The frontend starts over (Closed, then Initialising, as netfront does on reconnect) and gets a working vif.
            rig.write(fe.dir + "/state", "6");
            rig.await(fe.backend() + "/state", "6");
            rig.write(fe.dir + "/state", "1");
            NetFront again = new NetFront(rig, 0);
            again.connect();
            again.pushTx(NetFront.txSlot(grantData(rig, DATA_GFN + 3, 0, frame, 0, frame.length), 0, 0, 9, frame.length));
            assertEquals(new NetFront.TxResponse(9, Netif.RSP_OKAY), again.nextTx());

            // A producer index far past the ring: stopped again.
            again.tx.page.putIntRelease(0, again.tx.produced() + 100_000);
            assertEquals(0, rig.f.ports.send(again.port));
            rig.await(fe.backend() + "/state", "5");
        }
    }
}
