package org.jxen.sys.kvm;

/**
 * The KVM ABI facts jxen's FFM layer uses, from {@code <linux/kvm.h>} and {@code <asm/kvm.h>} (x86-64): ioctl request
 * numbers, capability and exit-reason numbers, and the sizes and offsets of the structs passed to the ioctls and
 * shared through the mmapped {@code struct kvm_run}. Names are the header's, upper-cased; layout facts are
 * {@code SIZEOF_<struct>} and {@code OFFSETOF_<struct>_<field>}. KvmAbiTest checks every one of them against the
 * system's header (compiled with gcc), so a wrong value fails a test on any machine.
 */
public final class KvmAbi {
    private KvmAbi() {}

    // ioctl request numbers (_IO/_IOR/_IOW/_IOWR on KVMIO 0xAE)
    public static final long KVM_GET_API_VERSION = 0xAE00L;
    public static final long KVM_CREATE_VM = 0xAE01L;
    public static final long KVM_CHECK_EXTENSION = 0xAE03L;
    public static final long KVM_GET_VCPU_MMAP_SIZE = 0xAE04L;
    public static final long KVM_GET_SUPPORTED_CPUID = 0xC008AE05L;
    public static final long KVM_CREATE_VCPU = 0xAE41L;
    public static final long KVM_SET_USER_MEMORY_REGION = 0x4020AE46L;
    public static final long KVM_SET_TSS_ADDR = 0xAE47L;
    public static final long KVM_SET_IDENTITY_MAP_ADDR = 0x4008AE48L;
    public static final long KVM_CREATE_IRQCHIP = 0xAE60L;
    public static final long KVM_SIGNAL_MSI = 0x4020AEA5L;
    public static final long KVM_ENABLE_CAP = 0x4068AEA3L;
    public static final long KVM_X86_SET_MSR_FILTER = 0x4188AEC6L;
    public static final long KVM_RUN = 0xAE80L;
    public static final long KVM_GET_REGS = 0x8090AE81L;
    public static final long KVM_SET_REGS = 0x4090AE82L;
    public static final long KVM_GET_SREGS = 0x8138AE83L;
    public static final long KVM_SET_SREGS = 0x4138AE84L;
    public static final long KVM_SET_CPUID2 = 0x4008AE90L;
    public static final long KVM_SET_MP_STATE = 0x4004AE99L;
    public static final long KVM_GET_CLOCK = 0x8030AE7CL;
    public static final long KVM_SET_CLOCK = 0x4030AE7BL;
    public static final long KVM_GET_MP_STATE = 0x8004AE98L;
    public static final long KVM_GET_TSC_KHZ = 0xAEA3L;
    public static final long KVM_GET_MSRS = 0xC008AE88L;
    public static final long KVM_SET_MSRS = 0x4008AE89L;
    public static final long KVM_GET_FPU = 0x81A0AE8CL;
    public static final long KVM_SET_FPU = 0x41A0AE8DL;
    public static final long KVM_GET_LAPIC = 0x8400AE8EL;
    public static final long KVM_SET_LAPIC = 0x4400AE8FL;
    public static final long KVM_GET_VCPU_EVENTS = 0x8040AE9FL;
    public static final long KVM_SET_VCPU_EVENTS = 0x4040AEA0L;
    public static final long KVM_GET_XSAVE = 0x9000AEA4L;
    public static final long KVM_SET_XSAVE = 0x5000AEA5L;
    public static final long KVM_GET_XCRS = 0x8188AEA6L;
    public static final long KVM_SET_XCRS = 0x4188AEA7L;
    public static final long KVM_GET_IRQCHIP = 0xC208AE62L;
    public static final long KVM_SET_IRQCHIP = 0x8208AE63L;
    /** _IOW(KVMIO, 0x42, struct kvm_dirty_log {slot, padding, dirty_bitmap}). */
    public static final long KVM_GET_DIRTY_LOG = 0x4010AE42L;
    /** _IOWR(KVMIO, 0xc0, struct kvm_clear_dirty_log {slot, num_pages, first_page, dirty_bitmap}). */
    public static final long KVM_CLEAR_DIRTY_LOG = 0xC018AEC0L;

