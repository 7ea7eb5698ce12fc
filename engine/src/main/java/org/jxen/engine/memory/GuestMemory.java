package org.jxen.engine.memory;

import java.lang.foreign.MemorySegment;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.stream.LongStream;

/**
 * Guest RAM: one native segment, guest-physical address 0 at its base. Guest-supplied addresses are checked here,
 * at the edge, and a bad one comes back as a value ({@link Optional#empty()} or {@code false}), never as an
 * exception. What passes becomes a {@link GuestRegion} the hot path can trust.
 */
public final class GuestMemory {
    public static final long PAGE_SIZE = 4096;
    public static final int PAGE_SHIFT = 12;

    private final MemorySegment ram;
    /** Frames the guest gave back (XENMEM_decrease_reservation): one bit a page; not RAM until repopulated. */
    private final AtomicLongArray holes;
    private final AtomicInteger holeCount = new AtomicInteger();

    public GuestMemory(MemorySegment ram) {
        if ((ram.address() & (PAGE_SIZE - 1)) != 0) throw new IllegalArgumentException("guest RAM must be page-aligned");
        this.ram = ram;
        this.holes = new AtomicLongArray((int) ((ram.byteSize() / PAGE_SIZE + 63) / 64));
    }

    /** Number of frames below the end of RAM (populated or not). */
    public long frames() {
        return ram.byteSize() / PAGE_SIZE;
    }

    /** Frames the guest has now: every frame of RAM but those it gave back. */
    public long populatedFrames() {
        return frames() - holeCount.get();
    }

    /** Whether frame {@code gfn} is RAM the guest has now (inside RAM and not given back). */
    public boolean populated(long gfn) {
        return gfn >= 0 && gfn < frames() && (holes.get((int) (gfn >>> 6)) & (1L << gfn)) == 0;
    }

    /**
     * Takes frame {@code gfn} from the guest (decrease_reservation): its contents are zeroed and it stops being RAM for
     * every later access check. False if it was not populated. The VMM also releases the host page.
     */
    public boolean depopulate(long gfn) {
        if (gfn < 0 || gfn >= frames()) return false;
        long bit = 1L << gfn;
        int word = (int) (gfn >>> 6);
        if ((holes.getAndUpdate(word, w -> w | bit) & bit) != 0) return false;
        holeCount.incrementAndGet();
        ram.asSlice(gfn << PAGE_SHIFT, PAGE_SIZE).fill((byte) 0);
        return true;
    }

    /** The frames that are holes now, ascending (for a save). */
    public long[] holes() {
        LongStream.Builder b = LongStream.builder();
        if (holeCount.get() == 0) return new long[0];
        for (int w = 0; w < holes.length(); w++) {
            long word = holes.get(w);
            while (word != 0) {
                b.add(((long) w << 6) + Long.numberOfTrailingZeros(word));
                word &= word - 1;
            }
        }
        return b.build().toArray();
    }

    /** Gives frame {@code gfn} back to the guest, zeroed (populate_physmap); false if it was already populated or is beyond RAM. */
    public boolean populate(long gfn) {
        if (gfn < 0 || gfn >= frames()) return false;
        long bit = 1L << gfn;
        int word = (int) (gfn >>> 6);
        if ((holes.getAndUpdate(word, w -> w & ~bit) & bit) == 0) return false;
        holeCount.decrementAndGet();
        return true;
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
        if (!(gpa >= 0 && length >= 0 && gpa <= ram.byteSize() && length <= ram.byteSize() - gpa)) return false;
        if (holeCount.get() == 0 || length == 0) return true;
        for (long gfn = gpa >>> PAGE_SHIFT; gfn <= (gpa + length - 1) >>> PAGE_SHIFT; gfn++) if (!populated(gfn)) return false;
        return true;
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
