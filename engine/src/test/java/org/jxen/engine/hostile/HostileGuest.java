package org.jxen.engine.hostile;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Set;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Hypercall;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.hypercall.HypercallDispatcher;
import org.jxen.engine.testing.EventFixture;
import java.io.OutputStream;
import org.jxen.engine.grant.GrantTable;
import org.jxen.engine.grant.GrantTableOp;
import org.jxen.engine.hvm.HvmOp;
import org.jxen.engine.hvm.HvmParams;
import org.jxen.engine.memory.GuestVirtualMemory;
import org.jxen.engine.memory.PageWalker;
import org.jxen.engine.memory.PagingState;
import org.jxen.engine.platform.ConsoleIo;
import org.jxen.engine.platform.MemoryOp;
import org.jxen.engine.platform.PlatformHypercalls;
import org.jxen.engine.platform.Runstates;
import org.jxen.engine.platform.SchedOp;
import org.jxen.engine.platform.TimerOp;
import org.jxen.engine.platform.VcpuControl;
import org.jxen.engine.platform.VcpuLifecycle;
import org.jxen.engine.platform.VcpuOp;
import org.jxen.engine.platform.VcpuSet;
import org.jxen.engine.platform.VcpuTimers;
import org.jxen.engine.platform.VmAssist;
import org.jxen.engine.platform.XenVersion;

/**
 * What a hostile guest can do to jxen, in one place for the fuzzer and the randomized test: hypercalls with arbitrary
 * registers (biased toward the interesting values), scribbles over its own RAM (structs, shared_info, FIFO control
 * blocks and event words alike), and the checks every result must pass.
 */
final class HostileGuest {
    /** Every result an EVTCHNOP (or an unknown hypercall) may return. */
    static final Set<Long> ALLOWED = Set.of(0L, (long) -Errno.EPERM, (long) -Errno.ENOENT, (long) -Errno.ESRCH,
            (long) -Errno.EFAULT, (long) -Errno.EEXIST, (long) -Errno.EINVAL, (long) -Errno.ENOSPC,
            (long) -Errno.ENOSYS, (long) -Errno.EOPNOTSUPP, (long) -Errno.EACCES, (long) -VcpuOp.ETIME,
            (long) ((XenVersion.MAJOR << 16) | XenVersion.MINOR), 4096L,
            EventFixture.RAM_SIZE / 4096, EventFixture.RAM_SIZE / 4096 - 1); // reservations, maximum_ram_page

    /** The source of choices: Jazzer's data provider or a seeded random generator. */
    interface Choices {
        int intIn(int min, int max);

        long anyLong();

        boolean bool();

        byte[] bytes(int max);
    }

    private HostileGuest() {}

    /** A guest pointer: mostly inside RAM (often the argument area), sometimes at its end, huge, or negative. */
    static long pointer(Choices c) {
        return switch (c.intIn(0, 9)) {
            case 0 -> EventFixture.RAM_SIZE - c.intIn(0, 32);
            case 1 -> c.anyLong();
            case 2 -> -c.intIn(1, 4096);
            case 3 -> (long) c.intIn(0, (int) EventFixture.RAM_SIZE - 1);
            default -> EventFixture.ARG_GPA + c.intIn(0, 64);
        };
    }

    /** A register value for an argument: small numbers and interesting edges more often than noise. */
    static long register(Choices c) {
        return switch (c.intIn(0, 7)) {
            case 0 -> c.anyLong();
            case 1 -> -1L;
            case 2 -> 0x7FF0; // DOMID_SELF
            default -> c.intIn(0, 80);
        };
    }

    /** Writes a few bytes at an arbitrary place in RAM, as a guest may at any time. */
    static void scribble(EventFixture f, Choices c) {
        byte[] b = c.bytes(32);
        long at = c.intIn(0, (int) EventFixture.RAM_SIZE - 1);
        long len = Math.min(b.length, EventFixture.RAM_SIZE - at);
        MemorySegment.copy(MemorySegment.ofArray(b), 0, f.ram.segment(), at, len);
    }

    /**
     * How the hypercall's pointers are translated: mostly paging off (identity), sometimes a page walk in a random
     * mode over whatever the guest's RAM holds at a random CR3 (tables of scribbled bytes, pointing anywhere).
     */
    static GuestVirtualMemory memory(EventFixture f, Choices c) {
        if (c.intIn(0, 3) != 0) return f.vmem;
        long cr0 = PagingState.CR0_PE | PagingState.CR0_PG
                | (c.bool() ? PagingState.CR0_WP : 0);
        long cr3 = c.intIn(0, 3) == 0 ? c.anyLong() : c.intIn(0, (int) EventFixture.RAM_SIZE - 1) & ~0x1FL;
        long cr4, efer;
        switch (c.intIn(0, 3)) {
            case 0 -> { cr4 = c.bool() ? PagingState.CR4_PSE : 0; efer = 0; }
            case 1 -> { cr4 = PagingState.CR4_PAE; efer = 0; }
            case 2 -> { cr4 = PagingState.CR4_PAE; efer = PagingState.EFER_LMA; }
            default -> { cr4 = PagingState.CR4_PAE | PagingState.CR4_LA57;
                         efer = PagingState.EFER_LMA; }
        }
        var state = new PagingState(cr0, cr3, cr4, efer);
        return new GuestVirtualMemory(f.ram, PageWalker.of(f.ram, state));
    }

