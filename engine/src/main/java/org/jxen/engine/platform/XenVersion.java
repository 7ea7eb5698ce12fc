package org.jxen.engine.platform;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.memory.GuestVirtualMemory;

/**
 * HYPERVISOR_xen_version(cmd, arg) ({@code public/version.h}) as Xen answers an HVM domU: fixed-size string buffers
 * are written whole (the string, its NUL, zeros after it: no host bytes reach the guest); commandline and build_id are
 * privileged (-EPERM); unknown commands -ENOSYS.
 */
public final class XenVersion {
    public static final int VERSION = 0, EXTRAVERSION = 1, COMPILE_INFO = 2, CAPABILITIES = 3, CHANGESET = 4,
            PLATFORM_PARAMETERS = 5, GET_FEATURES = 6, PAGESIZE = 7, GUEST_HANDLE = 8, COMMANDLINE = 9, BUILD_ID = 10;
    /** The Xen version jxen presents: 4.19. */
    public static final int MAJOR = 4, MINOR = 19;
    /** XENFEAT_* for an HVM guest: writable_page_tables, auto_translated_physmap, hvm_callback_vector,
     *  hvm_safe_pvclock, memory_op_vnode_supported (no PIRQ routing, no phys-area registration yet). */
    public static final int FEATURES_0 = (1 << 0) | (1 << 2) | (1 << 8) | (1 << 9) | (1 << 13);

    private final byte[] handle;

    /** @param domainHandle the domain's 16-byte handle (UUID) */
    public XenVersion(byte[] domainHandle) {
        if (domainHandle.length != 16) throw new IllegalArgumentException("a domain handle is 16 bytes");
        this.handle = domainHandle.clone();
    }

    public long handle(HypercallArgs args, GuestVirtualMemory mem) {
        int cmd = HypercallArgs.u32(args.a1());
        long arg = args.a2();
        boolean wide = args.mode() == GuestWidth.BITS_64;
        return switch (cmd) {
            case VERSION -> (MAJOR << 16) | MINOR;
            case EXTRAVERSION -> string(mem, arg, ".0-jxen", 16);
            case COMPILE_INFO -> {
                // struct xen_compile_info { char compiler[64]; char compile_by[16]; char compile_domain[32]; char compile_date[32]; }
                MemorySegment s = MemorySegment.ofArray(new byte[144]);
                put(s, 0, "jxen (Java " + Runtime.version().feature() + ")", 64);
                put(s, 64, "jxen", 16);
                put(s, 80, "jxen", 32);
                put(s, 112, "2026-11-26", 32);
                yield mem.write(arg, s);
            }
            case CAPABILITIES -> string(mem, arg, "hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64", 1024);
            case CHANGESET -> string(mem, arg, "jxen", 64);
            case PLATFORM_PARAMETERS -> {
                // struct xen_platform_parameters { xen_ulong_t virt_start; }: HYPERVISOR_VIRT_START for the caller's ABI
                MemorySegment s = MemorySegment.ofArray(new byte[wide ? 8 : 4]);
                if (wide) s.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 0xFFFF800000000000L);
                else s.set(ValueLayout.JAVA_INT_UNALIGNED, 0, 0xF5800000);
                yield mem.write(arg, s);
            }
            case GET_FEATURES -> {
                // struct xen_feature_info { unsigned int submap_idx; uint32_t submap; }
                MemorySegment s = MemorySegment.ofArray(new byte[8]);
                int rc = mem.read(arg, s);
                if (rc != 0) yield rc;
                int idx = s.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
                s.set(ValueLayout.JAVA_INT_UNALIGNED, 4, idx == 0 ? FEATURES_0 : 0);
                yield mem.write(arg, s);
            }
            case PAGESIZE -> 4096;
            case GUEST_HANDLE -> mem.write(arg, MemorySegment.ofArray(handle.clone()));
            case COMMANDLINE, BUILD_ID -> -Errno.EPERM;
            default -> -Errno.ENOSYS;
        };
    }

    private static long string(GuestVirtualMemory mem, long arg, String value, int size) {
        MemorySegment s = MemorySegment.ofArray(new byte[size]);
        put(s, 0, value, size);
        return mem.write(arg, s);
    }

    /** The string, truncated to leave its NUL, zeros after it. */
    private static void put(MemorySegment s, long at, String value, int size) {
        byte[] b = value.getBytes(StandardCharsets.US_ASCII);
        MemorySegment.copy(MemorySegment.ofArray(b), 0, s, at, Math.min(b.length, size - 1));
    }
}
