package org.jxen.sys.kvm;

/** One entry of a VM's GSI routing table (KVM_SET_GSI_ROUTING): where an interrupt on {@code gsi} goes. */
public sealed interface GsiRoute {
    int gsi();

    /** To a pin of one of the in-kernel interrupt controllers (KVM_IRQCHIP_PIC_MASTER, _SLAVE, _IOAPIC). */
    record Irqchip(int gsi, int chip, int pin) implements GsiRoute {}

    /**
     * To a Xen event channel (KVM_IRQ_ROUTING_XEN_EVTCHN, 2-level only): KVM raises {@code port} for the vCPU with KVM
     * id {@code vcpu} as KVM_XEN_HVM_EVTCHN_SEND would ({@code arch/x86/kvm/xen.c}: {@code kvm_xen_setup_evtchn}).
     */
    record XenEvtchn(int gsi, int port, int vcpu) implements GsiRoute {}
}
