package org.jxen.engine.platform;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Optional;
import java.util.function.LongSupplier;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.memory.GuestVirtualMemory;
import org.jxen.engine.memory.PagingState;
import org.jxen.engine.abi.GuestWidth;

/**
 * HYPERVISOR_vcpu_op(cmd, vcpuid, arg), the event-channel part ({@code public/vcpu.h}): VCPUOP_register_vcpu_info
 * places a vCPU's vcpu_info anywhere in guest RAM (once; within a page; on the caller itself), carrying its contents
 * over and, as Xen does, marking every selector bit and upcall_pending and injecting the upcall so nothing raised
 * meanwhile is lost. The timers: set/stop_singleshot_timer (own vCPU only; VCPU_SSHOTTMR_future with a past deadline
 * is -ETIME; any other past deadline fires at once) and set/stop_periodic_timer (period at least 1 ms). The vCPU
 * lifecycle (initialise with a vcpu_hvm_context, up, down, is_up) follows Xen's rules in {@link VcpuSet}; the runstate
 * area (register_runstate_memory_area, get_runstate_info) is kept by {@link Runstates}. Without those parts (an
 * engine with no VMM behind it) their commands are -ENOSYS.
 */
public final class VcpuOp {
    public static final int INITIALISE = 0, UP = 1, DOWN = 2, IS_UP = 3, GET_RUNSTATE_INFO = 4,
            REGISTER_RUNSTATE_MEMORY_AREA = 5, SET_PERIODIC_TIMER = 6, STOP_PERIODIC_TIMER = 7,
            SET_SINGLESHOT_TIMER = 8, STOP_SINGLESHOT_TIMER = 9, REGISTER_VCPU_INFO = 10;
    /** VCPU_SSHOTTMR_future: fail with -ETIME if the deadline has passed. */
    public static final int SSHOTTMR_FUTURE = 1;
    /** Xen's ETIME. */
    public static final int ETIME = 62;
    private static final long MIN_PERIOD_NS = 1_000_000L;
    /** struct vcpu_register_vcpu_info { uint64_t mfn; uint32_t offset; uint32_t rsvd; }. */
    private static final int INFO_SIZE = 16;

    private final PortManager ports;
    private final GuestMemory ram;
    private final VcpuTimers timers;
    private final LongSupplier systemTimeNanos;
    private GuestClock guestClock;
    private VcpuSet vcpus;
    private Runstates runstates;

    /** Without timers (they answer -ENOSYS). */
    public VcpuOp(PortManager ports, GuestMemory ram) {
        this(ports, ram, null, System::nanoTime);
    }

    public VcpuOp(PortManager ports, GuestMemory ram, VcpuTimers timers, LongSupplier systemTimeNanos) {
        this.ports = ports;
        this.ram = ram;
        this.timers = timers;
        this.systemTimeNanos = systemTimeNanos;
        this.guestClock = GuestClock.of(systemTimeNanos);
    }

    /** Measures singleshot deadlines against {@code clock}, the caller's own pvclock (the host's system time by default). */
    public VcpuOp withGuestClock(GuestClock clock) {
        this.guestClock = clock;
        return this;
    }

    /** Serves the vCPU lifecycle and runstate commands through {@code vcpus} and {@code runstates} (either may be null). */
    public VcpuOp withVcpus(VcpuSet vcpus, Runstates runstates) {
        this.vcpus = vcpus;
        this.runstates = runstates;
        return this;
    }

    public long handle(VcpuControl self, HypercallArgs args, GuestVirtualMemory mem) {
        int cmd = HypercallArgs.u32(args.a1());
        int vcpu = HypercallArgs.u32(args.a2());
        GuestDomain guest = ports.guest();
        if (!guest.hasVcpu(vcpu)) return -Errno.ENOENT;
        return switch (cmd) {
            case REGISTER_VCPU_INFO -> registerVcpuInfo(self, vcpu, args.a3(), mem);
            case SET_SINGLESHOT_TIMER, STOP_SINGLESHOT_TIMER, SET_PERIODIC_TIMER, STOP_PERIODIC_TIMER ->
                    timers == null ? -Errno.ENOSYS : timer(self, cmd, vcpu, args.a3(), mem);
            case INITIALISE -> vcpus == null ? -Errno.ENOSYS : initialise(vcpu, args.a3(), mem);
            case UP -> vcpus == null ? -Errno.ENOSYS : vcpus.up(vcpu);
            case DOWN -> vcpus == null ? -Errno.ENOSYS : vcpus.down(vcpu);
            case IS_UP -> vcpus == null ? -Errno.ENOSYS : (vcpus.isUp(vcpu) ? 1 : 0);
            case REGISTER_RUNSTATE_MEMORY_AREA -> runstates == null ? -Errno.ENOSYS : registerRunstate(vcpu, args, mem);
            case GET_RUNSTATE_INFO -> runstates == null ? -Errno.ENOSYS : getRunstate(vcpu, args, mem);
            default -> -Errno.ENOSYS;
        };
    }

