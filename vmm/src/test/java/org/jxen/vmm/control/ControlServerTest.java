package org.jxen.vmm.control;

import static org.junit.jupiter.api.Assertions.*;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.testing.EventFixture;

class ControlServerTest {
    @TempDir
    Path dir;

    private static ControlTarget target(EventFixture f) {
        return new ControlTarget() {
            @Override
            public PortManager ports() {
                return f.ports;
            }

            @Override
            public Map<String, Object> counters() {
                return Map.of("upcalls", (long) f.upcalls.size(), "abi", ControlCommands.abiName(f.ports));
            }
        };
    }

    @Test
    void listInjectAndCounters() throws Exception {
        try (var f = EventFixture.of(GuestWidth.BITS_64); var server = new ControlServer(dir.resolve("ctl"), target(f))) {
            int ipi = f.ports.bindIpi(1);
            int q = f.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOMID_SELF);
            int p = f.ports.bindInterdomain(DomId.DOMID_SELF, q);
            f.mask(ipi);
            String list = ControlClient.call(server.path(), "{\"execute\": \"xen-event-list\"}");
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> ports = (List<Map<String, Object>>) ((Map<?, ?>) Json.parse(list)).get("return");
            assertEquals(3, ports.size());
            assertEquals(Map.of("port", 1L, "vcpu", 1L, "type", "ipi", "pending", false, "masked", true, "priority", 7L), ports.get(0));
            assertEquals("interdomain", ports.get(2).get("type"));
            assertEquals((long) q, ports.get(2).get("target"));
            assertEquals(true, ports.get(2).get("pending"), "bind_interdomain raised it");

            assertEquals("{\"return\": {}}", ControlClient.call(server.path(),
                    "{\"execute\": \"xen-event-inject\", \"arguments\": {\"port\": " + ipi + "}}"));
            assertTrue(f.pending(ipi));
            String counters = ControlClient.call(server.path(), "{\"execute\": \"query-counters\"}");
            assertTrue(counters.contains("\"abi\": \"2-level\""), counters);
            assertTrue(p > 0);
        }
        assertFalse(Files.exists(dir.resolve("ctl")), "the socket file is removed on close");
    }

    @Test
    void malformedInputGetsOneErrorEachAndTheSocketStaysUp() throws Exception {
        try (var f = EventFixture.of(GuestWidth.BITS_64); var server = new ControlServer(dir.resolve("ctl"), target(f));
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(server.path()));
            OutputStream out = Channels.newOutputStream(ch);
            BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
            String[] bad = {
                "{not json", "[1,2,3]", "42", "{\"execute\": 7}", "{\"execute\": \"no-such-command\"}",
                "{\"execute\": \"xen-event-inject\"}", "{\"execute\": \"xen-event-inject\", \"arguments\": {\"port\": \"five\"}}",
                "{\"execute\": \"xen-event-inject\", \"arguments\": {\"port\": 999}}",
                "{\"execute\": \"xen-event-inject\", \"arguments\": {\"port\": -3}}",
                "{\"execute\": \"xen-event-inject\", \"arguments\": {\"port\": 99999999999}}",
                "{\"execute\": \"xen-event-list\", \"arguments\": []}", "{\"a\": " + "[".repeat(100) + "}",
                "\"\\uZZZZ\"", "x".repeat(ControlServer.MAX_LINE + 10),
            };
            for (String req : bad) {
                out.write((req + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
                String reply = in.readLine();
                assertNotNull(reply, "a reply to: " + req.substring(0, Math.min(40, req.length())));
                assertTrue(reply.startsWith("{\"error\": {\"class\": "), reply);
            }
            String unknown = "{\"execute\": \"no-such-command\"}";
            out.write((unknown + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            assertTrue(in.readLine().contains("CommandNotFound"));
            out.write("\n{\"execute\": \"xen-event-list\"}\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            assertEquals("{\"return\": []}", in.readLine(), "still serving on the same connection");
            assertEquals("{\"return\": []}", ControlClient.call(server.path(), "{\"execute\": \"xen-event-list\"}"),
                    "and on a new one");
        }
    }
}
