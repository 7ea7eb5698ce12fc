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
}