    // capabilities, exit reasons, flags
    public static final int KVM_API_VERSION = 12;
    public static final int KVM_CAP_IRQCHIP = 0;
    public static final int KVM_CAP_USER_MEMORY = 3;
    public static final int KVM_CAP_SET_TSS_ADDR = 4;
    public static final int KVM_CAP_EXT_CPUID = 7;
    public static final int KVM_CAP_SIGNAL_MSI = 77;
    public static final int KVM_CAP_SYNC_REGS = 74;
    public static final int KVM_CAP_IMMEDIATE_EXIT = 136;
    public static final int KVM_CAP_X86_USER_SPACE_MSR = 188;
    public static final int KVM_CAP_X86_MSR_FILTER = 189;
    public static final int KVM_CAP_GET_TSC_KHZ = 61;
    public static final int KVM_CAP_XEN_HVM = 38;
    public static final int KVM_CAP_MP_STATE = 14;
    public static final int KVM_CAP_VCPU_EVENTS = 41;
    public static final int KVM_CAP_XSAVE = 55;
    public static final int KVM_CAP_XCRS = 56;
    public static final int KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168;
    public static final int KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE = 1;
    public static final int KVM_MEM_LOG_DIRTY_PAGES = 1;
    public static final int KVM_IRQCHIP_PIC_MASTER = 0;
    public static final int KVM_IRQCHIP_PIC_SLAVE = 1;
    public static final int KVM_IRQCHIP_IOAPIC = 2;
    public static final int KVM_EXIT_UNKNOWN = 0;
    public static final int KVM_EXIT_EXCEPTION = 1;
    public static final int KVM_EXIT_IO = 2;
    public static final int KVM_EXIT_HLT = 5;
    public static final int KVM_EXIT_MMIO = 6;
    public static final int KVM_EXIT_SHUTDOWN = 8;
    public static final int KVM_EXIT_FAIL_ENTRY = 9;
    public static final int KVM_EXIT_INTR = 10;
    public static final int KVM_EXIT_INTERNAL_ERROR = 17;
    public static final int KVM_INTERNAL_ERROR_EMULATION = 1;
    public static final int KVM_EXIT_SYSTEM_EVENT = 24;
    public static final int KVM_EXIT_X86_RDMSR = 29;
    public static final int KVM_EXIT_X86_WRMSR = 30;
    public static final int KVM_EXIT_IO_IN = 0;
    public static final int KVM_EXIT_IO_OUT = 1;
    public static final int KVM_MSR_EXIT_REASON_INVAL = 1;
    public static final int KVM_MSR_EXIT_REASON_UNKNOWN = 2;
    public static final int KVM_MSR_EXIT_REASON_FILTER = 4;
    public static final int KVM_MSR_FILTER_DEFAULT_ALLOW = 0;
    public static final int KVM_MSR_FILTER_READ = 1;
    public static final int KVM_MSR_FILTER_WRITE = 2;
    public static final int KVM_SYNC_X86_REGS = 1;
    public static final int KVM_SYNC_X86_SREGS = 2;
    public static final int KVM_SYNC_X86_EVENTS = 4;
    public static final int KVM_MP_STATE_RUNNABLE = 0;
    public static final int KVM_MP_STATE_UNINITIALIZED = 1;
    public static final int KVM_MP_STATE_INIT_RECEIVED = 2;
    public static final int KVM_MP_STATE_HALTED = 3;
    public static final int KVM_CLOCK_TSC_STABLE = 2;
    public static final int KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1;
    public static final int KVM_SYSTEM_EVENT_SHUTDOWN = 1;
    public static final int KVM_SYSTEM_EVENT_RESET = 2;
    public static final int KVM_SYSTEM_EVENT_CRASH = 3;

