package org.jxen.engine.hypercall;

import org.jxen.engine.abi.GuestWidth;

/**
 * A decoded hypercall: its number and five arguments, from the registers of the calling vCPU.
 * 64-bit guests pass RAX = number, RDI, RSI, RDX, R10, R8; 32-bit guests EAX = number, EBX, ECX, EDX, ESI, EDI, and
 * the upper register halves are ignored (Xen's {@code hvm_hypercall} truncates them).
 */
public record HypercallArgs(GuestWidth mode, int number, long a1, long a2, long a3, long a4, long a5) {
    private static final long LOW32 = 0xFFFF_FFFFL;

    public static HypercallArgs from64(long rax, long rdi, long rsi, long rdx, long r10, long r8) {
        return new HypercallArgs(GuestWidth.BITS_64, number(rax), rdi, rsi, rdx, r10, r8);
    }

    public static HypercallArgs from32(long eax, long ebx, long ecx, long edx, long esi, long edi) {
        return new HypercallArgs(GuestWidth.BITS_32, number(eax & LOW32),
                ebx & LOW32, ecx & LOW32, edx & LOW32, esi & LOW32, edi & LOW32);
    }

    /**
     * Decodes the registers of a vCPU at a hypercall with the convention its state selects <em>at the call</em>, as
     * Xen's hvm_hypercall does: the 64-bit one only in 64-bit code (EFER.LMA and CS.L); a 32-bit code segment of a
     * 64-bit guest, or a 32-bit guest, uses the 32-bit one and its upper register halves are ignored.
     */
    public static HypercallArgs fromRegisters(boolean longMode, boolean codeSegmentLong, long rax, long rbx, long rcx,
            long rdx, long rsi, long rdi, long r8, long r10) {
        return longMode && codeSegmentLong ? from64(rax, rdi, rsi, rdx, r10, r8) : from32(rax, rbx, rcx, rdx, rsi, rdi);
    }

    /** Hypercall numbers beyond 32 bits can never be valid; keep them distinct from every real number. */
    private static int number(long rax) {
        return rax < 0 || rax > Integer.MAX_VALUE ? Integer.MAX_VALUE : (int) rax;
    }

    /** The value to leave in RAX: the sign-extended result, or its low 32 bits zero-extended for a 32-bit guest. */
    public long resultRegister(long rc) {
        return mode == GuestWidth.BITS_64 ? rc : rc & LOW32;
    }

    /** An argument as the uint32 the ABI declares (e.g. an EVTCHNOP command). */
    public static int u32(long arg) {
        return (int) arg;
    }
}
