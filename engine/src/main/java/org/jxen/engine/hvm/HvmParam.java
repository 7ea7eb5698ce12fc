package org.jxen.engine.hvm;

/** HVM parameter indexes ({@code public/hvm/params.h}) and HVMOP numbers ({@code public/hvm/hvm_op.h}). */
public final class HvmParam {
    public static final int CALLBACK_IRQ = 0, STORE_PFN = 1, STORE_EVTCHN = 2, PAE_ENABLED = 4, IOREQ_PFN = 5,
            BUFIOREQ_PFN = 6, TIMER_MODE = 10, HPET_ENABLED = 11, IDENT_PT = 12, ACPI_S_STATE = 14, VM86_TSS = 15,
            VPT_ALIGN = 16, CONSOLE_PFN = 17, CONSOLE_EVTCHN = 18, ACPI_IOPORTS_LOCATION = 19, NESTEDHVM = 24,
            PAGING_RING_PFN = 27, MONITOR_RING_PFN = 28, SHARING_RING_PFN = 29, TRIPLE_FAULT_REASON = 31,
            IOREQ_SERVER_PFN = 32, NR_IOREQ_SERVER_PAGES = 33, VM_GENERATION_ID_ADDR = 34, ALTP2M = 35,
            X87_FIP_WIDTH = 36, VM86_TSS_SIZED = 37, MCA_CAP = 38;
    /** HVM_NR_PARAMS. */
    public static final int COUNT = 39;

    /** HVM_PARAM_CALLBACK_IRQ's type in bits 63:56 (HVM_PARAM_CALLBACK_TYPE_*). */
    public static final int CALLBACK_TYPE_GSI = 0, CALLBACK_TYPE_PCI_INTX = 1, CALLBACK_TYPE_VECTOR = 2;

    public static final int HVMOP_SET_PARAM = 0, HVMOP_GET_PARAM = 1, HVMOP_SET_EVTCHN_UPCALL_VECTOR = 23;

    /** struct xen_hvm_param { domid_t domid; uint32_t index; uint64_t value; } (16 bytes in both ABIs). */
    public static final int PARAM_SIZE = 16, PARAM_DOMID = 0, PARAM_INDEX = 4, PARAM_VALUE = 8;
    /** struct xen_hvm_evtchn_upcall_vector { uint32_t vcpu; uint8_t vector; }. */
    public static final int UPCALL_VECTOR_SIZE = 8, UPCALL_VECTOR_VCPU = 0, UPCALL_VECTOR_VECTOR = 4;

    private HvmParam() {}

    /** hvm_allow_get_param: what a guest may read of its own parameters. */
    static boolean guestMayRead(int index) {
        return switch (index) {
            case CALLBACK_IRQ, VM86_TSS, VM86_TSS_SIZED, ACPI_IOPORTS_LOCATION, VM_GENERATION_ID_ADDR, STORE_PFN,
                    STORE_EVTCHN, CONSOLE_PFN, CONSOLE_EVTCHN, ALTP2M, X87_FIP_WIDTH -> true;
            default -> false;
        };
    }

    /** hvm_allow_set_param: what a guest may set itself. */
    static boolean guestMayWrite(int index) {
        return switch (index) {
            case CALLBACK_IRQ, VM86_TSS, VM86_TSS_SIZED, ACPI_IOPORTS_LOCATION, VM_GENERATION_ID_ADDR, STORE_EVTCHN,
                    CONSOLE_EVTCHN, X87_FIP_WIDTH -> true;
            default -> false;
        };
    }
}
