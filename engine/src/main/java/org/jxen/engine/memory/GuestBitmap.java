package org.jxen.engine.memory;

import java.lang.foreign.MemorySegment;

/**
 * A little-endian bitmap of {@code bits} bits in guest memory, proven to lie inside its {@link GuestRegion} when it
 * was made ({@link GuestRegion#bitmap}): any bit below {@code bits} maps to an aligned 32-bit word of the region.
 * Bit {@code n} is bit {@code (bias + n) % 32} of the word at {@code base + (bias + n) / 32 * 4}, where {@code base}
 * is the field's offset in the segment rounded down to 4 and {@code bias} the bits that rounding skipped; on x86 a
 * locked RMW of that word is atomic against the guest's own {@code lock bts/btr} on the overlapping bytes.
 *
 * <p>The send path reads {@link #segment}, {@link #word} and {@link #mask} into locals once per send and then issues
 * {@link GuestBits} operations on them; the caller keeps {@code bit} below {@code bits}.
 */
public record GuestBitmap(MemorySegment segment, long base, int bias, long bits) {
    /** The offset in {@link #segment} of the int word holding {@code bit}. */
    public long word(int bit) {
        return base + ((long) ((bias + bit) >>> 5) << 2);
    }

    /** The mask of {@code bit} in its word (Java's shift takes the count mod 32). */
    public int mask(int bit) {
        return 1 << (bias + bit);
    }
}
