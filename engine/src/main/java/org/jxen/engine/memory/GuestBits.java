package org.jxen.engine.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * The send path's atomic bit operations on an aligned 32-bit word of guest memory, addressed by the segment and the
 * word's offset in it, both read once per send (a {@link GuestBitmap} computes them, its bounds proven when it was
 * made). Nothing is loaded per access but what FFM itself checks: the segment's bounds, alignment and liveness, so a
 * late access throws and an offset outside the segment throws.
 *
 * <p>Why not {@link GuestRegion}'s methods on the hot path: every access through a region loads the region's backing
 * segment and base again, after the previous access's locked instruction (an atomic is a full compiler barrier, so
 * nothing loaded before it is reused), type-checks the segment again (the field is typed as the interface), and
 * redoes the word and bit arithmetic; after each {@code lock cmpxchg} that is a chain of dependent loads before the
 * next one can issue. With the segment in a local and the words precomputed, a send costs what bare FFM costs.
 *
 * <p>The results are the word's bits under {@code mask} as an int, not a boolean: the caller branches in its own
 * bytecode, so the 2-level and FIFO sends do not share (and pollute) one branch profile inside this class.
 */
public final class GuestBits {
    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle().withInvokeExactBehavior();
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle().withInvokeExactBehavior();

    private GuestBits() {}

    /** Atomically sets {@code mask} in the word at {@code word}; returns the word's previous bits under the mask. */
    public static int testAndSet(MemorySegment memory, long word, int mask) {
        return (int) INT.getAndBitwiseOr(memory, word, mask) & mask;
    }

    /** Atomically clears {@code mask}; returns the previous bits under the mask. */
    public static int testAndClear(MemorySegment memory, long word, int mask) {
        return (int) INT.getAndBitwiseAnd(memory, word, ~mask) & mask;
    }

    /** Volatile read of the word's bits under {@code mask}. */
    public static int test(MemorySegment memory, long word, int mask) {
        return (int) INT.getVolatile(memory, word) & mask;
    }

    /** Release store of a whole word (a FIFO queue's HEAD). */
    public static void putRelease(MemorySegment memory, long word, int value) {
        INT.setRelease(memory, word, value);
    }

    /** Compare-and-set of a whole word (a guest unlinking a FIFO event word). */
    public static boolean compareAndSet(MemorySegment memory, long word, int expected, int value) {
        return INT.compareAndSet(memory, word, expected, value);
    }

    /** Atomic exchange of an aligned 64-bit word (a 64-bit guest's {@code xchg} on its selector). */
    public static long getAndSetLong(MemorySegment memory, long offset, long value) {
        return (long) LONG.getAndSet(memory, offset, value);
    }
}
