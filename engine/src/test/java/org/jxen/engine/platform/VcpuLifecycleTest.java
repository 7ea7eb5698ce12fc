package org.jxen.engine.platform;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.memory.PagingState;
import org.jxen.engine.testing.EventFixture;

/** VCPUOP_initialise / up / down / is_up, register_runstate_memory_area, get_runstate_info and vm_assist. */
class VcpuLifecycleTest {
    private static final long CTX = 0x4000, AREA = 0x5000, PTR = 0x1000;

    private final EventFixture f = new EventFixture(GuestWidth.BITS_64, DomainConfig.of(3));
    private final List<String> lifecycle = new ArrayList<>();
    private final VcpuSet vcpus = new VcpuSet(3, new VcpuLifecycle() {
        @Override
        public void start(int vcpu, VcpuHvmContext context) {
            lifecycle.add("start " + vcpu + (context == null ? " resume" : " rip=" + Long.toHexString(context.rip())));
        }

        @Override
        public void stop(int vcpu) {
            lifecycle.add("stop " + vcpu);
        }
    });
    private final Runstates runstates = new Runstates(f.ram, 3, 1000);
    private final VcpuOp op = new VcpuOp(f.ports, f.ram).withVcpus(vcpus, runstates);
    private final PlatformOpsTest.TestVcpu self = new PlatformOpsTest.TestVcpu(0);

    private long call(int cmd, int vcpu, long arg) {
        return op.handle(self, HypercallArgs.from64(24, cmd, vcpu, arg, 0, 0), f.vmem);
    }

    private long call32(int cmd, int vcpu, long arg) {
        return op.handle(self, HypercallArgs.from32(24, cmd, vcpu, arg, 0, 0), f.vmem);
    }

    private void context64(long rip, long cr0, long cr3, long cr4, long efer) {
        MemorySegment s = f.ram.segment().asSlice(CTX, VcpuHvmContext.SIZE);
        s.fill((byte) 0);
        s.set(ValueLayout.JAVA_INT, 0, VcpuHvmContext.MODE_64B);
        s.set(ValueLayout.JAVA_LONG, 8 + 8 * 4, 0x7000); // rsp
        s.set(ValueLayout.JAVA_LONG, 8 + 8 * 8, rip);
        s.set(ValueLayout.JAVA_LONG, 8 + 8 * 10, cr0);
        s.set(ValueLayout.JAVA_LONG, 8 + 8 * 11, cr3);
        s.set(ValueLayout.JAVA_LONG, 8 + 8 * 12, cr4);
        s.set(ValueLayout.JAVA_LONG, 8 + 8 * 13, efer);
    }

    private void context32(int csAttributes, long cr0) {
        MemorySegment s = f.ram.segment().asSlice(CTX, VcpuHvmContext.SIZE);
        s.fill((byte) 0);
        s.set(ValueLayout.JAVA_INT, 0, VcpuHvmContext.MODE_32B);
        s.set(ValueLayout.JAVA_INT, 8 + 4 * 8, 0x8000); // eip
        s.set(ValueLayout.JAVA_INT, 8 + 4 * 10, (int) cr0);
        s.set(ValueLayout.JAVA_INT, 8 + 84, 0xFFFF_FFFF); // cs_limit
        s.set(ValueLayout.JAVA_SHORT, 8 + 104, (short) csAttributes);
        s.set(ValueLayout.JAVA_SHORT, 8 + 106, (short) 0xC93); // ds: flat data
        s.set(ValueLayout.JAVA_SHORT, 8 + 108, (short) 0xC93); // ss
        s.set(ValueLayout.JAVA_SHORT, 8 + 110, (short) 0xC93); // es
        s.set(ValueLayout.JAVA_SHORT, 8 + 112, (short) 0x8B);  // tr: busy 32-bit TSS
    }

    private static final long PG = PagingState.CR0_PG | PagingState.CR0_PE;

