package org.jxen.vmm.snapshot;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.evtchn.BackendDomain;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.evtchn.DomainSnapshot;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.evtchn.Snapshots;
import org.jxen.engine.memory.GuestMemory;

/**
 * The section container without a domain: every kind of section written reads back the same (a codec's, raw bytes,
 * the engine's and the platform's, RAM streamed over several sections), and each damage a stream can have — a cut
 * header, a cut section, a flipped byte, an unknown tag, a future version, an absurd length, a missing end — is one
 * SnapshotException line naming the section, read from a plain stream of unknown size as well as from one of known size.
 */
class SnapshotContainerTest {
    private static final long RAM = 6L << 20;
    /** A component of the test's own: two ints, version 2 (version 1 had the first only). */
    private record Pair(int a, int b) {}

    private static final SectionCodec<Pair> PAIR = SectionCodec.of("pair", 2, 8, (p, out) -> {
        out.writeInt(p.a());
        out.writeInt(p.b());
    }, (v, in) -> new Pair(in.readInt(), v >= 2 ? in.readInt() : 0));
    private static final SectionCodec<byte[]> BLOB = SectionCodec.bytes("blob", 1, 1, 4096);

    private final GuestMemory ram = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
    private final DomainSnapshot engine;

    SnapshotContainerTest() {
        PortManager ports = new PortManager(new GuestDomain(DomainConfig.of(2)), new BackendDomain(DomId.DOM0));
        assertTrue(ports.bindIpi(1) > 0);
        engine = Snapshots.capture(ports, ram).withExtensions(List.of(new DomainSnapshot.Extension("vcpu.timers", new byte[] {1, 2, 3}),
                new DomainSnapshot.Extension("hvm.params", new byte[40])));
        // 1100 pages over the RAM's 1536: more than one ram section; the rest stay zero and are not written.
        for (long gfn = 0; gfn < 1100; gfn++) ram.segment().set(ValueLayout.JAVA_LONG, gfn * 4096 + (gfn % 512) * 8, gfn * 0x9E3779B97F4A7C15L | 1);
    }

