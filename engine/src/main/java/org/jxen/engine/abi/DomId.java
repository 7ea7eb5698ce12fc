package org.jxen.engine.abi;

/** Domain identifiers ({@code public/xen.h}, domid_t is 16 bits). */
public final class DomId {
    /** Backends live in "dom0" from the guest's point of view, as with QEMU's Xen emulation. */
    public static final int DOM0 = 0;
    public static final int DOMID_FIRST_RESERVED = 0x7FF0;
    public static final int DOMID_SELF = 0x7FF0;
    public static final int DOMID_IO = 0x7FF1;
    public static final int DOMID_XEN = 0x7FF2;
    public static final int DOMID_COW = 0x7FF3;
    public static final int DOMID_INVALID = 0x7FF4;
    public static final int DOMID_IDLE = 0x7FFF;

    private DomId() {}

    /**
     * A domU naming a domain in a hypercall about itself (rcu_lock_domain_by_any_id, then the XSM_TARGET check): 0 for
     * DOMID_SELF or its own id, -EPERM for dom0 (it exists, but the guest may not act on it), -ESRCH for anything else.
     */
    public static int checkSelf(int dom, int ownDomid) {
        if (dom == DOMID_SELF || dom == ownDomid) return 0;
        return dom == DOM0 ? -Errno.EPERM : -Errno.ESRCH;
    }
}
