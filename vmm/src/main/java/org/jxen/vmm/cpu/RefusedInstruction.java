package org.jxen.vmm.cpu;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HexFormat;

import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestVirtualMemory;
import org.jxen.engine.memory.PageWalker;
import org.jxen.engine.memory.PagingState;
import org.jxen.sys.kvm.KvmRun;

/**
 * An instruction the host's KVM could not emulate (KVM_EXIT_INTERNAL_ERROR, suberror KVM_INTERNAL_ERROR_EMULATION).
 * Some KVMs emulate all guest kernel code and cannot run every instruction: the nested PVM backend of some hosts of
 * this project stops at a 32-bit {@code iret} and at x87 instructions at CPL0 (docs/host-kvm in the design notes).
 *
 * <p>jxen emulates the one that blocks every 32-bit guest that takes interrupts — a same-privilege 32-bit
 * {@code iret} in protected mode, without NT or VM: pop EIP, CS and EFLAGS from SS:ESP, load CS's descriptor from the
 * GDT (SDM vol. 2, IRET: "RETURN-TO-SAME-PRIVILEGE-LEVEL") — through kvm_run's synced registers, and re-enters. For
 * anything else it names the instruction, decoded from the bytes at CS:RIP through the guest's page tables, in the
 * run's one-line reason.
 */
public final class RefusedInstruction {
    private static final long EFLAGS_NT = 1L << 14, EFLAGS_VM = 1L << 17, EFLAGS_FIXED = 1L << 1;
    /** The EFLAGS bits an iret at CPL0 may load (CF..ID, less the reserved ones). */
    private static final long EFLAGS_WRITABLE = 0x3F_7FD5L;
    private static final long CR0_PE = 1;

    private RefusedInstruction() {}

