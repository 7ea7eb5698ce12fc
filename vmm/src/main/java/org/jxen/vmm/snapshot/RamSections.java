package org.jxen.vmm.snapshot;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.LongConsumer;

import org.jxen.engine.memory.GuestMemory;

/**
 * Guest RAM as sections tagged {@value #KIND}, streamed from and into guest memory (never held whole): each holds up to
 * {@value #PAGES_PER_SECTION} pages as (i64 gfn, 4096 bytes), the populated frames that are not all zero; a later
 * section's page replaces an earlier one's (what a migration's later round sends). A page read is bounds-checked
 * before it is copied; a damaged section's checksum fails at its end, after its pages were copied: a reader fills a
 * RAM nothing runs on yet, and the whole restore fails.
 */
public final class RamSections {
    private RamSections() {}

    public static final String KIND = "ram";
    public static final int VERSION = 1;
    /** One page record: its frame number and its contents. */
    public static final int RECORD = 8 + (int) GuestMemory.PAGE_SIZE;
    /** Pages per section: 4 MiB of RAM, so a section's framing is a small share and a round can end at any section. */
    public static final int PAGES_PER_SECTION = 1024;

    /** Writes every populated, non-zero page of {@code ram} as ram sections. */
    public static void write(SnapshotWriter writer, GuestMemory ram) throws IOException {
        MemorySegment seg = ram.segment();
        long[] batch = new long[PAGES_PER_SECTION];
        byte[] record = new byte[RECORD];
        long gfn = 0;
        while (gfn < ram.frames()) {
            int n = 0;
            for (; gfn < ram.frames() && n < batch.length; gfn++) {
                if (ram.populated(gfn) && !isZero(seg, gfn << GuestMemory.PAGE_SHIFT)) batch[n++] = gfn;
            }
            if (n == 0) continue;
            try (OutputStream out = writer.open(KIND, VERSION, (long) n * RECORD)) {
                for (int i = 0; i < n; i++) {
                    putLong(record, batch[i]);
                    MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, batch[i] << GuestMemory.PAGE_SHIFT, record, 8, (int) GuestMemory.PAGE_SIZE);
                    out.write(record);
                }
            }
        }
    }

    /** Copies the pages of ram section {@code h} into {@code ram}; a page beyond it, or any damage, is one exception. */
    public static void read(SnapshotReader reader, SectionHeader h, GuestMemory ram) throws SnapshotException {
        read(reader, h, ram, gfn -> {});
    }

    /** As {@link #read(SnapshotReader, SectionHeader, GuestMemory)}, telling {@code copied} each frame written. */
    public static void read(SnapshotReader reader, SectionHeader h, GuestMemory ram, LongConsumer copied) throws SnapshotException {
        InputStream section = reader.open(h, KIND, VERSION, VERSION, (long) PAGES_PER_SECTION * RECORD);
        if (h.length() % RECORD != 0) throw new SnapshotException(h.tag(), "section " + h.tag() + " of " + h.length() + " bytes is no whole number of pages");
        DataInputStream in = new DataInputStream(section);
        byte[] page = new byte[(int) GuestMemory.PAGE_SIZE];
        try {
            for (long i = h.length() / RECORD; i > 0; i--) {
                long gfn = in.readLong();
                if (gfn < 0 || gfn >= ram.frames())
                    throw new SnapshotException(h.tag(), "section " + h.tag() + " has page " + gfn + ", beyond the " + ram.frames() + " of RAM");
                in.readFully(page);
                MemorySegment.copy(page, 0, ram.segment(), ValueLayout.JAVA_BYTE, gfn << GuestMemory.PAGE_SHIFT, page.length);
                copied.accept(gfn);
            }
            if (in.read() != -1) throw new IllegalStateException("section " + h.tag() + " read past its end");
        } catch (SnapshotException e) {
            throw e;
        } catch (IOException e) {
            throw new SnapshotException(h.tag(), "section " + h.tag() + " cannot be read: " + e.getMessage());
        }
    }

    /** Whether the page at byte offset {@code at} of {@code seg} is all zero. */
    public static boolean isZero(MemorySegment seg, long at) {
        for (long o = 0; o < GuestMemory.PAGE_SIZE; o += 8) if (seg.get(ValueLayout.JAVA_LONG_UNALIGNED, at + o) != 0) return false;
        return true;
    }

    /** Writes {@code v} big-endian at the start of {@code b} (a page record's frame number). */
    public static void putLong(byte[] b, long v) {
        for (int i = 0; i < 8; i++) b[i] = (byte) (v >>> (56 - 8 * i));
    }
}
