package org.jxen.engine.memory;

/**
 * The control registers that decide how a vCPU translates linear addresses at the moment of a hypercall (read from
 * the vCPU's synced special registers). Bit positions are the architecture's (Intel SDM vol. 3, 2.5 and 4.1).
 */
public record PagingState(long cr0, long cr3, long cr4, long efer) {
    public static final long CR0_PE = 1L, CR0_WP = 1L << 16, CR0_PG = 1L << 31;
    public static final long CR4_PSE = 1L << 4, CR4_PAE = 1L << 5, CR4_LA57 = 1L << 12;
    public static final long EFER_LME = 1L << 8, EFER_LMA = 1L << 10;

    /** Paging off: linear = physical. */
    public static final PagingState FLAT = new PagingState(CR0_PE, 0, 0, 0);

    /** The paging mode these registers select (SDM table 4-1). */
    public PagingMode mode() {
        if ((cr0 & CR0_PG) == 0) return PagingMode.OFF;
        if ((cr4 & CR4_PAE) == 0) return PagingMode.TWO_LEVEL;
        if ((efer & EFER_LMA) == 0) return PagingMode.PAE;
        return (cr4 & CR4_LA57) != 0 ? PagingMode.FIVE_LEVEL : PagingMode.FOUR_LEVEL;
    }

    /** Whether supervisor writes honour read-only pages (CR0.WP). */
    public boolean writeProtect() {
        return (cr0 & CR0_WP) != 0;
    }

    /** Whether 4 MiB pages exist in 2-level paging (CR4.PSE; PAE and long mode always have large pages). */
    public boolean pse() {
        return (cr4 & CR4_PSE) != 0;
    }
}
