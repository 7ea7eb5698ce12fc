package org.jxen.engine.platform;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.IntFunction;
import java.util.function.LongSupplier;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.memory.GuestVirtualMemory;

/**
 * HYPERVISOR_sched_op ({@code public/sched.h}, Xen's {@code common/sched/core.c}): yield, block (sleep until an
 * upcall), shutdown and poll. SCHEDOP_poll: at most 128 ports, each valid (-EINVAL) and readable (-EFAULT); returns 0
 * at once if the vCPU has an upcall pending or a polled port is pending; else sleeps until a polled port becomes
 * pending (masked or not), an upcall arrives, or the absolute timeout (Xen system time, ns) passes; always 0 then
 * (Linux treats a non-zero poll result as fatal).
 */
public final class SchedOp {
    public static final int YIELD = 0, BLOCK = 1, SHUTDOWN = 2, POLL = 3, REMOTE_SHUTDOWN = 4, SHUTDOWN_CODE = 5,
            WATCHDOG = 6, PIN_OVERRIDE = 7;
    /** Xen's limit on ports per poll. */
    public static final int MAX_POLL_PORTS = 128;
    /** struct sched_poll { XEN_GUEST_HANDLE(evtchn_port_t) ports; unsigned int nr_ports; uint64_t timeout; }. */
    private static final int POLL_SIZE_64 = 24, POLL_SIZE_32 = 16;

    private final GuestDomain guest;
    private final IntFunction<VcpuControl> vcpus;
    private final LongSupplier systemTimeNanos;

    /**
     * @param vcpus the control of each vCPU (by Xen vcpu id)
     * @param systemTimeNanos Xen system time now (what poll's absolute timeout is measured in)
     */
    public SchedOp(GuestDomain guest, IntFunction<VcpuControl> vcpus, LongSupplier systemTimeNanos) {
        this.guest = guest;
        this.vcpus = vcpus;
        this.systemTimeNanos = systemTimeNanos;
        guest.pollers().setWaker(v -> vcpus.apply(v).wake());
    }

    /** Handles sched_op(cmd, arg) for the vCPU {@code self}. */
    public long handle(VcpuControl self, HypercallArgs args, GuestVirtualMemory mem) {
        int cmd = HypercallArgs.u32(args.a1());
        return switch (cmd) {
            case YIELD -> {
                self.yield();
                yield 0;
            }
            case BLOCK -> {
                self.prepareBlock();
                if (!upcallPending(self.vcpu())) self.block(Long.MAX_VALUE);
                yield 0;
            }
            case SHUTDOWN, SHUTDOWN_CODE -> {
                long reason = mem.readU32(args.a2());
                if (reason < 0) yield reason;
                if (cmd == SHUTDOWN) self.shutdown((int) reason);
                yield 0;
            }
            case POLL -> poll(self, args, mem);
            case REMOTE_SHUTDOWN, PIN_OVERRIDE -> -Errno.EPERM; // privileged
            case WATCHDOG -> -Errno.ENOSYS;
            default -> -Errno.ENOSYS;
        };
    }

    private boolean upcallPending(int vcpu) {
        return guest.shared().vcpuInfo(vcpu).testBit(SharedInfoLayout.UPCALL_PENDING, 0);
    }

    private long poll(VcpuControl self, HypercallArgs args, GuestVirtualMemory mem) {
        boolean wide = args.mode() == GuestWidth.BITS_64;
        MemorySegment s = MemorySegment.ofArray(new byte[wide ? POLL_SIZE_64 : POLL_SIZE_32]);
        int rc = mem.read(args.a2(), s);
        if (rc != 0) return rc;
        long portsPtr = wide ? s.get(ValueLayout.JAVA_LONG_UNALIGNED, 0) : Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, 0));
        int nr = s.get(ValueLayout.JAVA_INT_UNALIGNED, wide ? 8 : 4);
        long timeout = s.get(ValueLayout.JAVA_LONG_UNALIGNED, wide ? 16 : 8);
        if (Integer.compareUnsigned(nr, MAX_POLL_PORTS) > 0) return -Errno.EINVAL;
        int[] ports = new int[nr];
        if (nr > 0) {
            MemorySegment list = MemorySegment.ofArray(new byte[4 * nr]);
            if (mem.read(portsPtr, list) != 0) return -Errno.EFAULT;
            for (int i = 0; i < nr; i++) ports[i] = list.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i);
        }
        int vcpu = self.vcpu();
        var pollers = guest.pollers();
        pollers.arm(vcpu, nr == 1 ? ports[0] : -1);
        self.prepareBlock();
        try {
            if (upcallPending(vcpu)) return 0; // local events need delivery
            for (int p : ports) {
                if (p < 0 || p >= guest.abi().portLimit()) return -Errno.EINVAL;
                if (guest.abi().isPending(p)) return 0;
            }
            long deadline = Long.MAX_VALUE;
            if (timeout != 0) {
                long left = timeout - systemTimeNanos.getAsLong();
                if (left <= 0) return 0; // an absolute timeout already past
                deadline = System.nanoTime() + left;
            }
            self.block(deadline);
            return 0;
        } finally {
            pollers.disarm(vcpu);
        }
    }
}
