/*
 * Event delivery as a real guest sees it, in the stages of Linux's KVM selftest xen_shinfo_test that apply to a
 * userspace VMM: vector injection, masked -> no upcall and unmask -> upcall, a send looped back to another port,
 * a timer (future and past deadlines, VCPU_SSHOTTMR_future), SCHEDOP_poll (ready, timeout, woken by a masked port),
 * vcpu_info moved while events arrive, pvclock monotonic, and a request to a backend (XenStore) whose reply raises
 * the guest's port.
 */
#include "xen32.h"

extern void upcall_stub(void);
extern unsigned char *upcall_vcpu_info;
static unsigned char moved_vcpu_info[4096] __attribute__((aligned(4096)));
static u32 timer_port;

/* Interrupts on until cond holds (or a bound of spins), then off again. */
#define WAIT_FOR(cond)                                                                                             \
    do {                                                                                                           \
        __asm__ volatile("sti");                                                                                   \
        for (u32 spin_ = 0; !(cond) && spin_ < 2000000; spin_++)                                                  \
            __asm__ volatile("pause" ::: "memory");                                                                \
        __asm__ volatile("cli");                                                                                   \
    } while (0)

static long vcpu_op(int cmd, u32 vcpu, void *arg)
{
    return hypercall(__HYPERVISOR_vcpu_op, cmd, vcpu, (u32)arg);
}

static long set_timer(u64 deadline, u32 flags)
{
    volatile struct { u64 timeout; u32 flags; } __attribute__((packed)) t = {deadline, flags};
    return vcpu_op(VCPUOP_set_singleshot_timer, 0, (void *)&t);
}

static long poll(u32 port, u64 timeout)
{
    volatile u32 ports[1] = {port};
    volatile struct { u32 ports; u32 nr; u64 timeout; } __attribute__((packed)) p = {(u32)ports, 1, timeout};
    return hypercall(__HYPERVISOR_sched_op, SCHEDOP_poll, (u32)&p, 0);
}

static void stage_vector_and_mask(void)
{
    int p = bind_ipi(0);
    check(send(p) == 0, "send on an IPI port");
    check(UPCALL_PENDING(VCPU_INFO(0)) == 1, "evtchn_upcall_pending set by the send");
    check(test_bit(EVTCHN_PENDING, p), "pending bit set");
    WAIT_FOR(events_seen[p] == 1);
    check(events_seen[p] == 1 && upcalls >= 1, "upcall vector delivered and the port handled");
    pass("vector injection");

    set_bit(EVTCHN_MASK, p);
    u32 before = upcalls;
    check(send(p) == 0, "send on a masked port");
    WAIT_FOR(0);
    check(upcalls == before && events_seen[p] == 1, "masked: no upcall");
    check(test_bit(EVTCHN_PENDING, p), "masked: still pending");
    volatile u32 a = p;
    check(evtchn_op(EVTCHNOP_unmask, (void *)&a) == 0, "unmask");
    WAIT_FOR(events_seen[p] == 2);
    check(events_seen[p] == 2, "unmasked while pending: upcall");
    pass("masked -> no upcall, unmasked -> upcall");
}

static void stage_loopback(void)
{
    volatile struct { u16 dom, remote_dom; u32 port; } u = {DOMID_SELF, DOMID_SELF, 0};
    check(evtchn_op(EVTCHNOP_alloc_unbound, (void *)&u) == 0, "alloc_unbound");
    volatile struct { u16 remote_dom; u16 pad; u32 remote_port; u32 local_port; } b = {DOMID_SELF, 0, u.port, 0};
    check(evtchn_op(EVTCHNOP_bind_interdomain, (void *)&b) == 0, "bind_interdomain to our own port");
    WAIT_FOR(0); /* binding may raise the local end: take that first */
    u32 before = events_seen[u.port];
    check(send(b.local_port) == 0, "send on the loopback port");
    WAIT_FOR(events_seen[u.port] == before + 1);
    check(events_seen[u.port] == before + 1, "the other end of the loop received it");
    pass("send looped back to another port");
}