    // struct sizes and field offsets
    public static final int SIZEOF_KVM_RUN = 2352;
    public static final int OFFSETOF_KVM_RUN_REQUEST_INTERRUPT_WINDOW = 0;
    public static final int OFFSETOF_KVM_RUN_IMMEDIATE_EXIT = 1;
    public static final int OFFSETOF_KVM_RUN_EXIT_REASON = 8;
    public static final int OFFSETOF_KVM_RUN_IF_FLAG = 13;
    public static final int OFFSETOF_KVM_RUN_IO = 32;
    public static final int OFFSETOF_KVM_RUN_KVM_VALID_REGS = 288;
    public static final int OFFSETOF_KVM_RUN_KVM_DIRTY_REGS = 296;
    public static final int OFFSETOF_KVM_RUN_S = 304;
    public static final int OFFSETOF_KVM_RUN_IO_DIRECTION = 32;
    public static final int OFFSETOF_KVM_RUN_IO_SIZE = 33;
    public static final int OFFSETOF_KVM_RUN_IO_PORT = 34;
    public static final int OFFSETOF_KVM_RUN_IO_COUNT = 36;
    public static final int OFFSETOF_KVM_RUN_IO_DATA_OFFSET = 40;
    public static final int OFFSETOF_KVM_RUN_MMIO_PHYS_ADDR = 32;
    public static final int OFFSETOF_KVM_RUN_MMIO_DATA = 40;
    public static final int OFFSETOF_KVM_RUN_MMIO_LEN = 48;
    public static final int OFFSETOF_KVM_RUN_MMIO_IS_WRITE = 52;
    public static final int OFFSETOF_KVM_RUN_MSR_ERROR = 32;
    public static final int OFFSETOF_KVM_RUN_MSR_REASON = 40;
    public static final int OFFSETOF_KVM_RUN_MSR_INDEX = 44;
    public static final int OFFSETOF_KVM_RUN_MSR_DATA = 48;
    public static final int OFFSETOF_KVM_RUN_INTERNAL_SUBERROR = 32;
    public static final int OFFSETOF_KVM_RUN_FAIL_ENTRY_REASON = 32;
    public static final int OFFSETOF_KVM_RUN_SYSTEM_EVENT_TYPE = 32;
    public static final int OFFSETOF_KVM_RUN_REGS = 304;
    /** KVM_EXIT_XEN ({@code struct kvm_xen_exit}): type, then hcall {longmode, cpl, input, result, params[6]}. */
    public static final int KVM_EXIT_XEN = 34;
    public static final int KVM_EXIT_XEN_HCALL = 1;
    public static final int OFFSETOF_KVM_RUN_XEN_TYPE = 32;
    public static final int OFFSETOF_KVM_RUN_XEN_HCALL_LONGMODE = 40;
    public static final int OFFSETOF_KVM_RUN_XEN_HCALL_CPL = 44;
    public static final int OFFSETOF_KVM_RUN_XEN_HCALL_INPUT = 48;
    public static final int OFFSETOF_KVM_RUN_XEN_HCALL_RESULT = 56;
    public static final int OFFSETOF_KVM_RUN_XEN_HCALL_PARAMS = 64;
    /** KVM's Xen support (KVM_CAP_XEN_HVM): the config ioctl and the flag that sends VMCALL/VMMCALL to userspace. */
    public static final long KVM_XEN_HVM_CONFIG = 0x4038AE7AL;
    public static final int KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL = 1 << 1;
    public static final int SIZEOF_KVM_XEN_HVM_CONFIG = 56;
    public static final int OFFSETOF_KVM_XEN_HVM_CONFIG_FLAGS = 0;
    public static final int OFFSETOF_KVM_XEN_HVM_CONFIG_MSR = 4;
    /** What KVM_CAP_XEN_HVM offers beyond hypercall interception (api.rst "KVM_XEN_HVM_CONFIG"). */
    public static final int KVM_XEN_HVM_CONFIG_SHARED_INFO = 1 << 2;
    public static final int KVM_XEN_HVM_CONFIG_RUNSTATE = 1 << 3;
    public static final int KVM_XEN_HVM_CONFIG_EVTCHN_2LEVEL = 1 << 4;
    public static final int KVM_XEN_HVM_CONFIG_EVTCHN_SEND = 1 << 5;
    /** Linux 6.3: KVM brackets its runstate writes with XEN_RUNSTATE_UPDATE when told (KVM_XEN_ATTR_TYPE_RUNSTATE_UPDATE_FLAG). */
    public static final int KVM_XEN_HVM_CONFIG_RUNSTATE_UPDATE_FLAG = 1 << 6;
    /** The guest-visible Xen state KVM keeps: per-VM and per-vCPU attributes, one 72-byte struct each (type, pad, union u). */
    public static final long KVM_XEN_HVM_GET_ATTR = 0xC048AEC8L;
    public static final long KVM_XEN_HVM_SET_ATTR = 0x4048AEC9L;
    public static final long KVM_XEN_VCPU_GET_ATTR = 0xC048AECAL;
    public static final long KVM_XEN_VCPU_SET_ATTR = 0x4048AECBL;
    public static final int SIZEOF_KVM_XEN_HVM_ATTR = 72;
    public static final int OFFSETOF_KVM_XEN_HVM_ATTR_U = 8;
    public static final int SIZEOF_KVM_XEN_VCPU_ATTR = 72;
    public static final int OFFSETOF_KVM_XEN_VCPU_ATTR_U = 8;
    /** u.timer {u32 port, u32 priority, u64 expires_ns}; u.runstate {u64 state, state_entry_time, time[4]}. */
    public static final int OFFSETOF_KVM_XEN_VCPU_ATTR_TIMER_EXPIRES_NS = 16;
    public static final int OFFSETOF_KVM_XEN_VCPU_ATTR_RUNSTATE_ENTRY_TIME = 16;
    public static final int OFFSETOF_KVM_XEN_VCPU_ATTR_RUNSTATE_TIME_OFFLINE = 48;
    public static final int KVM_XEN_ATTR_TYPE_LONG_MODE = 0x0;
    public static final int KVM_XEN_ATTR_TYPE_SHARED_INFO = 0x1;
    public static final int KVM_XEN_ATTR_TYPE_UPCALL_VECTOR = 0x2;
    public static final int KVM_XEN_ATTR_TYPE_EVTCHN = 0x3;
    public static final int KVM_XEN_ATTR_TYPE_XEN_VERSION = 0x4;
    public static final int KVM_XEN_ATTR_TYPE_RUNSTATE_UPDATE_FLAG = 0x5;
    /** KVM_XEN_HVM_EVTCHN_SEND: _IOW(KVMIO, 0xd0, struct kvm_irq_routing_xen_evtchn {port, vcpu, priority}). */
    public static final long KVM_XEN_HVM_EVTCHN_SEND = 0x400CAED0L;
    public static final int SIZEOF_KVM_IRQ_ROUTING_XEN_EVTCHN = 12;
    /**
     * KVM_XEN_ATTR_TYPE_EVTCHN: KVM's own table of outbound ports (api.rst; arch/x86/kvm/xen.c kvm_xen_setattr_evtchn):
     * the flags (one at a time, none = assign) and the union's evtchn member (send port, EVTCHNSTAT type, flags, then
     * deliver: a local {port, vcpu (KVM vCPU id), priority} or an eventfd {port 0, fd}).
     */
    public static final int KVM_XEN_EVTCHN_DEASSIGN = 1 << 0;
    public static final int KVM_XEN_EVTCHN_UPDATE = 1 << 1;
    public static final int KVM_XEN_EVTCHN_RESET = 1 << 2;
    public static final int OFFSETOF_KVM_XEN_HVM_ATTR_EVTCHN_SEND_PORT = 8;
    public static final int OFFSETOF_KVM_XEN_HVM_ATTR_EVTCHN_TYPE = 12;
    public static final int OFFSETOF_KVM_XEN_HVM_ATTR_EVTCHN_FLAGS = 16;
    public static final int OFFSETOF_KVM_XEN_HVM_ATTR_EVTCHN_PORT = 20;
    public static final int OFFSETOF_KVM_XEN_HVM_ATTR_EVTCHN_VCPU = 24;
    public static final int OFFSETOF_KVM_XEN_HVM_ATTR_EVTCHN_PRIORITY = 28;
    public static final int OFFSETOF_KVM_XEN_HVM_ATTR_EVTCHN_FD = 24;
    /**
     * GSI routing and irqfds (api.rst "KVM_SET_GSI_ROUTING", "KVM_IRQFD"): struct kvm_irq_routing {nr, flags,
     * entries[]}, each entry {gsi, type, flags, pad, union u (32 bytes)}; an irqchip entry's u is {irqchip, pin}, a Xen
     * one's is kvm_irq_routing_xen_evtchn {port, vcpu, priority}. struct kvm_irqfd {fd, gsi, flags, resamplefd, pad}.
     */
    public static final long KVM_SET_GSI_ROUTING = 0x4008AE6AL;
    public static final long KVM_IRQFD = 0x4020AE76L;
    public static final int KVM_IRQ_ROUTING_IRQCHIP = 1;
    public static final int KVM_IRQ_ROUTING_XEN_EVTCHN = 5;
    public static final int KVM_IRQFD_FLAG_DEASSIGN = 1;
    public static final int SIZEOF_KVM_IRQ_ROUTING = 8;
    public static final int SIZEOF_KVM_IRQ_ROUTING_ENTRY = 48;
    public static final int OFFSETOF_KVM_IRQ_ROUTING_ENTRY_TYPE = 4;
    public static final int OFFSETOF_KVM_IRQ_ROUTING_ENTRY_U = 16;
    public static final int SIZEOF_KVM_IRQFD = 32;
    public static final int OFFSETOF_KVM_IRQFD_GSI = 4;
    public static final int OFFSETOF_KVM_IRQFD_FLAGS = 8;
    /** The only priority KVM's event delivery takes: 2-level (KVM does not do FIFO). */
    public static final long KVM_IRQ_ROUTING_XEN_EVTCHN_PRIO_2LEVEL = 0xFFFFFFFFL;
    public static final int KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO = 0x0;
    public static final int KVM_XEN_VCPU_ATTR_TYPE_VCPU_TIME_INFO = 0x1;
    public static final int KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR = 0x2;
    /** u.runstate: state, state_entry_time, then the time in each state (running, runnable, blocked, offline), 8 bytes each. */
    public static final int KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_DATA = 0x4;
    public static final int KVM_XEN_VCPU_ATTR_TYPE_VCPU_ID = 0x6;
    public static final int KVM_XEN_VCPU_ATTR_TYPE_TIMER = 0x7;
    public static final int KVM_XEN_VCPU_ATTR_TYPE_UPCALL_VECTOR = 0x8;
    public static final int OFFSETOF_KVM_RUN_SREGS = 448;
    public static final int SIZEOF_KVM_REGS = 144;
    public static final int OFFSETOF_KVM_REGS_RAX = 0;
    public static final int OFFSETOF_KVM_REGS_RBX = 8;
    public static final int OFFSETOF_KVM_REGS_RCX = 16;
    public static final int OFFSETOF_KVM_REGS_RDX = 24;
    public static final int OFFSETOF_KVM_REGS_RSI = 32;
    public static final int OFFSETOF_KVM_REGS_RDI = 40;
    public static final int OFFSETOF_KVM_REGS_RSP = 48;
    public static final int OFFSETOF_KVM_REGS_RBP = 56;
    public static final int OFFSETOF_KVM_REGS_R8 = 64;
    public static final int OFFSETOF_KVM_REGS_R10 = 80;
    public static final int OFFSETOF_KVM_REGS_RIP = 128;
    public static final int OFFSETOF_KVM_REGS_RFLAGS = 136;
    public static final int SIZEOF_KVM_SEGMENT = 24;
    public static final int OFFSETOF_KVM_SEGMENT_BASE = 0;
    public static final int OFFSETOF_KVM_SEGMENT_LIMIT = 8;
    public static final int OFFSETOF_KVM_SEGMENT_SELECTOR = 12;
    public static final int OFFSETOF_KVM_SEGMENT_TYPE = 14;
    public static final int OFFSETOF_KVM_SEGMENT_PRESENT = 15;
    public static final int OFFSETOF_KVM_SEGMENT_DPL = 16;
    public static final int OFFSETOF_KVM_SEGMENT_DB = 17;
    public static final int OFFSETOF_KVM_SEGMENT_S = 18;
    public static final int OFFSETOF_KVM_SEGMENT_L = 19;
    public static final int OFFSETOF_KVM_SEGMENT_G = 20;
    public static final int OFFSETOF_KVM_SEGMENT_AVL = 21;
    public static final int OFFSETOF_KVM_SEGMENT_UNUSABLE = 22;
    public static final int SIZEOF_KVM_DTABLE = 16;
    public static final int SIZEOF_KVM_SREGS = 312;
    public static final int OFFSETOF_KVM_SREGS_CS = 0;
    public static final int OFFSETOF_KVM_SREGS_DS = 24;
    public static final int OFFSETOF_KVM_SREGS_ES = 48;
    public static final int OFFSETOF_KVM_SREGS_FS = 72;
    public static final int OFFSETOF_KVM_SREGS_GS = 96;
    public static final int OFFSETOF_KVM_SREGS_SS = 120;
    public static final int OFFSETOF_KVM_SREGS_TR = 144;
    public static final int OFFSETOF_KVM_SREGS_LDT = 168;
    public static final int OFFSETOF_KVM_SREGS_GDT = 192;
    public static final int OFFSETOF_KVM_SREGS_IDT = 208;
    public static final int OFFSETOF_KVM_SREGS_CR0 = 224;
    public static final int OFFSETOF_KVM_SREGS_CR2 = 232;
    public static final int OFFSETOF_KVM_SREGS_CR3 = 240;
    public static final int OFFSETOF_KVM_SREGS_CR4 = 248;
    public static final int OFFSETOF_KVM_SREGS_EFER = 264;
    public static final int OFFSETOF_KVM_SREGS_APIC_BASE = 272;
    public static final int SIZEOF_KVM_MSI = 32;
    public static final int OFFSETOF_KVM_MSI_ADDRESS_LO = 0;
    public static final int OFFSETOF_KVM_MSI_ADDRESS_HI = 4;
    public static final int OFFSETOF_KVM_MSI_DATA = 8;
    public static final int SIZEOF_KVM_CPUID2 = 8;
    public static final int SIZEOF_KVM_CPUID_ENTRY2 = 40;
    public static final int OFFSETOF_KVM_CPUID_ENTRY2_FUNCTION = 0;
    public static final int OFFSETOF_KVM_CPUID_ENTRY2_INDEX = 4;
    public static final int OFFSETOF_KVM_CPUID_ENTRY2_FLAGS = 8;
    public static final int OFFSETOF_KVM_CPUID_ENTRY2_EAX = 12;
    public static final int OFFSETOF_KVM_CPUID_ENTRY2_EDX = 24;
    public static final int SIZEOF_KVM_USERSPACE_MEMORY_REGION = 32;
    public static final int OFFSETOF_KVM_USERSPACE_MEMORY_REGION_FLAGS = 4;
    public static final int SIZEOF_KVM_DIRTY_LOG = 16;
    public static final int OFFSETOF_KVM_DIRTY_LOG_DIRTY_BITMAP = 8;
    public static final int SIZEOF_KVM_CLEAR_DIRTY_LOG = 24;
    public static final int OFFSETOF_KVM_CLEAR_DIRTY_LOG_NUM_PAGES = 4;
    public static final int OFFSETOF_KVM_CLEAR_DIRTY_LOG_FIRST_PAGE = 8;
    public static final int OFFSETOF_KVM_CLEAR_DIRTY_LOG_DIRTY_BITMAP = 16;
    public static final int OFFSETOF_KVM_USERSPACE_MEMORY_REGION_GUEST_PHYS_ADDR = 8;
    public static final int OFFSETOF_KVM_USERSPACE_MEMORY_REGION_MEMORY_SIZE = 16;
    public static final int OFFSETOF_KVM_USERSPACE_MEMORY_REGION_USERSPACE_ADDR = 24;
    public static final int SIZEOF_KVM_ENABLE_CAP = 104;
    public static final int OFFSETOF_KVM_ENABLE_CAP_ARGS = 8;
    public static final int SIZEOF_KVM_MSR_FILTER = 392;
    public static final int SIZEOF_KVM_MSR_FILTER_RANGE = 24;
    public static final int OFFSETOF_KVM_MSR_FILTER_RANGES = 8;
    public static final int OFFSETOF_KVM_MSR_FILTER_RANGE_NMSRS = 4;
    public static final int OFFSETOF_KVM_MSR_FILTER_RANGE_BASE = 8;
    public static final int OFFSETOF_KVM_MSR_FILTER_RANGE_BITMAP = 16;
    public static final int SIZEOF_KVM_CLOCK_DATA = 48;
    public static final int OFFSETOF_KVM_CLOCK_DATA_CLOCK = 0;
    public static final int OFFSETOF_KVM_CLOCK_DATA_FLAGS = 8;
    public static final int SIZEOF_KVM_MSRS = 8;
    public static final int SIZEOF_KVM_MSR_ENTRY = 16;
    public static final int OFFSETOF_KVM_MSR_ENTRY_DATA = 8;
    public static final int SIZEOF_KVM_FPU = 416;
    public static final int SIZEOF_KVM_LAPIC_STATE = 1024;
    public static final int SIZEOF_KVM_VCPU_EVENTS = 64;
    public static final int SIZEOF_KVM_XSAVE = 4096;
    public static final int SIZEOF_KVM_XCRS = 392;
    public static final int SIZEOF_KVM_IRQCHIP = 520;
    public static final int OFFSETOF_KVM_IRQCHIP_CHIP = 8;
    /**
     * The in-kernel i8254 (arch/x86/kvm/i8254.c), after KVM_CREATE_IRQCHIP: KVM_CREATE_PIT2 with struct kvm_pit_config
     * {flags, pad[15]}, its state through KVM_GET_PIT2 / KVM_SET_PIT2 (struct kvm_pit_state2, laid out in
     * {@link PitState}), and KVM_REINJECT_CONTROL with struct kvm_reinject_control {pit_reinject, reserved[31]}.
     */
    public static final int KVM_CAP_PIT2 = 33;
    public static final int KVM_CAP_PIT_STATE2 = 35;
    public static final int KVM_CAP_REINJECT_CONTROL = 24;
    public static final long KVM_CREATE_PIT2 = 0x4040AE77L;
    public static final long KVM_GET_PIT2 = 0x8070AE9FL;
    public static final long KVM_SET_PIT2 = 0x4070AEA0L;
    public static final long KVM_REINJECT_CONTROL = 0xAE71L;
    public static final int KVM_PIT_SPEAKER_DUMMY = 1;
    public static final int KVM_PIT_FLAGS_HPET_LEGACY = 1;
    public static final int KVM_PIT_FLAGS_SPEAKER_DATA_ON = 2;
    public static final int SIZEOF_KVM_PIT_CONFIG = 64;
    public static final int SIZEOF_KVM_PIT_CHANNEL_STATE = 24;
    public static final int OFFSETOF_KVM_PIT_CHANNEL_STATE_LATCHED_COUNT = 4;
    public static final int OFFSETOF_KVM_PIT_CHANNEL_STATE_GATE = 15;
    public static final int OFFSETOF_KVM_PIT_CHANNEL_STATE_COUNT_LOAD_TIME = 16;
    public static final int SIZEOF_KVM_PIT_STATE2 = 112;
    public static final int OFFSETOF_KVM_PIT_STATE2_FLAGS = 72;
    public static final int SIZEOF_KVM_REINJECT_CONTROL = 32;
}
