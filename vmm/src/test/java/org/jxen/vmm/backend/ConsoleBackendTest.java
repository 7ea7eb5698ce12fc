package org.jxen.vmm.backend;

import static org.junit.jupiter.api.Assertions.*;
import static org.jxen.vmm.backend.ConsoleBackend.*;

import java.io.ByteArrayOutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.testing.EventFixture;
import java.util.function.BooleanSupplier;

/** The PV console ring: guest output to a stream, stream input to the guest, garbage indexes survived. */
class ConsoleBackendTest {
    private static final long RING_GFN = 9;

    /** Guest side: write into out[] then out_prod, and send. */
    private static int guestWrite(EventFixture f, GuestRegion ring, int guestPort, int prod, String text) {
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) ring.putByte(OUT + (prod++ & (OUT_SIZE - 1)), b);
        ring.putIntRelease(OUT_PROD, prod);
        assertEquals(0, f.ports.send(guestPort));
        return prod;
    }

    private static void waitFor(BooleanSupplier cond) throws InterruptedException {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) fail("timed out");
            Thread.sleep(1);
        }
    }

    @Test
    void outputInputAndGarbage() throws Exception {
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        PipedOutputStream typing = new PipedOutputStream();
        PipedInputStream stdin = new PipedInputStream(typing);
        try (var f = new EventFixture(GuestWidth.BITS_64, DomainConfig.of(1), 256 * 1024).withFastPath();
                var xce = new XenEvtchnHandle(f.ports, f.backendSignals)) {
            int guestPort = f.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOM0); // HVM_PARAM_CONSOLE_EVTCHN
            int bport = xce.bindInterdomain(1, guestPort);
            GuestRegion ring = f.ram.page(RING_GFN).orElseThrow(); // HVM_PARAM_CONSOLE_PFN
            try (var console = new ConsoleBackend(ring, xce, bport, stdout, stdin)) {
                int prod = guestWrite(f, ring, guestPort, 0, "hello from the PV console\n");
                waitFor(() -> stdout.toString(StandardCharsets.UTF_8).equals("hello from the PV console\n"));
                // out_cons is published after the bytes are written out: wait for it, as a guest would.
                int written = prod;
                waitFor(() -> ring.getIntVolatile(OUT_CONS) == written);

                // Wrap-around: 10 KiB through a 2 KiB ring, in pieces.
                StringBuilder big = new StringBuilder();
                for (int i = 0; i < 1000; i++) big.append("line ").append(i).append('\n');
                String rest = big.toString();
                while (!rest.isEmpty()) {
                    int free = OUT_SIZE - (prod - ring.getIntVolatile(OUT_CONS));
                    if (free == 0) {
                        Thread.onSpinWait();
                        continue;
                    }
                    String piece = rest.substring(0, Math.min(free, rest.length()));
                    prod = guestWrite(f, ring, guestPort, prod, piece);
                    rest = rest.substring(piece.length());
                }
                String want = "hello from the PV console\n" + big;
                waitFor(() -> stdout.size() == want.length());
                assertEquals(want, stdout.toString(StandardCharsets.UTF_8));

                // Garbage: the guest claims 100,000 bytes. The ring is reset, nothing is read past it.
                ring.putIntRelease(OUT_PROD, prod + 100_000);
                f.ports.send(guestPort);
                waitFor(() -> ring.getIntVolatile(OUT_CONS) == ring.getIntVolatile(OUT_PROD));
                assertEquals(want.length(), stdout.size(), "garbage is dropped, not copied");
                prod = ring.getIntVolatile(OUT_PROD);
                guestWrite(f, ring, guestPort, prod, "still alive\n");
                waitFor(() -> stdout.toString(StandardCharsets.UTF_8).endsWith("still alive\n"));

                // Input: typed bytes appear in in[] and raise the guest's port.
                f.clearPendingBit(guestPort);
                typing.write("ls\n".getBytes(StandardCharsets.UTF_8));
                typing.flush();
                waitFor(() -> ring.getIntVolatile(IN_PROD) == 3);
                assertEquals('l', ring.getByte(IN));
                assertEquals('\n', ring.getByte(IN + 2));
                waitFor(() -> f.pending(guestPort));
            }
        }
    }
}
