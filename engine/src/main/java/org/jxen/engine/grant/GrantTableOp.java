package org.jxen.engine.grant;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.memory.GuestVirtualMemory;

/**
 * HYPERVISOR_grant_table_op(cmd, uop, count) for the guest's own table, version 1: GNTTABOP_setup_table (grow, and
 * report each frame's gfn), query_size, set_version (1 only: version 2 is -ENOSYS, not implemented), get_version.
 * Per-op problems are reported in the struct's status (GNTST_*), as Xen does; a bad pointer is -EFAULT; count must be
 * 1 for these ops; other sub-ops -ENOSYS.
 */
public final class GrantTableOp {
    public static final int MAP_GRANT_REF = 0, UNMAP_GRANT_REF = 1, SETUP_TABLE = 2, DUMP_TABLE = 3, TRANSFER = 4,
            COPY = 5, QUERY_SIZE = 6, UNMAP_AND_REPLACE = 7, SET_VERSION = 8, GET_STATUS_FRAMES = 9, GET_VERSION = 10;
    public static final int GNTST_OKAY = 0, GNTST_GENERAL_ERROR = -1, GNTST_BAD_DOMAIN = -2, GNTST_PERMISSION_DENIED = -8;

    private final GrantTable table;
    private final int domid;

    public GrantTableOp(GrantTable table, int domid) {
        this.table = table;
        this.domid = domid;
    }

    /** The GNTST_* form of {@link DomId#checkSelf}. */
    private int domainStatus(int dom) {
        return switch (DomId.checkSelf(dom, domid)) {
            case 0 -> GNTST_OKAY;
            case -Errno.EPERM -> GNTST_PERMISSION_DENIED;
            default -> GNTST_BAD_DOMAIN;
        };
    }

    public long handle(HypercallArgs args, GuestVirtualMemory mem) {
        int cmd = HypercallArgs.u32(args.a1());
        long uop = args.a2();
        int count = HypercallArgs.u32(args.a3());
        return switch (cmd) {
            case SETUP_TABLE -> count != 1 ? -Errno.EINVAL : setupTable(args.mode() == GuestWidth.BITS_64, uop, mem);
            case QUERY_SIZE -> count != 1 ? -Errno.EINVAL : querySize(uop, mem);
            case SET_VERSION -> count != 1 ? -Errno.EINVAL : setVersion(uop, mem);
            case GET_VERSION -> count != 1 ? -Errno.EINVAL : getVersion(uop, mem);
            default -> -Errno.ENOSYS;
        };
    }

    private long setupTable(boolean wide, long uop, GuestVirtualMemory mem) {
        // struct gnttab_setup_table { domid_t dom; uint32_t nr_frames; int16_t status; XEN_GUEST_HANDLE(xen_pfn_t) frame_list; }
        MemorySegment s = MemorySegment.ofArray(new byte[wide ? 24 : 16]);
        int rc = mem.read(uop, s);
        if (rc != 0) return rc;
        int status = domainStatus(Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0)));
        int nr = s.get(ValueLayout.JAVA_INT_UNALIGNED, 4);
        long list = wide ? s.get(ValueLayout.JAVA_LONG_UNALIGNED, 16) : Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, 12));
        if (status == GNTST_OKAY && (nr < 0 || !table.grow(nr))) status = GNTST_GENERAL_ERROR;
        if (status == GNTST_OKAY) {
            int width = wide ? 8 : 4;
            MemorySegment gfns = MemorySegment.ofArray(new byte[nr * width]);
            for (int i = 0; i < nr; i++) {
                long gfn = table.gfn(i);
                if (wide) gfns.set(ValueLayout.JAVA_LONG_UNALIGNED, (long) i * 8, gfn);
                else gfns.set(ValueLayout.JAVA_INT_UNALIGNED, (long) i * 4, (int) gfn);
            }
            if (nr > 0 && mem.write(list, gfns) != 0) return -Errno.EFAULT;
        }
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, 8, (short) status);
        return mem.write(uop, s) == 0 ? 0 : -Errno.EFAULT;
    }

    private long querySize(long uop, GuestVirtualMemory mem) {
        // struct gnttab_query_size { domid_t dom; uint32_t nr_frames, max_nr_frames; int16_t status; }
        MemorySegment s = MemorySegment.ofArray(new byte[16]);
        int rc = mem.read(uop, s);
        if (rc != 0) return rc;
        int status = domainStatus(Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0)));
        if (status == GNTST_OKAY) {
            s.set(ValueLayout.JAVA_INT_UNALIGNED, 4, table.frames());
            s.set(ValueLayout.JAVA_INT_UNALIGNED, 8, table.maxFrames());
        }
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, 12, (short) status);
        return mem.write(uop, s) == 0 ? 0 : -Errno.EFAULT;
    }

    private long setVersion(long uop, GuestVirtualMemory mem) {
        long v = mem.readU32(uop);
        if (v < 0) return v;
        if (v == 2) return -Errno.ENOSYS; // grant tables v2 are not implemented
        if (v != 1) return -Errno.EINVAL;
        return getVersionInto(uop, mem, 0);
    }

    private long getVersion(long uop, GuestVirtualMemory mem) {
        // struct gnttab_get_version { domid_t dom; uint16_t pad; uint32_t version; }
        MemorySegment s = MemorySegment.ofArray(new byte[8]);
        int rc = mem.read(uop, s);
        if (rc != 0) return rc;
        int denied = DomId.checkSelf(Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0)), domid);
        return denied != 0 ? denied : getVersionInto(uop, mem, 4);
    }

    private static long getVersionInto(long uop, GuestVirtualMemory mem, long offset) {
        MemorySegment v = MemorySegment.ofArray(new byte[4]);
        v.set(ValueLayout.JAVA_INT_UNALIGNED, 0, 1);
        return mem.write(uop + offset, v) == 0 ? 0 : -Errno.EFAULT;
    }
}
