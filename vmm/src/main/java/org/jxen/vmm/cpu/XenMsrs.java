package org.jxen.vmm.cpu;

import java.util.Optional;

import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;

/**
 * The MSRs that reach jxen (KVM's user-space MSR exits): the hypercall MSR, and everything neither KVM nor jxen
 * implements. As Xen's wrmsr_hypervisor_regs: writing {@code gpa | index} to 0x40000000 fills the hypercall page at
 * that guest frame (index 0 only: one page) and latches the shared_info layout from the writer's mode; a frame
 * outside RAM or a non-zero index is a #GP. Reading the hypercall MSR is a #GP, as is any other MSR here: the vCPU
 * gets the exception through its IDT, the VMM never fails.
 */
public final class XenMsrs {
    /** What the guest gets back for an MSR access. */
    public sealed interface Result {
        record Value(long value) implements Result {}

        record Done() implements Result {}

        record GeneralProtection() implements Result {}
    }

    public static final Result DONE = new Result.Done();
    public static final Result GP = new Result.GeneralProtection();

    private final GuestMemory ram;
    private final GuestDomain guest;

    public XenMsrs(GuestMemory ram, GuestDomain guest) {
        this.ram = ram;
        this.guest = guest;
    }

    public Result write(long index, long value, boolean longMode) {
        if (index != XenCpuid.HYPERCALL_MSR) return GP;
        if ((value & 0xFFF) != 0) return GP; // page index beyond the one page CPUID 0x40000002 offers
        Optional<GuestRegion> page = ram.page(value >>> GuestMemory.PAGE_SHIFT);
        if (page.isEmpty()) return GP;
        HypercallPage.write(page.get());
        guest.shared().latch(longMode ? GuestWidth.BITS_64 : GuestWidth.BITS_32);
        return DONE;
    }

    public Result read(long index) {
        return GP;
    }
}
