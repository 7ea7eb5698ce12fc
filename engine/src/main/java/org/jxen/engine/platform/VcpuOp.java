package org.jxen.engine.platform;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Optional;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.memory.GuestVirtualMemory;

/**
 * HYPERVISOR_vcpu_op(cmd, vcpuid, arg), the event-channel part ({@code public/vcpu.h}): VCPUOP_register_vcpu_info
 * places a vCPU's vcpu_info anywhere in guest RAM (once; within a page; on the caller itself), carrying its contents
 * over and, as Xen does, marking every selector bit and upcall_pending and injecting the upcall so nothing raised
 * meanwhile is lost. Commands that need the KVM runtime (initialise, up/down, timers, runstate) are -ENOSYS here.
 */
public final class VcpuOp {
    public static final int INITIALISE = 0, UP = 1, DOWN = 2, IS_UP = 3, REGISTER_VCPU_INFO = 10;
    /** struct vcpu_register_vcpu_info { uint64_t mfn; uint32_t offset; uint32_t rsvd; }. */
    private static final int INFO_SIZE = 16;

    private final PortManager ports;
    private final GuestMemory ram;

    public VcpuOp(PortManager ports, GuestMemory ram) {
        this.ports = ports;
        this.ram = ram;
    }

    public long handle(VcpuControl self, HypercallArgs args, GuestVirtualMemory mem) {
        int cmd = HypercallArgs.u32(args.a1());
        int vcpu = HypercallArgs.u32(args.a2());
        GuestDomain guest = ports.guest();
        if (!guest.hasVcpu(vcpu)) return -Errno.ENOENT;
        return switch (cmd) {
            case REGISTER_VCPU_INFO -> registerVcpuInfo(self, vcpu, args.a3(), mem);
            default -> -Errno.ENOSYS;
        };
    }

    private long registerVcpuInfo(VcpuControl self, int vcpu, long arg, GuestVirtualMemory mem) {
        MemorySegment s = MemorySegment.ofArray(new byte[INFO_SIZE]);
        int rc = mem.read(arg, s);
        if (rc != 0) return rc;
        long gfn = s.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
        int offset = s.get(ValueLayout.JAVA_INT_UNALIGNED, 8);
        if (Integer.compareUnsigned(offset, SharedInfoLayout.PAGE_SIZE - SharedInfoLayout.VCPU_INFO_SIZE) > 0) return -Errno.EINVAL;
        GuestDomain guest = ports.guest();
        if (guest.shared().isRegistered(vcpu)) return -Errno.EINVAL; // once per vCPU
        if (vcpu != self.vcpu()) return -Errno.EINVAL; // on yourself (or an offline vCPU: the VMM tracks up/down)
        Optional<GuestRegion> page = ram.page(gfn);
        if (page.isEmpty()) return -Errno.EINVAL;
        ports.withWriteLock(() -> guest.shared().registerVcpuInfo(vcpu, page.get().slice(offset, SharedInfoLayout.VCPU_INFO_SIZE)));
        guest.injectUpcall(vcpu);
        return 0;
    }
}
