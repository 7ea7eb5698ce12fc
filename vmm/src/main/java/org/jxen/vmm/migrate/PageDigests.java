package org.jxen.vmm.migrate;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.zip.CRC32;
import java.util.zip.CRC32C;

import org.jxen.engine.memory.GuestMemory;

/**
 * A 64-bit digest per guest frame of what the destination holds: CRC32C and CRC32 (two different polynomials, both
 * hardware-assisted in the JDK) of the bytes sent, or of a zero page for a frame never sent. The last round re-reads
 * every frame and sends those whose digest differs: pages jxen wrote itself, which KVM's dirty log never sees. A
 * changed page goes unnoticed only if both checksums collide (for a random change, about one in 2^64).
 */
final class PageDigests {
    private final long[] digests;
    private final CRC32C crc32c = new CRC32C();
    private final CRC32 crc32 = new CRC32();
    private final long zero;

    PageDigests(long frames) {
        digests = new long[Math.toIntExact(frames)];
        zero = of(ByteBuffer.allocate((int) GuestMemory.PAGE_SIZE));
        Arrays.fill(digests, zero);
    }

    /** Records {@code page} (bytes {@code offset}.. of one page) as what the destination now holds for {@code gfn}. */
    void sent(long gfn, byte[] page, int offset) {
        digests[(int) gfn] = of(ByteBuffer.wrap(page, offset, (int) GuestMemory.PAGE_SIZE));
    }

    /** Whether frame {@code gfn} of {@code ram} differs from what the destination holds. */
    boolean changed(MemorySegment ram, long gfn) {
        return of(ram.asSlice(gfn << GuestMemory.PAGE_SHIFT, GuestMemory.PAGE_SIZE).asByteBuffer()) != digests[(int) gfn];
    }

    private long of(ByteBuffer page) {
        crc32c.reset();
        crc32.reset();
        crc32c.update(page.duplicate());
        crc32.update(page);
        return crc32c.getValue() << 32 | crc32.getValue();
    }
}
