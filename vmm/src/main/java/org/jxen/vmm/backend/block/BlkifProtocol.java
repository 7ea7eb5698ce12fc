package org.jxen.vmm.backend.block;

/**
 * The two x86 layouts of the block ring a frontend can name in its {@code protocol} node
 * ({@code public/io/protocols.h}), as Linux's blkback reads them ({@code drivers/block/xen-blkback/common.h},
 * {@code blkif_get_x86_32_req}/{@code _64_req}): {@code x86_64-abi}, the native one, where the 64-bit id is 8-byte
 * aligned, and {@code x86_32-abi} ({@code #pragma pack(4)}: every 64-bit field 4-byte aligned), which a 32-bit
 * frontend such as PVH GRUB's writes. The operation, segment count and indirect header bytes, the segment entries and
 * the response's fields sit at the same offsets in both; the slots differ.
 */
enum BlkifProtocol {
    X86_64("x86_64-abi", 112, 16, 8, 16, 24, 24, 28),
    X86_32("x86_32-abi", 108, 12, 4, 12, 20, 20, 24);

    /** The name in XenStore. */
    final String key;
    /** sizeof(union blkif_sring_entry): the request, the larger member; sizeof(struct blkif_response). */
    final int slotSize, responseSize;
    /** Offsets in a request: id, sector_number, seg[0], the discard's nr_sectors, the indirect request's grefs. */
    final int id, sector, segments, discardNrSectors, indirectGrefs;

    BlkifProtocol(String key, int slotSize, int responseSize, int id, int sector, int segments, int discardNrSectors, int indirectGrefs) {
        this.key = key;
        this.slotSize = slotSize;
        this.responseSize = responseSize;
        this.id = id;
        this.sector = sector;
        this.segments = segments;
        this.discardNrSectors = discardNrSectors;
        this.indirectGrefs = indirectGrefs;
    }

    /** The protocol a frontend's {@code protocol} node names; absent means the backend's native one; null if unknown. */
    static BlkifProtocol named(String key) {
        if (key == null) return X86_64;
        for (BlkifProtocol p : values()) if (p.key.equals(key)) return p;
        return null;
    }
}
