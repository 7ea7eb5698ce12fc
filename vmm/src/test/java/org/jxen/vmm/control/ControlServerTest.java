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
import java.util.HexFormat;
import java.util.LinkedHashMap;
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

    /** Requests built to exhaust a parser: each gets one error reply naming the problem, and the connection stays. */
    @Test
    void hostileInputGetsAnErrorReplyNotACrash() throws Exception {
        try (var f = EventFixture.of(GuestWidth.BITS_64); var server = new ControlServer(dir.resolve("ctl"), target(f));
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(server.path()));
            OutputStream out = Channels.newOutputStream(ch);
            BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
            String inject = "{\"execute\": \"xen-event-inject\", \"arguments\": {\"port\": ";
            Map<String, byte[]> hostile = new LinkedHashMap<>();
            hostile.put("deep nesting", ("[".repeat(20_000) + "]".repeat(20_000)).getBytes(StandardCharsets.US_ASCII));
            hostile.put("deep objects", ("{\"a\": ".repeat(5_000) + "1" + "}".repeat(5_000)).getBytes(StandardCharsets.US_ASCII));
            hostile.put("a huge number", (inject + "9".repeat(30_000) + "}}").getBytes(StandardCharsets.US_ASCII));
            hostile.put("an integer beyond a long", (inject + "123456789012345678901234567890}}").getBytes(StandardCharsets.US_ASCII));
            hostile.put("a long string", ("{\"execute\": \"" + "x".repeat(60_000) + "\"}").getBytes(StandardCharsets.US_ASCII));
            hostile.put("a long name", ("{\"" + "n".repeat(10_000) + "\": 1}").getBytes(StandardCharsets.US_ASCII));
            hostile.put("many tokens", ("[" + "0,".repeat(20_000) + "0]").getBytes(StandardCharsets.US_ASCII));
            hostile.put("a duplicate member", "{\"execute\": \"xen-event-list\", \"execute\": \"query-counters\"}"
                    .getBytes(StandardCharsets.US_ASCII));
            hostile.put("two values", "{\"execute\": \"xen-event-list\"} {}".getBytes(StandardCharsets.US_ASCII));
            hostile.put("NaN", (inject + "NaN}}").getBytes(StandardCharsets.US_ASCII));
            hostile.put("a comment", "{\"execute\": /* x */ \"xen-event-list\"}".getBytes(StandardCharsets.US_ASCII));
            byte[] prefix = "{\"execute\": \"".getBytes(StandardCharsets.US_ASCII);
            for (byte[] invalid : List.of(new byte[] {(byte) 0xC3, 0x28}, new byte[] {(byte) 0xFF}, new byte[] {(byte) 0xC0, (byte) 0xAF},
                    new byte[] {(byte) 0xE2, (byte) 0x82}, new byte[] {(byte) 0xF8, (byte) 0x88, (byte) 0x80, (byte) 0x80, (byte) 0x80})) {
                byte[] req = new byte[prefix.length + invalid.length + 2];
                System.arraycopy(prefix, 0, req, 0, prefix.length);
                System.arraycopy(invalid, 0, req, prefix.length, invalid.length);
                req[req.length - 2] = '"';
                req[req.length - 1] = '}';
                hostile.put("invalid UTF-8 " + HexFormat.of().formatHex(invalid), req);
            }
            for (var e : hostile.entrySet()) {
                assertTrue(e.getValue().length <= ControlServer.MAX_LINE, e.getKey() + " fits a line: the parser, not the line limit, refuses it");
                out.write(e.getValue());
                out.write('\n');
                out.flush();
                String reply = in.readLine();
                assertNotNull(reply, "a reply to " + e.getKey());
                assertTrue(reply.startsWith("{\"error\": {\"class\": \"GenericError\", \"desc\": \"invalid JSON: "),
                        e.getKey() + ": " + reply);
            }
            out.write("{\"execute\": \"xen-event-list\"}\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            assertEquals("{\"return\": []}", in.readLine(), "still serving on the same connection");
        }
    }

    @Test
    void aRequestInUtf8WithEscapesIsReadAsJson() throws Exception {
        try (var f = EventFixture.of(GuestWidth.BITS_64); var server = new ControlServer(dir.resolve("ctl"), target(f))) {
            String reply = ControlClient.call(server.path(), "{\"execute\": \"xen-event-l\\u0069st\", \"note\": \"caf\\u00e9 \u2603 \\ud83d\\ude00\"}");
            assertEquals("{\"return\": []}", reply);
            String unknown = ControlClient.call(server.path(), "{\"execute\": \"\u2603\"}");
            assertEquals("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"the command \u2603 has not been found\"}}", unknown);
        }
    }
}
