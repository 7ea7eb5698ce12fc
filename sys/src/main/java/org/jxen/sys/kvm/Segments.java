package org.jxen.sys.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Writes {@code struct kvm_segment} and the control registers of a {@code struct kvm_sregs} segment. */
public final class Segments {
    private Segments() {}

    /** One segment register at {@code segOffset} (e.g. {@link KvmAbi#OFFSETOF_KVM_SREGS_CS}) of {@code sregs}. */
    public static void set(MemorySegment sregs, long segOffset, long base, int limit, int selector, int type, boolean s,
            int dpl, boolean db, boolean l, boolean g) {
        MemorySegment seg = sregs.asSlice(segOffset, SIZEOF_KVM_SEGMENT);
        seg.fill((byte) 0);
        seg.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_SEGMENT_BASE, base);
        seg.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_SEGMENT_LIMIT, limit);
        seg.set(ValueLayout.JAVA_SHORT, OFFSETOF_KVM_SEGMENT_SELECTOR, (short) selector);
        seg.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_SEGMENT_TYPE, (byte) type);
        seg.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_SEGMENT_PRESENT, (byte) 1);
        seg.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_SEGMENT_DPL, (byte) dpl);
        seg.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_SEGMENT_DB, (byte) (db ? 1 : 0));
        seg.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_SEGMENT_S, (byte) (s ? 1 : 0));
        seg.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_SEGMENT_L, (byte) (l ? 1 : 0));
        seg.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_SEGMENT_G, (byte) (g ? 1 : 0));
    }

    public static void unusable(MemorySegment sregs, long segOffset) {
        MemorySegment seg = sregs.asSlice(segOffset, SIZEOF_KVM_SEGMENT);
        seg.fill((byte) 0);
        seg.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_SEGMENT_UNUSABLE, (byte) 1);
    }

    public static void controlRegisters(MemorySegment sregs, long cr0, long cr3, long cr4, long efer) {
        sregs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_SREGS_CR0, cr0);
        sregs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_SREGS_CR3, cr3);
        sregs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_SREGS_CR4, cr4);
        sregs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_SREGS_EFER, efer);
    }

    public static long cr0(MemorySegment sregs) {
        return sregs.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_SREGS_CR0);
    }

    public static long efer(MemorySegment sregs) {
        return sregs.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_SREGS_EFER);
    }
}
