/*
 * The FIFO event-channel ABI as a guest uses it (public/event_channel.h): init_control (link_bits 17; twice is
 * -EINVAL), expand_array with pages the guest pre-masks as Linux does, bind and unmask, send, and then the event word
 * bits (PENDING, LINKED, LINK), the control block's READY bits and HEAD, priorities (a higher-priority queue is the
 * lowest READY bit, events queue by priority), set_priority bounds, and a port above 4,096.
 */
#include "xen32.h"

#define PENDING (1u << 31)
#define MASKED (1u << 30)
#define LINKED (1u << 29)
#define LINK_MASK 0x1FFFFu
#define PAGES 5

static unsigned char control[4096] __attribute__((aligned(4096)));
static unsigned char arrays[PAGES][4096] __attribute__((aligned(4096)));

static volatile u32 *word(u32 port)
{
    return (volatile u32 *)arrays[port / 1024] + port % 1024;
}

#define READY (*(volatile u32 *)control)
#define HEAD(q) (((volatile u32 *)(control + 8))[q])

static long set_priority(u32 port, u32 priority)
{
    volatile u32 a[2] = {port, priority};
    return evtchn_op(EVTCHNOP_set_priority, (void *)a);
}

static void unmask(u32 port)
{
    __atomic_and_fetch(word(port), ~MASKED, __ATOMIC_SEQ_CST);
    volatile u32 a = port;
    check(evtchn_op(EVTCHNOP_unmask, (void *)&a) == 0, "unmask");
}

static void expand(int page)
{
    for (int i = 0; i < 1024; i++)
        ((volatile u32 *)arrays[page])[i] = MASKED;
    volatile u64 gfn = (u32)arrays[page] >> 12;
    check(evtchn_op(EVTCHNOP_expand_array, (void *)&gfn) == 0, "expand_array");
}

void guest_main(void)
{
    place_shared_info();
    volatile struct { u64 gfn; u32 offset; u32 vcpu; u8 link_bits; u8 pad[7]; } ic = {(u32)control >> 12, 0, 0, 0, {0}};
    volatile u64 early = 0;
    check(evtchn_op(EVTCHNOP_expand_array, (void *)&early) == -95, "expand_array before init_control: -EOPNOTSUPP");
    check(evtchn_op(EVTCHNOP_init_control, (void *)&ic) == 0, "init_control");
    check(ic.link_bits == 17, "link_bits 17");
    check(evtchn_op(EVTCHNOP_init_control, (void *)&ic) == -22, "init_control twice: -EINVAL");
    expand(0);
    pass("init_control and expand_array");

    u32 p = bind_ipi(0);
    unmask(p);
    check(send(p) == 0, "send");
    check((*word(p) & (PENDING | LINKED)) == (PENDING | LINKED), "event word PENDING and LINKED");
    check(READY & (1u << 7), "READY bit of the default priority 7");
    check(HEAD(7) == p, "HEAD of queue 7 is the port");
    check(UPCALL_PENDING(VCPU_INFO(0)), "upcall pending");
    pass("event word bits, READY and HEAD");

    u32 p2 = bind_ipi(0), p3 = bind_ipi(0);
    unmask(p2);
    unmask(p3);
    check(set_priority(p2, 3) == 0 && set_priority(p3, 10) == 0, "set_priority");
    check(set_priority(p2, 16) == -22, "priority 16: -EINVAL");
    /* event.h evtchn_port_set_priority: a port that is not usable (reserved port 0, a free port) is -EACCES,
     * checked before the priority itself. */
    check(set_priority(0, 3) == -13, "set_priority on port 0: -EACCES");
    u32 freed = bind_ipi(0);
    volatile u32 cl = freed;
    check(evtchn_op(EVTCHNOP_close, (void *)&cl) == 0, "close");
    check(set_priority(freed, 3) == -13 && set_priority(freed, 16) == -13, "set_priority on a free port: -EACCES first");
    pass("set_priority on unusable ports");
    check(send(p3) == 0 && send(p2) == 0, "send p3 then p2");
    check(HEAD(3) == p2 && HEAD(10) == p3, "each in its own priority queue");
    check(__builtin_ctz(READY) == 3, "the highest priority (lowest number) is the first READY bit");
    /* A second event in queue 7 links after the first: the tail's LINK names it. */
    u32 p4 = bind_ipi(0);
    unmask(p4);
    check(send(p4) == 0, "send p4");
    check((*word(p) & LINK_MASK) == p4, "queue 7: p links to p4");
    /* Consume queue 3 as Linux does: clear LINKED with compare-and-set, take the link as the new head. */
    u32 w = *word(p2), next;
    do {
        next = w & LINK_MASK;
    } while (!__atomic_compare_exchange_n(word(p2), &w, w & ~(LINKED | LINK_MASK), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    check(next == 0, "queue 3 held one event");
    HEAD(3) = 0;
    __atomic_and_fetch(&READY, ~(1u << 3), __ATOMIC_SEQ_CST);
    check(__builtin_ctz(READY) == 7, "after queue 3, queue 7 is next");
    pass("priority order of delivery");

    for (int pg = 1; pg < PAGES; pg++)
        expand(pg);
    u32 high = 0;
    while (high <= 4096)
        high = bind_ipi(0);
    unmask(high);
    check(send(high) == 0, "send above 4096");
    check((*word(high) & (PENDING | LINKED)) == (PENDING | LINKED), "port above 4096 pending and linked");
    check((*word(p4) & LINK_MASK) == high, "linked after the queue's tail");
    print("highest port bound: ");
    print_u32(high);
    print("\n");
    pass("a port above 4,096");
}