    @Test
    void initialiseUpDownFollowXensRules() {
        assertEquals(1, call(VcpuOp.IS_UP, 0, 0));
        assertEquals(0, call(VcpuOp.IS_UP, 1, 0));
        assertEquals(-Errno.EINVAL, call(VcpuOp.UP, 1, 0), "up before initialise");
        context64(0x10_0000, PG, 0x9000, PagingState.CR4_PAE, PagingState.EFER_LME);
        assertEquals(-Errno.EEXIST, call(VcpuOp.INITIALISE, 0, CTX), "the boot vCPU is initialised");
        assertEquals(0, call(VcpuOp.INITIALISE, 1, CTX));
        assertEquals(-Errno.EEXIST, call(VcpuOp.INITIALISE, 1, CTX));
        assertEquals(0, call(VcpuOp.IS_UP, 1, 0), "initialised but not up");
        assertEquals(0, call(VcpuOp.UP, 1, 0));
        assertEquals(0, call(VcpuOp.UP, 1, 0), "up on a running vCPU: nothing");
        assertEquals(1, call(VcpuOp.IS_UP, 1, 0));
        assertEquals(0, call(VcpuOp.DOWN, 0, 0));
        assertEquals(-Errno.EINVAL, call(VcpuOp.DOWN, 1, 0), "the last running vCPU");
        assertEquals(0, call(VcpuOp.UP, 0, 0));
        assertEquals(0, call(VcpuOp.DOWN, 2, 0), "down on a down vCPU: nothing");
        assertEquals(-Errno.ENOENT, call(VcpuOp.UP, 3, 0), "no such vCPU");
        assertEquals(List.of("start 1 rip=100000", "stop 0", "start 0 resume"), lifecycle);
    }

    @Test
    void badContextsAreEinvalOrEfault() {
        context64(0x0000_8000_0000_0000L, PG, 0x9000, PagingState.CR4_PAE, PagingState.EFER_LME);
        assertEquals(-Errno.EINVAL, call(VcpuOp.INITIALISE, 1, CTX), "non-canonical RIP");
        context64(0x1000, PagingState.CR0_PE, 0, PagingState.CR4_PAE, PagingState.EFER_LME);
        assertEquals(-Errno.EINVAL, call(VcpuOp.INITIALISE, 1, CTX), "64-bit without paging");
        context64(0x1000, PG, 0x9000, 0, PagingState.EFER_LME);
        assertEquals(-Errno.EINVAL, call(VcpuOp.INITIALISE, 1, CTX), "64-bit without PAE");
        context64(0x1000, PG, 0x9000, PagingState.CR4_PAE, PagingState.EFER_LME | (1L << 20));
        assertEquals(-Errno.EINVAL, call(VcpuOp.INITIALISE, 1, CTX), "reserved EFER bit");
        context64(0x1000, PG, EventFixture.RAM_SIZE + 0x1000, PagingState.CR4_PAE, PagingState.EFER_LME);
        assertEquals(-Errno.EINVAL, call(VcpuOp.INITIALISE, 1, CTX), "page tables outside RAM");
        f.ram.segment().set(ValueLayout.JAVA_INT, CTX, 7);
        assertEquals(-Errno.EINVAL, call(VcpuOp.INITIALISE, 1, CTX), "unknown mode");
        assertEquals(-Errno.EFAULT, call(VcpuOp.INITIALISE, 1, EventFixture.RAM_SIZE - 8), "context beyond RAM");
        context32(0x93, PagingState.CR0_PE);
        assertEquals(-Errno.EINVAL, call(VcpuOp.INITIALISE, 1, CTX), "CS is a data segment");
        context32(0x29B, PagingState.CR0_PE);
        assertEquals(-Errno.EINVAL, call(VcpuOp.INITIALISE, 1, CTX), "CS with L set in 32-bit mode");
        context32(0xC9B, PagingState.CR0_PE);
        assertEquals(0, call(VcpuOp.INITIALISE, 1, CTX), "flat 32-bit code, paging off: the PVH state");
        assertTrue(lifecycle.isEmpty());
        assertEquals(0, call(VcpuOp.UP, 1, 0));
        assertEquals(List.of("start 1 rip=8000"), lifecycle);
    }

    @Test
    void thirtyTwoBitContextDecodesEveryField() {
        context32(0xC9B, PagingState.CR0_PE);
        int[] err = new int[1];
        VcpuHvmContext c = VcpuHvmContext.decode(f.ram.segment().asSlice(CTX, VcpuHvmContext.SIZE), err);
        assertEquals(0, err[0]);
        assertFalse(c.longMode());
        assertEquals(0x8000, c.rip());
        assertEquals(0xFFFF_FFFFL, c.cs().limit());
        assertEquals(0xC9B, c.cs().attributes());
        assertEquals(0x8B, c.tr().attributes());
        assertEquals(PagingState.FLAT.mode(), c.paging().mode());
    }

    private long areaLong(long off) {
        return f.ram.segment().get(ValueLayout.JAVA_LONG_UNALIGNED, AREA + off);
    }

