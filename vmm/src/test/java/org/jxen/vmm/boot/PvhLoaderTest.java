package org.jxen.vmm.boot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.platform.E820Entry;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import java.util.Arrays;
import java.util.OptionalLong;
import java.util.Random;

/** Loading the gcc-built test guests in every image shape, and refusing malformed images with one-line reasons. */
class PvhLoaderTest {
    private static final long RAM = 4L << 20;

    private final GuestMemory ram = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
    private final GuestLayout layout = GuestLayout.standard(RAM);

    static byte[] guest(String name) throws IOException {
        return Files.readAllBytes(Path.of(System.getProperty("jxen.guests", "target/guests"), name));
    }

    @ParameterizedTest
    @ValueSource(strings = {"pvh-hello-64.elf", "pvh-hello-64-quadnote.elf", "pvh-hello-32.elf", "pvh-hello-x32.elf"})
    void loadsEveryImageShapeAtItsPhysicalAddressWithTheBssZeroed(String name) throws Exception {
        byte[] file = guest(name);
        ElfImage image = ElfImage.parse(file);
        ram.segment().fill((byte) 0xAA); // RAM dirty before the load: the BSS must come out zero
        PvhLoader.Boot boot = PvhLoader.load(file, ram, layout, "console=hvc0");

        assertEquals(name.equals("pvh-hello-32.elf") ? ElfImage.EM_386 : ElfImage.EM_X86_64, image.machine());
        assertEquals(name.contains("32") ? ElfImage.CLASS_32 : ElfImage.CLASS_64, image.elfClass());
        assertEquals(image.entry(), boot.entryEip(), "the note names pvh_start, which the linker script makes the ELF entry");
        assertEquals(0x100000, boot.entryEip());
        ElfImage.Segment text = image.segments().getFirst();
        byte[] loaded = new byte[(int) text.fileSize()];
        MemorySegment.copy(ram.segment(), ValueLayout.JAVA_BYTE, text.physAddr(), loaded, 0, loaded.length);
        byte[] expected = Arrays.copyOfRange(file, (int) text.fileOffset(), (int) (text.fileOffset() + text.fileSize()));
        assertArrayEquals(expected, loaded);
        assertTrue(text.memSize() >= text.fileSize() + 8192, "the BSS is part of the segment");
        for (long a = text.physAddr() + text.fileSize(); a < text.end(); a++)
            assertEquals(0, ram.segment().get(ValueLayout.JAVA_BYTE, a), "BSS byte at 0x" + Long.toHexString(a));
        assertEquals((byte) 0xAA, ram.segment().get(ValueLayout.JAVA_BYTE, text.end()), "nothing written past the segment");
        assertStartInfo(boot.startInfoEbx(), "console=hvc0");
    }

    private void assertStartInfo(long gpa, String cmdline) {
        MemorySegment m = ram.segment();
        assertEquals(GuestLayout.START_INFO_GPA, gpa);
        assertEquals(StartInfo.MAGIC, m.get(ValueLayout.JAVA_INT, gpa));
        assertEquals(1, m.get(ValueLayout.JAVA_INT, gpa + StartInfo.VERSION_OFF));
        assertEquals(0, m.get(ValueLayout.JAVA_INT, gpa + StartInfo.FLAGS_OFF), "a domU: no SIF_INITDOMAIN");
        long cmd = m.get(ValueLayout.JAVA_LONG, gpa + StartInfo.CMDLINE_OFF);
        assertEquals(cmdline, m.getString(cmd, StandardCharsets.UTF_8));
        long map = m.get(ValueLayout.JAVA_LONG, gpa + StartInfo.MEMMAP_OFF);
        assertEquals(4, m.get(ValueLayout.JAVA_INT, gpa + StartInfo.MEMMAP_ENTRIES_OFF));
        long[][] expected = {{0, 0xA0000, E820Entry.RAM}, {0xA0000, 0x60000, E820Entry.RESERVED},
                {0x100000, RAM - 2 * 4096 - 0x100000, E820Entry.RAM}, {RAM - 2 * 4096, 2 * 4096, E820Entry.RESERVED}};
        for (int i = 0; i < expected.length; i++) {
            long e = map + 24L * i;
            assertEquals(expected[i][0], m.get(ValueLayout.JAVA_LONG, e), "entry " + i + " address");
            assertEquals(expected[i][1], m.get(ValueLayout.JAVA_LONG, e + 8), "entry " + i + " size");
            assertEquals(expected[i][2], m.get(ValueLayout.JAVA_INT, e + 16), "entry " + i + " type");
        }
        assertEquals(layout.consoleGfn() << 12, m.get(ValueLayout.JAVA_LONG, map + 3 * 24), "the special pages are reserved");
    }

