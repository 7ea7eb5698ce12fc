package org.jxen.vmm.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.jxen.engine.memory.PagingState;
import org.jxen.engine.platform.VcpuHvmContext;
import org.jxen.sys.kvm.KvmException;
import org.jxen.sys.kvm.KvmVcpu;
import org.jxen.sys.kvm.Segments;
import org.jxen.vmm.boot.PvhLoader;

/**
 * The register states a vCPU starts in: the PVH entry state for the boot vCPU, and VCPUOP_initialise's
 * vcpu_hvm_context for the others. Written with KVM_SET_SREGS/KVM_SET_REGS before the vCPU first runs, on the thread
 * that will run it; control registers are read back, since this host's KVM silently drops what it cannot do.
 */
final class VcpuRegisters {
    private static final int CODE_SELECTOR = 0x10, DATA_SELECTOR = 0x18, TSS_SELECTOR = 0x20;
    private static final int TYPE_CODE = 0xB, TYPE_DATA = 0x3, TYPE_BUSY_TSS = 0xB;
    private static final long[] DATA_SEGMENTS = {OFFSETOF_KVM_SREGS_DS, OFFSETOF_KVM_SREGS_ES, OFFSETOF_KVM_SREGS_FS,
            OFFSETOF_KVM_SREGS_GS, OFFSETOF_KVM_SREGS_SS};

    private VcpuRegisters() {}

    /** Flat 4 GiB segments: 32-bit (D/B) or 64-bit (L) code, read/write data, a busy TSS, no LDT. */
    private static void flatSegments(MemorySegment sregs, boolean longMode) {
        Segments.set(sregs, OFFSETOF_KVM_SREGS_CS, 0, 0xFFFF_FFFF, CODE_SELECTOR, TYPE_CODE, true, 0, !longMode, longMode, true);
        for (long seg : DATA_SEGMENTS) Segments.set(sregs, seg, 0, 0xFFFF_FFFF, DATA_SELECTOR, TYPE_DATA, true, 0, true, false, true);
        Segments.set(sregs, OFFSETOF_KVM_SREGS_TR, 0, 0x67, TSS_SELECTOR, TYPE_BUSY_TSS, false, 0, false, false, false);
        Segments.unusable(sregs, OFFSETOF_KVM_SREGS_LDT);
    }

    /** The PVH entry state (arch-x86/hvm/start_info.h): 32-bit protected mode, paging off, flat segments, EBX = start info. */
    static void loadPvhEntry(KvmVcpu v, PvhLoader.Boot boot) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sregs = a.allocate(SIZEOF_KVM_SREGS, 8);
            v.getSregs(sregs);
            flatSegments(sregs, false);
            Segments.controlRegisters(sregs, PagingState.CR0_PE | 0x10 /* ET */, 0, 0, 0);
            setSregsChecked(v, sregs);
            MemorySegment regs = a.allocate(SIZEOF_KVM_REGS, 8);
            regs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_REGS_RIP, boot.entryEip());
            regs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_REGS_RBX, boot.startInfoEbx());
            regs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_REGS_RFLAGS, 2);
            v.setRegs(regs);
        }
    }

    /** A vCPU's registers from VCPUOP_initialise's vcpu_hvm_context. */
    static void loadContext(KvmVcpu v, VcpuHvmContext c) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sregs = a.allocate(SIZEOF_KVM_SREGS, 8);
            v.getSregs(sregs);
            flatSegments(sregs, c.longMode());
            if (!c.longMode()) {
                segment(sregs, OFFSETOF_KVM_SREGS_CS, c.cs(), CODE_SELECTOR);
                segment(sregs, OFFSETOF_KVM_SREGS_DS, c.ds(), DATA_SELECTOR);
                segment(sregs, OFFSETOF_KVM_SREGS_ES, c.es(), DATA_SELECTOR);
                segment(sregs, OFFSETOF_KVM_SREGS_SS, c.ss(), DATA_SELECTOR);
                if (c.tr().attributes() != 0) segment(sregs, OFFSETOF_KVM_SREGS_TR, c.tr(), TSS_SELECTOR);
            }
            PagingState p = c.paging();
            Segments.controlRegisters(sregs, p.cr0(), p.cr3(), p.cr4(), p.efer());
            setSregsChecked(v, sregs);
            MemorySegment regs = a.allocate(SIZEOF_KVM_REGS, 8);
            long[] gprs = {c.rax(), c.rbx(), c.rcx(), c.rdx(), c.rsi(), c.rdi(), c.rsp(), c.rbp()}; // struct kvm_regs order
            for (int i = 0; i < gprs.length; i++) regs.set(ValueLayout.JAVA_LONG, 8L * i, gprs[i]);
            regs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_REGS_RIP, c.rip());
            regs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_REGS_RFLAGS, c.rflags() | 2);
            v.setRegs(regs);
        }
    }

    private static void setSregsChecked(KvmVcpu v, MemorySegment sregs) {
        long cr0 = Segments.cr0(sregs), efer = Segments.efer(sregs);
        v.setSregs(sregs);
        v.getSregs(sregs);
        long mustKeep = PagingState.CR0_PE | PagingState.CR0_PG;
        if ((Segments.cr0(sregs) & mustKeep) != (cr0 & mustKeep)
                || (Segments.efer(sregs) & PagingState.EFER_LME) != (efer & PagingState.EFER_LME))
            throw new KvmException(String.format("KVM changed the start state: CR0 0x%x -> 0x%x, EFER 0x%x -> 0x%x",
                    cr0, Segments.cr0(sregs), efer, Segments.efer(sregs)));
    }

    /** A segment from vcpu_hvm_context's attribute format (type, S, DPL, P, AVL, L, D/B, G); 0 is a null segment. */
    private static void segment(MemorySegment sregs, long at, VcpuHvmContext.Segment s, int selector) {
        int ar = s.attributes();
        if (ar == 0) {
            Segments.unusable(sregs, at);
            return;
        }
        Segments.set(sregs, at, s.base(), (int) s.limit(), selector, ar & 0xF, (ar & 0x10) != 0, (ar >>> 5) & 3,
                (ar & 0x400) != 0, (ar & 0x200) != 0, (ar & 0x800) != 0);
    }
}
