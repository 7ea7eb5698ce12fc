/*
 * A guest that calls Xen as current Linux does (arch/x86/xen/enlighten.c xen_hypercall_setfunc, xen-head.S): no
 * hypercall page, VMMCALL on AMD and VMCALL on Intel, chosen by the CPU vendor. Only KVM's Xen support
 * (KVM_CAP_XEN_HVM with INTERCEPT_HCALL) hands those to jxen; jxen runs it with --accel kvm. It checks xen_version,
 * places shared_info, binds an IPI port with a callback vector, takes the upcall for a send, and powers off.
 */
#include "xen32.h"

extern void upcall_stub(void);
static int amd;

static long direct(int nr, u32 a1, u32 a2, u32 a3)
{
    long r;
    if (amd)
        __asm__ volatile("vmmcall" : "=a"(r) : "a"(nr), "b"(a1), "c"(a2), "d"(a3) : "memory");
    else
        __asm__ volatile("vmcall" : "=a"(r) : "a"(nr), "b"(a1), "c"(a2), "d"(a3) : "memory");
    return r;
}

static void say(const char *s)
{
    direct(__HYPERVISOR_console_io, 0, strlen32(s), (u32)s);
}

void guest_main(void)
{
    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    amd = b == 0x68747541; /* "Auth"enticAMD */
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
}
