package org.jxen.engine.memory;

import java.lang.foreign.MemorySegment;
import java.util.Optional;

/**
 * Guest RAM: one native segment, guest-physical address 0 at its base. Guest-supplied addresses are checked here,
 * at the edge, and a bad one comes back as a value ({@link Optional#empty()} or {@code false}), never as an
 * exception. What passes becomes a {@link GuestRegion} the hot path can trust.
 */
public final class GuestMemory {
    public static final long PAGE_SIZE = 4096;
    public static final int PAGE_SHIFT = 12;

    private final MemorySegment ram;

    public GuestMemory(MemorySegment ram) {
        if ((ram.address() & (PAGE_SIZE - 1)) != 0) throw new IllegalArgumentException("guest RAM must be page-aligned");
        this.ram = ram;
    }

    /** Size of RAM in bytes. */
    public long size() {
        return ram.byteSize();
    }

    /** The backing segment (for the VMM's memory slot and for loaders). */
    public MemorySegment segment() {
        return ram;
    }

    /** Whether {@code [gpa, gpa+length)} lies entirely in RAM; overflow-safe for any guest-chosen values. */
    public boolean contains(long gpa, long length) {
        return gpa >= 0 && length >= 0 && gpa <= ram.byteSize() && length <= ram.byteSize() - gpa;
    }

    /** The checked region at {@code gpa}, or empty if any byte of it is outside RAM. */
    public Optional<GuestRegion> region(long gpa, long length) {
        return contains(gpa, length) ? Optional.of(GuestRegion.of(ram, gpa, length)) : Optional.empty();
    }

    /** The whole page holding guest frame {@code gfn}, or empty. */
    public Optional<GuestRegion> page(long gfn) {
        if (gfn < 0 || gfn > (Long.MAX_VALUE >>> PAGE_SHIFT)) return Optional.empty();
        return region(gfn << PAGE_SHIFT, PAGE_SIZE);
    }

    /** Copies {@code dst.byteSize()} bytes from guest-physical {@code gpa}; false if out of RAM (nothing copied). */
    public boolean read(long gpa, MemorySegment dst) {
        if (!contains(gpa, dst.byteSize())) return false;
        MemorySegment.copy(ram, gpa, dst, 0, dst.byteSize());
        return true;
    }

    /** Copies {@code src} to guest-physical {@code gpa}; false if out of RAM (nothing written). */
    public boolean write(long gpa, MemorySegment src) {
        if (!contains(gpa, src.byteSize())) return false;
        MemorySegment.copy(src, 0, ram, gpa, src.byteSize());
        return true;
    }
}
