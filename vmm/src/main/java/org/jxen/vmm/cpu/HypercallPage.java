package org.jxen.vmm.cpu;

import org.jxen.engine.abi.Hypercall;
import org.jxen.engine.memory.GuestRegion;

/**
 * The hypercall page jxen writes when a guest sets MSR 0x40000000: one 32-byte stub per hypercall number, as Xen's
 * hvm hypercall page, but each stub leaves the guest with {@code out %eax, $PORT} instead of VMCALL, because this
 * host's KVM keeps VMCALL to itself (the vCPU hangs) while an I/O port write from CPL0 exits to us with every register
 * intact. The same bytes work in 32-bit and 64-bit code: {@code mov $n, %eax; out %eax, $PORT; ret}. The stub for
 * __HYPERVISOR_iret is {@code ud2} (HVM guests have no iret hypercall, as in Xen); the rest of each stub and of the
 * page is {@code int3}.
 */
public final class HypercallPage {
    /** The I/O port the stubs write: a port no PC device uses. */
    public static final int PORT = 0x5A;
    public static final int STUB_SIZE = 32;
    private static final byte INT3 = (byte) 0xCC;

    private HypercallPage() {}

    public static void write(GuestRegion page) {
        for (long i = 0; i < page.length(); i++) page.putByte(i, INT3);
        int stubs = (int) (page.length() / STUB_SIZE);
        for (int n = 0; n < stubs; n++) {
            long at = (long) n * STUB_SIZE;
            if (n == Hypercall.IRET) {
                page.putByte(at, (byte) 0x0F);
                page.putByte(at + 1, (byte) 0x0B);
                continue;
            }
            page.putByte(at, (byte) 0xB8);                 // mov $n, %eax
            page.putByte(at + 1, (byte) n);
            page.putByte(at + 2, (byte) (n >>> 8));
            page.putByte(at + 3, (byte) 0);
            page.putByte(at + 4, (byte) 0);
            page.putByte(at + 5, (byte) 0xE7);             // out %eax, $PORT
            page.putByte(at + 6, (byte) PORT);
            page.putByte(at + 7, (byte) 0xC3);             // ret
        }
    }
}
