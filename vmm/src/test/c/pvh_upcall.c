/*
 * Xen's upcall and singleshot-timer rules, step by step (issue 37), with the state after each step printed.
 *
 * Timers (common/sched/core.c vcpu_singleshot_timer_op, stop_timer): a singleshot for now + 30 ms (now from the
 * guest's own pvclock) is not pending when the hypercall returns while its deadline is still ahead; one stopped before
 * its deadline never arrives; when the event arrives against the deadline on the guest's clock is printed. With -DDIRECT the timer calls are VMCALL/VMMCALL
 * (KVM's Xen support answers them in the kernel: kvm mode only), else jxen's hypercall page.
 *
 * The per-vCPU upcall vector (HVMOP_set_evtchn_upcall_vector; vcpu_mark_events_pending in include/xen/event.h and
 * arch/x86/hvm/irq.c hvm_assert_evtchn_irq): an upcall only on the 0 -> 1 edge of evtchn_upcall_pending. A handler
 * that takes the selector and the pending bits but leaves upcall_pending at 1 gets no upcall for the next event (its
 * pending bit and selector are set); clearing upcall_pending alone raises nothing; once upcall_pending is clear, the
 * next event upcalls once. The local APIC's IRR and ISR bits of the vector are printed at each step.
 */
#include "xen32.h"

extern void upcall_stub(void);

#define VCPUOP_stop_singleshot_timer 9
#define LAZY_VECTOR 0xE3

static int amd;

static long timer_call(int cmd, void *arg)
{
#ifdef DIRECT
    long r;
    if (amd)
        __asm__ volatile("vmmcall" : "=a"(r) : "a"(__HYPERVISOR_vcpu_op), "b"(cmd), "c"(0), "d"((u32)arg) : "memory");
    else
        __asm__ volatile("vmcall" : "=a"(r) : "a"(__HYPERVISOR_vcpu_op), "b"(cmd), "c"(0), "d"((u32)arg) : "memory");
    return r;
#else
    return hypercall(__HYPERVISOR_vcpu_op, cmd, 0, (u32)arg);
#endif
}

static long set_timer(u64 deadline)
{
    volatile struct { u64 timeout; u32 flags; u32 pad; } __attribute__((packed)) t = {deadline, 0, 0};
    return timer_call(VCPUOP_set_singleshot_timer, (void *)&t);
}

static long stop_timer(void)
{
    return timer_call(VCPUOP_stop_singleshot_timer, 0);
}

/* A signed difference of two pvclock readings in µs (2^10 ns: no 64-bit division here), printed with its sign. */
static void print_us(const char *what, u64 later, u64 earlier)
{
    print(what);
    if (later >= earlier) {
        print_u32((u32)((later - earlier) >> 10));
    } else {
        print("-");
        print_u32((u32)((earlier - later) >> 10));
    }
    print(" us");
}

/* Interrupts on for ms milliseconds of the guest's clock (the halt-rescue timer ends each hlt within 10 ms). */
static void run_for_ms(u32 ms)
{
    u64 end = now_ns(0) + (u64)ms * 1000000;
    HALT_UNTIL(now_ns(0) >= end);
}

static volatile u64 fired_at;
static u32 timer_port;

/*
 * Xen's rule: a deadline in the future when the call returns is not pending then. A call that itself took longer than
 * 30 ms (the emulator's pace inside tools/kvm-vm) returns after its deadline, and Xen would have fired it too. Whether
 * the event comes before the deadline on the guest's clock is printed, not checked: that compares the guest's pvclock
 * with the host clock the timer runs on, which agree only as well as the TSC rate the host reports (docs/xen-rules.md).
 */