    @Test
    void runstateAreaFollowsTransitionsInBothLayouts() {
        f.ram.segment().set(ValueLayout.JAVA_LONG, PTR, AREA);
        assertEquals(0, call(VcpuOp.REGISTER_RUNSTATE_MEMORY_AREA, 0, PTR));
        assertEquals(Runstates.RUNNING, f.ram.segment().get(ValueLayout.JAVA_INT, AREA));
        assertEquals(1000, areaLong(8));
        runstates.transition(0, Runstates.BLOCKED, 1500);
        runstates.transition(0, Runstates.RUNNING, 4500);
        assertEquals(Runstates.RUNNING, f.ram.segment().get(ValueLayout.JAVA_INT, AREA));
        assertEquals(4500, areaLong(8));
        assertEquals(500, areaLong(16), "time running");
        assertEquals(3000, areaLong(16 + 16), "time blocked");
        // vCPU 1 registers in the packed 32-bit layout (44 bytes), straddling a page boundary.
        long straddle = 0x6000 - 20;
        f.ram.segment().set(ValueLayout.JAVA_LONG, PTR, straddle);
        assertEquals(0, call32(VcpuOp.REGISTER_RUNSTATE_MEMORY_AREA, 1, PTR));
        runstates.transition(1, Runstates.RUNNING, 2000);
        assertEquals(Runstates.RUNNING, f.ram.segment().get(ValueLayout.JAVA_INT_UNALIGNED, straddle));
        assertEquals(2000, f.ram.segment().get(ValueLayout.JAVA_LONG_UNALIGNED, straddle + 4));
        assertEquals(1000, f.ram.segment().get(ValueLayout.JAVA_LONG_UNALIGNED, straddle + 12 + 8 * Runstates.OFFLINE));
        // get_runstate_info copies the same struct.
        assertEquals(0, call(VcpuOp.GET_RUNSTATE_INFO, 0, 0x7000));
        assertEquals(500, f.ram.segment().get(ValueLayout.JAVA_LONG, 0x7000 + 16));
        // NULL unregisters; a pointer beyond RAM is -EFAULT.
        f.ram.segment().set(ValueLayout.JAVA_LONG, PTR, 0);
        assertEquals(0, call(VcpuOp.REGISTER_RUNSTATE_MEMORY_AREA, 0, PTR));
        runstates.transition(0, Runstates.RUNNABLE, 9000);
        assertEquals(Runstates.RUNNING, f.ram.segment().get(ValueLayout.JAVA_INT, AREA), "no longer updated");
        f.ram.segment().set(ValueLayout.JAVA_LONG, PTR, EventFixture.RAM_SIZE - 8);
        assertEquals(-Errno.EFAULT, call(VcpuOp.REGISTER_RUNSTATE_MEMORY_AREA, 0, PTR));
    }

    @Test
    void vmAssistRunstateUpdateFlagBracketsEveryCopy() {
        VmAssist assist = new VmAssist(runstates);
        assertEquals(-Errno.EINVAL, assist.handle(HypercallArgs.from64(21, 0, 1, 0, 0, 0), f.vmem), "a PV-only assist");
        assertEquals(-Errno.EINVAL, assist.handle(HypercallArgs.from64(21, 0, 64, 0, 0, 0), f.vmem));
        assertEquals(-Errno.ENOSYS, assist.handle(HypercallArgs.from64(21, 9, 5, 0, 0, 0), f.vmem));
        assertEquals(0, assist.handle(HypercallArgs.from64(21, 0, 5, 0, 0, 0), f.vmem));
        f.ram.segment().set(ValueLayout.JAVA_LONG, PTR, AREA);
        assertEquals(0, call(VcpuOp.REGISTER_RUNSTATE_MEMORY_AREA, 0, PTR));
        assertEquals(0, areaLong(8) & Runstates.UPDATE, "flag cleared once the copy is complete");
        // A reader racing the writer never sees the flag clear with a torn struct.
        Thread writer = new Thread(() -> {
            for (int i = 1; i <= 200_000; i++) runstates.transition(0, i % 2 == 0 ? Runstates.RUNNING : Runstates.BLOCKED, 2000L + i);
        });
        writer.start();
        long seen = 0;
        // Linux's reader (xen_get_runstate_snapshot_cpu_delta): entry time, rmb, struct, rmb, entry time again.
        var area = f.ram.region(AREA, 48).orElseThrow();
        while (writer.isAlive()) {
            long entry = area.getLongVolatile(8);
            if ((entry & Runstates.UPDATE) != 0) continue;
            int state = area.getIntVolatile(0);
            long again = area.getLongVolatile(8);
            if (again != entry) continue;
            // Transition i sets state RUNNING for even i; entry time is 2000 + i.
            long i = entry - 2000;
            if (i > 0) {
                assertEquals(i % 2 == 0 ? Runstates.RUNNING : Runstates.BLOCKED, state, "torn read at transition " + i);
                seen++;
            }
        }
        assertTrue(seen > 0);
    }
    /** A keeper that holds vCPU 0's runstate once told of its area, as KVM does in kvm mode. */
    private static final class HoldingKeeper implements RunstateKeeper {
        final List<Integer> told = new ArrayList<>();
        volatile Runstates.Figures kept;

