package org.jxen.engine.abi;

/** Hypercall numbers ({@code public/xen.h}, __HYPERVISOR_*). */
public final class Hypercall {
    public static final int SET_TRAP_TABLE = 0;
    public static final int MMU_UPDATE = 1;
    public static final int SET_GDT = 2;
    public static final int STACK_SWITCH = 3;
    public static final int SET_CALLBACKS = 4;
    public static final int FPU_TASKSWITCH = 5;
    public static final int SCHED_OP_COMPAT = 6;
    public static final int PLATFORM_OP = 7;
    public static final int SET_DEBUGREG = 8;
    public static final int GET_DEBUGREG = 9;
    public static final int UPDATE_DESCRIPTOR = 10;
    public static final int MEMORY_OP = 12;
    public static final int MULTICALL = 13;
    public static final int UPDATE_VA_MAPPING = 14;
    public static final int SET_TIMER_OP = 15;
    public static final int EVENT_CHANNEL_OP_COMPAT = 16;
    public static final int XEN_VERSION = 17;
    public static final int CONSOLE_IO = 18;
    public static final int PHYSDEV_OP_COMPAT = 19;
    public static final int GRANT_TABLE_OP = 20;
    public static final int VM_ASSIST = 21;
    public static final int UPDATE_VA_MAPPING_OTHERDOMAIN = 22;
    public static final int IRET = 23;
    public static final int VCPU_OP = 24;
    public static final int SET_SEGMENT_BASE = 25;
    public static final int MMUEXT_OP = 26;
    public static final int XSM_OP = 27;
    public static final int NMI_OP = 28;
    public static final int SCHED_OP = 29;
    public static final int CALLBACK_OP = 30;
    public static final int XENOPROF_OP = 31;
    public static final int EVENT_CHANNEL_OP = 32;
    public static final int PHYSDEV_OP = 33;
    public static final int HVM_OP = 34;
    public static final int SYSCTL = 35;
    public static final int DOMCTL = 36;
    public static final int KEXEC_OP = 37;
    public static final int TMEM_OP = 38;
    public static final int ARGO_OP = 39;
    public static final int XENPMU_OP = 40;
    public static final int DM_OP = 41;
    public static final int HYPFS_OP = 42;
    /** One 32-byte stub per hypercall number in the hypercall page. */
    public static final int COUNT = 64;

    private Hypercall() {}
}