static void stage_singleshot_future(void)
{
    u32 early = 0, pending_in_time = 0, n = 10;
    for (u32 i = 0; i < n; i++) {
        u32 seen = events_seen[timer_port];
        u64 before = now_ns(0);
        u64 deadline = before + 30000000;
        check(set_timer(deadline) == 0, "set_singleshot_timer for now + 30 ms");
        u64 after = now_ns(0);
        u32 pending = test_bit(EVTCHN_PENDING, timer_port) | (events_seen[timer_port] != seen);
        HALT_UNTIL(events_seen[timer_port] != seen);
        u64 fired = now_ns(0);
        print("singleshot: call took");
        print_us(" ", after, before);
        print(", pending at return ");
        print_u32(pending);
        print_us(", handled at deadline ", fired, deadline);
        print("\n");
        pending_in_time += pending && after < deadline;
        early += fired < deadline;
    }
    print("singleshot: handled before its deadline on the guest's clock ");
    print_u32(early);
    print(" of 10\n");
    check(pending_in_time == 0, "a singleshot whose deadline is still ahead when the call returns is not pending then");
    pass("singleshot: not pending at return while its deadline is ahead");
}

static void stage_singleshot_stopped(void)
{
    u32 stopped_in_time = 0, fired_anyway = 0, n = 10;
    for (u32 i = 0; i < n; i++) {
        u32 seen = events_seen[timer_port];
        u64 armed = now_ns(0);
        __asm__ volatile("cli");
        check(set_timer(armed + 30000000) == 0, "set_singleshot_timer for now + 30 ms");
        check(stop_timer() == 0, "stop_singleshot_timer");
        u64 stopped = now_ns(0);
        run_for_ms(60);
        u32 fired = events_seen[timer_port] != seen;
        print_us("stopped after ", stopped, armed);
        print(fired ? ": fired\n" : ": did not fire\n");
        if (stopped - armed < 30000000) {
            stopped_in_time++;
            fired_anyway += fired;
        }
    }
    print("stopped before the deadline: ");
    print_u32(stopped_in_time);
    print(" of 10\n");
    check(fired_anyway == 0, "a singleshot stopped before its deadline never fires (stop_timer)");
    pass("singleshot: a stop before the deadline cancels it");
}

/* The lazy handler: takes the selector and the pending bits, leaves evtchn_upcall_pending as it finds it, EOIs. */
static volatile u32 lazy_calls, lazy_irr_in_handler;
void lazy_upcall_handler(void);
void lazy_upcall_handler(void)
{
    lazy_calls++;
    lazy_irr_in_handler += (LAPIC[(0x200 + 0x10 * (LAZY_VECTOR / 32)) / 4] >> (LAZY_VECTOR % 32)) & 1;
    u32 sel = __atomic_exchange_n((u32 *)(VCPU_INFO(0) + 4), 0, __ATOMIC_SEQ_CST);
    while (sel) {
        u32 w = __builtin_ctz(sel);
        sel &= sel - 1;
        u32 pend = __atomic_exchange_n(&EVTCHN_PENDING[w], 0, __ATOMIC_SEQ_CST);
        while (pend) {
            u32 b = __builtin_ctz(pend);
            pend &= pend - 1;
            events_seen[w * 32 + b]++;
        }
    }
    eoi();
}
void lazy_upcall_stub(void);
__asm__(".globl lazy_upcall_stub\n"
        "lazy_upcall_stub:\n"
        "  pushal\n"
        "  cld\n"
        "  call lazy_upcall_handler\n"
        "  popal\n"
        "  iret\n");

static u32 apic_bit(u32 base)
{
    return (LAPIC[(base + 0x10 * (LAZY_VECTOR / 32)) / 4] >> (LAZY_VECTOR % 32)) & 1;
}

static void report(const char *step, u32 port)
{
    print(step);
    print(": calls ");
    print_u32(lazy_calls);
    print(", upcall_pending ");
    print_u32(UPCALL_PENDING(VCPU_INFO(0)));
    print(", pending ");
    print_u32(test_bit(EVTCHN_PENDING, port));
    print(", sel ");
    print_u32((PENDING_SEL(VCPU_INFO(0)) >> (port / 32)) & 1);
    print(", IRR ");
    print_u32(apic_bit(0x200));
    print(", ISR ");
    print_u32(apic_bit(0x100));
    print(", IRR seen in the handler ");
    print_u32(lazy_irr_in_handler);
    print("\n");
}

