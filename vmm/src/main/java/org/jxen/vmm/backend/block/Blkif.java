package org.jxen.vmm.backend.block;

/**
 * The block ring's ABI ({@code public/io/blkif.h}; x86-64 layout, which Linux's packed structures in
 * {@code include/xen/interface/io/blkif.h} match): 112-byte request slots, 16-byte responses.
 */
final class Blkif {
    static final int OP_READ = 0, OP_WRITE = 1, OP_WRITE_BARRIER = 2, OP_FLUSH_DISKCACHE = 3, OP_DISCARD = 5, OP_INDIRECT = 6;
    static final short RSP_OKAY = 0, RSP_ERROR = -1, RSP_EOPNOTSUPP = -2;
    /** Slot size (sizeof(struct blkif_request), the larger member of the ring's union) and response size. */
    static final int REQUEST_SIZE = 112, RESPONSE_SIZE = 16;
    /** struct blkif_request: operation, nr_segments, handle, id, sector_number, seg[11] of {gref, first_sect, last_sect}. */
    static final int OPERATION = 0, NR_SEGMENTS = 1, ID = 8, SECTOR = 16, SEGMENTS = 24, SEGMENT_SIZE = 8, MAX_DIRECT_SEGMENTS = 11;
    /** struct blkif_request_discard: flag, id, sector_number, nr_sectors. */
    static final int DISCARD_NR_SECTORS = 24;
    /** struct blkif_request_indirect: indirect_op, nr_segments (16 bits), id, sector_number, handle, indirect_grefs[8]. */
    static final int INDIRECT_OP = 1, INDIRECT_NR_SEGMENTS = 2, INDIRECT_GREFS = 28, MAX_INDIRECT_PAGES = 8, SEGMENTS_PER_INDIRECT_PAGE = 512;
    /** struct blkif_response: id, operation, status. */
    static final int RSP_ID = 0, RSP_OPERATION = 8, RSP_STATUS = 10;
    /** What we offer: Linux blkback's MAX_INDIRECT_SEGMENTS, and rings of up to 16 pages (XENBUS_MAX_RING_GRANT_ORDER 4). */
    static final int MAX_INDIRECT_SEGMENTS = 256, MAX_RING_PAGE_ORDER = 4;
    /** 512-byte sectors; the info flag of a read-only disk. */
    static final int SECTOR_SHIFT = 9, SECTORS_PER_PAGE = 8, VDISK_READONLY = 4;
    /** Persistent grants kept mapped per ring (Linux blkback's default max_persistent_grants). */
    static final int MAX_PERSISTENT_GRANTS = 1056;

    private Blkif() {}
}
