package org.jxen.engine.abi;

/**
 * Byte layouts of the EVTCHNOP argument structs ({@code public/event_channel.h}). Every field is a fixed-width
 * type, so the 64-bit and 32-bit guest ABIs agree (the i386 4-byte alignment of uint64_t changes nothing here).
 */
public final class EvtchnStructs {
    /** struct evtchn_alloc_unbound { domid_t dom, remote_dom; evtchn_port_t port; } */
    public static final int ALLOC_UNBOUND_SIZE = 8, ALLOC_UNBOUND_DOM = 0, ALLOC_UNBOUND_REMOTE_DOM = 2, ALLOC_UNBOUND_PORT = 4;
    /** struct evtchn_bind_interdomain { domid_t remote_dom; evtchn_port_t remote_port, local_port; } */
    public static final int BIND_INTERDOMAIN_SIZE = 12, BIND_INTERDOMAIN_REMOTE_DOM = 0, BIND_INTERDOMAIN_REMOTE_PORT = 4,
            BIND_INTERDOMAIN_LOCAL_PORT = 8;
    /** struct evtchn_bind_virq { uint32_t virq, vcpu; evtchn_port_t port; } */
    public static final int BIND_VIRQ_SIZE = 12, BIND_VIRQ_VIRQ = 0, BIND_VIRQ_VCPU = 4, BIND_VIRQ_PORT = 8;
    /** struct evtchn_bind_pirq { uint32_t pirq, flags; evtchn_port_t port; } */
    public static final int BIND_PIRQ_SIZE = 12, BIND_PIRQ_PIRQ = 0, BIND_PIRQ_FLAGS = 4, BIND_PIRQ_PORT = 8;
    /** struct evtchn_bind_ipi { uint32_t vcpu; evtchn_port_t port; } */
    public static final int BIND_IPI_SIZE = 8, BIND_IPI_VCPU = 0, BIND_IPI_PORT = 4;
    /** struct evtchn_close / evtchn_send / evtchn_unmask { evtchn_port_t port; } */
    public static final int PORT_ONLY_SIZE = 4;
    /**
     * struct evtchn_status { domid_t dom; evtchn_port_t port; uint32_t status, vcpu; union { domid_t unbound.dom;
     * { domid_t dom; evtchn_port_t port; } interdomain; uint32_t pirq, virq; } u; }
     */
    public static final int STATUS_SIZE = 24, STATUS_DOM = 0, STATUS_PORT = 4, STATUS_STATUS = 8, STATUS_VCPU = 12,
            STATUS_U_DOM = 16, STATUS_U_PORT = 20, STATUS_U_WORD = 16;
    /** struct evtchn_bind_vcpu { evtchn_port_t port; uint32_t vcpu; } */
    public static final int BIND_VCPU_SIZE = 8, BIND_VCPU_PORT = 0, BIND_VCPU_VCPU = 4;
    /** struct evtchn_reset { domid_t dom; } */
    public static final int RESET_SIZE = 2;
    /** struct evtchn_init_control { uint64_t control_gfn; uint32_t offset, vcpu; uint8_t link_bits, _pad[7]; } */
    public static final int INIT_CONTROL_SIZE = 24, INIT_CONTROL_GFN = 0, INIT_CONTROL_OFFSET = 8, INIT_CONTROL_VCPU = 12,
            INIT_CONTROL_LINK_BITS = 16;
    /** struct evtchn_expand_array { uint64_t array_gfn; } */
    public static final int EXPAND_ARRAY_SIZE = 8;
    /** struct evtchn_set_priority { evtchn_port_t port; uint32_t priority; } */
    public static final int SET_PRIORITY_SIZE = 8, SET_PRIORITY_PORT = 0, SET_PRIORITY_PRIORITY = 4;

    private EvtchnStructs() {}
}
