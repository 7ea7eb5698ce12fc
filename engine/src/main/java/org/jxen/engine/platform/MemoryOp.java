package org.jxen.engine.platform;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.LongConsumer;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.memory.GuestVirtualMemory;
import org.jxen.engine.memory.HoleFrames;
import org.jxen.engine.grant.GrantTable;

/**
 * HYPERVISOR_memory_op ({@code public/memory.h}): XENMEM_memory_map (min(requested, offered) packed e820 entries),
 * XENMEM_set_memory_map (the domain's own map replaced, as x86's arch_memory_op does for a domain acting on itself: a
 * PVH GRUB hands its edited map back), current/maximum_reservation (every RAM page: no ballooning yet),
 * maximum_ram_page, and XENMEM_add_to_physmap: XENMAPSPACE_shared_info places shared_info at a gfn the guest chooses,
 * in RAM or in a hole outside it ({@link HoleFrames}); from then on shared_info is that guest page and every pending
 * bit lands there; XENMAPSPACE_grant_table places grant-table frame idx the same way. Other spaces and commands:
 * errnos (the rest of memory_op is the VMM's). Every struct is read in the layout of the calling guest's width (the
 * compat layouts of {@code xen/include/compat/memory.h}: 32-bit xen_ulong_t, xen_pfn_t and handles).
 */
public final class MemoryOp {
    public static final int INCREASE_RESERVATION = 0, DECREASE_RESERVATION = 1, POPULATE_PHYSMAP = 6;
    /** XENMEMF_populate_on_demand, XENMEMF_exact_node_request, XENMEMF_vnode; the low byte is address_bits. */
    public static final int MEMF_POD = 1 << 16, MEMF_EXACT_NODE = 1 << 17, MEMF_VNODE = 1 << 18;
    /** The largest extent order a domU may use (Xen's CONFIG_DOMU_MAX_ORDER). */
    public static final int DOMU_MAX_ORDER = 9;
    /**
     * Extents one call works through before it returns the number done (Xen preempts into a hypercall continuation
     * instead; jxen has none yet). Far above what guests ask at once: Linux's balloon driver sends at most 512.
     */
    public static final long MAX_EXTENTS_PER_CALL = 1L << 16;
    public static final int MAXIMUM_RAM_PAGE = 2, CURRENT_RESERVATION = 3, MAXIMUM_RESERVATION = 4, ADD_TO_PHYSMAP = 7,
            MEMORY_MAP = 9, SET_MEMORY_MAP = 13;
    /** The most entries XENMEM_set_memory_map takes (Xen's E820MAX, {@code arch/x86/include/asm/e820.h}). */
    public static final int E820_MAX = 1024;
    public static final int MAPSPACE_SHARED_INFO = 0, MAPSPACE_GRANT_TABLE = 1;
    /** MEMOP_CMD_MASK: the low bits are the command, the rest a continuation's start extent. */
    private static final int CMD_MASK = 0x3F;

    private final PortManager ports;
    private final GuestMemory ram;
    private final GrantTable grants;
    /** What XENMEM_memory_map offers: the toolstack's map until the guest sets its own. */
    private volatile List<E820Entry> memoryMap;
    /** The gfn shared_info is placed at, or -1 while it is Xen's private page (guarded by this). */
    private long sharedInfoGfn = -1;
    /** Told of every frame the guest gives back, so the VMM can release the host page (madvise). */
    private volatile LongConsumer released = gfn -> {};
    private volatile HoleFrames holes = HoleFrames.NONE;

    public MemoryOp(PortManager ports, GuestMemory ram) {
        this(ports, ram, null, List.of());
    }

    public MemoryOp(PortManager ports, GuestMemory ram, GrantTable grants) {
        this(ports, ram, grants, List.of());
    }

    /**
     * @param grants the guest's grant table, whose frames XENMAPSPACE_grant_table places (null: none)
     * @param memoryMap what XENMEM_memory_map offers (empty: -ENOSYS, as Xen without an e820)
     */
    public MemoryOp(PortManager ports, GuestMemory ram, GrantTable grants, List<E820Entry> memoryMap) {
        this.ports = ports;
        this.ram = ram;
        this.grants = grants;
        this.memoryMap = List.copyOf(memoryMap);
    }

