package org.jxen.vmm.backend.net;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.jxen.sys.Errno;
import org.jxen.sys.UnixStream;

/**
 * The passt link on this host, with no guest: the test speaks for the guest, building its frames (DHCP, and reading a
 * forwarded connection's SYN). It needs Debian's passt ({@code .ci/setup} installs it) and is skipped without it.
 */
class PasstLinkTest {
    private static final byte[] GUEST_MAC = {0x00, 0x16, 0x3e, 0x00, 0x00, 0x09};
    /** Generous: passt answers in milliseconds; this only keeps a broken run from hanging. */
    private static final long WAIT_NANOS = 60_000_000_000L;

    private static boolean passtInstalled() {
        String path = System.getenv("PATH");
        if (path == null) return false;
        for (String d : path.split(":")) if (!d.isEmpty() && Files.isExecutable(Path.of(d, "passt"))) return true;
        return false;
    }

    private static PasstLink start(NetSpec.User user) throws IOException {
        assumeTrue(passtInstalled(), "passt is not installed (Debian's package passt; .ci/setup installs it)");
        return PasstLink.start(user, 30_000);
    }

    /** The next frame from the link that {@code wanted} accepts (others, such as passt's own ARP or NDP, are passed over). */
    private static byte[] await(FrameLink link, MemorySegment buffer, Predicate<ByteBuffer> wanted) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT_NANOS;
        while (System.nanoTime() < deadline) {
            int n = link.read(buffer);
            assertTrue(n >= 0, "the link failed: " + Errno.describe(-n));
            if (n == 0) {
                Thread.sleep(5);
                continue;
            }
            ByteBuffer frame = ByteBuffer.wrap(buffer.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE)).order(ByteOrder.BIG_ENDIAN);
            if (wanted.test(frame)) return frame.array();
        }
        throw new AssertionError("no such frame from passt within " + WAIT_NANOS / 1_000_000_000 + " s");
    }

    private static int send(FrameLink link, byte[] frame) {
        try (Arena a = Arena.ofConfined()) {
            return link.write(a.allocateFrom(ValueLayout.JAVA_BYTE, frame));
        }
    }

    // ---- DHCP ---------------------------------------------------------------------------------------------------

    private static final int ETH = 14, IP = 20, UDP = 8, BOOTP_OPTIONS = 240;

    /** A DHCP client's broadcast (RFC 2131): Ethernet, IPv4 0.0.0.0 -> 255.255.255.255, UDP 68 -> 67, BOOTP, options. */
    static byte[] dhcp(int xid, int type, byte[] requested, byte[] server) {
        ByteBuffer options = ByteBuffer.allocate(64);
        options.put(new byte[] {53, 1, (byte) type});
        if (requested != null) options.put(new byte[] {50, 4}).put(requested);
        if (server != null) options.put(new byte[] {54, 4}).put(server);
        options.put(new byte[] {55, 3, 1, 3, 6}).put((byte) 255);
        int bootp = BOOTP_OPTIONS + options.position();
        bootp = Math.max(bootp, 300); // BOOTP's minimum message
        ByteBuffer f = ByteBuffer.allocate(ETH + IP + UDP + bootp);
        f.put(new byte[] {-1, -1, -1, -1, -1, -1}).put(GUEST_MAC).putShort((short) 0x0800);
        int ip = f.position();
        f.put((byte) 0x45).put((byte) 0).putShort((short) (IP + UDP + bootp)).putShort((short) 0).putShort((short) 0).put((byte) 64).put((byte) 17)
                .putShort((short) 0).putInt(0).putInt(0xFFFFFFFF);
        f.putShort(ip + 10, ipChecksum(f.array(), ip));
        f.putShort((short) 68).putShort((short) 67).putShort((short) (UDP + bootp)).putShort((short) 0); // UDP checksum 0: none (IPv4)
        int b = f.position();
        f.put((byte) 1).put((byte) 1).put((byte) 6).put((byte) 0).putInt(xid).putShort((short) 0).putShort((short) 0x8000);
        f.position(b + 28).put(GUEST_MAC);
        f.position(b + 236).putInt(0x63825363).put(options.array(), 0, options.position());
        return f.array();
    }

    private static short ipChecksum(byte[] p, int at) {
        long sum = 0;
        for (int i = 0; i < IP; i += 2) sum += ((p[at + i] & 0xFF) << 8) | (p[at + i + 1] & 0xFF);
        while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (short) ~sum;
    }

    /** A DHCP reply to {@code xid} (UDP 67 -> 68, BOOTREPLY) of message type {@code type}. */
    private static Predicate<ByteBuffer> dhcpReply(int xid, int type) {
        return f -> f.limit() > ETH + IP + UDP + BOOTP_OPTIONS && f.getShort(12) == 0x0800 && f.get(ETH + 9) == 17
                && f.getShort(ETH + IP) == 67 && f.getShort(ETH + IP + 2) == 68 && f.get(ETH + IP + UDP) == 2
                && f.getInt(ETH + IP + UDP + 4) == xid && option(f, 53) != null && option(f, 53)[0] == type;
    }

    /** A DHCP option's value, or null. */
    static byte[] option(ByteBuffer f, int code) {
        int at = ETH + IP + UDP + BOOTP_OPTIONS;
        while (at < f.limit()) {
            int c = f.get(at) & 0xFF;
            if (c == 255) return null;
            if (c == 0) {
                at++;
                continue;
            }
            int len = f.get(at + 1) & 0xFF;
            if (at + 2 + len > f.limit()) return null;
            if (c == code) {
                byte[] v = new byte[len];
                f.get(at + 2, v);
                return v;
            }
            at += 2 + len;
        }
        return null;
    }

    private static byte[] yiaddr(byte[] frame) {
        byte[] a = new byte[4];
        System.arraycopy(frame, ETH + IP + UDP + 16, a, 0, 4);
        return a;
    }

    /** DISCOVER, OFFER, REQUEST, ACK: the ACK (whose Ethernet source is passt's MAC); the OFFER's address must be the ACK's. */
    private static byte[] lease(FrameLink link, MemorySegment buffer, int xid) throws Exception {
        assertEquals(0, send(link, dhcp(xid, 1, null, null)), "DISCOVER sent");
        byte[] offer = await(link, buffer, dhcpReply(xid, 2));
        byte[] offered = yiaddr(offer);
        byte[] server = option(ByteBuffer.wrap(offer), 54);
        assertNotNull(server, "the OFFER names its server");
        assertEquals(0, send(link, dhcp(xid, 3, offered, server)), "REQUEST sent");
        byte[] ack = await(link, buffer, dhcpReply(xid, 5));
        assertArrayEquals(offered, yiaddr(ack));
        return ack;
    }

    @Test
    void dhcpThroughTheRealPasstGivesQemusGuestAddress() throws Exception {
        try (PasstLink link = start(new NetSpec.User(List.of())); Arena a = Arena.ofConfined()) {
            byte[] ack = lease(link, a.allocate(Netif.MAX_FRAME), 0x6a78656e);
            ByteBuffer ackView = ByteBuffer.wrap(ack);
            String address = InetAddress.getByAddress(yiaddr(ack)).getHostAddress();
            System.out.println("passt's DHCP: ACK " + address + " mask " + InetAddress.getByAddress(option(ackView, 1)).getHostAddress()
                    + " router " + InetAddress.getByAddress(option(ackView, 3)).getHostAddress() + " DNS " + InetAddress.getByAddress(option(ackView, 6)).getHostAddress());
            assertEquals(NetSpec.USER_GUEST, address);
            assertArrayEquals(InetAddress.getByName("255.255.255.0").getAddress(), option(ackView, 1), "netmask");
            assertArrayEquals(InetAddress.getByName(NetSpec.USER_GATEWAY).getAddress(), option(ackView, 3), "router");
            assertNotNull(option(ackView, 6), "the ACK names a DNS server (the host's resolvers)");
            assertTrue(link.running());
        }
    }

    // ---- DNS ----------------------------------------------------------------------------------------------------

    /** The host's first IPv4 resolver in /etc/resolv.conf (where passt forwards the guest's DNS), or null. */
    private static String hostResolver() throws IOException {
        Path conf = Path.of("/etc/resolv.conf");
        if (!Files.isReadable(conf)) return null;
        for (String line : Files.readAllLines(conf)) {
            String[] w = line.trim().split("\\s+");
            if (w.length >= 2 && w[0].equals("nameserver") && w[1].matches("[0-9.]+")) return w[1];
        }
        return null;
    }

    private static final int DNS_CLIENT_PORT = 53535;

    /** A DNS query (RFC 1035: id, recursion desired, one question of type A, class IN) from the guest to {@code server}:53. */
    static byte[] dnsQuery(byte[] passtMac, byte[] server, int id, String name) throws IOException {
        ByteBuffer q = ByteBuffer.allocate(300);
        q.putShort((short) id).putShort((short) 0x0100).putShort((short) 1).putShort((short) 0).putShort((short) 0).putShort((short) 0);
        for (String label : name.split("\\.")) q.put((byte) label.length()).put(label.getBytes(StandardCharsets.US_ASCII));
        q.put((byte) 0).putShort((short) 1).putShort((short) 1);
        int dns = q.position();
        ByteBuffer f = ByteBuffer.allocate(ETH + IP + UDP + dns);
        f.put(passtMac).put(GUEST_MAC).putShort((short) 0x0800);
        int ip = f.position();
        f.put((byte) 0x45).put((byte) 0).putShort((short) (IP + UDP + dns)).putShort((short) id).putShort((short) 0x4000).put((byte) 64).put((byte) 17)
                .putShort((short) 0).put(InetAddress.getByName(NetSpec.USER_GUEST).getAddress()).put(server);
        f.putShort(ip + 10, ipChecksum(f.array(), ip));
        f.putShort((short) DNS_CLIENT_PORT).putShort((short) 53).putShort((short) (UDP + dns)).putShort((short) 0); // UDP checksum 0: none (IPv4)
        f.put(q.array(), 0, dns);
        return f.array();
    }

    /**
     * A name sent to the DNS server the DHCP answer names reaches the host's resolver through passt and its answer comes
     * back to the guest from the address asked, port 53, with the query's id (any answer: the host's resolver may know
     * the name or not; what is tested is the path, and that the answer's source is the one the guest's resolver
     * expects). Skipped on a host without a resolver, where passt has nowhere to send it.
     */
    @Test
    void dnsFromTheGuestIsAnsweredByTheHostsResolverThroughPasst() throws Exception {
        String resolver = hostResolver();
        assumeTrue(resolver != null, "no IPv4 nameserver in this host's /etc/resolv.conf: passt has nowhere to forward the guest's DNS");
        try (PasstLink link = start(new NetSpec.User(List.of())); Arena a = Arena.ofConfined()) {
            MemorySegment buffer = a.allocate(Netif.MAX_FRAME);
            byte[] ack = lease(link, buffer, 0x646e7331);
            byte[] passtMac = Arrays.copyOfRange(ack, 6, 12);
            byte[] offered = option(ByteBuffer.wrap(ack), 6);
            assertNotNull(offered, "the ACK names a DNS server");
            byte[] server = Arrays.copyOf(offered, 4);
            int id = 0x4a58;
            assertEquals(0, send(link, dnsQuery(passtMac, server, id, "localhost")), "query sent");
            int from = ByteBuffer.wrap(server).getInt();
            byte[] reply = await(link, buffer, f -> f.limit() >= ETH + IP + UDP + 12 && f.getShort(12) == 0x0800 && f.get(ETH + 9) == 17
                    && f.getInt(ETH + 12) == from && f.getShort(ETH + IP) == 53 && (f.getShort(ETH + IP + 2) & 0xFFFF) == DNS_CLIENT_PORT
                    && f.getShort(ETH + IP + UDP) == id);
            ByteBuffer r = ByteBuffer.wrap(reply);
            int flags = r.getShort(ETH + IP + UDP + 2) & 0xFFFF;
            System.out.printf("passt's DNS: a query to %s for 'localhost' answered (the host's resolver %s): rcode %d, %d answer(s)%n",
                    InetAddress.getByAddress(server).getHostAddress(), resolver, flags & 0xF, r.getShort(ETH + IP + UDP + 6) & 0xFFFF);
            assertTrue((flags & 0x8000) != 0, "a response, not the query echoed");
            assertEquals(1, r.getShort(ETH + IP + UDP + 4), "the question comes back with the answer");
        }
    }

    /** A connection to the forwarded host port reaches the link as the guest-bound SYN to the guest's port. */
    @Test
    void aHostForwardAcceptsOnTheHostAndItsSynReachesTheLink() throws Exception {
        int hostPort;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            hostPort = probe.getLocalPort(); // free a moment ago; passt binds it next
        }
        int guestPort = 7022;
        NetSpec.User user = (NetSpec.User) NetSpec.parse("user,hostfwd=tcp::" + hostPort + "-:" + guestPort).link();
        try (PasstLink link = start(user); Arena a = Arena.ofConfined(); Socket client = new Socket(InetAddress.getLoopbackAddress(), hostPort)) {
            MemorySegment buffer = a.allocate(Netif.MAX_FRAME);
            byte[] guest = InetAddress.getByName(NetSpec.USER_GUEST).getAddress();
            byte[] syn = await(link, buffer, f -> f.limit() >= ETH + IP + 20 && f.getShort(12) == 0x0800 && f.get(ETH + 9) == 6
                    && f.getInt(ETH + 16) == ByteBuffer.wrap(guest).getInt() && (f.getShort(ETH + IP + 2) & 0xFFFF) == guestPort
                    && (f.get(ETH + IP + 13) & 0x12) == 0x02);
            System.out.println("passt forwarded host port " + hostPort + ": a SYN of " + syn.length + " bytes to " + NetSpec.USER_GUEST + ":" + guestPort);
            assertTrue(client.isConnected());
        }
    }

    @Test
    void closingStopsPasstAndRemovesItsDirectory() throws Exception {
        PasstLink link = start(new NetSpec.User(List.of()));
        Path dir = link.directory();
        assertTrue(Files.isDirectory(dir) && link.running());
        link.close();
        assertFalse(link.running(), "passt ended");
        assertFalse(Files.exists(dir), dir + " removed");
        link.close(); // the backend and the domain's scope both close it
    }

    @Test
    void withoutPasstTheLineNamesTheDebianPackage() {
        IOException e = assertThrows(IOException.class, () -> PasstLink.start(new NetSpec.User(List.of()), 30_000, "/nonexistent"));
        assertTrue(e.getMessage().contains("passt") && e.getMessage().contains("apt-get install passt"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    /** A bad forward (a host port already taken) ends passt; the line says so with passt's own words, nothing is left. */
    @Test
    void aForwardPasstCannotBindIsOneLine() throws Exception {
        assumeTrue(passtInstalled(), "passt is not installed");
        try (ServerSocket taken = new ServerSocket(0)) {
            NetSpec.User user = (NetSpec.User) NetSpec.parse("user,hostfwd=tcp::" + taken.getLocalPort() + "-:22").link();
            long before = passtDirectories();
            IOException e = assertThrows(IOException.class, () -> PasstLink.start(user, 30_000));
            System.out.println("passt on a taken port: " + e.getMessage());
            assertTrue(e.getMessage().startsWith("--net user: passt exited"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
            assertEquals(before, passtDirectories(), "its directory removed");
        }
    }

    /** jxen-passt-* directories where PasstLink may make one (the temporary directory, the runtime directory). */
    private static long passtDirectories() throws IOException {
        long n = 0;
        for (String base : new String[] {System.getProperty("java.io.tmpdir"), System.getenv("XDG_RUNTIME_DIR")}) {
            if (base == null || base.isEmpty() || !Files.isDirectory(Path.of(base))) continue;
            try (var s = Files.list(Path.of(base))) {
                n += s.filter(p -> p.getFileName().toString().startsWith("jxen-passt-")).count();
            }
        }
        return n;
    }

    // ---- the framing, against a peer that misbehaves -------------------------------------------------------------

    @Test
    void framesAreReassembledAcrossReadsAndAnOversizedLengthStopsTheLink(@TempDir Path dir) throws Exception {
        Path path = dir.resolve("s");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(path));
            try (LengthPrefixedFrames frames = new LengthPrefixedFrames(UnixStream.connect(path), "a test peer", () -> "");
                    SocketChannel peer = server.accept(); Arena a = Arena.ofConfined()) {
                MemorySegment into = a.allocate(Netif.MAX_FRAME);
                assertEquals(0, frames.read(into), "nothing yet");
                byte[] frame = new byte[60];
                for (int i = 0; i < frame.length; i++) frame[i] = (byte) i;
                ByteBuffer framed = ByteBuffer.allocate(4 + frame.length).putInt(frame.length).put(frame).flip();
                // The header and the frame in three pieces: no frame until the last arrives.
                for (int[] piece : new int[][] {{0, 2}, {2, 30}, {30, 64}}) {
                    assertEquals(0, frames.read(into));
                    peer.write(framed.duplicate().position(piece[0]).limit(piece[1]));
                    Thread.sleep(20);
                }
                assertEquals(frame.length, readWhole(frames, into));
                assertArrayEquals(frame, into.asSlice(0, frame.length).toArray(ValueLayout.JAVA_BYTE));
                // Our frames go out with the same header.
                assertEquals(0, frames.write(a.allocateFrom(ValueLayout.JAVA_BYTE, frame)));
                ByteBuffer got = ByteBuffer.allocate(4 + frame.length);
                while (got.hasRemaining()) peer.read(got);
                assertEquals(frame.length, got.getInt(0));
                // A length beyond any frame: the link stops for good, without allocating for it.
                peer.write(ByteBuffer.allocate(4).putInt(0x7FFF_FFF0).flip());
                assertEquals(-Errno.EPROTO, readWhole(frames, into));
                assertEquals(-Errno.EPROTO, frames.read(into));
                assertEquals(-Errno.EPROTO, frames.write(a.allocateFrom(ValueLayout.JAVA_BYTE, frame)));
            }
        }
    }

    private static int readWhole(LengthPrefixedFrames frames, MemorySegment into) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT_NANOS;
        while (System.nanoTime() < deadline) {
            int n = frames.read(into);
            if (n != 0) return n;
            Thread.sleep(5);
        }
        throw new AssertionError("nothing from the peer");
    }
}
