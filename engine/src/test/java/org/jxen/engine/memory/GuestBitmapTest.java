package org.jxen.engine.memory;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;

/** The send path's addressing (GuestBitmap + GuestBits) against GuestRegion's per-access bit methods. */
class GuestBitmapTest {
    /** Every bit of a bitmap lands where GuestRegion's testBit sees it, whatever the field's alignment. */
    @Test
    void wordsAndMasksAddressTheSameBitsAsTheRegion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment page = arena.allocate(4096, 4096);
            for (long regionBase : new long[] {0, 1, 2, 3, 64, 4093 - 200}) {
                GuestRegion region = GuestRegion.of(page, regionBase, 200);
                for (long field : new long[] {0, 1, 5, 8, 100}) {
                    GuestBitmap bits = region.bitmap(field, 8 * 64);
                    for (int bit = 0; bit < 8 * 64; bit += 7) {
                        region.clear();
                        assertEquals(0, GuestBits.testAndSet(bits.segment(), bits.word(bit), bits.mask(bit)));
                        assertTrue(region.testBit(field, bit), () -> "bit set through the bitmap is seen by the region");
                        assertNotEquals(0, GuestBits.test(bits.segment(), bits.word(bit), bits.mask(bit)));
                        assertNotEquals(0, GuestBits.testAndSet(bits.segment(), bits.word(bit), bits.mask(bit)));
                        assertFalse(region.testBit(field, bit + 1));
                        assertNotEquals(0, GuestBits.testAndClear(bits.segment(), bits.word(bit), bits.mask(bit)));
                        assertFalse(region.testBit(field, bit));
                        region.setBit(field, bit);
                        assertNotEquals(0, GuestBits.test(bits.segment(), bits.word(bit), bits.mask(bit)));
                    }
                }
            }
        }
    }

    /** The bounds are proven when the bitmap is made: a bitmap that does not fit its region is refused. */
    @Test
    void aBitmapOutsideItsRegionIsRefused() {
        try (Arena arena = Arena.ofConfined()) {
            GuestRegion region = GuestRegion.of(arena.allocate(4096, 4096), 1024, 64);
            assertThrows(IndexOutOfBoundsException.class, () -> region.bitmap(0, 64 * 8 + 1));
            assertThrows(IndexOutOfBoundsException.class, () -> region.bitmap(60, 64));
            assertThrows(IndexOutOfBoundsException.class, () -> region.bitmap(-1, 8));
            assertEquals(64 * 8, region.bitmap(0, 64 * 8).bits());
        }
    }

    /** A word past the segment throws from FFM: an offset never reaches outside the memory it was made for. */
    @Test
    void anOffsetOutsideTheSegmentThrows() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment page = arena.allocate(4096, 4096);
            assertThrows(IndexOutOfBoundsException.class, () -> GuestBits.testAndSet(page, 4096, 1));
            assertThrows(IndexOutOfBoundsException.class, () -> GuestBits.testAndSet(page, -4, 1));
        }
    }

    /** After the owner closes the memory, a send's access throws instead of touching freed memory. */
    @Test
    void aLateAccessThrows() {
        Arena arena = Arena.ofShared();
        GuestRegion region = GuestRegion.of(arena.allocate(4096, 4096), 0, 4096);
        GuestBitmap bits = region.bitmap(2048, 4096);
        arena.close();
        assertThrows(IllegalStateException.class, () -> GuestBits.testAndSet(bits.segment(), bits.word(5), bits.mask(5)));
        assertThrows(IllegalStateException.class, () -> GuestBits.test(bits.segment(), bits.word(5), bits.mask(5)));
    }
}
