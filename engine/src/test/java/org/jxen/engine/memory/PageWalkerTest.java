package org.jxen.engine.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.jxen.engine.abi.Errno;
import org.junit.jupiter.api.Test;

/**
 * Page walks in every paging mode over tables built in guest RAM by the test (this host cannot run 32-bit paging
 * guests, so these walks are checked here rather than by a guest).
 */
class PageWalkerTest {
    private static final long RAM = 8L << 20;
    private static final long P = 1, RW = 2, A = 1 << 5, D = 1 << 6, PS = 1 << 7;
    private static final long WP_PG = PagingState.CR0_PE | PagingState.CR0_PG | PagingState.CR0_WP;

    private final MemorySegment seg = Arena.ofAuto().allocate(RAM, 4096);
    private final GuestMemory ram = new GuestMemory(seg);
    /** Page tables are allocated from 1 MiB up; data frames live below. */
    private long nextTable = 1L << 20;

    private long newTable() {
        long t = nextTable;
        nextTable += 4096;
        return t;
    }

    private long get64(long gpa) {
        return seg.get(ValueLayout.JAVA_LONG, gpa);
    }

    /** Maps {@code va} in a 4- or 5-level hierarchy rooted at {@code root}, with a leaf at {@code leafLevel}. */
    private void mapLong(long root, int levels, long va, long pa, long flags, int leafLevel) {
        long table = root;
        for (int level = levels; level > leafLevel; level--) {
            long at = table + ((va >>> (12 + 9 * (level - 1))) & 0x1FF) * 8;
            long e = get64(at);
            if ((e & P) == 0) {
                e = newTable() | P | RW;
                seg.set(ValueLayout.JAVA_LONG, at, e);
            }
            table = e & 0x000F_FFFF_FFFF_F000L;
        }
        long at = table + ((va >>> (12 + 9 * (leafLevel - 1))) & 0x1FF) * 8;
        seg.set(ValueLayout.JAVA_LONG, at, pa | flags | (leafLevel > 1 ? PS : 0));
    }

    private PageWalker longMode(long cr3, boolean la57) {
        return new PageWalker(ram, new PagingState(WP_PG, cr3, PagingState.CR4_PAE | (la57 ? PagingState.CR4_LA57 : 0),
                PagingState.EFER_LME | PagingState.EFER_LMA));
    }

    @Test
    void pagingOffIsTheIdentityTruncatedTo32Bits() {
        AddressTranslator t = PageWalker.of(ram, PagingState.FLAT);
        assertEquals(0x1234, t.toPhysical(0x1234, true));
        assertEquals(0x1234, t.toPhysical(0xFFFF_FFFF_0000_1234L, false));
    }

    @Test
    void fourLevelWalkFindsPagesOfEverySize() {
        long cr3 = newTable();
        mapLong(cr3, 4, 0xFFFF_8000_0000_0000L, 0x5000, P | RW, 1);          // 4 KiB, upper half
        mapLong(cr3, 4, 0x4000_0000L, 0x20_0000, P | RW, 2);                  // 2 MiB
        mapLong(cr3, 4, 0x80_0000_0000L, 0x4000_0000L, P | RW, 3);            // 1 GiB (beyond RAM: the copy faults)
        PageWalker w = longMode(cr3, false);
        assertEquals(0x5123, w.toPhysical(0xFFFF_8000_0000_0123L, false));
        assertEquals(0x20_0000 + 0x1_2345, w.toPhysical(0x4001_2345L, false));
        assertEquals(0x4000_0000L + 0x3FFF_FFFFL, w.toPhysical(0x80_3FFF_FFFFL, false));
        assertEquals(AddressTranslator.FAULT, w.toPhysical(0x7000, false), "unmapped");
        assertEquals(AddressTranslator.FAULT, w.toPhysical(0x0000_8000_0000_0000L, false), "non-canonical");
        GuestVirtualMemory vm = new GuestVirtualMemory(ram, w);
        assertEquals(-Errno.EFAULT, vm.read(0x80_0000_0000L, MemorySegment.ofArray(new byte[8])), "frame beyond RAM");
    }

