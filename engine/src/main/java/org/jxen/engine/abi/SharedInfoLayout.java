package org.jxen.engine.abi;

/** Fixed facts of {@code struct shared_info} and {@code struct vcpu_info} shared by both widths ({@code public/xen.h}). */
public final class SharedInfoLayout {
    /** The shared_info page. */
    public static final int PAGE_SIZE = 4096;
    /** XEN_LEGACY_MAX_VCPUS on x86: vcpu_info slots embedded in shared_info. */
    public static final int LEGACY_MAX_VCPUS = 32;
    /** sizeof(struct vcpu_info) on x86, both widths. */
    public static final int VCPU_INFO_SIZE = 64;
    /** offsetof(vcpu_info, evtchn_upcall_pending) (uint8_t). */
    public static final int UPCALL_PENDING = 0;
    /** offsetof(vcpu_info, evtchn_upcall_mask) (uint8_t). */
    public static final int UPCALL_MASK = 1;
    /** offsetof(vcpu_info, time): struct vcpu_time_info (32 bytes), both widths. */
    public static final int VCPU_TIME = 32;

    /** struct vcpu_time_info ({@code public/xen.h}). */
    public static final int TIME_VERSION = 0;
    public static final int TIME_TSC_TIMESTAMP = 8;
    public static final int TIME_SYSTEM_TIME = 16;
    public static final int TIME_TSC_TO_SYSTEM_MUL = 24;
    public static final int TIME_TSC_SHIFT = 28;
    public static final int TIME_FLAGS = 29;

    /** Offset of vcpu_info[vcpu] in shared_info. */
    public static int vcpuInfoOffset(int vcpu) {
        return vcpu * VCPU_INFO_SIZE;
    }

    private SharedInfoLayout() {}
}
