/*
 * Xen's exact rules where a VMM is easily close but wrong, each from the Xen function named:
 * - unusable ports (xen/include/xen/event.h evtchn_usable): EVTCHNOP_unmask on port 0 or a free port answers 0 and
 *   changes nothing; SCHEDOP_poll on one is -EINVAL, in list order (do_poll stops at the first pending port);
 * - SCHEDOP_poll without an upcall route (common/sched/core.c do_poll, evtchn_check_pollers): an event on another
 *   port ends nothing; only the polled port or the timeout does;
 * - HVMOP_set_evtchn_upcall_vector (arch/x86/hvm/hvm.c): vector < 0x10 is -EINVAL before the vCPU is looked up;
 * - VCPUOP_initialise (arch/x86/domain.c, arch/x86/hvm/domain.c arch_set_info_hvm_guest): non-zero pad fields are
 *   -EINVAL and leave the vCPU uninitialised (a correct retry succeeds), then -EEXIST.
 */
#include "xen32.h"

static long vcpu_op(int cmd, u32 vcpu, void *arg)
{
    return hypercall(__HYPERVISOR_vcpu_op, cmd, vcpu, (u32)arg);
}

static long unmask(u32 port)
{
    volatile u32 a = port;
    return evtchn_op(EVTCHNOP_unmask, (void *)&a);
}

static long close_port(u32 port)
{
    volatile u32 a = port;
    return evtchn_op(EVTCHNOP_close, (void *)&a);
}

static long poll_list(volatile u32 *ports, u32 nr, u64 timeout)
{
    volatile struct { u32 ports; u32 nr; u64 timeout; } __attribute__((packed)) p = {(u32)ports, nr, timeout};
    return hypercall(__HYPERVISOR_sched_op, SCHEDOP_poll, (u32)&p, 0);
}

static int bind_timer(void)
{
    volatile u32 b[3] = {VIRQ_TIMER, 0, 0};
    check(evtchn_op(EVTCHNOP_bind_virq, (void *)b) == 0, "bind_virq TIMER");
    return b[2];
}

static void unusable_ports(void)
{
    set_bit(EVTCHN_MASK, 0);
    check(unmask(0) == 0, "unmask port 0: 0");
    check(test_bit(EVTCHN_MASK, 0), "port 0 stays masked");
    int p = bind_ipi(0);
    int q = bind_ipi(0); /* bound before p is freed, so p stays free below */
    check(close_port(p) == 0, "close");
    set_bit(EVTCHN_MASK, p);
    check(unmask(p) == 0, "unmask a free port: 0");
    check(test_bit(EVTCHN_MASK, p), "a free port stays masked");
    clear_bit(EVTCHN_MASK, p);
    pass("unmask of unusable ports changes nothing");

    set_bit(EVTCHN_MASK, q);
    check(send(q) == 0 && test_bit(EVTCHN_PENDING, q), "a masked pending port");
    volatile u32 l[2];
    l[0] = 0;
    check(poll_list(l, 1, 0) == -22, "poll port 0: -EINVAL");
    l[0] = p;
    check(poll_list(l, 1, 0) == -22, "poll a free port: -EINVAL");
    l[0] = q, l[1] = p;
    check(poll_list(l, 2, 0) == 0, "poll {pending, free}: 0 (stops at the pending port)");
    l[0] = p, l[1] = q;
    check(poll_list(l, 2, 0) == -22, "poll {free, pending}: -EINVAL (the free port comes first)");
    clear_bit(EVTCHN_PENDING, q);
    clear_bit(EVTCHN_MASK, q);
    check(close_port(q) == 0, "close");
    pass("poll of unusable ports, in list order");
}

/* No callback vector set yet: events cannot raise an upcall, so a poll on one port ignores the others. */
static void poll_without_upcall_route(void)
{
    int a = bind_ipi(0);
    int t = bind_timer();
    u64 start = now_ns(0);
    volatile struct { u64 timeout; u32 flags; } __attribute__((packed)) timer = {start + 5000000, 0};
    check(vcpu_op(VCPUOP_set_singleshot_timer, 0, (void *)&timer) == 0, "timer 5 ms ahead");
    volatile u32 l[1] = {a};
    u64 until = start + 200000000; /* 200 ms */
    check(poll_list(l, 1, until) == 0, "poll");
    u64 end = now_ns(0);
    check(test_bit(EVTCHN_PENDING, t), "the timer's port became pending during the poll");
    check(end >= until, "the timer's event (no upcall route) did not end a poll on another port: only its timeout did");
    clear_bit(EVTCHN_PENDING, t);
    check(send(a) == 0, "send on the polled port");
    l[0] = a;
    check(poll_list(l, 1, 0) == 0, "the polled port pending: at once");
    clear_bit(EVTCHN_PENDING, a);
    check(close_port(a) == 0 && close_port(t) == 0, "close");
    UPCALL_PENDING(VCPU_INFO(0)) = 0;
    PENDING_SEL(VCPU_INFO(0)) = 0;
    pass("poll without an upcall route: only its port or the timeout");
}

static void check_order(void)
{
    volatile struct { u32 vcpu; u8 vector; } __attribute__((packed)) v = {99, 5};
    check(hypercall(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, (u32)&v, 0) == -22,
          "bad vector and bad vCPU: -EINVAL (the vector is checked first)");
    v.vector = 0xF0;
    check(hypercall(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, (u32)&v, 0) == -2, "bad vCPU: -ENOENT");
    pass("set_evtchn_upcall_vector checks the vector before the vCPU");
}

static void vcpu_contexts(void)
{
    static volatile u32 words[32] __attribute__((aligned(8)));
    flat32_vcpu_context(words, 0x100000, 0); /* eip: anywhere; vCPU 1 is never brought up */
    volatile u8 *ctx = (volatile u8 *)words;
    volatile u32 *r = words + 2;
    volatile u16 *ar = (volatile u16 *)(r + 26);
    *(volatile u32 *)(ctx + 4) = 1; /* pad */
    check(vcpu_op(VCPUOP_initialise, 1, (void *)ctx) == -22, "non-zero pad: -EINVAL");
    *(volatile u32 *)(ctx + 4) = 0;
    r[13] = 1; /* x86_32.pad1 */
    check(vcpu_op(VCPUOP_initialise, 1, (void *)ctx) == -22, "non-zero pad1: -EINVAL");
    r[13] = 0;
    ar[5] = 1; /* x86_32.pad2[0] */
    check(vcpu_op(VCPUOP_initialise, 1, (void *)ctx) == -22, "non-zero pad2: -EINVAL");
    ar[5] = 0;
    check(vcpu_op(VCPUOP_initialise, 1, (void *)ctx) == 0, "the refused attempts left it uninitialised: a correct one works");
    *(volatile u32 *)(ctx + 4) = 1;
    check(vcpu_op(VCPUOP_initialise, 1, (void *)ctx) == -17, "initialised: -EEXIST before the context is looked at");
    pass("vcpu_hvm_context pads and -EEXIST");
}

void guest_main(void)
{
    place_shared_info();
    lapic_enable();
    halt_rescue_timer();
    unusable_ports();
    poll_without_upcall_route();
    check_order();
    vcpu_contexts();
}