    @Test
    void malformedImagesAreRefusedWithAReason() throws Exception {
        byte[] good = guest("pvh-hello-64.elf");
        assertReason("neither an ELF image nor a bzImage", new byte[100]);
        assertReason("not an ELF file", Arrays.copyOf(good, 20));
        assertReason("ELF machine 40 is not x86", patch16(good, 18, 40));
        assertReason("unknown ELF class 3", patch8(good, 4, 3));
        assertReason("not a little-endian", patch8(good, 5, 2));
        assertReason("program headers beyond the end", patch64(good, 32, good.length - 10L));
        assertReason("has no program headers", patch16(good, 56, 0));
        int ph0 = (int) ByteBuffer.wrap(good).order(ByteOrder.LITTLE_ENDIAN).getLong(32);
        assertReason("segment 0 extends beyond the end of the file", patch64(good, ph0 + 32, 1L << 40));
        assertReason("segment 0 has memsz < filesz", patch64(good, ph0 + 40, 1));
        assertReason("does not fit in 4 MiB of RAM", patch64(good, ph0 + 24, 0x3F_F000L));
        assertReason("overlaps jxen's boot pages", patch64(good, ph0 + 24, 0x6000));
        assertReason("wraps the address space", patch64(good, ph0 + 24, -4096L));
        assertReason("entry point 0x2000000 is not inside any loaded segment", withNoteEntry(good, 0x200_0000));
    }

    @Test
    void aSixtyFourBitImageNeedsThePvhNote() throws Exception {
        byte[] noNote = withNoteType(guest("pvh-hello-64.elf"), 99);
        assertEquals(OptionalLong.empty(), ElfImage.parse(noNote).pvhEntry());
        assertReason("without a XEN_ELFNOTE_PHYS32_ENTRY note", noNote);
        // An i386 image without the note boots at e_entry.
        byte[] i386 = withNoteType(guest("pvh-hello-32.elf"), 99);
        assertEquals(0x100000, PvhLoader.load(i386, ram, layout, "").entryEip());
    }

    @Test
    void overlongCommandLineIsRefused() throws Exception {
        assertThrows(ImageException.class, () -> PvhLoader.load(guest("pvh-hello-64.elf"), ram, layout, "x".repeat(StartInfo.MAX_CMDLINE)));
        PvhLoader.load(guest("pvh-hello-64.elf"), ram, layout, "y".repeat(StartInfo.MAX_CMDLINE - 1));
        assertStartInfo(GuestLayout.START_INFO_GPA, "y".repeat(StartInfo.MAX_CMDLINE - 1));
    }

    @Test
    void randomCorruptionNeverEscapesAsAnythingButAnImageException() throws Exception {
        byte[] good = guest("pvh-hello-64.elf");
        long seed = Long.getLong("jxen.loader.seed", System.nanoTime());
        Random rnd = new Random(seed);
        for (int i = 0; i < 20_000; i++) {
            byte[] bad = good.clone();
            int flips = 1 + rnd.nextInt(8);
            for (int f = 0; f < flips; f++) bad[rnd.nextInt(Math.min(bad.length, 256))] = (byte) rnd.nextInt();
            if (rnd.nextInt(8) == 0) bad = Arrays.copyOf(bad, rnd.nextInt(bad.length));
            try {
                PvhLoader.load(bad, ram, layout, "");
            } catch (ImageException expected) {
                assertTrue(!expected.getMessage().contains("\n"));
            } catch (RuntimeException e) {
                throw new AssertionError("seed " + seed + " case " + i + ": " + e, e);
            }
        }
    }

    private void assertReason(String expected, byte[] file) {
        ImageException e = assertThrows(ImageException.class, () -> PvhLoader.load(file, ram, layout, ""));
        assertTrue(e.getMessage().contains(expected), () -> "\"" + e.getMessage() + "\" should say \"" + expected + "\"");
    }

    private static byte[] patch8(byte[] f, int at, int v) {
        byte[] c = f.clone();
        c[at] = (byte) v;
        return c;
    }

    private static byte[] patch16(byte[] f, int at, int v) {
        byte[] c = f.clone();
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putShort(at, (short) v);
        return c;
    }

    private static byte[] patch64(byte[] f, int at, long v) {
        byte[] c = f.clone();
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putLong(at, v);
        return c;
    }

    /** The offset of the Xen note's header in a 64-bit test image (found by its name). */
    private static int noteAt(byte[] f) {
        for (int i = 0; i + 16 < f.length; i++)
            if (f[i] == 4 && f[i + 1] == 0 && f[i + 12] == 'X' && f[i + 13] == 'e' && f[i + 14] == 'n' && f[i + 15] == 0
                    && f[i + 8] == 18) return i;
        throw new AssertionError("no Xen note");
    }

    private static byte[] withNoteType(byte[] f, int type) {
        byte[] c = f.clone();
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putInt(noteAt(f) + 8, type);
        return c;
    }

    private static byte[] withNoteEntry(byte[] f, int entry) {
        byte[] c = f.clone();
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putInt(noteAt(f) + 16, entry);
        return c;
    }
}