    /** True if the instruction at RIP was emulated (registers updated, marked dirty): re-enter the guest. */
    public static boolean tryEmulate(KvmRun run, GuestMemory ram) {
        MemorySegment sregs = run.sregs();
        if ((run.cr0() & CR0_PE) == 0 || (run.efer() & PagingState.EFER_LMA) != 0) return false;
        if (run.cpl() != 0 || !flag(sregs, OFFSETOF_KVM_SREGS_CS, OFFSETOF_KVM_SEGMENT_DB)) return false; // 32-bit code only
        byte[] insn = fetch(run, ram, 2);
        if (insn == null || (insn[0] & 0xFF) != 0xCF) return false; // no prefix: a 32-bit iret
        long flags = run.reg(KvmRun.RFLAGS);
        if ((flags & (EFLAGS_NT | EFLAGS_VM)) != 0) return false;
        boolean bigStack = flag(sregs, OFFSETOF_KVM_SREGS_SS, OFFSETOF_KVM_SEGMENT_DB);
        long ssBase = sregs.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_SREGS_SS + OFFSETOF_KVM_SEGMENT_BASE);
        long sp = run.reg(KvmRun.RSP) & (bigStack ? 0xFFFF_FFFFL : 0xFFFF);
        GuestVirtualMemory mem = memory(run, ram);
        long eip = mem.readU32(linear32(ssBase + sp)), cs = mem.readU32(linear32(ssBase + sp + 4)), eflags = mem.readU32(linear32(ssBase + sp + 8));
        if (eip < 0 || cs < 0 || eflags < 0) return false;
        int selector = (int) cs & 0xFFFF;
        if ((selector & 3) != 0 || (selector & 4) != 0 || selector < 8) return false; // other privilege, LDT or null: not ours
        long gdtBase = sregs.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_SREGS_GDT);
        int gdtLimit = sregs.get(ValueLayout.JAVA_SHORT, OFFSETOF_KVM_SREGS_GDT + 8) & 0xFFFF;
        if ((selector | 7) > gdtLimit) return false;
        long lo = mem.readU32(linear32(gdtBase + (selector & ~7))), hi = mem.readU32(linear32(gdtBase + (selector & ~7) + 4));
        if (lo < 0 || hi < 0) return false;
        long d = hi << 32 | lo;
        int access = (int) (d >>> 40) & 0xFF;
        boolean code = (access & 0x18) == 0x18, present = (access & 0x80) != 0;
        if (!code || !present) return false; // the guest would get #GP/#NP: leave it to the report
        writeSegment(sregs, OFFSETOF_KVM_SREGS_CS, selector, d);
        run.setReg(KvmRun.RIP, eip);
        run.setReg(KvmRun.RFLAGS, (flags & ~EFLAGS_WRITABLE) | (eflags & EFLAGS_WRITABLE) | EFLAGS_FIXED);
        long newSp = sp + 12;
        long rsp = run.reg(KvmRun.RSP);
        run.setReg(KvmRun.RSP, bigStack ? newSp & 0xFFFF_FFFFL : (rsp & ~0xFFFFL) | (newSp & 0xFFFF));
        run.markRegsDirty();
        run.markSregsDirty();
        return true;
    }

    /** The instruction at CS:RIP, for a one-line report: a mnemonic where it is one jxen knows, and its bytes. */
    public static String describe(KvmRun run, GuestMemory ram) {
        byte[] b = fetch(run, ram, 8);
        String mode = (run.efer() & PagingState.EFER_LMA) != 0 && run.csLong() ? "64-bit"
                : flag(run.sregs(), OFFSETOF_KVM_SREGS_CS, OFFSETOF_KVM_SEGMENT_DB) ? "32-bit" : "16-bit";
        String where = " at rip 0x" + Long.toHexString(run.reg(KvmRun.RIP)) + " (" + mode + ", CPL " + run.cpl() + ")";
        if (b == null) return "an instruction whose address is not guest RAM" + where;
        return mnemonic(b) + where + " [" + HexFormat.ofDelimiter(" ").formatHex(b) + "]";
    }

    /** A name for the common instructions a KVM may refuse; "an instruction" otherwise. */
    static String mnemonic(byte[] b) {
        int i = 0;
        boolean opsize = false, rex64 = false;
        while (i < b.length && ((b[i] & 0xFF) == 0x66 || (b[i] & 0xFF) == 0xF3 || (b[i] & 0xFF) == 0xF2 || (b[i] & 0xF0) == 0x40)) {
            if ((b[i] & 0xFF) == 0x66) opsize = true;
            if ((b[i] & 0xF8) == 0x48) rex64 = true;
            i++;
        }
        if (i >= b.length) return "an instruction";
        int op = b[i] & 0xFF;
        int next = i + 1 < b.length ? b[i + 1] & 0xFF : -1;
        if (op == 0xCF) return rex64 ? "iretq" : opsize ? "iretw" : "iret";
        if (op >= 0xD8 && op <= 0xDF) return "an x87 instruction (" + x87(op, next) + ")";
        if (op == 0xCD) return "int $0x" + Integer.toHexString(next);
        if (op == 0xF4) return "hlt";
        if (op == 0x0F && next == 0x01 && i + 2 < b.length) {
            int m = b[i + 2] & 0xFF;
            if (m == 0xC1) return "vmcall";
            if (m == 0xD9) return "vmmcall";
        }
        if (op == 0x0F && next == 0x0B) return "ud2";
        if (op == 0x0F && next == 0xA2) return "cpuid";
        return "an instruction";
    }

    private static String x87(int op, int modrm) {
        int reg = modrm < 0 ? -1 : (modrm >> 3) & 7;
        boolean memory = modrm >= 0 && (modrm >> 6) != 3;
        if (memory && op == 0xDF && reg == 5) return "fild m64";
        if (memory && op == 0xDB && reg == 0) return "fild m32";
        if (memory && op == 0xDF && reg == 7) return "fistp m64";
        if (memory && op == 0xDD && reg == 0) return "fld m64";
        if (memory && op == 0xD9 && reg == 0) return "fld m32";
        return String.format("opcode %02x", op);
    }

    /** Up to {@code n} bytes at CS:RIP (fewer where the page ends at the end of RAM), or null if none is readable. */
    private static byte[] fetch(KvmRun run, GuestMemory ram, int n) {
        long csBase = run.sregs().get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_SREGS_CS + OFFSETOF_KVM_SEGMENT_BASE);
        long linear = (run.efer() & PagingState.EFER_LMA) != 0 && run.csLong() ? run.reg(KvmRun.RIP) : linear32(csBase + run.reg(KvmRun.RIP));
        GuestVirtualMemory mem = memory(run, ram);
        for (int len = n; len > 0; len--) {
            byte[] out = new byte[len];
            if (mem.read(linear, MemorySegment.ofArray(out)) == 0) return out;
        }
        return null;
    }

    /** Guest memory as the vCPU sees it now: its page tables from the synced registers. */
    private static GuestVirtualMemory memory(KvmRun run, GuestMemory ram) {
        return new GuestVirtualMemory(ram, PageWalker.of(ram, new PagingState(run.cr0(), run.cr3(), run.cr4(), run.efer())));
    }

    /** A 32-bit linear address (segment base + offset wraps at 4 GiB outside long mode). */
    private static long linear32(long address) {
        return address & 0xFFFF_FFFFL;
    }

    private static boolean flag(MemorySegment sregs, int segment, int field) {
        return sregs.get(ValueLayout.JAVA_BYTE, segment + field) != 0;
    }

    /** A GDT descriptor into a {@code struct kvm_segment}. */
    private static void writeSegment(MemorySegment sregs, int segment, int selector, long d) {
        long base = ((d >>> 16) & 0xFF_FFFFL) | ((d >>> 56) & 0xFF) << 24;
        long limit = (d & 0xFFFF) | ((d >>> 48) & 0xF) << 16;
        boolean g = ((d >>> 55) & 1) != 0;
        if (g) limit = limit << 12 | 0xFFF;
        int access = (int) (d >>> 40) & 0xFF;
        sregs.set(ValueLayout.JAVA_LONG, segment + OFFSETOF_KVM_SEGMENT_BASE, base);
        sregs.set(ValueLayout.JAVA_INT, segment + OFFSETOF_KVM_SEGMENT_LIMIT, (int) limit);
        sregs.set(ValueLayout.JAVA_SHORT, segment + OFFSETOF_KVM_SEGMENT_SELECTOR, (short) selector);
        sregs.set(ValueLayout.JAVA_BYTE, segment + OFFSETOF_KVM_SEGMENT_TYPE, (byte) (access & 0xF | 1)); // accessed
        sregs.set(ValueLayout.JAVA_BYTE, segment + OFFSETOF_KVM_SEGMENT_PRESENT, (byte) 1);
        sregs.set(ValueLayout.JAVA_BYTE, segment + OFFSETOF_KVM_SEGMENT_DPL, (byte) ((access >> 5) & 3));
        sregs.set(ValueLayout.JAVA_BYTE, segment + OFFSETOF_KVM_SEGMENT_DB, (byte) ((d >>> 54) & 1));
        sregs.set(ValueLayout.JAVA_BYTE, segment + OFFSETOF_KVM_SEGMENT_S, (byte) 1);
        sregs.set(ValueLayout.JAVA_BYTE, segment + OFFSETOF_KVM_SEGMENT_L, (byte) ((d >>> 53) & 1));
        sregs.set(ValueLayout.JAVA_BYTE, segment + OFFSETOF_KVM_SEGMENT_G, (byte) (g ? 1 : 0));
        sregs.set(ValueLayout.JAVA_BYTE, segment + OFFSETOF_KVM_SEGMENT_AVL, (byte) ((d >>> 52) & 1));
        sregs.set(ValueLayout.JAVA_BYTE, segment + OFFSETOF_KVM_SEGMENT_UNUSABLE, (byte) 0);
    }
}
