/*
 * A guest that is saved mid-run and resumed (jxen run --save-on-exit / --restore; XenDomainTest drives it). Before
 * the save it starts vCPU 1, binds IPIs both ways, leaves a port pending under its mask, arms a singleshot timer 20 s
 * ahead and allocates a port for dom0; it prints "ready to save, host port N" and halts until dom0 sends on that
 * port, which the test does only after the restore. Then it checks that the saved state came back: the timer still
 * fires, the masked port is still pending and upcalls once unmasked, the two vCPUs still exchange IPIs, pvclock did
 * not go backwards; it answers dom0 on the same port and powers off.
 */
#include "xen32.h"

#define ROUNDS 100

extern void upcall_stub(void);
static volatile int p0, p1; /* IPIs delivered to vCPU 0 and to vCPU 1 */
static volatile u32 ap_ready, ap_rounds;

static void ap_main(void)
{
    ap_ready = 1;
    for (u32 i = 1; i <= ROUNDS; i++) {
        HALT_UNTIL(events_seen[p1] >= i);
        ap_rounds = i; /* before the answer: vCPU 0 checks it as soon as the answer arrives */
        send(p0);
    }
    HALT_UNTIL(0);
}

static long set_timer(u64 deadline)
{
    volatile struct { u64 timeout; u32 flags; } __attribute__((packed)) t = {deadline, 0};
    return hypercall(__HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer, 0, (u32)&t);
}

void guest_main(void)
{
    place_shared_info();
    set_gate(UPCALL_VECTOR, upcall_stub);
    lapic_enable();
    check(set_param(HVM_PARAM_CALLBACK_IRQ, (2ull << 56) | UPCALL_VECTOR) == 0, "CALLBACK_IRQ vector type");
    p0 = bind_ipi(0);
    p1 = bind_ipi(1);
    start_vcpu1(ap_main);
    while (!ap_ready)
        __asm__ volatile("pause" ::: "memory");
    check(send(p1) == 0, "IPI to vCPU 1");
    HALT_UNTIL(events_seen[p0] >= 1);
    pass("IPIs both ways before the save");

    int masked = bind_ipi(0);
    set_bit(EVTCHN_MASK, masked);
    check(send(masked) == 0, "send on a masked port");

    volatile u32 vb[3] = {VIRQ_TIMER, 0, 0};
    check(evtchn_op(EVTCHNOP_bind_virq, (void *)vb) == 0, "bind_virq timer");
    u32 timer = vb[2];
    u64 before_save = now_ns(0);
    check(set_timer(before_save + 20000000000ull) == 0, "timer 20 s ahead");

    u32 host = ready_to_save();

    HALT_UNTIL(events_seen[host] >= 1); /* dom0 sends only after the restore */
    check(now_ns(0) >= before_save, "pvclock did not go backwards across the save");
    print(events_seen[timer] ? "resumed: the timer had already fired\n" : "resumed: the timer is still pending\n");
    pass("dom0's event after the restore");

    check(events_seen[masked] == 0 && test_bit(EVTCHN_PENDING, masked) && test_bit(EVTCHN_MASK, masked),
          "the masked port is still pending and masked");
    volatile u32 a = masked;
    check(evtchn_op(EVTCHNOP_unmask, (void *)&a) == 0, "unmask");
    HALT_UNTIL(events_seen[masked] >= 1);
    pass("masked port pending across the save, upcall once unmasked");

    HALT_UNTIL(events_seen[timer] >= 1);
    pass("the timer armed before the save fired");

    for (u32 i = 2; i <= ROUNDS; i++) {
        check(send(p1) == 0, "IPI to vCPU 1");
        HALT_UNTIL(events_seen[p0] >= i);
    }
    check(ap_rounds == ROUNDS, "vCPU 1 answered every IPI");
    pass("2 vCPUs still exchange IPIs after the restore");

    check(send(host) == 0, "answer dom0");
    pass("answered dom0 on the same port");
}
