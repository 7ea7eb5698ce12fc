/*
 * A guest that calls Xen as current Linux does (arch/x86/xen/enlighten.c xen_hypercall_setfunc, xen-head.S): no
 * hypercall page, VMMCALL on AMD and VMCALL on Intel, chosen by the CPU vendor. Only KVM's Xen support
 * (KVM_CAP_XEN_HVM with INTERCEPT_HCALL) hands those to jxen; jxen runs it with --accel kvm. It checks xen_version,
 * places shared_info, binds an IPI port with a callback vector, takes the upcall for a send, then sends many times on
 * IPI and loopback interdomain ports (which jxen mirrors into KVM's event-channel table, so KVM delivers them without
 * an exit: XenDomainTest counts the hypercalls that reached jxen), binds and closes ports while sending (no event
 * after a close), polls a port in the kernel until the host raises it, and powers off.
 */
#include "xen32.h"
#include "direct32.h"

extern void upcall_stub(void);

#define KERNEL_SENDS 1000
#define CHURN 100

/*
 * The domain-wide callback vector as Xen injects it (arch/x86/hvm/irq.c hvm_vcpu_has_pending_irq): not through the
 * local APIC (no ISR bit, no EOI expected) and level-triggered (injected again while evtchn_upcall_pending stays
 * set). This handler never EOIs, looks at its vector's ISR bit, and leaves upcall_pending set on its first call.
 */
static volatile u32 level_calls, isr_seen;
void level_upcall_handler(void)
{
    u32 n = ++level_calls;
    if (LAPIC[(0x100 + 0x10 * (UPCALL_VECTOR / 32)) / 4] & (1u << (UPCALL_VECTOR % 32)))
        isr_seen++;
    if (n == 1)
        return; /* still pending: a level-triggered upcall comes again */
    UPCALL_PENDING(VCPU_INFO(0)) = 0;
    __atomic_exchange_n((u32 *)(VCPU_INFO(0) + 4), 0, __ATOMIC_SEQ_CST);
    for (u32 w = 0; w < 32; w++)
        EVTCHN_PENDING[w] = 0;
}
void level_upcall_stub(void);
__asm__(".globl level_upcall_stub\n"
        "level_upcall_stub:\n"
        "  pushal\n"
        "  cld\n"
        "  call level_upcall_handler\n"
        "  popal\n"
        "  iret\n");

static void say(const char *s)
{
    direct(__HYPERVISOR_console_io, 0, strlen32(s), (u32)s);
}

