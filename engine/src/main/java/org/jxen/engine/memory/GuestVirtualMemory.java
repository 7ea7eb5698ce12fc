package org.jxen.engine.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.jxen.engine.abi.Errno;

/**
 * Xen's copy_from_guest / copy_to_guest: copies between a host buffer and guest-virtual memory, one page at a time
 * (a struct may straddle pages that map to unrelated frames). A translation miss or an address outside RAM is
 * {@code -EFAULT}; nothing is ever read or written outside RAM.
 */
public final class GuestVirtualMemory {
    private final GuestMemory ram;
    private final AddressTranslator translator;

    public GuestVirtualMemory(GuestMemory ram, AddressTranslator translator) {
        this.ram = ram;
        this.translator = translator;
    }

    public GuestMemory ram() {
        return ram;
    }

    /** Reads {@code dst.byteSize()} bytes at guest-virtual {@code gva}: 0 or -EFAULT. */
    public int read(long gva, MemorySegment dst) {
        return copy(gva, dst, false);
    }

    /** Writes {@code src} at guest-virtual {@code gva}: 0 or -EFAULT (a prefix may have been written, as in Xen). */
    public int write(long gva, MemorySegment src) {
        return copy(gva, src, true);
    }

    /**
     * The guest-physical address of {@code gva} if the {@code length} bytes from it (within one page) are mapped and
     * in RAM, else {@link AddressTranslator#FAULT}.
     */
    public long toPhysical(long gva, long length, boolean write) {
        if (length > GuestMemory.PAGE_SIZE - (gva & (GuestMemory.PAGE_SIZE - 1))) return AddressTranslator.FAULT;
        long gpa = translator.toPhysical(gva, write);
        return gpa == AddressTranslator.FAULT || !ram.contains(gpa, length) ? AddressTranslator.FAULT : gpa;
    }

    /** Reads a little-endian uint32 at {@code gva}: the value (0..2^32-1) or -EFAULT. */
    public long readU32(long gva) {
        long pageLeft = GuestMemory.PAGE_SIZE - (gva & (GuestMemory.PAGE_SIZE - 1));
        if (pageLeft >= 4) {
            long gpa = translator.toPhysical(gva, false);
            if (gpa == AddressTranslator.FAULT || !ram.contains(gpa, 4)) return -Errno.EFAULT;
            return Integer.toUnsignedLong(ram.segment().get(ValueLayout.JAVA_INT_UNALIGNED, gpa));
        }
        MemorySegment tmp = MemorySegment.ofArray(new byte[4]);
        int rc = read(gva, tmp);
        return rc != 0 ? rc : Integer.toUnsignedLong(tmp.get(ValueLayout.JAVA_INT_UNALIGNED, 0));
    }

    private int copy(long gva, MemorySegment buf, boolean write) {
        long done = 0;
        long total = buf.byteSize();
        while (done < total) {
            long va = gva + done;
            long chunk = Math.min(total - done, GuestMemory.PAGE_SIZE - (va & (GuestMemory.PAGE_SIZE - 1)));
            long gpa = translator.toPhysical(va, write);
            if (gpa == AddressTranslator.FAULT || !ram.contains(gpa, chunk)) return -Errno.EFAULT;
            if (write) MemorySegment.copy(buf, done, ram.segment(), gpa, chunk);
            else MemorySegment.copy(ram.segment(), gpa, buf, done, chunk);
            done += chunk;
        }
        return 0;
    }
}
