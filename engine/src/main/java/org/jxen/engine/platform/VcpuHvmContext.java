package org.jxen.engine.platform;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.memory.PagingState;

/**
 * The register state VCPUOP_initialise starts a vCPU in ({@code struct vcpu_hvm_context}, {@code public/hvm/hvm_vcpu.h}),
 * decoded and checked as Xen's arch_set_info_hvm_guest does. 64-bit mode implies flat long-mode segments; 32-bit mode
 * carries CS/DS/SS/ES/TR base, limit and attributes, checked like Xen's check_segment.
 */
public record VcpuHvmContext(boolean longMode, long rax, long rcx, long rdx, long rbx, long rsp, long rbp, long rsi,
        long rdi, long rip, long rflags, long cr0, long cr3, long cr4, long efer, Segment cs, Segment ds, Segment ss,
        Segment es, Segment tr) {
    public static final int MODE_32B = 0, MODE_64B = 1;
    /** sizeof(struct vcpu_hvm_context): mode, pad, and the larger of the two register unions (x86_32: 120 bytes). */
    public static final int SIZE = 128;

    /** A segment in the form hvm_vcpu.h gives it: base, limit, and the 16-bit attributes (type, S, DPL, P, AVL, L, D/B, G). */
    public record Segment(long base, long limit, int attributes) {
        static final int TYPE_CODE = 1 << 3, S = 1 << 4, P = 1 << 7, L = 1 << 9, DB = 1 << 10, G = 1 << 11;

        public boolean present() {
            return (attributes & P) != 0;
        }

        /** Flat 64-bit code, what the 64-bit mode implies for CS. */
        static Segment longCode() {
            return new Segment(0, 0xFFFF_FFFFL, 0xB | S | P | L | G);
        }

        static Segment flatData() {
            return new Segment(0, 0xFFFF_FFFFL, 0x3 | S | P | DB | G);
        }

        static Segment busyTss() {
            return new Segment(0, 0x67, 0xB | P);
        }
    }

    /** The decoded context, or a negative Xen errno ({@code -EINVAL}) in {@code error[0]}. */
    public static VcpuHvmContext decode(MemorySegment s, int[] error) {
        int mode = s.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
        error[0] = 0;
        // arch/x86/hvm/domain.c arch_set_info_hvm_guest: ctx->pad, and in 32-bit mode pad1 and pad2[3], must be 0.
        boolean padsClear = s.get(ValueLayout.JAVA_INT_UNALIGNED, 4) == 0 && (mode != MODE_32B
                || s.get(ValueLayout.JAVA_INT_UNALIGNED, 8 + 52) == 0 && s.get(ValueLayout.JAVA_SHORT_UNALIGNED, 8 + 114) == 0
                        && s.get(ValueLayout.JAVA_INT_UNALIGNED, 8 + 116) == 0);
        if (!padsClear) {
            error[0] = -Errno.EINVAL;
            return null;
        }
        VcpuHvmContext ctx = switch (mode) {
            case MODE_64B -> decode64(s);
            case MODE_32B -> decode32(s);
            default -> null;
        };
        if (ctx == null || !ctx.valid()) {
            error[0] = -Errno.EINVAL;
            return null;
        }
        return ctx;
    }

    private static VcpuHvmContext decode64(MemorySegment s) {
        long[] r = new long[14];
        for (int i = 0; i < r.length; i++) r[i] = s.get(ValueLayout.JAVA_LONG_UNALIGNED, 8 + 8L * i);
        Segment data = Segment.flatData();
        return new VcpuHvmContext(true, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
                r[13], Segment.longCode(), data, data, data, Segment.busyTss());
    }

    private static VcpuHvmContext decode32(MemorySegment s) {
        long[] r = new long[13];
        for (int i = 0; i < r.length; i++) r[i] = Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, 8 + 4L * i));
        long efer = s.get(ValueLayout.JAVA_LONG_UNALIGNED, 8 + 56);
        Segment[] seg = new Segment[5];
        for (int i = 0; i < 5; i++) {
            long base = Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, 8 + 64 + 4L * i));
            long limit = Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, 8 + 84 + 4L * i));
            int ar = Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, 8 + 104 + 2L * i));
            seg[i] = new Segment(base, limit, ar);
        }
        return new VcpuHvmContext(false, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
                efer, seg[0], seg[1], seg[2], seg[3], seg[4]);
    }

    /** Xen's sanity checks: those a guest gets -EINVAL for. */
    private boolean valid() {
        if (longMode) {
            if ((rip << 16) >> 16 != rip) return false; // non-canonical RIP
            if ((cr0 & PagingState.CR0_PG) == 0 || (cr4 & PagingState.CR4_PAE) == 0 || (efer & PagingState.EFER_LME) == 0) return false;
        } else {
            // check_segment: CS present, a code segment, not 64-bit; DS/ES/SS either null or present data/code.
            if (!cs.present() || (cs.attributes() & Segment.S) == 0 || (cs.attributes() & Segment.TYPE_CODE) == 0) return false;
            if ((cs.attributes() & Segment.L) != 0) return false;
            for (Segment d : new Segment[] {ds, ss, es})
                if (d.attributes() != 0 && (!d.present() || (d.attributes() & Segment.S) == 0)) return false;
            if (tr.attributes() != 0 && (tr.attributes() & Segment.S) != 0) return false; // TR is a system segment
            if ((efer & PagingState.EFER_LME) != 0) return false; // 32-bit mode cannot start in long mode
            if ((cr0 & PagingState.CR0_PG) != 0 && (cr0 & PagingState.CR0_PE) == 0) return false;
        }
        // Reserved bits: CR0 bits 63:32, EFER beyond SCE/LME/LMA/NXE/SVME/LMSLE/FFXSR/TCE, CR4 bits 63:32.
        if ((cr0 >>> 32) != 0 || (cr4 >>> 32) != 0) return false;
        long eferKnown = 1L | (1L << 8) | (1L << 10) | (1L << 11) | (1L << 12) | (1L << 13) | (1L << 14) | (1L << 15);
        return (efer & ~eferKnown) == 0;
    }

    /** The paging state the vCPU starts with (EFER.LMA follows LME and PG, as the hardware sets it). */
    public PagingState paging() {
        boolean lma = (efer & PagingState.EFER_LME) != 0 && (cr0 & PagingState.CR0_PG) != 0;
        return new PagingState(cr0, cr3, cr4, lma ? efer | PagingState.EFER_LMA : efer);
    }
}