void guest_main(void)
{
    direct_init();
    say(amd ? "direct hypercalls by vmmcall\n" : "direct hypercalls by vmcall\n");
    long v = direct(__HYPERVISOR_xen_version, 0, 0, 0);
    check((v >> 16) == 4, "xen_version by a direct hypercall: 4.x");
    volatile struct { u16 domid; u16 size; u32 space; u32 idx; u32 gpfn; } m = {DOMID_SELF, 0, XENMAPSPACE_shared_info, 0,
                                                                             (u32)shared_info >> 12};
    check(direct(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, (u32)&m, 0) == 0, "add_to_physmap shared_info (the call Linux BUG()s on)");
    pass("direct hypercalls reach jxen");

    set_gate(UPCALL_VECTOR, upcall_stub);
    lapic_enable();
    halt_rescue_timer();
    volatile struct { u16 domid; u16 pad; u32 index; u64 value; } __attribute__((packed)) param = {DOMID_SELF, 0, HVM_PARAM_CALLBACK_IRQ,
                                                                                                 (2ull << 56) | UPCALL_VECTOR};
    check(direct(__HYPERVISOR_hvm_op, HVMOP_set_param, (u32)&param, 0) == 0, "CALLBACK_IRQ by a direct hypercall");
    volatile u32 ipi[2] = {0, 0};
    check(direct(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_ipi, (u32)ipi, 0) == 0, "bind_ipi");
    volatile u32 port = ipi[1];
    check(direct(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u32)&port, 0) == 0, "send");
    HALT_UNTIL(events_seen[ipi[1]] == 1);
    pass("an event sent by a direct hypercall arrives as an upcall");

    /* KERNEL_SENDS sends on routed ports, each waited for: KVM delivers them (XenDomainTest: few hypercalls reach jxen). */
    for (u32 i = 0; i < KERNEL_SENDS / 2; i++) {
        check(direct(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u32)&port, 0) == 0, "send on the IPI port");
        HALT_UNTIL(events_seen[port] == i + 2);
    }
    pass("sends on an IPI port, each delivered once");
    volatile struct { u16 dom; u16 remote_dom; u32 port; } unbound = {DOMID_SELF, DOMID_SELF, 0};
    check(direct(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, (u32)&unbound, 0) == 0, "alloc_unbound for ourselves");
    volatile struct { u16 remote_dom; u16 pad; u32 remote_port; u32 local_port; } inter = {DOMID_SELF, 0, unbound.port, 0};
    check(direct(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_interdomain, (u32)&inter, 0) == 0, "bind_interdomain to ourselves");
    volatile u32 near = inter.local_port, far = unbound.port;
    for (u32 i = 0; i < KERNEL_SENDS / 4; i++) {
        check(direct(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u32)&near, 0) == 0, "send on the loopback pair");
        HALT_UNTIL(events_seen[far] == i + 1);
        check(direct(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u32)&far, 0) == 0, "send back on the loopback pair");
        HALT_UNTIL(events_seen[near] == i + 1);
    }
    pass("sends both ways on a loopback interdomain pair, each delivered to the peer");

    /* Routes come and go with the ports: a closed port's send is -EINVAL and raises nothing, in KVM or in jxen. */
    for (u32 i = 0; i < CHURN; i++) {
        volatile u32 b[2] = {0, 0};
        check(direct(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_ipi, (u32)b, 0) == 0, "bind_ipi (churn)");
        volatile u32 p = b[1];
        u32 before = events_seen[p];
        check(direct(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u32)&p, 0) == 0, "send on a fresh IPI port");
        HALT_UNTIL(events_seen[p] == before + 1);
        volatile u32 c = p;
        check(direct(__HYPERVISOR_event_channel_op, EVTCHNOP_close, (u32)&c, 0) == 0, "close");
        check(direct(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u32)&p, 0) == -22, "send on a closed port: -EINVAL");
        for (int spin = 0; spin < 1000; spin++)
            __asm__ volatile("sti; nop; cli" ::: "memory");
        check(events_seen[p] == before + 1 && !test_bit(EVTCHN_PENDING, p), "no event after the close");
    }
    pass("ports bound, sent on and closed: no event after a close");

    set_gate(UPCALL_VECTOR, level_upcall_stub);
    check(direct(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u32)&port, 0) == 0, "send (callback without EOI)");
    HALT_UNTIL(level_calls >= 2);
    pass("the callback vector comes again while upcall_pending stays set (level)");
    check(direct(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u32)&port, 0) == 0, "send again, no EOI ever given");
    HALT_UNTIL(level_calls >= 3);
    check(isr_seen == 0, "the callback vector sets no ISR bit in the local APIC");
    pass("the domain callback vector needs no EOI and sets no ISR bit");
    set_gate(UPCALL_VECTOR, upcall_stub);

    /*
     * SCHEDOP_poll by VMCALL, as Linux's PV spinlocks use it: with KVM_XEN_HVM_CONFIG_EVTCHN_SEND promised, KVM blocks
     * the vCPU in the kernel until the port is pending (without it, KVM answers a poll as a yield), so jxen must raise
     * the host's event through KVM (KVM_XEN_HVM_EVTCHN_SEND) to wake it. The port is masked: only the poll sees it.
     * dom0 (XenDomainTest) binds it and sends once it reads the line.
     */
    volatile struct { u16 dom; u16 remote_dom; u32 port; } host = {DOMID_SELF, 0, 0};
    check(direct(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, (u32)&host, 0) == 0, "alloc_unbound for dom0");
    volatile u32 polled[1] = {host.port};
    set_bit(EVTCHN_MASK, host.port);
    print("poll: host port ");
    print_u32(host.port);
    print("\n");
    u32 early = 0;
    LAPIC[0x380 / 4] = 0; /* the 10 ms halt-rescue timer would end the poll (a pending timer wakes a blocked vCPU) */
    __asm__ volatile("cli" ::: "memory");
    while (!test_bit(EVTCHN_PENDING, host.port)) {
        volatile struct { u32 ports; u32 nr; u64 timeout; } __attribute__((packed)) p = {(u32)polled, 1, 0};
        check(direct(__HYPERVISOR_sched_op, SCHEDOP_poll, (u32)&p, 0) == 0, "SCHEDOP_poll");
        if (!test_bit(EVTCHN_PENDING, host.port))
            early++;
    }
    __asm__ volatile("sti" ::: "memory");
    halt_rescue_timer();
    print("poll: returned early ");
    print_u32(early);
    print(" times\n");
    check(early < 100, "SCHEDOP_poll blocks until the port is pending (a yield returns thousands of times meanwhile)");
    pass("SCHEDOP_poll by VMCALL woken by the host's event");
}
