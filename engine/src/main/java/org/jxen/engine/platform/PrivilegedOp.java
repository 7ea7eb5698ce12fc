package org.jxen.engine.platform;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.hypercall.HypercallDispatcher;
import org.jxen.engine.memory.GuestVirtualMemory;

/**
 * A toolstack-only hypercall as a domU meets it (Xen's do_sysctl, do_domctl, do_platform_op): the whole struct is
 * copied in first (-EFAULT if it cannot be), its interface_version is checked next (-EACCES on a mismatch), and then
 * the XSM check refuses an unprivileged domain (-EPERM). The command itself is never looked at.
 */
public record PrivilegedOp(int structSize, int expectedVersion) implements HypercallDispatcher.Handler {
    /** XEN_SYSCTL_INTERFACE_VERSION ({@code public/sysctl.h}, Xen 4.19); struct xen_sysctl is 8 + a 128-byte union. */
    public static final PrivilegedOp SYSCTL = new PrivilegedOp(136, 0x0000_0015);
    /** XEN_DOMCTL_INTERFACE_VERSION ({@code public/domctl.h}, Xen 4.19); struct xen_domctl has 16 bytes before its union. */
    public static final PrivilegedOp DOMCTL = new PrivilegedOp(144, 0x0000_0017);
    /** XENPF_INTERFACE_VERSION ({@code public/platform.h}); struct xen_platform_op is 8 + a 128-byte union. */
    public static final PrivilegedOp PLATFORM_OP = new PrivilegedOp(136, 0x0300_0001);

    @Override
    public long handle(HypercallArgs args, GuestVirtualMemory mem) {
        MemorySegment s = MemorySegment.ofArray(new byte[structSize]);
        int rc = mem.read(args.a1(), s);
        if (rc != 0) return rc;
        if (s.get(ValueLayout.JAVA_INT_UNALIGNED, 4) != expectedVersion) return -Errno.EACCES;
        return -Errno.EPERM;
    }
}