        @Override
        public void changed(int vcpu) {
            told.add(vcpu);
        }

        @Override
        public Runstates.Figures figures(int vcpu) {
            return vcpu == 0 ? kept : null;
        }
    }

    @Test
    void aKeptRunstateIsTheKeepersForSavesAndGetRunstateInfo() {
        HoldingKeeper keeper = new HoldingKeeper();
        runstates.setKeeper(keeper);
        f.ram.segment().set(ValueLayout.JAVA_LONG, PTR, AREA);
        assertEquals(0, call(VcpuOp.REGISTER_RUNSTATE_MEMORY_AREA, 0, PTR));
        assertEquals(List.of(0), keeper.told, "told of the registration");
        assertTrue(runstates.area(0).contiguous());
        keeper.kept = new Runstates.Figures(Runstates.RUNNABLE, 9000, new long[] {7000, 2000, 0, 0});
        // get_runstate_info and a save report the keeper's figures; the engine goes on from them afterwards.
        assertEquals(0, call(VcpuOp.GET_RUNSTATE_INFO, 0, 0x7000));
        assertEquals(Runstates.RUNNABLE, f.ram.segment().get(ValueLayout.JAVA_INT, 0x7000));
        assertEquals(2000, f.ram.segment().get(ValueLayout.JAVA_LONG, 0x7000 + 16 + 8));
        assertEquals(7000, runstates.save().time()[0][Runstates.RUNNING]);
        assertEquals(Runstates.RUNNABLE, runstates.figures(0).state());
        // A transition of a held vCPU is the keeper's to account: the engine neither counts it nor writes the area.
        long areaTimeBefore = f.ram.segment().get(ValueLayout.JAVA_LONG_UNALIGNED, AREA + 16);
        runstates.transition(0, Runstates.BLOCKED, 50_000);
        assertEquals(Runstates.RUNNABLE, runstates.figures(0).state());
        assertEquals(areaTimeBefore, f.ram.segment().get(ValueLayout.JAVA_LONG_UNALIGNED, AREA + 16));
        keeper.kept = null;
        runstates.transition(0, Runstates.BLOCKED, 50_000);
        assertEquals(Runstates.BLOCKED, runstates.figures(0).state(), "given back, the engine accounts it again");
        keeper.kept = new Runstates.Figures(Runstates.RUNNABLE, 9000, new long[] {7000, 2000, 0, 0});
        // What the guest's area says, as a keeper writing there left it (read back for another vCPU's questions).
        f.ram.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, AREA + 16, 7777);
        assertEquals(7777, runstates.readArea(0).time()[Runstates.RUNNING]);
        f.ram.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, AREA + 8, 9000 | Runstates.UPDATE);
        assertNull(runstates.readArea(0), "a copy in progress is no answer");
        // The update flag and a dropped area are news to the keeper too.
        new VmAssist(runstates).handle(HypercallArgs.from64(21, VmAssist.CMD_ENABLE, VmAssist.TYPE_RUNSTATE_UPDATE_FLAG, 0, 0, 0), f.vmem);
        f.ram.segment().set(ValueLayout.JAVA_LONG, PTR, 0);
        assertEquals(0, call(VcpuOp.REGISTER_RUNSTATE_MEMORY_AREA, 0, PTR));
        assertEquals(List.of(0, -1, 0), keeper.told);
        // An area whose two pages are not adjacent in guest memory is not one range.
        assertFalse(new Runstates.Area(0x1ff8, 8, 0x9000, GuestWidth.BITS_64).contiguous());
        assertTrue(new Runstates.Area(0x1ff8, 8, 0x2000, GuestWidth.BITS_64).contiguous());
    }
}
