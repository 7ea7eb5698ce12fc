package org.jxen.engine.memory;

import java.util.Optional;

/**
 * Translates a guest-linear address for a hypercall's copy_from_guest / copy_to_guest by walking the calling vCPU's
 * page tables in guest RAM, as Xen's guest_walk_tables does for a supervisor data access: every level must be
 * present, a write needs every level writable when CR0.WP is set, reserved-bit violations fault, and the walk sets
 * the Accessed bit on each entry it uses and the Dirty bit on the leaf of a write (atomically: the guest's own
 * vCPUs update the same entries). A table that lies outside RAM is a fault, never a host access.
 *
 * <p>One walker serves one hypercall (it is built from the vCPU's registers at the call); it keeps no cache, so a
 * guest that changes its tables between two calls is always seen as it is.
 */
public final class PageWalker implements AddressTranslator {
    private static final long P = 1, RW = 1 << 1, ACCESSED = 1 << 5, DIRTY = 1 << 6, PS = 1 << 7;
    /** Physical-address bits of an 8-byte entry: 51:12 (MAXPHYADDR 52). */
    private static final long ADDR_MASK = 0x000F_FFFF_FFFF_F000L;
    /** Bits 62:52 of an 8-byte entry are ignored or protection keys; bit 63 is XD. Only PS in a top level is reserved. */
    private static final long LOW32 = 0xFFFF_FFFFL;

    private final GuestMemory ram;
    private final PagingState state;
    private final PagingMode mode;

    public PageWalker(GuestMemory ram, PagingState state) {
        this.ram = ram;
        this.state = state;
        this.mode = state.mode();
    }

    /** The translator for {@code state}: the identity (truncated to 32 bits) when paging is off. */
    public static AddressTranslator of(GuestMemory ram, PagingState state) {
        return state.mode() == PagingMode.OFF ? (gva, write) -> gva & LOW32 : new PageWalker(ram, state);
    }

    @Override
    public long toPhysical(long gva, boolean write) {
        return switch (mode) {
            case OFF -> gva & LOW32;
            case TWO_LEVEL -> walk32(gva & LOW32, write);
            case PAE -> walkPae(gva & LOW32, write);
            case FOUR_LEVEL -> walkLong(gva, write, 4);
            case FIVE_LEVEL -> walkLong(gva, write, 5);
        };
    }

    private long walk32(long va, boolean write) {
        long pdeAt = (state.cr3() & 0xFFFF_F000L) + ((va >>> 22) & 0x3FF) * 4;
        long pde = entry32(pdeAt);
        if (!usable(pde, write)) return FAULT;
        if ((pde & PS) != 0 && state.pse()) {
            // 4 MiB page; PSE-36 puts physical bits 39:32 in entry bits 20:13.
            long base = (pde & 0xFFC0_0000L) | (((pde >>> 13) & 0xFF) << 32);
            touch(pdeAt, true, write);
            return base | (va & 0x3F_FFFF);
        }
        long pteAt = (pde & 0xFFFF_F000L) + ((va >>> 12) & 0x3FF) * 4;
        long pte = entry32(pteAt);
        if (!usable(pte, write)) return FAULT;
        touch(pdeAt, false, false);
        touch(pteAt, true, write);
        return (pte & 0xFFFF_F000L) | (va & 0xFFF);
    }

    private long walkPae(long va, boolean write) {
        // The PDPTEs have no R/W bit (they are loaded into the CPU at CR3 load); only P counts.
        long pdpte = entry64((state.cr3() & 0xFFFF_FFE0L) + ((va >>> 30) & 3) * 8);
        if (pdpte == FAULT || (pdpte & P) == 0) return FAULT;
        long pdeAt = (pdpte & ADDR_MASK) + ((va >>> 21) & 0x1FF) * 8;
        long pde = entry64(pdeAt);
        if (!usable(pde, write)) return FAULT;
        if ((pde & PS) != 0) {
            touch(pdeAt, true, write);
            return (pde & ADDR_MASK & ~0x1F_FFFFL) | (va & 0x1F_FFFF);
        }
        long pteAt = (pde & ADDR_MASK) + ((va >>> 12) & 0x1FF) * 8;
        long pte = entry64(pteAt);
        if (!usable(pte, write)) return FAULT;
        touch(pdeAt, false, false);
        touch(pteAt, true, write);
        return (pte & ADDR_MASK) | (va & 0xFFF);
    }

    private long walkLong(long va, boolean write, int levels) {
        int vaBits = levels == 5 ? 57 : 48;
        if ((va << (64 - vaBits)) >> (64 - vaBits) != va) return FAULT; // non-canonical: #GP on hardware
        long table = state.cr3() & ADDR_MASK;
        long[] used = new long[levels];
        for (int level = levels; level >= 1; level--) {
            int shift = 12 + 9 * (level - 1);
            long at = table + ((va >>> shift) & 0x1FF) * 8;
            long e = entry64(at);
            if (!usable(e, write)) return FAULT;
            used[levels - level] = at;
            boolean large = (e & PS) != 0 && level > 1;
            if (large && level > 3) return FAULT; // PS is reserved in PML5E/PML4E
            if (large || level == 1) {
                for (int i = 0; i < levels - level; i++) touch(used[i], false, false);
                touch(at, true, write);
                long pageMask = (1L << shift) - 1;
                return (e & ADDR_MASK & ~pageMask) | (va & pageMask);
            }
            table = e & ADDR_MASK;
        }
        throw new AssertionError("unreachable: level 1 always returns");
    }

    private boolean usable(long entry, boolean write) {
        if (entry == FAULT || (entry & P) == 0) return false;
        return !write || (entry & RW) != 0 || !state.writeProtect();
    }

    /** The 4-byte entry at {@code gpa}, zero-extended, or FAULT if it is not in RAM. */
    private long entry32(long gpa) {
        Optional<GuestRegion> r = ram.region(gpa, 4);
        return r.isEmpty() ? FAULT : Integer.toUnsignedLong(r.get().getIntVolatile(0));
    }

    /** The 8-byte entry at {@code gpa}, or FAULT if it is not in RAM (an entry of all ones is never present-valid). */
    private long entry64(long gpa) {
        Optional<GuestRegion> r = ram.region(gpa, 8);
        if (r.isEmpty()) return FAULT;
        long e = r.get().getLongVolatile(0);
        return e == FAULT ? 0 : e; // all ones would alias FAULT; it has reserved bits set, so treat it as not present
    }

    /** Sets Accessed on an entry the walk used, and Dirty on the leaf of a write (the low word of 4- and 8-byte entries). */
    private void touch(long gpa, boolean leaf, boolean write) {
        long bits = ACCESSED | (leaf && write ? DIRTY : 0);
        // The walk read this entry a moment ago, but another vCPU may have given its frame back since.
        Optional<GuestRegion> r = ram.region(gpa, 4);
        if (r.isPresent() && (r.get().getIntVolatile(0) & bits) != bits) r.get().getAndBitwiseOrInt(0, (int) bits);
    }
}