static void stage_per_vcpu_vector_edge(void)
{
    volatile struct { u32 vcpu; u8 vector; } __attribute__((packed)) v = {0, LAZY_VECTOR};
    set_gate(LAZY_VECTOR, lazy_upcall_stub);
    check(hypercall(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, (u32)&v, 0) == 0, "set_evtchn_upcall_vector");
    run_for_ms(20); /* whatever was pending before (set_evtchn_upcall_vector may inject) is taken now */
    u32 p = bind_ipi(0);
    UPCALL_PENDING(VCPU_INFO(0)) = 0;
    u32 calls = lazy_calls;

    check(send(p) == 0, "send");
    run_for_ms(20);
    report("first event", p);
    check(lazy_calls == calls + 1, "the first event upcalls once");
    check(UPCALL_PENDING(VCPU_INFO(0)) == 1 && !test_bit(EVTCHN_PENDING, p), "the handler took the port, left upcall_pending");

    check(send(p) == 0, "send while upcall_pending is 1");
    run_for_ms(20);
    report("second event, upcall_pending left at 1", p);
    /*
     * Xen: no upcall (upcall_pending was 1), the port and selector stay set. KVM's kernel delivery (kvm mode, 2-level,
     * arch/x86/kvm/xen.c kvm_xen_set_evtchn_fast) injects the per-vCPU vector on the 0 -> 1 edge of the selector bit
     * instead, so the handler runs again and takes them. The line says which; XenDomainTest expects Xen's rule where
     * jxen delivers and KVM's where KVM does (docs/xen-rules.md).
     */
    u32 selector_edge = lazy_calls == calls + 2;
    if (selector_edge) {
        check(!test_bit(EVTCHN_PENDING, p), "the second upcall took the port");
    } else {
        check(test_bit(EVTCHN_PENDING, p) && ((PENDING_SEL(VCPU_INFO(0)) >> (p / 32)) & 1), "pending bit and selector set");
        check(lazy_calls == calls + 1, "no upcall while evtchn_upcall_pending stays 1");
    }
    print(selector_edge ? "per-vCPU vector: upcall on the selector's edge (KVM)\n" : "per-vCPU vector: upcall on upcall_pending's edge (Xen)\n");
    calls = lazy_calls;

    UPCALL_PENDING(VCPU_INFO(0)) = 0;
    run_for_ms(20);
    report("upcall_pending cleared alone", p);
    check(lazy_calls == calls, "clearing upcall_pending alone raises nothing");

    __atomic_exchange_n((u32 *)(VCPU_INFO(0) + 4), 0, __ATOMIC_SEQ_CST);
    clear_bit(EVTCHN_PENDING, p);
    check(send(p) == 0, "send after the guest consumed selector and bit");
    run_for_ms(20);
    report("third event, after the guest consumed them", p);
    check(lazy_calls == calls + 1, "the next event upcalls once");
    pass("per-vCPU vector: no upcall for clearing upcall_pending, one for the next event");
}

void guest_main(void)
{
    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    amd = b == 0x68747541; /* "Auth"enticAMD */
    place_shared_info();
    set_gate(UPCALL_VECTOR, upcall_stub);
    lapic_enable();
    volatile struct { u32 vcpu; u8 vector; } __attribute__((packed)) v = {0, UPCALL_VECTOR};
    check(hypercall(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, (u32)&v, 0) == 0, "set_evtchn_upcall_vector");
    volatile u32 vb[3] = {VIRQ_TIMER, 0, 0};
    check(evtchn_op(EVTCHNOP_bind_virq, (void *)vb) == 0, "bind_virq timer");
    timer_port = vb[2];
    port_vcpu[timer_port] = 0;
    run_for_ms(20); /* kvm mode: KVM takes the timer over at the next entry */
    stage_singleshot_future();
    stage_singleshot_stopped();
    stage_per_vcpu_vector_edge();
}