static void stage_timer(void)
{
    volatile u32 vb[3] = {VIRQ_TIMER, 0, 0};
    check(evtchn_op(EVTCHNOP_bind_virq, (void *)vb) == 0, "bind_virq timer");
    u32 tp = vb[2];
    timer_port = tp;
    u64 start = now_ns(0);
    u64 deadline = start + 2000000;
    check(set_timer(deadline, 0) == 0, "set_singleshot_timer");
    HALT_UNTIL(events_seen[tp] >= 1);
    u64 woke = now_ns(0);
    check(woke > start, "pvclock advanced across the wait");
    pass("timer: future deadline fires");
    check(set_timer(1, 1) == -62, "VCPU_SSHOTTMR_future with a past deadline: -ETIME");
    check(set_timer(1, 0) == 0, "past deadline accepted");
    WAIT_FOR(events_seen[tp] >= 2);
    check(events_seen[tp] >= 2, "a past deadline fires at once");
    pass("timer: past deadline fires at once");
}

static void stage_poll(void)
{
    int p = bind_ipi(0);
    set_bit(EVTCHN_MASK, p);
    check(send(p) == 0, "send");
    check(poll(p, 0) == 0, "poll on a pending port returns 0 at once");
    clear_bit(EVTCHN_PENDING, p);
    u64 t0 = now_ns(0);
    check(poll(p, t0 + 3000000) == 0, "poll timeout returns 0");
    check(now_ns(0) > t0, "time passed while polling");
    pass("poll: ready and timeout");

    /* A masked polled port becoming pending wakes the poll: poll the masked timer port, the timer fires in 2 ms. */
    set_bit(EVTCHN_MASK, timer_port);
    clear_bit(EVTCHN_PENDING, timer_port);
    t0 = now_ns(0);
    check(hypercall(__HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer, 0,
                    (u32)(volatile u64[2]){t0 + 2000000, 0}) == 0, "timer for the poll");
    check(poll(timer_port, t0 + 20000000000ull) == 0, "poll woken by its masked port");
    check(test_bit(EVTCHN_PENDING, timer_port), "the polled port is pending");
    check(now_ns(0) - t0 < 10000000000ull, "woken, not timed out");
    pass("poll: woken when a masked polled port becomes pending");

    /* Another port's upcall wakes a poll too (Xen returns when events need delivery): poll p, the unmasked timer fires. */
    clear_bit(EVTCHN_PENDING, timer_port);
    clear_bit(EVTCHN_MASK, timer_port);
    clear_bit(EVTCHN_PENDING, p);
    u32 seen = events_seen[timer_port];
    t0 = now_ns(0);
    check(hypercall(__HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer, 0,
                    (u32)(volatile u64[2]){t0 + 2000000, 0}) == 0, "timer for the poll");
    check(poll(p, t0 + 20000000000ull) == 0, "poll returns 0");
    check(now_ns(0) - t0 < 10000000000ull, "woken by the timer's upcall, not timed out");
    WAIT_FOR(events_seen[timer_port] > seen);
    check(events_seen[timer_port] > seen, "the timer's upcall is then delivered");
    pass("poll: woken by a different port's upcall");
}

/* Host raise -> guest upcall: a timer VIRQ raised by jxen at its deadline, taken by the guest's handler. */
static volatile u64 handled_at;
static void stage_latency(void)
{
    u32 total_us = 0, n = 20;
    for (u32 i = 0; i < n; i++) {
        u32 seen = events_seen[timer_port];
        u64 deadline = now_ns(0) + 1000000;
        check(hypercall(__HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer, 0, (u32)(volatile u64[2]){deadline, 0}) == 0,
              "timer");
        HALT_UNTIL(events_seen[timer_port] > seen);
        handled_at = now_ns(0);
        total_us += (u32)((handled_at - deadline) >> 10);
    }
    print("timer deadline -> upcall handled: ");
    print_u32(total_us / n);
    print(" us on average (1 us = 1024 ns here)\n");
    pass("host raise -> guest upcall measured");
}