    /** A container of every kind of section, RAM last. */
    private byte[] container() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        SnapshotWriter w = new SnapshotWriter(bytes);
        w.write(PAIR, new Pair(7, -9));
        w.write(DomainSections.ENGINE, engine);
        w.write(DomainSections.PLATFORM, engine.extensions());
        for (int i = 0; i < 3; i++) w.write(BLOB, i, new byte[] {(byte) i, 42});
        RamSections.write(w, ram);
        w.finish();
        return bytes.toByteArray();
    }

    /** What {@link #container} holds, read back; {@code size}: the stream's size, or -1 as for a socket. */
    private record Read(Pair pair, DomainSnapshot engine, List<DomainSnapshot.Extension> platform, List<byte[]> blobs, GuestMemory ram,
            int ramSections) {}

    private static Read read(byte[] container, long size) throws IOException {
        GuestMemory into = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
        try (SnapshotReader r = SnapshotReader.open(new ByteArrayInputStream(container), size, "save file")) {
            Pair pair = null;
            DomainSnapshot engine = null;
            List<DomainSnapshot.Extension> platform = null;
            byte[][] blobs = new byte[3][];
            int ramSections = 0;
            for (SectionHeader h = r.next(); h != null; h = r.next()) {
                switch (h.kind()) {
                    case "pair" -> pair = r.read(PAIR, h);
                    case "engine" -> engine = r.read(DomainSections.ENGINE, h);
                    case "platform" -> platform = r.read(DomainSections.PLATFORM, h);
                    case "blob" -> blobs[h.index()] = r.read(BLOB, h);
                    case RamSections.KIND -> {
                        RamSections.read(r, h, into);
                        ramSections++;
                    }
                    default -> throw r.unknown(h);
                }
            }
            assertEquals(size < 0 ? -1 : 0, r.trailing());
            return new Read(pair, engine, platform, List.of(blobs), into, ramSections);
        }
    }

    @Test
    void everyKindOfSectionReadsBack() throws IOException {
        byte[] c = container();
        for (long size : new long[] {c.length, -1}) {
            Read back = read(c, size);
            assertEquals(new Pair(7, -9), back.pair());
            assertEquals(engine.domid(), back.engine().domid());
            assertEquals(engine.guestPorts(), back.engine().guestPorts());
            assertTrue(back.engine().extensions().isEmpty(), "the platform's extensions are a section of their own");
            assertEquals(List.of("vcpu.timers", "hvm.params"), back.platform().stream().map(DomainSnapshot.Extension::tag).toList());
            assertArrayEquals(new byte[] {1, 2, 3}, back.platform().getFirst().data());
            for (int i = 0; i < 3; i++) assertArrayEquals(new byte[] {(byte) i, 42}, back.blobs().get(i));
            assertEquals(2, back.ramSections(), "1100 pages: a section of 1024 and one of 76");
            assertEquals(-1L, back.ram().segment().mismatch(ram.segment()), "RAM read back byte for byte");
        }
        assertTrue(c.length < 1100 * 4104 + 64 * 1024, "only the non-zero pages are written: " + c.length);
    }

    @Test
    void anOlderVersionOfASectionIsReadByItsCodec() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        SnapshotWriter w = new SnapshotWriter(bytes);
        try (OutputStream o = w.open("pair", 1, 4)) {
            o.write(new byte[] {0, 0, 0, 5});
        }
        w.finish();
        try (SnapshotReader r = SnapshotReader.open(new ByteArrayInputStream(bytes.toByteArray()), -1, "save file")) {
            assertEquals(new Pair(5, 0), r.read(PAIR, r.next()));
            assertNull(r.next());
        }
    }

    @Test
    void eachDamageIsOneLineNamingTheSection() throws IOException {
        byte[] c = container();
        int pairEnd = 10 + 1 + 4 + 2 + 8 + 8 + 4; // header, then "pair": tag, version, length, payload, checksum
        int engineAt = pairEnd;
        assertRefused(Arrays.copyOf(c, 5), null, "the save file ends early");
        assertRefused(Arrays.copyOf(c, 14), null, "the save file ends early");
        assertRefused(Arrays.copyOf(c, pairEnd + 3), null, "the save file ends early, after section pair");
        // A cut section: a stream ends inside it; a file of known size is refused at its header already.
        assertRefused(Arrays.copyOf(c, pairEnd + 40), "engine", "the save file ends inside section engine", false);
        assertRefused(Arrays.copyOf(c, pairEnd + 40), "engine", "section engine claims ", true);
        assertRefused(Arrays.copyOf(c, pairEnd - 2), "pair", "the save file ends inside section pair", false);
        assertRefused(Arrays.copyOf(c, pairEnd - 2), "pair", "section pair claims 8 bytes, but the save file has only 6 left", true);
        assertRefused(Arrays.copyOf(c, c.length - 15), null, "the save file ends early, after section ram");

        byte[] flipped = c.clone();
        flipped[engineAt + 1 + 6 + 2 + 8 + 20] ^= 0x10; // a byte of the engine's payload
        assertRefused(flipped, "engine", "section engine is damaged (its checksum does not match)");
        flipped = c.clone();
        flipped[c.length - 100] ^= 1; // a byte of the last RAM page
        assertRefused(flipped, "ram", "section ram is damaged (its checksum does not match)");

        byte[] unknown = c.clone();
        unknown[11] = 'q'; // "pair" → "qair": well-formed, unknown
        assertRefused(unknown, "qair", "section qair is unknown to this jxen (a save from a newer one?)");
        byte[] badTag = c.clone();
        badTag[11] = 'P';
        assertRefused(badTag, null, "the save file has a damaged section header");
        byte[] future = c.clone();
        future[10 + 1 + 4 + 1] = 3; // pair's version 2 → 3
        assertRefused(future, "pair", "section pair is version 3; this jxen reads versions 1 to 2");

        byte[] absurd = c.clone();
        ByteBuffer.wrap(absurd).putLong(engineAt + 1 + 6 + 2, 1L << 40);
        assertRefused(absurd, "engine", "section engine claims 1099511627776 bytes, but the save file has only " + (c.length - engineAt - 17 - 4) + " left", true);
        assertRefused(absurd, "engine", "section engine claims 1099511627776 bytes, more than the 67108864 it may have", false);
        ByteBuffer.wrap(absurd).putLong(engineAt + 1 + 6 + 2, -5);
        assertRefused(absurd, "engine", "section engine claims a length of -5 bytes");
        // Within the codec's limit but beyond the stream: a socket's reader reads what comes, allocating no more.
        ByteBuffer.wrap(absurd).putLong(engineAt + 1 + 6 + 2, 60L << 20);
        assertRefused(absurd, "engine", "the save file ends inside section engine", false);

        ByteArrayOutputStream beyond = new ByteArrayOutputStream();
        SnapshotWriter w = new SnapshotWriter(beyond);
        try (OutputStream o = w.open(RamSections.KIND, 1, 4104)) {
            o.write(ByteBuffer.allocate(4104).putLong(RAM / 4096).array());
        }
        w.finish();
        assertRefused(beyond.toByteArray(), "ram", "section ram has page 1536, beyond the 1536 of RAM");
        assertRefused("JXENSAV!".getBytes(), null, "not a jxen save file");
        assertRefused(ByteBuffer.allocate(10).put("JXENSAVE".getBytes()).putShort((short) 9).array(), null,
                "save format version 9 (this jxen reads 1 and 2)");
    }

    private static void assertRefused(byte[] container, String section, String message) {
        assertRefused(container, section, message, true);
        assertRefused(container, section, message, false);
    }

    /**
     * Reading fails with {@code message} (or a message that begins with it), naming {@code section}; {@code sized}: the
     * stream's size is known.
     */
    private static void assertRefused(byte[] container, String section, String message, boolean sized) {
        SnapshotException e = assertThrows(SnapshotException.class, () -> read(container, sized ? container.length : -1));
        assertEquals(message, e.getMessage().startsWith(message) ? message : e.getMessage(), (sized ? "sized: " : "stream: ") + e.getMessage());
        assertEquals(section, e.section());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void aWriterRefusesASectionLongerOrShorterThanAnnounced() throws IOException {
        SnapshotWriter w = new SnapshotWriter(new ByteArrayOutputStream());
        OutputStream o = w.open("blob", 1, 2);
        assertThrows(IOException.class, () -> o.write(new byte[3]));
        assertThrows(IOException.class, o::close);
        assertThrows(IOException.class, () -> w.write(SectionCodec.bytes("big", 1, 0, 2), new byte[3]));
        assertThrows(IllegalArgumentException.class, () -> w.open("Bad", 1, 0));
    }

    /** What an unknown stream does: a reader given only a plain InputStream reads the same as one given the size. */
    @Test
    void aStreamOfUnknownSizeReadsThroughAnyChunking() throws IOException {
        byte[] c = container();
        InputStream trickle = new InputStream() {
            int at;

            @Override
            public int read() {
                return at < c.length ? c[at++] & 0xFF : -1;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (at >= c.length) return -1;
                int n = Math.min(Math.min(len, 7), c.length - at); // a socket's small, odd reads
                System.arraycopy(c, at, b, off, n);
                at += n;
                return n;
            }
        };
        try (SnapshotReader r = SnapshotReader.open(trickle, -1, "migration stream")) {
            int sections = 0;
            GuestMemory into = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
            for (SectionHeader h = r.next(); h != null; h = r.next(), sections++) {
                switch (h.kind()) {
                    case "pair" -> r.read(PAIR, h);
                    case "engine" -> r.read(DomainSections.ENGINE, h);
                    case "platform" -> r.read(DomainSections.PLATFORM, h);
                    case "blob" -> r.read(BLOB, h);
                    case RamSections.KIND -> RamSections.read(r, h, into);
                    default -> throw r.unknown(h);
                }
            }
            assertEquals(8, sections);
            assertEquals(-1L, into.segment().mismatch(ram.segment()));
        }
    }
}
