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
 * HYPERVISOR_memory_op ({@code public/memory.h}): XENMEM_memory_map (min(requested, offered) packed e820 entries),
 * current/maximum_reservation (every RAM page: no ballooning yet), maximum_ram_page, and XENMEM_add_to_physmap with
 * XENMAPSPACE_shared_info places shared_info at a RAM gfn the guest chooses; from then on shared_info is that guest
 * page and every pending bit lands there; XENMAPSPACE_grant_table places grant-table frame idx the same way. Other
 * spaces and commands: errnos (the rest of memory_op is the VMM's).
 */
public final class MemoryOp {
    public static final int MAXIMUM_RAM_PAGE = 2, CURRENT_RESERVATION = 3, MAXIMUM_RESERVATION = 4, ADD_TO_PHYSMAP = 7,
            MEMORY_MAP = 9;
    public static final int MAPSPACE_SHARED_INFO = 0, MAPSPACE_GRANT_TABLE = 1;
    /** MEMOP_CMD_MASK: the low bits are the command, the rest a continuation's start extent. */
    private static final int CMD_MASK = 0x3F;

    private final PortManager ports;
    private final GuestMemory ram;
    private final org.jxen.engine.grant.GrantTable grants;
    private final java.util.List<E820Entry> memoryMap;

    public MemoryOp(PortManager ports, GuestMemory ram) {
        this(ports, ram, null, java.util.List.of());
    }

    public MemoryOp(PortManager ports, GuestMemory ram, org.jxen.engine.grant.GrantTable grants) {
        this(ports, ram, grants, java.util.List.of());
    }

    /**
     * @param grants the guest's grant table, whose frames XENMAPSPACE_grant_table places (null: none)
     * @param memoryMap what XENMEM_memory_map offers (empty: -ENOSYS, as Xen without an e820)
     */
    public MemoryOp(PortManager ports, GuestMemory ram, org.jxen.engine.grant.GrantTable grants, java.util.List<E820Entry> memoryMap) {
        this.ports = ports;
        this.ram = ram;
        this.grants = grants;
        this.memoryMap = java.util.List.copyOf(memoryMap);
    }

    public long handle(HypercallArgs args, GuestVirtualMemory mem) {
        int raw = HypercallArgs.u32(args.a1());
        int cmd = raw & CMD_MASK;
        boolean wide = args.mode() == GuestWidth.BITS_64;
        return switch (cmd) {
            case ADD_TO_PHYSMAP -> addToPhysmap(wide, args, mem);
            case MEMORY_MAP -> memoryMap(wide, args.a2(), mem);
            case MAXIMUM_RAM_PAGE -> raw != cmd ? -Errno.EINVAL : ram.size() / GuestMemory.PAGE_SIZE - 1;
            case CURRENT_RESERVATION, MAXIMUM_RESERVATION -> {
                MemorySegment domid = MemorySegment.ofArray(new byte[2]); // domid_t
                int rc = mem.read(args.a2(), domid);
                if (rc != 0) yield rc;
                int denied = DomId.checkSelf(Short.toUnsignedInt(domid.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0)), ports.guest().domid());
                yield denied != 0 ? denied : ram.size() / GuestMemory.PAGE_SIZE; // every page populated; no ballooning yet
            }
            default -> -Errno.ENOSYS;
        };
    }

    private long memoryMap(boolean wide, long arg, GuestVirtualMemory mem) {
        // struct xen_memory_map { unsigned int nr_entries; XEN_GUEST_HANDLE(void) buffer; }
        MemorySegment s = MemorySegment.ofArray(new byte[wide ? 16 : 8]);
        int rc = mem.read(arg, s);
        if (rc != 0) return rc;
        if (memoryMap.isEmpty()) return -Errno.ENOSYS;
        int n = (int) Math.min(Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, 0)), memoryMap.size());
        long buffer = wide ? s.get(ValueLayout.JAVA_LONG_UNALIGNED, 8) : Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, 4));
        MemorySegment entries = MemorySegment.ofArray(new byte[n * E820Entry.SIZE]);
        for (int i = 0; i < n; i++) {
            E820Entry e = memoryMap.get(i);
            entries.set(ValueLayout.JAVA_LONG_UNALIGNED, (long) i * E820Entry.SIZE, e.addr());
            entries.set(ValueLayout.JAVA_LONG_UNALIGNED, (long) i * E820Entry.SIZE + 8, e.size());
            entries.set(ValueLayout.JAVA_INT_UNALIGNED, (long) i * E820Entry.SIZE + 16, e.type());
        }
        if (n > 0 && mem.write(buffer, entries) != 0) return -Errno.EFAULT;
        s.set(ValueLayout.JAVA_INT_UNALIGNED, 0, n);
        return mem.write(arg, s) == 0 ? 0 : -Errno.EFAULT;
    }

    private long addToPhysmap(boolean wide, HypercallArgs args, GuestVirtualMemory mem) {
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
