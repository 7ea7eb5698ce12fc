package org.jxen.engine.memory;

/** The x86 paging modes (SDM vol. 3, 4.1.1). */
public enum PagingMode {
    /** CR0.PG = 0: linear addresses are physical (the PVH entry state). */
    OFF,
    /** 32-bit paging: two levels of 4-byte entries, optional 4 MiB pages (CR4.PSE). */
    TWO_LEVEL,
    /** PAE paging: a 4-entry PDPT, then two levels of 8-byte entries, 2 MiB pages. */
    PAE,
    /** 4-level paging (IA-32e): 48-bit canonical addresses, 1 GiB and 2 MiB pages. */
    FOUR_LEVEL,
    /** 5-level paging (CR4.LA57): 57-bit canonical addresses. */
    FIVE_LEVEL
}
