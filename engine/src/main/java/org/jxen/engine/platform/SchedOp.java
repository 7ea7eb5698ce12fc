package org.jxen.engine.platform;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;
import java.util.function.IntPredicate;
import java.util.function.LongSupplier;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.memory.GuestVirtualMemory;

/**
 * HYPERVISOR_sched_op ({@code public/sched.h}, Xen's {@code common/sched/core.c}): yield, block (sleep until an
 * upcall), shutdown and poll. SCHEDOP_poll follows {@code do_poll}: at most 128 ports (-EINVAL); 0 at once if an
 * upcall is deliverable (pending, and the vCPU has an upcall route: a vector); then the ports in list order, each read
 * (-EFAULT) and checked ({@code evtchn_port_poll}: pending ends the poll with 0, an invalid or unusable one is
 * -EINVAL); else it sleeps until a polled port becomes pending (masked or not), an upcall that has a route arrives,
 * or the absolute timeout (Xen system time, ns) passes; always 0 then (Linux treats a non-zero result as fatal).
 * Without an upcall route an event on another port does not end the poll ({@code hvm_assert_evtchn_irq} kicks
 * nobody then): the wake-up is the upcall sink's, which only kicks a vCPU that has a vector.
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
    /** Whether a vCPU's upcalls have somewhere to go (a per-vCPU or domain callback vector). */
    private volatile IntPredicate upcallRouted = v -> true;

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

    /** Tells which vCPUs have an upcall route (HVM params); without one, a pending upcall ends no block or poll. */
    public SchedOp withUpcallRoute(IntPredicate routed) {
        this.upcallRouted = routed;
        return this;
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
                if (!eventsNeedDelivery(self.vcpu())) self.block(Long.MAX_VALUE, () -> eventsNeedDelivery(self.vcpu()));
                yield 0;
            }
            case SHUTDOWN, SHUTDOWN_CODE -> {
                long reason = mem.readU32(args.a2());
                if (reason < 0) yield reason;
                // common/sched/core.c + common/domain.c (domain_shutdown): shutdown_code records the first code as a
                // u8; a later shutdown, whatever its own reason, is reported with the recorded one.
                if (cmd == SHUTDOWN_CODE) shutdownCode.compareAndSet(NO_CODE, (int) (reason & 0xFF));
                else {
                    shutdownCode.compareAndSet(NO_CODE, (int) (reason & 0xFF)); // domain_shutdown(d, (u8)reason)
                    self.shutdown(shutdownCode.get());
                }
                yield 0;
            }
            case POLL -> poll(self, args, mem);
            case REMOTE_SHUTDOWN, PIN_OVERRIDE -> -Errno.EPERM; // privileged
            case WATCHDOG -> -Errno.ENOSYS;
            default -> -Errno.ENOSYS;
        };
    }

    /** SHUTDOWN_CODE_INVALID in Xen: no code recorded yet. */
    private static final int NO_CODE = -1;
    private final AtomicInteger shutdownCode = new AtomicInteger(NO_CODE);

    /** The code SCHEDOP_shutdown_code recorded (or the first shutdown's reason), -1 if none yet. */
    public int shutdownCode() {
        return shutdownCode.get();
    }

    /** Xen's local_events_need_delivery for HVM: an upcall is pending and has a vector to arrive by. */
    private boolean eventsNeedDelivery(int vcpu) {
        return guest.shared().vcpuInfo(vcpu).testBit(SharedInfoLayout.UPCALL_PENDING, 0) && upcallRouted.test(vcpu);
    }

    private boolean anyPending(int[] polledPorts) {
        for (int p : polledPorts) if (guest.pollPort(p) > 0) return true;
        return false;
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
        int vcpu = self.vcpu();
        var pollers = guest.pollers();
        MemorySegment port = MemorySegment.ofArray(new byte[4]);
        // One port: armed for that port alone (v->poll_evtchn); an unreadable list is -EFAULT in the loop below.
        int single = nr == 1 && mem.read(portsPtr, port) == 0 ? port.get(ValueLayout.JAVA_INT_UNALIGNED, 0) : -1;
        pollers.arm(vcpu, single);
        self.prepareBlock();
        try {
            if (eventsNeedDelivery(vcpu)) return 0;
            int[] polledPorts = new int[nr];
            for (int i = 0; i < nr; i++) {
                if (mem.read(portsPtr + 4L * i, port) != 0) return -Errno.EFAULT;
                polledPorts[i] = port.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
                int polled = guest.pollPort(polledPorts[i]);
                if (polled != 0) return polled > 0 ? 0 : polled;
            }
            long deadline = Long.MAX_VALUE;
            if (timeout != 0) {
                long left = timeout - systemTimeNanos.getAsLong();
                if (left <= 0) return 0; // an absolute timeout already past
                deadline = System.nanoTime() + left;
            }
            self.block(deadline, () -> eventsNeedDelivery(vcpu) || anyPending(polledPorts));
            return 0;
        } finally {
            pollers.disarm(vcpu);
        }
    }
}
