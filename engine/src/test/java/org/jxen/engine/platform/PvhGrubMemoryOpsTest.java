package org.jxen.engine.platform;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.grant.GrantTable;
import org.jxen.engine.grant.GrantTableAccess;
import org.jxen.engine.grant.GrantTableOp;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.memory.HoleFrames;
import org.jxen.engine.pvclock.PvClock;
import org.jxen.engine.testing.EventFixture;

/**
 * The memory and grant-table ops a PVH GRUB makes at start (grub-core/kern/i386/xen/pvh.c, kern/xen/init.c), in the
 * 32-bit layouts it uses from protected mode, with Xen's answers: its memory map, the grant table and shared_info
 * placed in the first holes of that map, its edited map handed back (XENMEM_set_memory_map), grant table v1 set up.
 */
class PvhGrubMemoryOpsTest {
    private static final long ARG = 0x1800, LIST = 0x1C00;
    /** 256 KiB of RAM: 64 frames; the first hole GRUB finds is the frame after RAM. */
    private static final long RAM_FRAMES = 64, HOLE = RAM_FRAMES, NEXT_HOLE = RAM_FRAMES + 1;

    /** Host pages at gfns outside RAM, as the VMM gives them; remembers which are mapped now. */
    private static final class TestHoles implements HoleFrames {
        final Map<Long, GuestRegion> mapped = new HashMap<>();

        @Override
        public Optional<GuestRegion> map(long gfn) {
            return Optional.of(mapped.computeIfAbsent(gfn, g -> GuestRegion.of(Arena.ofAuto().allocate(4096, 4096), 0, 4096)));
        }

        @Override
        public void unmap(long gfn) {
            mapped.remove(gfn);
        }
    }

    private static EventFixture fixture() {
        return new EventFixture(GuestWidth.BITS_32, DomainConfig.of(1), 256 * 1024);
    }

    private static final List<E820Entry> TOOLSTACK_MAP = List.of(new E820Entry(0, 0xA0000, E820Entry.RAM),
            new E820Entry(0xA0000, 0x60000, E820Entry.RESERVED), new E820Entry(0x100000, 0x2E000, E820Entry.RAM),
            new E820Entry(0x3E000, 0x2000, E820Entry.RESERVED));