    private long initialise(int vcpu, long arg, GuestVirtualMemory mem) {
        MemorySegment s = MemorySegment.ofArray(new byte[VcpuHvmContext.SIZE]);
        int rc = mem.read(arg, s);
        if (rc != 0) return rc;
        // arch/x86/domain.c arch_initialise_vcpu: -EEXIST for an initialised vCPU comes before the context's checks
        // (under the domain lock); a refused context leaves the vCPU uninitialised, so a corrected retry works.
        synchronized (vcpus) {
            if (vcpus.isInitialised(vcpu)) return -Errno.EEXIST;
            int[] error = new int[1];
            VcpuHvmContext ctx = VcpuHvmContext.decode(s, error);
            if (ctx == null) return error[0];
            if (!ram.contains(ctx.cr3() & ~0xFFFL, 1) && (ctx.cr0() & PagingState.CR0_PG) != 0)
                return -Errno.EINVAL; // Xen: "Invalid CR3" when the page tables are not in the guest's RAM
            return vcpus.initialise(vcpu, ctx);
        }
    }

    private long registerRunstate(int vcpu, HypercallArgs args, GuestVirtualMemory mem) {
        // struct vcpu_register_runstate_memory_area { union { handle; ptr; uint64_t p; } addr; }: 8 bytes in both ABIs
        MemorySegment s = MemorySegment.ofArray(new byte[8]);
        int rc = mem.read(args.a3(), s);
        if (rc != 0) return rc;
        long gva = s.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
        if (args.mode() != GuestWidth.BITS_64) gva &= 0xFFFF_FFFFL;
        if (gva == 0) {
            runstates.unregister(vcpu); // a NULL handle turns the updates off
            return 0;
        }
        int size = Runstates.size(args.mode());
        int first = (int) Math.min(size, GuestMemory.PAGE_SIZE - (gva & (GuestMemory.PAGE_SIZE - 1)));
        long gpa1 = mem.toPhysical(gva, first, true);
        long gpa2 = first == size ? 0 : mem.toPhysical(gva + first, size - first, true);
        if (gpa1 < 0 || gpa2 < 0) return -Errno.EFAULT;
        runstates.register(vcpu, new Runstates.Area(gpa1, first, gpa2, args.mode()));
        return 0;
    }

    private long getRunstate(int vcpu, HypercallArgs args, GuestVirtualMemory mem) {
        // Always the native 64-bit struct's 48 bytes for a 64-bit caller, 44 packed for a 32-bit one.
        MemorySegment s = MemorySegment.ofArray(new byte[Runstates.size(args.mode())]);
        runstates.snapshot(vcpu, s, args.mode());
        return mem.write(args.a3(), s) == 0 ? 0 : -Errno.EFAULT;
    }

    private long timer(VcpuControl self, int cmd, int vcpu, long arg, GuestVirtualMemory mem) {
        switch (cmd) {
            case SET_SINGLESHOT_TIMER -> {
                if (vcpu != self.vcpu()) return -Errno.EINVAL;
                // struct vcpu_set_singleshot_timer { uint64_t timeout_abs_ns; uint32_t flags; }
                MemorySegment s = MemorySegment.ofArray(new byte[16]);
                int rc = mem.read(arg, s);
                if (rc != 0) return rc;
                long deadline = s.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
                int flags = s.get(ValueLayout.JAVA_INT_UNALIGNED, 8);
                long now = guestClock.now(self);
                if ((flags & SSHOTTMR_FUTURE) != 0 && deadline < now) return -ETIME;
                timers.setSingleshot(vcpu, deadline, now);
                return 0;
            }
            case STOP_SINGLESHOT_TIMER -> {
                if (vcpu != self.vcpu()) return -Errno.EINVAL;
                timers.stopSingleshot(vcpu);
                return 0;
            }
            case SET_PERIODIC_TIMER -> {
                // struct vcpu_set_periodic_timer { uint64_t period_ns; }
                MemorySegment s = MemorySegment.ofArray(new byte[8]);
                int rc = mem.read(arg, s);
                if (rc != 0) return rc;
                long p = s.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
                if (p < MIN_PERIOD_NS) return -Errno.EINVAL; // also rejects "negative" (huge) periods
                timers.setPeriodic(vcpu, p);
                return 0;
            }
            default -> {
                timers.stopPeriodic(vcpu);
                return 0;
            }
        }
    }

    private long registerVcpuInfo(VcpuControl self, int vcpu, long arg, GuestVirtualMemory mem) {
        MemorySegment s = MemorySegment.ofArray(new byte[INFO_SIZE]);
        int rc = mem.read(arg, s);
        if (rc != 0) return rc;
        long gfn = s.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
        int offset = s.get(ValueLayout.JAVA_INT_UNALIGNED, 8);
        if (Integer.compareUnsigned(offset, SharedInfoLayout.PAGE_SIZE - SharedInfoLayout.VCPU_INFO_SIZE) > 0) return -Errno.EINVAL;
        if ((offset & 7) != 0) return -Errno.EINVAL; // its 64-bit fields (pending_sel, time) must be naturally aligned
        GuestDomain guest = ports.guest();
        if (guest.shared().isRegistered(vcpu)) return -Errno.EINVAL; // once per vCPU
        // common/domain.c map_vcpu_info: on yourself or on a vCPU that is offline (Linux registers each AP's before it
        // starts it). A vCPU brought up by INIT-SIPI is not seen as up here: jxen is more lenient there than Xen.
        if (vcpu != self.vcpu() && (vcpus == null || vcpus.isUp(vcpu))) return -Errno.EINVAL;
        Optional<GuestRegion> page = ram.page(gfn);
        if (page.isEmpty()) return -Errno.EINVAL;
        ports.withWriteLock(() -> guest.shared().registerVcpuInfo(vcpu, page.get().slice(offset, SharedInfoLayout.VCPU_INFO_SIZE)));
        guest.injectUpcall(vcpu);
        return 0;
    }
}
