package org.jxen.sys.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Typed access to a {@code struct kvm_run}: the exit reason and its data, and the synced registers (kvm_regs and
 * kvm_sregs inside kvm_run) that spare a vCPU ioctl per exit. A register written here reaches the vCPU at the next
 * KVM_RUN once its group is marked dirty ({@link #markRegsDirty}).
 */
public final class KvmRun {
    /** kvm_regs field offsets in the order of struct kvm_regs. */
    public static final int RAX = 0, RBX = 8, RCX = 16, RDX = 24, RSI = 32, RDI = 40, RSP = 48, RBP = 56, R8 = 64,
            R9 = 72, R10 = 80, R11 = 88, R12 = 96, R13 = 104, R14 = 112, R15 = 120, RIP = 128, RFLAGS = 136;

    private final MemorySegment run;

    public KvmRun(MemorySegment run) {
        if (run.byteSize() < SIZEOF_KVM_RUN) throw new IllegalArgumentException("kvm_run area too small");
        this.run = run;
    }

    public MemorySegment segment() {
        return run;
    }

    public int exitReason() {
        return run.get(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON);
    }

    public void setImmediateExit(boolean on) {
        run.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_IMMEDIATE_EXIT, (byte) (on ? 1 : 0));
    }

    /** Asks KVM to fill the synced register groups ({@code KVM_SYNC_X86_*}) at every exit. */
    public void requestSyncedRegs(long groups) {
        run.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_KVM_VALID_REGS, groups);
    }

    public void markRegsDirty() {
        long d = run.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_KVM_DIRTY_REGS);
        run.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_KVM_DIRTY_REGS, d | KVM_SYNC_X86_REGS);
    }

    public void markSregsDirty() {
        long d = run.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_KVM_DIRTY_REGS);
        run.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_KVM_DIRTY_REGS, d | KVM_SYNC_X86_SREGS);
    }

    /** The synced {@code struct kvm_sregs} (valid after an exit when requested; written back with markSregsDirty). */
    public MemorySegment sregs() {
        return run.asSlice(OFFSETOF_KVM_RUN_SREGS, SIZEOF_KVM_SREGS);
    }

    // ---- KVM_EXIT_IO
    public boolean ioOut() {
        return run.get(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_IO_DIRECTION) == KVM_EXIT_IO_OUT;
    }

    public int ioSize() {
        return run.get(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_IO_SIZE);
    }

    public int ioPort() {
        return Short.toUnsignedInt(run.get(ValueLayout.JAVA_SHORT, OFFSETOF_KVM_RUN_IO_PORT));
    }

    public int ioCount() {
        return run.get(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_IO_COUNT);
    }

    /** The I/O data (size x count bytes) inside the kvm_run mapping; bounds-checked against it. */
    public MemorySegment ioData() {
        long offset = run.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_IO_DATA_OFFSET);
        return run.asSlice(offset, (long) ioSize() * ioCount());
    }

    // ---- KVM_EXIT_MMIO
    public long mmioAddress() {
        return run.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_MMIO_PHYS_ADDR);
    }

    public int mmioLength() {
        return run.get(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_MMIO_LEN);
    }

    public boolean mmioWrite() {
        return run.get(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_MMIO_IS_WRITE) != 0;
    }

    public MemorySegment mmioData() {
        return run.asSlice(OFFSETOF_KVM_RUN_MMIO_DATA, Math.min(8, Math.max(0, mmioLength())));
    }

    // ---- KVM_EXIT_X86_RDMSR / WRMSR
    public int msrIndex() {
        return run.get(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_MSR_INDEX);
    }

    public long msrData() {
        return run.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_MSR_DATA);
    }

    /** The answer to an MSR exit: {@code fault} injects #GP; otherwise {@code data} is what a read returns. */
    public void msrReply(boolean fault, long data) {
        run.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_MSR_ERROR, (byte) (fault ? 1 : 0));
        run.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_MSR_DATA, data);
    }

    // ---- KVM_EXIT_XEN (KVM's Xen support, INTERCEPT_HCALL): a VMCALL/VMMCALL hypercall the kernel left to us
    public int xenExitType() {
        return run.get(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_XEN_TYPE);
    }

    /** Whether the hypercall was made in the 64-bit convention (KVM's is_64_bit_hypercall). */
    public boolean xenHcallLongMode() {
        return run.get(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_XEN_HCALL_LONGMODE) != 0;
    }

    public int xenHcallCpl() {
        return run.get(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_XEN_HCALL_CPL);
    }

    public long xenHcallInput() {
        return run.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_XEN_HCALL_INPUT);
    }

    /** Argument {@code i} (0..5), already taken from the registers of the call's convention. */
    public long xenHcallParam(int i) {
        return run.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_XEN_HCALL_PARAMS + 8L * i);
    }

    /** The result KVM puts in RAX when the vCPU re-enters (RIP is KVM's to advance). */
    public void xenHcallResult(long rax) {
        run.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_XEN_HCALL_RESULT, rax);
    }

    // ---- other exits
    public int internalSuberror() {
        return run.get(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_INTERNAL_SUBERROR);
    }

    public long failEntryReason() {
        return run.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_FAIL_ENTRY_REASON);
    }

    public int systemEventType() {
        return run.get(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_SYSTEM_EVENT_TYPE);
    }

    // ---- synced registers
    public long reg(int offset) {
        return run.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_REGS + offset);
    }

    public void setReg(int offset, long value) {
        run.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_REGS + offset, value);
    }

    public long cr0() {
        return run.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_SREGS + OFFSETOF_KVM_SREGS_CR0);
    }

    public long cr3() {
        return run.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_SREGS + OFFSETOF_KVM_SREGS_CR3);
    }

    public long cr4() {
        return run.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_SREGS + OFFSETOF_KVM_SREGS_CR4);
    }

    public long efer() {
        return run.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_SREGS + OFFSETOF_KVM_SREGS_EFER);
    }

    /** CS.L: 64-bit code (with EFER.LMA). */
    public boolean csLong() {
        return run.get(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_SREGS + OFFSETOF_KVM_SREGS_CS + OFFSETOF_KVM_SEGMENT_L) != 0;
    }

    /** The current privilege level: SS.DPL (as KVM and Xen take it). */
    public int cpl() {
        return run.get(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_SREGS + OFFSETOF_KVM_SREGS_SS + OFFSETOF_KVM_SEGMENT_DPL);
    }
}