static void stage_moved_vcpu_info(void)
{
    volatile struct { u64 mfn; u32 offset; u32 rsvd; } r = {(u32)moved_vcpu_info >> 12, 0, 0};
    upcall_vcpu_info = moved_vcpu_info;
    check(vcpu_op(VCPUOP_register_vcpu_info, 0, (void *)&r) == 0, "register_vcpu_info");
    WAIT_FOR(0); /* the registration marks everything pending and injects: handle it */
    int p = bind_ipi(0);
    check(send(p) == 0, "send after the move");
    check(PENDING_SEL(moved_vcpu_info) != 0 || events_seen[p] == 1, "selector in the new vcpu_info");
    WAIT_FOR(events_seen[p] == 1);
    check(events_seen[p] == 1, "events arrive through the moved vcpu_info");
    check(vcpu_op(VCPUOP_register_vcpu_info, 0, (void *)&r) != 0, "register_vcpu_info twice fails");
    pass("vcpu_info moved while events arrive");
}

static void stage_pvclock(void)
{
    u64 last = now_ns(0);
    for (int i = 0; i < 100000; i++) {
        u64 t = now_ns(0);
        check(t >= last, "pvclock went backwards");
        last = t;
    }
    pass("pvclock monotonic");
}

static void stage_backend_reply(void)
{
    volatile unsigned char *ring = (volatile unsigned char *)(u32)(get_param(HVM_PARAM_STORE_PFN) << 12);
    u32 port = (u32)get_param(HVM_PARAM_STORE_EVTCHN);
    volatile u32 *req_cons = (volatile u32 *)(ring + 2048), *req_prod = (volatile u32 *)(ring + 2052);
    volatile u32 *rsp_cons = (volatile u32 *)(ring + 2056), *rsp_prod = (volatile u32 *)(ring + 2060);
    static const char path[] = "domid";
    u32 msg[4] = {2 /* XS_READ */, 7, 0, sizeof(path)};
    u32 prod = *req_prod;
    check(*req_cons == prod, "store ring idle");
    for (u32 i = 0; i < 16; i++) ring[(prod + i) & 1023] = ((unsigned char *)msg)[i];
    for (u32 i = 0; i < sizeof(path); i++) ring[(prod + 16 + i) & 1023] = path[i];
    __asm__ volatile("" ::: "memory");
    *req_prod = prod + 16 + sizeof(path);
    u32 before = events_seen[port];
    check(send(port) == 0, "send to the XenStore backend");
    u64 give_up = now_ns(0) + 10000000000ull;
    __asm__ volatile("sti");
    while (!(events_seen[port] > before && *rsp_prod - *rsp_cons >= 16 + 1) && now_ns(0) < give_up)
        __asm__ volatile("pause" ::: "memory");
    __asm__ volatile("cli");
    check(events_seen[port] > before, "the backend's reply raised the store port");
    check(*rsp_prod - *rsp_cons >= 16 + 1, "a reply in the ring");
    u32 cons = *rsp_cons;
    u32 hdr[4];
    for (u32 i = 0; i < 16; i++) ((unsigned char *)hdr)[i] = ring[1024 + ((cons + i) & 1023)];
    check(hdr[0] == 2 && hdr[1] == 7, "XS_READ reply with our req_id");
    check(ring[1024 + ((cons + 16) & 1023)] == '1', "our domid is 1");
    *rsp_cons = cons + 16 + hdr[3];
    pass("backend's eventfd woken, its reply raised our port");
}

void guest_main(void)
{
    place_shared_info();
    set_gate(UPCALL_VECTOR, upcall_stub);
    lapic_enable();
    check(set_param(HVM_PARAM_CALLBACK_IRQ, (2ull << 56) | UPCALL_VECTOR) == 0, "CALLBACK_IRQ vector type");
    stage_vector_and_mask();
    stage_loopback();
    stage_timer();
    stage_poll();
    stage_latency();
    stage_pvclock();
    stage_backend_reply();
    stage_moved_vcpu_info();
}
