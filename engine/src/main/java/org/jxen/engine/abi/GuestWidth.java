package org.jxen.engine.abi;

/**
 * The two x86 guest ABIs of Xen's shared structures. A domain's shared_info/vcpu_info layout is latched
 * from the guest's execution mode at a few points (hypercall-page MSR write, HVM_PARAM_CALLBACK_IRQ), as Xen's
 * {@code hvm_latch_shinfo_size()} does; the layout follows from the width.
 *
 * <p>Offsets are from {@code public/xen.h} and {@code public/arch-x86/xen.h}: {@code xen_ulong_t} is 64 bits
 * in the native 64-bit ABI and 32 bits in the compat (i386) ABI; {@code XEN_LEGACY_MAX_VCPUS} is 32.
 */
public enum GuestWidth {
    /** x86-64 native layout. */
    BITS_64(8, 2048, 2560, 3072, 8),
    /** i386 (compat) layout. */
    BITS_32(4, 2048, 2176, 2304, 4);

    /** sizeof(xen_ulong_t). */
    public final int wordBytes;
    /** offsetof(struct shared_info, evtchn_pending). */
    public final int pendingOffset;
    /** offsetof(struct shared_info, evtchn_mask). */
    public final int maskOffset;
    /** offsetof(struct shared_info, wc_version). */
    public final int wallclockOffset;
    /** offsetof(struct vcpu_info, evtchn_pending_sel). */
    public final int pendingSelOffset;
    /** The 2-level port limit, BITS_PER_EVTCHN_WORD squared. */
    private final int ports2l;
    /** log2(BITS_PER_EVTCHN_WORD): port >> selectorShift is the selector bit. */
    public final int selectorShift;

    GuestWidth(int wordBytes, int pendingOffset, int maskOffset, int wallclockOffset, int pendingSelOffset) {
        this.wordBytes = wordBytes;
        this.pendingOffset = pendingOffset;
        this.maskOffset = maskOffset;
        this.wallclockOffset = wallclockOffset;
        this.pendingSelOffset = pendingSelOffset;
        this.ports2l = wordBytes * 8 * wordBytes * 8;
        this.selectorShift = Integer.numberOfTrailingZeros(wordBytes * 8);
    }

    /** BITS_PER_EVTCHN_WORD. */
    public int bitsPerWord() {
        return wordBytes * 8;
    }

    /** The 2-level ABI's port limit: BITS_PER_EVTCHN_WORD squared (4096 or 1024). */
    public int twoLevelPorts() {
        return ports2l;
    }
}
