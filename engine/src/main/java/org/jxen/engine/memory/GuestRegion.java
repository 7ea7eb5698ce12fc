package org.jxen.engine.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.Objects;

/**
 * A range of guest-visible memory whose bounds were checked once, when it was created (by {@link GuestMemory#region}
 * or {@link #of}); the hot path then addresses it by offset and trusts the offset.
 *
 * <p>Every accessor names the memory ordering the guest protocol needs, in the style of Agrona's AtomicBuffer.
 * The guest writes the same bytes concurrently (a running vCPU clears pending bits, sets mask bits...), so every
 * read-modify-write is atomic. Bit operations are done on the aligned 32-bit word that holds the bit, whatever the
 * width of the field the ABI declares: on x86 a locked RMW of any size is atomic against the guest's own locked
 * {@code bts/btr} on overlapping bytes, and an aligned int is the one width FFM supports atomically at every offset.
 * Bit {@code n} of a field at offset {@code o} is bit {@code n % 8} of byte {@code o + n / 8} (little-endian),
 * which is exactly how a 32-bit or 64-bit guest bitmap is laid out.
 *
 * <p>The backing segment's base must be 4-byte aligned (page-aligned guest RAM or a private page); the region may
 * start anywhere in it. Offsets outside the backing segment throw {@link IndexOutOfBoundsException} from FFM, so a
 * bug here can never touch memory outside the guest's.
 */
public final class GuestRegion {
    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle().withInvokeExactBehavior();
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle().withInvokeExactBehavior();
    private static final VarHandle BYTE = ValueLayout.JAVA_BYTE.varHandle().withInvokeExactBehavior();

    private final MemorySegment backing;
    private final long base;
    private final long length;

    private GuestRegion(MemorySegment backing, long base, long length) {
        this.backing = backing;
        this.base = base;
        this.length = length;
    }

    /**
     * A region of {@code length} bytes at {@code offset} in {@code backing}; throws if it does not fit (host-side
     * construction; guest-supplied addresses go through {@link GuestMemory#region}, which reports a miss as a value).
     */
    public static GuestRegion of(MemorySegment backing, long offset, long length) {
        Objects.checkFromIndexSize(offset, length, backing.byteSize());
        if ((backing.address() & 3) != 0) throw new IllegalArgumentException("backing segment must be 4-byte aligned");
        return new GuestRegion(backing, offset, length);
    }

    /** Byte length of the region. */
    public long length() {
        return length;
    }

    /** Offset of the region in its backing segment (its guest-physical address when the backing is guest RAM). */
    public long baseOffset() {
        return base;
    }

    /** The backing segment (guest RAM or a private page). */
    public MemorySegment backing() {
        return backing;
    }

    /** The same range, read-only: every write through it throws (a read-only grant mapping handed to a backend). */
    public GuestRegion readOnly() {
        return new GuestRegion(backing.asReadOnly(), base, length);
    }

    /** A sub-range, checked against this region. */
    public GuestRegion slice(long offset, long len) {
        Objects.checkFromIndexSize(offset, len, length);
        return new GuestRegion(backing, base + offset, len);
    }

    /** The region as a plain segment (for bulk copies; not for fields the guest races on). */
    public MemorySegment asSegment() {
        return backing.asSlice(base, length);
    }

    // ---- plain and ordered scalar access -------------------------------------------------------------------

    public byte getByte(long offset) {
        return (byte) BYTE.get(backing, base + offset);
    }

    public void putByte(long offset, byte value) {
        BYTE.set(backing, base + offset, value);
    }

    public int getIntVolatile(long offset) {
        return (int) INT.getVolatile(backing, base + offset);
    }

    public void putIntVolatile(long offset, int value) {
        INT.setVolatile(backing, base + offset, value);
    }

    public void putIntRelease(long offset, int value) {
        INT.setRelease(backing, base + offset, value);
    }

    public boolean compareAndSetInt(long offset, int expected, int value) {
        return (boolean) INT.compareAndSet(backing, base + offset, expected, value);
    }

    public int getAndBitwiseOrInt(long offset, int bits) {
        return (int) INT.getAndBitwiseOr(backing, base + offset, bits);
    }

    public int getAndBitwiseAndInt(long offset, int bits) {
        return (int) INT.getAndBitwiseAnd(backing, base + offset, bits);
    }

    public long getLongVolatile(long offset) {
        return (long) LONG.getVolatile(backing, base + offset);
    }

    public void putLongVolatile(long offset, long value) {
        LONG.setVolatile(backing, base + offset, value);
    }

    /** Atomic exchange of an aligned 64-bit word (a guest's {@code xchg} on its selector). */
    public long getAndSetLong(long offset, long value) {
        return (long) LONG.getAndSet(backing, base + offset, value);
    }

    /** Atomic exchange of an aligned 32-bit word. */
    public int getAndSetInt(long offset, int value) {
        return (int) INT.getAndSet(backing, base + offset, value);
    }

    // ---- bitmaps (little-endian, any field width) -------------------------------------------------------------

    private long wordOffset(long fieldOffset, long bit) {
        long byteAt = base + fieldOffset + (bit >>> 3);
        return byteAt & ~3L;
    }

    private static int wordBit(long fieldOffset, long base, long bit) {
        long byteAt = base + fieldOffset + (bit >>> 3);
        return (int) (((byteAt & 3L) << 3) | (bit & 7));
    }

    /** Atomically sets bit {@code bit} of the bitmap at {@code fieldOffset}; returns its previous value. */
    public boolean testAndSetBit(long fieldOffset, long bit) {
        int mask = 1 << wordBit(fieldOffset, base, bit);
        return ((int) INT.getAndBitwiseOr(backing, wordOffset(fieldOffset, bit), mask) & mask) != 0;
    }

    /** Atomically clears the bit; returns its previous value. */
    public boolean testAndClearBit(long fieldOffset, long bit) {
        int mask = 1 << wordBit(fieldOffset, base, bit);
        return ((int) INT.getAndBitwiseAnd(backing, wordOffset(fieldOffset, bit), ~mask) & mask) != 0;
    }

    /** Volatile read of one bit. */
    public boolean testBit(long fieldOffset, long bit) {
        int mask = 1 << wordBit(fieldOffset, base, bit);
        return ((int) INT.getVolatile(backing, wordOffset(fieldOffset, bit)) & mask) != 0;
    }

    public void setBit(long fieldOffset, long bit) {
        testAndSetBit(fieldOffset, bit);
    }

    public void clearBit(long fieldOffset, long bit) {
        testAndClearBit(fieldOffset, bit);
    }

    /**
     * The bitmap of {@code bits} bits at {@code fieldOffset}, its bounds checked here once so that the send path can
     * address any bit below {@code bits} with no check of its own (FFM still checks every access against the segment).
     */
    public GuestBitmap bitmap(long fieldOffset, long bits) {
        Objects.checkFromIndexSize(fieldOffset, (bits + 7) >>> 3, length);
        long at = base + fieldOffset;
        long wordsEnd = ((at & 3) * 8 + bits + 31) >>> 5 << 2;
        Objects.checkFromIndexSize(at & ~3L, wordsEnd, backing.byteSize());
        return new GuestBitmap(backing, at & ~3L, (int) ((at & 3) << 3), bits);
    }

    /** Zeroes the whole region (host-side initialisation, never while a guest races on it). */
    public void clear() {
        backing.asSlice(base, length).fill((byte) 0);
    }

    @Override
    public String toString() {
        return "GuestRegion[0x" + Long.toHexString(base) + "+0x" + Long.toHexString(length) + "]";
    }
}