    /** One hypercall with hostile registers; returns its RAX result (sign-extended for checking). */
    static long hypercall(EventFixture f, HypercallDispatcher d, Choices c) {
        GuestWidth mode = c.bool() ? GuestWidth.BITS_64 : GuestWidth.BITS_32;
        long number = switch (c.intIn(0, 19)) {
            case 0 -> register(c);
            case 1, 2 -> Hypercall.HVM_OP;
            case 3 -> Hypercall.SCHED_OP;
            case 4 -> Hypercall.VCPU_OP;
            case 5 -> Hypercall.MEMORY_OP;
            case 6 -> Hypercall.CONSOLE_IO;
            case 7 -> Hypercall.XEN_VERSION;
            case 8 -> Hypercall.GRANT_TABLE_OP;
            case 9 -> switch (c.intIn(0, 4)) {
                case 0 -> Hypercall.SYSCTL;
                case 1 -> Hypercall.DOMCTL;
                case 2 -> Hypercall.PLATFORM_OP;
                case 3 -> Hypercall.SET_TIMER_OP;
                default -> Hypercall.VM_ASSIST;
            };
            default -> Hypercall.EVENT_CHANNEL_OP;
        };
        long cmd = c.intIn(0, 10) == 0 ? register(c) : c.intIn(0, 15);
        long ptr = pointer(c);
        HypercallArgs args = mode == GuestWidth.BITS_64
                ? HypercallArgs.from64(number, cmd, ptr, register(c), register(c), register(c))
                : HypercallArgs.from32(number, cmd, ptr, register(c), register(c), register(c));
        boolean user = c.intIn(0, 30) == 0;
        long rax = d.dispatch(args, memory(f, c), user);
        long rc = mode == GuestWidth.BITS_64 ? rax : (long) (int) rax;
        if (!allowed(args.number(), rc)) throw new AssertionError("hypercall " + args.number() + " returned " + rc + " (" + Errno.name(rc) + ")");
        return rc;
    }

    /** Whether {@code rc} is a result hypercall {@code number} may return: a Xen errno, 0, or one of its counts. */
    static boolean allowed(int number, long rc) {
        if (ALLOWED.contains(rc)) return true;
        return switch (number) {
            // extents done, from a continuation start (the command's upper 26 bits) on
            case Hypercall.MEMORY_OP -> rc > 0 && rc <= (0xFFFF_FFFFL >>> 6) + MemoryOp.MAX_EXTENTS_PER_CALL;
            case Hypercall.VCPU_OP -> rc == 1; // VCPUOP_is_up
            default -> false;
        };
    }

    /** A vCPU that never sleeps (a fuzzer cannot wait) and ignores shutdown. */
    private static final class NonBlockingVcpu implements VcpuControl {
        @Override
        public int vcpu() {
            return 0;
        }

        @Override
        public void prepareBlock() {}

        @Override
        public void block(long deadlineNanos) {}

        @Override
        public void wake() {}

        @Override
        public void yield() {}

        @Override
        public void shutdown(int reason) {}
    }

    /** A dispatcher with everything the engine serves, assembled as the VMM assembles it (one vCPU that never sleeps). */
    static HypercallDispatcher dispatcher(EventFixture f) {
        var vcpu = new NonBlockingVcpu();
        var runstates = new Runstates(f.ram, f.guest.vcpuCount(), 0);
        var vcpus = new VcpuSet(f.guest.vcpuCount(), VcpuLifecycle.NONE);
        var grants = new GrantTable(8);
        var timers = new VcpuTimers(f.guest.vcpuCount(), System::nanoTime, v -> {});
        f.closeWith.add(timers);
        var platform = new PlatformHypercalls(f.op,
                new HvmOp(f.guest, new HvmParams(f.guest.vcpuCount())),
                new SchedOp(f.guest, i -> vcpu, System::nanoTime),
                new VcpuOp(f.ports, f.ram, timers, System::nanoTime).withVcpus(vcpus, runstates),
                new MemoryOp(f.ports, f.ram, grants),
                new ConsoleIo(OutputStream.nullOutputStream()),
                new XenVersion(new byte[16]),
                new GrantTableOp(grants, f.guest.domid()),
                new VmAssist(runstates), new TimerOp(timers, System::nanoTime));
        return platform.dispatcher(vcpu, true);
    }

    /** Fails with a description if the port tables are inconsistent (results are checked as each call returns). */
    static void check(EventFixture f) {
        List<String> bad = f.ports.checkInvariants();
        if (!bad.isEmpty()) throw new AssertionError("port tables inconsistent: " + bad);
    }
}