    /** struct xen_add_to_physmap in the 32-bit layout: domid, size, space, idx (32 bits), gpfn (32 bits). */
    private static long addToPhysmap32(EventFixture f, MemoryOp op, int domid, int space, int idx, long gpfn) {
        var s = f.ram.segment();
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) domid);
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG + 2, (short) 0);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, space);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, idx);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 12, (int) gpfn);
        return op.handle(HypercallArgs.from32(12, MemoryOp.ADD_TO_PHYSMAP, ARG, 0, 0, 0), f.vmem);
    }

    /** GRUB's map: entries of 20 bytes at LIST, then struct xen_foreign_memory_map (32-bit: domid, nr_entries at 4, buffer at 8). */
    private static long setMemoryMap32(EventFixture f, MemoryOp op, int domid, int nr, long buffer, List<E820Entry> entries) {
        var s = f.ram.segment();
        for (int i = 0; i < entries.size(); i++) {
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, LIST + 20L * i, entries.get(i).addr());
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, LIST + 20L * i + 8, entries.get(i).size());
            s.set(ValueLayout.JAVA_INT_UNALIGNED, LIST + 20L * i + 16, entries.get(i).type());
        }
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG, domid); // domid_t and its padding
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, nr);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, (int) buffer);
        return op.handle(HypercallArgs.from32(12, MemoryOp.SET_MEMORY_MAP, ARG, 0, 0, 0), f.vmem);
    }

    /** XENMEM_memory_map in the 32-bit layout (nr_entries, buffer at 4) into LIST; the entries Xen returned. */
    private static List<E820Entry> memoryMap32(EventFixture f, MemoryOp op, int room) {
        var s = f.ram.segment();
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG, room);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, (int) LIST);
        assertEquals(0, op.handle(HypercallArgs.from32(12, MemoryOp.MEMORY_MAP, ARG, 0, 0, 0), f.vmem));
        int n = s.get(ValueLayout.JAVA_INT_UNALIGNED, ARG);
        E820Entry[] out = new E820Entry[n];
        for (int i = 0; i < n; i++)
            out[i] = new E820Entry(s.get(ValueLayout.JAVA_LONG_UNALIGNED, LIST + 20L * i), s.get(ValueLayout.JAVA_LONG_UNALIGNED, LIST + 20L * i + 8),
                    s.get(ValueLayout.JAVA_INT_UNALIGNED, LIST + 20L * i + 16));
        return List.of(out);
    }

    @Test
    void grantTableAndSharedInfoArePlacedInHolesAndSharedInfoKeepsItsContents() {
        try (var f = fixture()) {
            TestHoles holes = new TestHoles();
            GrantTable grants = new GrantTable(32);
            MemoryOp op = new MemoryOp(f.ports, f.ram, grants, TOOLSTACK_MAP);
            op.onHoles(holes);
            assertEquals(TOOLSTACK_MAP, memoryMap32(f, op, 128), "GRUB asks for up to 128 entries");
            int port = f.ports.bindIpi(0);
            f.ports.send(port);
            PvClock.updateVcpuTime(f.guest.shared().vcpuInfo(0), new org.jxen.engine.pvclock.ClockSample(1000, 5000),
                    org.jxen.engine.pvclock.TscScale.forKhz(2_000_000), true);
            int mul = f.guest.shared().vcpuInfo(0).getIntVolatile(32 + 24);

            assertEquals(0, addToPhysmap32(f, op, DomId.DOMID_SELF, MemoryOp.MAPSPACE_GRANT_TABLE, 0, HOLE));
            assertEquals(HOLE, grants.gfn(0));
            assertEquals(0, addToPhysmap32(f, op, DomId.DOMID_SELF, MemoryOp.MAPSPACE_SHARED_INFO, 0, NEXT_HOLE));
            GuestRegion placed = holes.mapped.get(NEXT_HOLE);
            assertNotNull(placed, "shared_info's hole is backed by the VMM");
            assertSame(placed.backing(), f.guest.shared().sharedInfo().backing(), "shared_info is that page now");
            assertTrue(f.pending(port), "pending bits carried over");
            assertEquals(mul, placed.getIntVolatile(32 + 24), "vcpu_info[0].time.tsc_to_system_mul is there when it is mapped (GRUB's TSC rate)");
            assertNotEquals(0, mul);

            // Moved into RAM (as Linux does after GRUB): the hole is given back; the grant frame's hole stays.
            assertEquals(0, addToPhysmap32(f, op, DomId.DOMID_SELF, MemoryOp.MAPSPACE_SHARED_INFO, 0, 0x30));
            assertFalse(holes.mapped.containsKey(NEXT_HOLE), "the hole shared_info left is released");
            assertTrue(holes.mapped.containsKey(HOLE), "the grant frame's hole is kept");
            assertTrue(f.pending(port));
            // shared_info placed over the grant frame's hole, then the grant frame moved away: the hole stays (shared_info is there).
            assertEquals(0, addToPhysmap32(f, op, DomId.DOMID_SELF, MemoryOp.MAPSPACE_SHARED_INFO, 0, HOLE));
            assertEquals(0, addToPhysmap32(f, op, DomId.DOMID_SELF, MemoryOp.MAPSPACE_GRANT_TABLE, 0, 0x31));
            assertTrue(holes.mapped.containsKey(HOLE), "not released while shared_info is still there");

            assertEquals(-Errno.EINVAL, addToPhysmap32(f, new MemoryOp(f.ports, f.ram, grants, TOOLSTACK_MAP), DomId.DOMID_SELF,
                    MemoryOp.MAPSPACE_SHARED_INFO, 0, NEXT_HOLE + 5), "no VMM backing for holes: -EINVAL");
            assertEquals(-Errno.ESRCH, addToPhysmap32(f, op, 42, MemoryOp.MAPSPACE_SHARED_INFO, 0, NEXT_HOLE));
            assertEquals(-Errno.EPERM, addToPhysmap32(f, op, DomId.DOM0, MemoryOp.MAPSPACE_SHARED_INFO, 0, NEXT_HOLE));
            assertEquals(-Errno.EFAULT, op.handle(HypercallArgs.from32(12, MemoryOp.ADD_TO_PHYSMAP, 0xFFFF_FFF8L, 0, 0, 0), f.vmem));
        }
    }

    @Test
    void aSharedInfoFrameTheGuestGaveBackIsPopulatedAgain() {
        try (var f = fixture()) {
            MemoryOp op = new MemoryOp(f.ports, f.ram, new GrantTable(32), TOOLSTACK_MAP);
            f.ram.depopulate(0x33);
            assertEquals(0, addToPhysmap32(f, op, DomId.DOMID_SELF, MemoryOp.MAPSPACE_SHARED_INFO, 0, 0x33));
            assertTrue(f.ram.populated(0x33));
            assertEquals(0x33L * 4096, f.guest.shared().sharedInfo().baseOffset());
        }
    }

    @Test
    void setMemoryMapReplacesTheMapAsXenDoesForTheDomainItself() {
        try (var f = fixture()) {
            MemoryOp op = new MemoryOp(f.ports, f.ram, null, TOOLSTACK_MAP);
            List<E820Entry> grubs = List.of(new E820Entry(0, 0xA0000, E820Entry.RAM), new E820Entry(0x100000, 0x2E000, E820Entry.RAM),
                    new E820Entry(0x3E000, 0x2000, E820Entry.RESERVED), new E820Entry(0x40000, 0x1000, E820Entry.RESERVED));
            assertEquals(0, setMemoryMap32(f, op, DomId.DOMID_SELF, grubs.size(), LIST, grubs));
            assertEquals(grubs, memoryMap32(f, op, 128), "XENMEM_memory_map returns what the domain set");
            assertEquals(grubs, op.memoryMap());

            // Xen's order: the struct, the count, the domain, then the entries; nothing changes on a failure.
            assertEquals(-Errno.EFAULT, op.handle(HypercallArgs.from32(12, MemoryOp.SET_MEMORY_MAP, 0xFFFF_FFFCL, 0, 0, 0), f.vmem));
            assertEquals(-Errno.EINVAL, setMemoryMap32(f, op, 42, MemoryOp.E820_MAX + 1, LIST, List.of()), "more than E820MAX, before the domain");
            assertEquals(-Errno.ESRCH, setMemoryMap32(f, op, 42, 1, LIST, List.of()), "no such domain");
            assertEquals(-Errno.EPERM, setMemoryMap32(f, op, DomId.DOM0, 1, LIST, List.of()), "another domain's map: XSM_TARGET");
            assertEquals(-Errno.EFAULT, setMemoryMap32(f, op, DomId.DOMID_SELF, 2, 0xFFFF_FFF0L, List.of()), "entries beyond RAM");
            assertEquals(grubs, op.memoryMap(), "no failure changed the map");

            // Zero entries: the domain has no map from then on, and XENMEM_memory_map says so as Xen does.
            assertEquals(0, setMemoryMap32(f, op, DomId.DOMID_SELF, 0, 0, List.of()));
            f.ram.segment().set(ValueLayout.JAVA_INT_UNALIGNED, ARG, 128);
            f.ram.segment().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, (int) LIST);
            assertEquals(-Errno.ENOSYS, op.handle(HypercallArgs.from32(12, MemoryOp.MEMORY_MAP, ARG, 0, 0, 0), f.vmem));
        }
    }
}