    @Test
    void writesNeedEveryLevelWritableUnlessWpIsClear() {
        long cr3 = newTable();
        mapLong(cr3, 4, 0x1000, 0x3000, P, 1); // read-only leaf
        assertEquals(0x3000, longMode(cr3, false).toPhysical(0x1000, false));
        assertEquals(AddressTranslator.FAULT, longMode(cr3, false).toPhysical(0x1000, true));
        PageWalker noWp = new PageWalker(ram, new PagingState(WP_PG & ~PagingState.CR0_WP, cr3, PagingState.CR4_PAE,
                PagingState.EFER_LMA));
        assertEquals(0x3000, noWp.toPhysical(0x1000, true));
        // A read-only upper level makes the whole range read-only.
        long pml4e = cr3;
        seg.set(ValueLayout.JAVA_LONG, pml4e, get64(pml4e) & ~RW);
        mapLong(cr3, 4, 0x2000, 0x4000, P | RW, 1);
        assertEquals(AddressTranslator.FAULT, longMode(cr3, false).toPhysical(0x2000, true));
    }

    @Test
    void walkSetsAccessedOnEveryLevelAndDirtyOnTheLeafOfAWrite() {
        long cr3 = newTable();
        mapLong(cr3, 4, 0x1000, 0x3000, P | RW, 1);
        PageWalker w = longMode(cr3, false);
        w.toPhysical(0x1000, false);
        long pml4e = get64(cr3);
        long pdpte = get64(pml4e & ~0xFFFL);
        long pde = get64(pdpte & ~0xFFFL);
        long pteAt = (pde & ~0xFFFL) + 8;
        assertTrue((pml4e & A) != 0 && (pdpte & A) != 0 && (pde & A) != 0 && (get64(pteAt) & A) != 0);
        assertEquals(0, get64(pteAt) & D, "a read leaves the leaf clean");
        w.toPhysical(0x1000, true);
        assertEquals(D, get64(pteAt) & D);
        assertEquals(0, get64(pde & ~0xFFFL) & D, "never dirty on a non-leaf");
    }

    @Test
    void psInAPml4eIsReservedAndFaults() {
        long cr3 = newTable();
        seg.set(ValueLayout.JAVA_LONG, cr3, P | RW | PS);
        assertEquals(AddressTranslator.FAULT, longMode(cr3, false).toPhysical(0x1000, false));
    }

    @Test
    void fiveLevelWalkUses57BitAddresses() {
        long cr3 = newTable();
        long va = 0x00FF_0000_0000_1000L; // canonical only with LA57
        mapLong(cr3, 5, va, 0x6000, P | RW, 1);
        assertEquals(0x6010, longMode(cr3, true).toPhysical(va + 0x10, true));
        assertEquals(AddressTranslator.FAULT, longMode(cr3, false).toPhysical(va, false));
    }

    @Test
    void tablesOutsideRamFaultWithoutTouchingHostMemory() {
        long cr3 = newTable();
        seg.set(ValueLayout.JAVA_LONG, cr3, 0x7_0000_0000L | P | RW); // PDPT far beyond RAM
        assertEquals(AddressTranslator.FAULT, longMode(cr3, false).toPhysical(0x1000, false));
        assertEquals(AddressTranslator.FAULT, longMode(RAM + 0x1000, false).toPhysical(0x1000, false), "CR3 beyond RAM");
        seg.set(ValueLayout.JAVA_LONG, cr3, -1L); // all ones: reserved bits, never present
        assertEquals(AddressTranslator.FAULT, longMode(cr3, false).toPhysical(0x1000, false));
    }

