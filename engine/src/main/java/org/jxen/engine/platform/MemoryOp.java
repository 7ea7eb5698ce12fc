package org.jxen.engine.platform;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Optional;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.memory.GuestVirtualMemory;

/**
 * HYPERVISOR_memory_op, the part event channels need ({@code public/memory.h}): XENMEM_add_to_physmap with
 * XENMAPSPACE_shared_info places shared_info at a RAM gfn the guest chooses; from then on shared_info is that guest
 * page and every pending bit lands there; XENMAPSPACE_grant_table places grant-table frame idx the same way. Other
 * spaces and commands: errnos (the rest of memory_op is the VMM's).
 */
public final class MemoryOp {
    public static final int ADD_TO_PHYSMAP = 7;
    public static final int MAPSPACE_SHARED_INFO = 0, MAPSPACE_GRANT_TABLE = 1;
    /** MEMOP_CMD_MASK: the low bits are the command, the rest a continuation's start extent. */
    private static final int CMD_MASK = 0x3F;

    private final PortManager ports;
    private final GuestMemory ram;
    private final org.jxen.engine.grant.GrantTable grants;

    public MemoryOp(PortManager ports, GuestMemory ram) {
        this(ports, ram, null);
    }

    /** @param grants the guest's grant table, whose frames XENMAPSPACE_grant_table places (null: none) */
    public MemoryOp(PortManager ports, GuestMemory ram, org.jxen.engine.grant.GrantTable grants) {
        this.ports = ports;
        this.ram = ram;
        this.grants = grants;
    }

    public long handle(HypercallArgs args, GuestVirtualMemory mem) {
        int cmd = HypercallArgs.u32(args.a1()) & CMD_MASK;
        if (cmd != ADD_TO_PHYSMAP) return -Errno.ENOSYS;
        boolean wide = args.mode() == GuestWidth.BITS_64;
        // struct xen_add_to_physmap { domid_t domid; uint16_t size; unsigned int space; xen_ulong_t idx; xen_pfn_t gpfn; }
        MemorySegment s = MemorySegment.ofArray(new byte[wide ? 24 : 16]);
        int rc = mem.read(args.a2(), s);
        if (rc != 0) return rc;
        int domid = Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0));
        int space = s.get(ValueLayout.JAVA_INT_UNALIGNED, 4);
        long idx = wide ? s.get(ValueLayout.JAVA_LONG_UNALIGNED, 8) : Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, 8));
        long gpfn = wide ? s.get(ValueLayout.JAVA_LONG_UNALIGNED, 16) : Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, 12));
        int denied = DomId.checkSelf(domid, ports.guest().domid());
        if (denied != 0) return denied;
        Optional<GuestRegion> page = ram.page(gpfn);
        if (space == MAPSPACE_GRANT_TABLE && grants != null) {
            if (page.isEmpty() || idx > Integer.MAX_VALUE) return -Errno.EINVAL;
            return grants.place((int) idx, gpfn, page.get());
        }
        if (space != MAPSPACE_SHARED_INFO) return -Errno.EINVAL; // gmfn, gmfn_range, foreign, dev_mmio: not here
        if (idx != 0) return -Errno.EINVAL;
        if (page.isEmpty()) return -Errno.EINVAL;
        ports.withWriteLock(() -> ports.guest().shared().relocateSharedInfo(page.get()));
        return 0;
    }
}
