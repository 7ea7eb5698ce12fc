package org.jxen.engine.platform;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Hypercall;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.testing.EventFixture;
import java.lang.foreign.MemorySegment;
import org.jxen.engine.memory.GuestVirtualMemory;
import org.jxen.engine.memory.PageWalker;
import org.jxen.engine.memory.PagingState;

/** XENMEM_decrease_reservation / populate_physmap, and sysctl / domctl / platform_op as a domU meets them. */
class ReservationAndPrivilegeTest {
    private static final long ARG = 0x1800, LIST = 0x1C00;
    private static final int DOMID_SELF = 0x7FF0;

    private final EventFixture f = new EventFixture(GuestWidth.BITS_64, DomainConfig.of(1));
    private final MemoryOp op = new MemoryOp(f.ports, f.ram);
    private final List<Long> released = new ArrayList<>();

    {
        op.onRelease(released::add);
    }

    private long reservation(int cmd, long list, long count, int order, int flags, int domid, long... gfns) {
        var s = f.ram.segment();
        for (int i = 0; i < gfns.length; i++) s.set(ValueLayout.JAVA_LONG_UNALIGNED, LIST + 8L * i, gfns[i]);
        s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, list);
        s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG + 8, count);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 16, order);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 20, flags);
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG + 24, (short) domid);
        return op.handle(HypercallArgs.from64(Hypercall.MEMORY_OP, cmd, ARG, 0, 0, 0), f.vmem);
    }

    private long reservation(int cmd, long... gfns) {
        return reservation(cmd, LIST, gfns.length, 0, 0, DOMID_SELF, gfns);
    }

    private long currentReservation() {
        f.ram.segment().set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) DOMID_SELF);
        return op.handle(HypercallArgs.from64(Hypercall.MEMORY_OP, MemoryOp.CURRENT_RESERVATION, ARG, 0, 0, 0), f.vmem);
    }

    @Test
    void decreaseTwiceOnOneFrameCountsOneThenZeroAndThePageLeaves() {
        long frames = EventFixture.RAM_SIZE / 4096;
        f.ram.segment().set(ValueLayout.JAVA_LONG, 0xA000, 0x1234_5678L);
        assertEquals(1, reservation(MemoryOp.DECREASE_RESERVATION, 0xA));
        assertEquals(0, reservation(MemoryOp.DECREASE_RESERVATION, 0xA), "already given back");
        assertEquals(List.of(0xAL), released, "the VMM is told once");
        assertEquals(frames - 1, currentReservation());
        assertFalse(f.ram.populated(0xA));
        assertEquals(-Errno.EFAULT, f.vmem.read(0xA000, MemorySegment.ofArray(new byte[8])), "no longer RAM");
        assertTrue(f.ram.page(0xA).isEmpty());
        // Stops at the first extent it cannot do, reporting the ones before it.
        assertEquals(1, reservation(MemoryOp.DECREASE_RESERVATION, 0xB, 0xA, 0xC));
        assertTrue(f.ram.populated(0xC));
        // populate_physmap brings them back zeroed.
        assertEquals(2, reservation(MemoryOp.POPULATE_PHYSMAP, 0xA, 0xB));
        assertEquals(0L, f.ram.segment().get(ValueLayout.JAVA_LONG, 0xA000), "contents did not survive");
        assertEquals(frames, currentReservation());
        assertEquals(0, f.vmem.read(0xA000, MemorySegment.ofArray(new byte[8])));
    }

    @Test
    void hostileReservationsAreErrnosOrZeroAndBoundedPerCall() {
        assertEquals(0, reservation(MemoryOp.DECREASE_RESERVATION, EventFixture.RAM_SIZE, 1L << 31, 0, 0, DOMID_SELF), "list past RAM: nothing done");
        assertEquals(0, reservation(MemoryOp.DECREASE_RESERVATION, -8, 1L << 62, 0, 0, DOMID_SELF), "list beyond RAM");
        assertEquals(0, reservation(MemoryOp.DECREASE_RESERVATION, LIST, 1, 10, 0, DOMID_SELF, 0), "order above the domU limit");
        assertEquals(0, reservation(MemoryOp.DECREASE_RESERVATION, LIST, 1, 1, 0, DOMID_SELF, 3), "misaligned extent");
        assertEquals(0, reservation(MemoryOp.DECREASE_RESERVATION, LIST, 1, 0, 0, DOMID_SELF, 1L << 40), "beyond RAM");
        assertEquals(-Errno.ESRCH, reservation(MemoryOp.DECREASE_RESERVATION, LIST, 1, 0, 0, 5, 0xA), "another domain");
        assertEquals(0, reservation(MemoryOp.POPULATE_PHYSMAP, LIST, 1, 0, MemoryOp.MEMF_POD, DOMID_SELF, 0xA), "no PoD");
        assertEquals(0, reservation(MemoryOp.POPULATE_PHYSMAP, LIST, 1, 0, 12, DOMID_SELF, 0xA), "address_bits 12");
        assertEquals(0, reservation(MemoryOp.INCREASE_RESERVATION, LIST, 1, 0, 0, DOMID_SELF, 0xA), "no machine frames for HVM");
        assertEquals(-Errno.EFAULT, op.handle(HypercallArgs.from64(Hypercall.MEMORY_OP, MemoryOp.DECREASE_RESERVATION,
                EventFixture.RAM_SIZE - 4, 0, 0, 0), f.vmem), "struct beyond RAM");
        // A continuation start past the count does nothing.
        assertEquals(5, op.handle(HypercallArgs.from64(Hypercall.MEMORY_OP, MemoryOp.DECREASE_RESERVATION | (5 << 6), ARG, 0, 0, 0), f.vmem));
        // A huge count over a list of one repeated populated frame is bounded per call.
        f.ram.segment().asSlice(0x8000, 0x4000).fill((byte) 0);
        assertEquals(4096, reservation(MemoryOp.POPULATE_PHYSMAP, 0x8000, 1L << 40, 0, 0, DOMID_SELF),
                "frame 0 is populated: 4096 no-op extents, then the list leaves RAM");
        // Page tables whose first 512 GiB of virtual addresses all map onto one zeroed list page (a list of 2^36
        // entries), and whose next 512 GiB map RAM 1:1 with a 2 MiB page (where the struct is).
        var m = f.ram.segment();
        m.asSlice(0x8000, 4096).fill((byte) 0);
        for (int i = 0; i < 512; i++) {
            m.set(ValueLayout.JAVA_LONG, 0xC000 + 8L * i, i == 0 ? 0xD000 | 3 : i == 1 ? 0xA000 | 3 : 0);
            m.set(ValueLayout.JAVA_LONG, 0xD000 + 8L * i, 0xE000 | 3);
            m.set(ValueLayout.JAVA_LONG, 0xE000 + 8L * i, 0xF000 | 3);
            m.set(ValueLayout.JAVA_LONG, 0xF000 + 8L * i, 0x8000 | 3);
            m.set(ValueLayout.JAVA_LONG, 0xA000 + 8L * i, i == 0 ? 0xB000 | 3 : 0);
            m.set(ValueLayout.JAVA_LONG, 0xB000 + 8L * i, i == 0 ? 0x80 | 3 : 0); // 2 MiB page at physical 0
        }
        var paged = new GuestVirtualMemory(f.ram, new PageWalker(f.ram,
                new PagingState(0x8001_0011L, 0xC000, 0x20, 0x500)));
        long structVa = 0x80_0000_0000L + 0x9000;
        m.set(ValueLayout.JAVA_LONG, 0x9000, 0x10_0000L); // extent_start: inside the list-page range
        m.set(ValueLayout.JAVA_LONG, 0x9008, 1L << 40);   // nr_extents
        m.set(ValueLayout.JAVA_LONG, 0x9010, 0);          // order 0, no flags
        m.set(ValueLayout.JAVA_LONG, 0x9018, DOMID_SELF);
        long t1 = System.nanoTime();
        long done = op.handle(HypercallArgs.from64(Hypercall.MEMORY_OP, MemoryOp.POPULATE_PHYSMAP, structVa, 0, 0, 0), paged);
        long took = System.nanoTime() - t1;
        assertEquals(MemoryOp.MAX_EXTENTS_PER_CALL, done, "bounded per call; the guest goes on from there");
        System.out.printf("populate_physmap over a 2^40-extent list: %d extents in one call, %.0f ms%n", done, took / 1e6);
        assertTrue(released.isEmpty());
    }

    @Test
    void thirtyTwoBitLayout() {
        var f32 = new EventFixture(GuestWidth.BITS_32, DomainConfig.of(1));
        MemoryOp op32 = new MemoryOp(f32.ports, f32.ram);
        var s = f32.ram.segment();
        s.set(ValueLayout.JAVA_INT_UNALIGNED, LIST, 0xA);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG, (int) LIST);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, 1);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, 0);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 12, 0);
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG + 16, (short) DOMID_SELF);
        assertEquals(1, op32.handle(HypercallArgs.from32(Hypercall.MEMORY_OP, MemoryOp.DECREASE_RESERVATION, ARG, 0, 0, 0), f32.vmem));
        assertFalse(f32.ram.populated(0xA));
        f32.close();
    }

    @Test
    void privilegedOpsCheckTheInterfaceVersionThenRefuse() {
        var s = f.ram.segment();
        s.set(ValueLayout.JAVA_INT, ARG + 4, 0x15);
        assertEquals(-Errno.EPERM, PrivilegedOp.SYSCTL.handle(HypercallArgs.from64(Hypercall.SYSCTL, ARG, 0, 0, 0, 0), f.vmem));
        assertEquals(-Errno.EACCES, PrivilegedOp.DOMCTL.handle(HypercallArgs.from64(Hypercall.DOMCTL, ARG, 0, 0, 0, 0), f.vmem));
        s.set(ValueLayout.JAVA_INT, ARG + 4, 0x17);
        assertEquals(-Errno.EPERM, PrivilegedOp.DOMCTL.handle(HypercallArgs.from64(Hypercall.DOMCTL, ARG, 0, 0, 0, 0), f.vmem));
        assertEquals(-Errno.EACCES, PrivilegedOp.SYSCTL.handle(HypercallArgs.from64(Hypercall.SYSCTL, ARG, 0, 0, 0, 0), f.vmem));
        s.set(ValueLayout.JAVA_INT, ARG + 4, 0x0300_0001);
        assertEquals(-Errno.EPERM, PrivilegedOp.PLATFORM_OP.handle(HypercallArgs.from64(Hypercall.PLATFORM_OP, ARG, 0, 0, 0, 0), f.vmem));
        long tail = EventFixture.RAM_SIZE - 100; // the version is readable, the whole struct is not: copied first
        s.set(ValueLayout.JAVA_INT, tail + 4, 0x15);
        assertEquals(-Errno.EFAULT, PrivilegedOp.SYSCTL.handle(HypercallArgs.from64(Hypercall.SYSCTL, tail, 0, 0, 0, 0), f.vmem));
    }
}