    @Test
    void paeWalkWithFourKiBAnd2MiBPages() {
        long pdpt = newTable() + 0x20; // 32-byte aligned inside a page, as PAE allows
        long pd = newTable();
        long pt = newTable();
        seg.set(ValueLayout.JAVA_LONG, pdpt + 8 * 1, pd | P);        // 1-2 GiB
        seg.set(ValueLayout.JAVA_LONG, pd + 8 * 0, pt | P | RW);
        seg.set(ValueLayout.JAVA_LONG, pt + 8 * 5, 0x7000 | P);       // va 0x4000_5000 read-only
        seg.set(ValueLayout.JAVA_LONG, pd + 8 * 1, 0x40_0000 | P | RW | PS); // va 0x4020_0000, 2 MiB
        PageWalker w = new PageWalker(ram, new PagingState(WP_PG, pdpt, PagingState.CR4_PAE, 0));
        assertEquals(PagingMode.PAE, new PagingState(WP_PG, pdpt, PagingState.CR4_PAE, 0).mode());
        assertEquals(0x7ABC, w.toPhysical(0x4000_5ABCL, false));
        assertEquals(AddressTranslator.FAULT, w.toPhysical(0x4000_5ABCL, true));
        assertEquals(0x40_0000 + 0x1_0001, w.toPhysical(0x4021_0001L, true));
        assertEquals(AddressTranslator.FAULT, w.toPhysical(0x0000_1000L, false), "PDPTE 0 not present");
        assertEquals(0x7ABC, w.toPhysical(0xFFFF_FFFF_4000_5ABCL, false), "linear addresses are 32 bits");
    }

    @Test
    void twoLevelWalkWith4KiBAndPse4MiBPages() {
        long pd = newTable();
        long pt = newTable();
        seg.set(ValueLayout.JAVA_INT, pd + 4 * 1, (int) (pt | P | RW));                  // 4-8 MiB via a page table
        seg.set(ValueLayout.JAVA_INT, pt + 4 * 3, (int) (0x9000 | P | RW));              // va 0x0040_3000
        seg.set(ValueLayout.JAVA_INT, pd + 4 * 2, (int) (0x40_0000 | P | RW | PS));      // va 0x0080_0000, 4 MiB
        seg.set(ValueLayout.JAVA_INT, pd + 4 * 3, (int) (0x40_0000 | (1 << 13) | P | PS)); // PSE-36: physical 4 GiB + 4 MiB
        PagingState pse = new PagingState(WP_PG, pd, PagingState.CR4_PSE, 0);
        PageWalker w = new PageWalker(ram, pse);
        assertEquals(PagingMode.TWO_LEVEL, pse.mode());
        assertEquals(0x9FFF, w.toPhysical(0x0040_3FFFL, true));
        assertEquals(0x40_0000 + 0x2_3456, w.toPhysical(0x0082_3456L, false));
        assertEquals((1L << 32) + 0x40_0000, w.toPhysical(0x00C0_0000L, false));
        assertEquals(AddressTranslator.FAULT, w.toPhysical(0x00C0_0000L, true), "read-only 4 MiB page");
        // Without CR4.PSE the PS bit is ignored: the PDE points at a page table (here: frame 0x40_0000).
        PageWalker noPse = new PageWalker(ram, new PagingState(WP_PG, pd, 0, 0));
        seg.set(ValueLayout.JAVA_INT, 0x40_0000 + 4 * 0x23, (int) (0xA000 | P));
        assertEquals(0xA456, noPse.toPhysical(0x0082_3456L, false));
        assertTrue((seg.get(ValueLayout.JAVA_INT, pd + 4 * 1) & A) != 0);
        assertFalse((seg.get(ValueLayout.JAVA_INT, pd + 4 * 1) & D) != 0);
    }

    @Test
    void copiesStraddlePagesMappedToUnrelatedFrames() {
        long cr3 = newTable();
        mapLong(cr3, 4, 0x10_0000_0000L, 0x8000, P | RW, 1);
        mapLong(cr3, 4, 0x10_0000_1000L, 0x3000, P | RW, 1);
        GuestVirtualMemory vm = new GuestVirtualMemory(ram, longMode(cr3, false));
        byte[] data = {1, 2, 3, 4, 5, 6, 7, 8};
        assertEquals(0, vm.write(0x10_0000_0FFCL, MemorySegment.ofArray(data)));
        assertEquals(0x04030201, seg.get(ValueLayout.JAVA_INT_UNALIGNED, 0x8FFC));
        assertEquals(0x08070605, seg.get(ValueLayout.JAVA_INT_UNALIGNED, 0x3000));
        assertEquals(0x08070605L, vm.readU32(0x10_0000_1000L));
        assertEquals(-Errno.EFAULT, vm.read(0x10_0000_1FFCL, MemorySegment.ofArray(new byte[8])), "second page unmapped");
    }
}