    /** Where grant frames placed above RAM live (the VMM's host pages at those gfns). */
    public void onHoles(HoleFrames frames) {
        this.holes = frames;
    }

    /** The VMM's hook for frames given back (their host memory can be returned to the host). */
    public void onRelease(LongConsumer hook) {
        this.released = hook;
    }

    public long handle(HypercallArgs args, GuestVirtualMemory mem) {
        int raw = HypercallArgs.u32(args.a1());
        int cmd = raw & CMD_MASK;
        boolean wide = args.mode() == GuestWidth.BITS_64;
        return switch (cmd) {
            case DECREASE_RESERVATION, POPULATE_PHYSMAP, INCREASE_RESERVATION ->
                    reservation(cmd, Integer.toUnsignedLong(raw) >>> 6, wide, args.a2(), mem);
            case ADD_TO_PHYSMAP -> addToPhysmap(wide, args, mem);
            case MEMORY_MAP -> memoryMap(wide, args.a2(), mem);
            case SET_MEMORY_MAP -> setMemoryMap(wide, args.a2(), mem);
            case MAXIMUM_RAM_PAGE -> raw != cmd ? -Errno.EINVAL : ram.size() / GuestMemory.PAGE_SIZE - 1;
            case CURRENT_RESERVATION, MAXIMUM_RESERVATION -> {
                MemorySegment domid = MemorySegment.ofArray(new byte[2]); // domid_t
                int rc = mem.read(args.a2(), domid);
                if (rc != 0) yield rc;
                int denied = DomId.checkSelf(Short.toUnsignedInt(domid.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0)), ports.guest().domid());
                if (denied != 0) yield denied;
                yield cmd == MAXIMUM_RESERVATION ? ram.frames() : ram.populatedFrames();
            }
            default -> -Errno.ENOSYS;
        };
    }

    /**
     * decrease_reservation, populate_physmap (and increase_reservation, which an HVM guest cannot use: no machine frames
     * to hand out) over a guest list of frame numbers, as Xen's do_memory_op: the result is the number of extents done,
     * stopping at the first that cannot be (a frame already given back, a bad list entry), so a guest-chosen count costs
     * at most one list read per extent done and never an allocation. {@code start} is a continuation's first extent.
     */
    private long reservation(int cmd, long start, boolean wide, long arg, GuestVirtualMemory mem) {
        // struct xen_memory_reservation { handle extent_start; xen_ulong_t nr_extents; uint extent_order;
        //                                 uint mem_flags; domid_t domid; }
        MemorySegment s = MemorySegment.ofArray(new byte[wide ? 32 : 20]);
        int rc = mem.read(arg, s);
        if (rc != 0) return rc;
        long list = wide ? s.get(ValueLayout.JAVA_LONG_UNALIGNED, 0) : Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, 0));
        long count = wide ? s.get(ValueLayout.JAVA_LONG_UNALIGNED, 8) : Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, 4));
        int order = s.get(ValueLayout.JAVA_INT_UNALIGNED, wide ? 16 : 8);
        int flags = s.get(ValueLayout.JAVA_INT_UNALIGNED, wide ? 20 : 12);
        int domid = Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, wide ? 24 : 16));
        if (Long.compareUnsigned(start, count) >= 0) return start;
        if (Integer.compareUnsigned(order, DOMU_MAX_ORDER) > 0) return start;
        int denied = DomId.checkSelf(domid, ports.guest().domid());
        if (denied != 0) return denied;
        if (cmd == INCREASE_RESERVATION) return start; // an auto-translated guest gets no machine frames this way
        int addressBits = flags & 0xFF;
        if (cmd == POPULATE_PHYSMAP && ((flags & MEMF_POD) != 0 || (addressBits != 0 && addressBits <= GuestMemory.PAGE_SHIFT)))
            return start; // no populate-on-demand; address_bits too small for any page
        int width = wide ? 8 : 4;
        long pages = 1L << order;
        long end = Long.compareUnsigned(count - start, MAX_EXTENTS_PER_CALL) > 0 ? start + MAX_EXTENTS_PER_CALL : count;
        for (long i = start; Long.compareUnsigned(i, end) < 0; i++) {
            MemorySegment e = MemorySegment.ofArray(new byte[width]);
            if (mem.read(list + i * width, e) != 0) return i;
            long gfn = wide ? e.get(ValueLayout.JAVA_LONG_UNALIGNED, 0) : Integer.toUnsignedLong(e.get(ValueLayout.JAVA_INT_UNALIGNED, 0));
            if ((gfn & (pages - 1)) != 0 || gfn < 0 || gfn > ram.frames() - pages) return i; // misaligned or beyond RAM
            if (cmd == DECREASE_RESERVATION) {
                for (long p = 0; p < pages; p++) if (!ram.populated(gfn + p)) return i; // already given back: not done
                for (long p = 0; p < pages; p++) {
                    ram.depopulate(gfn + p);
                    released.accept(gfn + p);
                }
            } else {
                for (long p = 0; p < pages; p++) ram.populate(gfn + p); // a populated frame stays as it is
            }
        }
        return end;
    }

    /**
     * Grant frame {@code idx} at {@code gfn} (common/grant_table.c gnttab_map_frame, then guest_physmap_add_page: the
     * frame replaces whatever the gfn held). A RAM frame the guest gave back becomes populated again; a gfn above RAM
     * is a hole the VMM backs ({@link HoleFrames}); a hole page the frame leaves is released.
     */
    private synchronized long placeGrantFrame(int idx, long gfn, Optional<GuestRegion> ramPage) {
        Optional<GuestRegion> page = ramPage;
        boolean hole = false;
        if (page.isEmpty() && gfn >= 0 && gfn < ram.frames()) {
            ram.populate(gfn);
            page = ram.page(gfn);
        } else if (page.isEmpty()) {
            page = holes.map(gfn);
            hole = true;
        }
        if (page.isEmpty()) return -Errno.EINVAL;
        long previous = grants.gfn(idx);
        int rc = grants.place(idx, gfn, page.get());
        if (rc != 0) {
            if (hole) releaseHole(gfn);
            return rc;
        }
        if (previous != gfn) releaseHole(previous);

        return 0;
    }

    /**
     * Gives a hole page back to the VMM once nothing of Xen's is placed there any more (a grant frame or shared_info
     * moved away); RAM gfns and INVALID_GFN (-1) are left alone.
     */
    private void releaseHole(long gfn) {
        if (gfn < ram.frames()) return;
        if (gfn == sharedInfoGfn) return;
        if (grants != null) for (int i = 0; i < grants.frames(); i++) if (grants.gfn(i) == gfn) return;
        holes.unmap(gfn);
    }

    private long memoryMap(boolean wide, long arg, GuestVirtualMemory mem) {
        // struct xen_memory_map { unsigned int nr_entries; XEN_GUEST_HANDLE(void) buffer; }
        MemorySegment s = MemorySegment.ofArray(new byte[wide ? 16 : 8]);
        int rc = mem.read(arg, s);
        if (rc != 0) return rc;
        List<E820Entry> offered = memoryMap;
        if (offered.isEmpty()) return -Errno.ENOSYS;
        int n = (int) Math.min(Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, 0)), offered.size());
        long buffer = wide ? s.get(ValueLayout.JAVA_LONG_UNALIGNED, 8) : Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, 4));
        MemorySegment entries = MemorySegment.ofArray(new byte[n * E820Entry.SIZE]);
        for (int i = 0; i < n; i++) {
            E820Entry e = offered.get(i);
            entries.set(ValueLayout.JAVA_LONG_UNALIGNED, (long) i * E820Entry.SIZE, e.addr());
            entries.set(ValueLayout.JAVA_LONG_UNALIGNED, (long) i * E820Entry.SIZE + 8, e.size());
            entries.set(ValueLayout.JAVA_INT_UNALIGNED, (long) i * E820Entry.SIZE + 16, e.type());
        }
        if (n > 0 && mem.write(buffer, entries) != 0) return -Errno.EFAULT;
        s.set(ValueLayout.JAVA_INT_UNALIGNED, 0, n);
        return mem.write(arg, s) == 0 ? 0 : -Errno.EFAULT;
    }

    /**
     * XENMEM_set_memory_map as x86's arch_memory_op (xen/arch/x86/mm.c) does it: the struct (-EFAULT), at most
     * E820MAX entries (-EINVAL), the domain (rcu_lock_domain_by_any_id, then XSM_TARGET: only itself), the entries
     * (-EFAULT); then the map XENMEM_memory_map offers is the one given (none, for zero entries: -ENOSYS from then on).
     */
    private long setMemoryMap(boolean wide, long arg, GuestVirtualMemory mem) {
        // struct xen_foreign_memory_map { domid_t domid; struct xen_memory_map map; } (map 8-aligned in 64-bit)
        MemorySegment s = MemorySegment.ofArray(new byte[wide ? 24 : 12]);
        int rc = mem.read(arg, s);
        if (rc != 0) return rc;
        int domid = Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0));
        long n = Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, wide ? 8 : 4));
        long buffer = wide ? s.get(ValueLayout.JAVA_LONG_UNALIGNED, 16) : Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, 8));
        if (n > E820_MAX) return -Errno.EINVAL;
        int denied = DomId.checkSelf(domid, ports.guest().domid());
        if (denied != 0) return denied;
        MemorySegment entries = MemorySegment.ofArray(new byte[(int) n * E820Entry.SIZE]);
        if (n > 0 && mem.read(buffer, entries) != 0) return -Errno.EFAULT;
        List<E820Entry> map = new ArrayList<>((int) n);
        for (int i = 0; i < n; i++) {
            long at = (long) i * E820Entry.SIZE;
            map.add(new E820Entry(entries.get(ValueLayout.JAVA_LONG_UNALIGNED, at), entries.get(ValueLayout.JAVA_LONG_UNALIGNED, at + 8),
                    entries.get(ValueLayout.JAVA_INT_UNALIGNED, at + 16)));
        }
        memoryMap = List.copyOf(map);
        return 0;
    }

    /** The map XENMEM_memory_map offers now (the guest may have set its own). */
    public List<E820Entry> memoryMap() {
        return memoryMap;
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
            if (idx >= grants.maxFrames()) return -Errno.EINVAL;
            return placeGrantFrame((int) idx, gpfn, page);
        }
        if (space != MAPSPACE_SHARED_INFO) return -Errno.EINVAL; // gmfn, gmfn_range, foreign, dev_mmio: not here
        if (idx != 0) return -Errno.EINVAL;
        return placeSharedInfo(gpfn, page);
    }

    /**
     * shared_info at {@code gfn} (xenmem_add_to_physmap_one, XENMAPSPACE_shared_info, then guest_physmap_add_page: the
     * page replaces whatever the gfn held): a RAM frame the guest gave back is populated again; a gfn outside RAM is a
     * hole the VMM backs ({@link HoleFrames}), as a PVH GRUB picks the first hole of its memory map; a hole page
     * shared_info leaves is released. The contents move with it (pvclock's vcpu_time_info included).
     */
    private synchronized long placeSharedInfo(long gfn, Optional<GuestRegion> ramPage) {
        Optional<GuestRegion> page = ramPage;
        if (page.isEmpty() && gfn >= 0 && gfn < ram.frames()) {
            ram.populate(gfn);
            page = ram.page(gfn);
        } else if (page.isEmpty()) {
            page = holes.map(gfn);
        }
        if (page.isEmpty()) return -Errno.EINVAL;
        GuestRegion placed = page.get();
        ports.withWriteLock(() -> ports.guest().shared().relocateSharedInfo(placed));
        long previous = sharedInfoGfn;
        sharedInfoGfn = gfn;
        if (previous != gfn) releaseHole(previous);
        return 0;
    }
}
