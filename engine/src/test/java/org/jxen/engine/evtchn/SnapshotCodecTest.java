package org.jxen.engine.evtchn;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Virq;
import org.jxen.engine.testing.EventFixture;

/** The snapshot format: round trip, and damaged or hostile files rejected with an IOException, never a crash. */
class SnapshotCodecTest {
    private static byte[] encode(DomainSnapshot s) throws IOException {
        var out = new ByteArrayOutputStream();
        SnapshotCodec.write(s, new DataOutputStream(out));
        return out.toByteArray();
    }

    private static DomainSnapshot decode(byte[] b) throws IOException {
        return SnapshotCodec.read(new DataInputStream(new ByteArrayInputStream(b)));
    }

    private static byte[] sample() throws IOException {
        try (var f = FifoTest.fifoFixture(2)) {
            f.ports.bindVirq(Virq.TIMER, 1);
            int q = f.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOMID_SELF);
            f.ports.bindInterdomain(DomId.DOMID_SELF, q);
            f.ports.backendBindInterdomain(1, f.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOM0));
            FifoTest.switchToFifo(f);
            f.ports.bindIpi(1);
            DomainSnapshot s = Snapshots.capture(f.ports, f.ram)
                    .withExtensions(List.of(new DomainSnapshot.Extension("vmm.timers", new byte[] {1, 2, 3})));
            return encode(s);
        }
    }

    @Test
    void roundTripKeepsEverything() throws IOException {
        byte[] bytes = sample();
        DomainSnapshot s = decode(bytes);
        assertArrayEquals(bytes, encode(s), "decode then encode is the identity");

        assertNotNull(s.fifo());
        assertEquals("vmm.timers", s.extensions().getFirst().tag());
    }

    @Test
    void damagedFilesAreRejectedWithOneLine() throws IOException {
        byte[] bytes = sample();
        IOException e = assertThrows(IOException.class, () -> decode("not a snapshot at all".getBytes()));
        assertEquals("not a jxen event-channel snapshot", e.getMessage());
        byte[] v2 = bytes.clone();
        v2[9] = 2;
        assertTrue(assertThrows(IOException.class, () -> decode(v2)).getMessage().startsWith("snapshot version 2"));
        for (int len = 0; len < bytes.length; len++) {
            byte[] cut = Arrays.copyOf(bytes, len);
            assertThrows(IOException.class, () -> decode(cut), "truncated at " + len);
        }
    }

    @Test
    void corruptedFilesNeverCrashDecodeOrRestore() throws IOException {
        byte[] bytes = sample();
        SplittableRandom rnd = new SplittableRandom(42);
        for (int i = 0; i < 4_000; i++) {
            byte[] bad = bytes.clone();
            for (int k = 0; k < 1 + rnd.nextInt(4); k++) bad[10 + rnd.nextInt(bad.length - 10)] = (byte) rnd.nextInt();
            DomainSnapshot s;
            try {
                s = decode(bad);
            } catch (IOException expected) {
                continue;
            }
            try (var f = new EventFixture(GuestWidth.BITS_64, DomainConfig.of(2), 1 << 20)) {
                Snapshots.restore(s, f.ram, p -> true);
            } catch (IllegalArgumentException expected) {
                // rejected as inconsistent or not fitting this RAM: fine
            }
        }
    }
}
