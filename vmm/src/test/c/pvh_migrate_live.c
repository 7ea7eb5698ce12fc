/*
 * A guest live-migrated while it uses what KVM's Xen support keeps in the kernel in kvm mode (LiveMigrationTest): it
 * calls Xen by VMCALL/VMMCALL as Linux does, registers a runstate area for each vCPU, and ticks on its VIRQ_TIMER port
 * with a singleshot timer re-armed 1 ms ahead each tick (KVM's Xen timer holds it on 2-level events); with two vCPUs
 * each tick is also an IPI round trip to vCPU 1 (KVM delivers sends on routed IPI ports itself). Built twice: 2-level
 * events, and FIFO (-DFIFO: init_control for each vCPU, a consumer as Linux's events_fifo.c).
 *
 * Each tick it checks what a lost or corrupt state would break: pvclock never goes backwards, each vCPU's runstate
 * area keeps moving (state_entry_time never backwards, time spent running grows) and the IPI came back. It keeps the
 * largest gap between two ticks in Xen system time (the downtime as its own clock saw it) in a mailbox whose address
 * it prints; the host reads the ticks there and writes 1 to mailbox.go to end it: it prints PASS with its counts and
 * powers off.
 */
#include "xen32.h"
#include "direct32.h"

#define VCPUOP_register_runstate_memory_area 5
#define TICK_NS 1000000ull

struct runstate {
    u32 state;
    u64 state_entry_time;
    u64 time[4]; /* running, runnable, blocked, offline */
} __attribute__((packed));                 /* the 32-bit (compat) layout: u64 at 4-byte alignment */

struct mailbox {
    volatile u64 go;      /* the host writes 1: finish */
    volatile u64 ticks;   /* timer ticks taken */
    volatile u64 max_gap; /* the largest gap between two ticks, ns of Xen system time */
    volatile u64 ipis;    /* IPI round trips to vCPU 1 */
};

static struct mailbox mailbox __attribute__((aligned(4096)));
static struct runstate runstates[2] __attribute__((aligned(64)));
static volatile u32 timer_port, to_ap, to_bsp, ap_ready;

static long direct_send(u32 port)
{
    volatile u32 p = port;
    return direct(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u32)&p, 0);
}

/* v / d without libgcc's __udivdi3: the high half first, then divl on remainder:low (its quotient fits 32 bits). */
static u64 divide(u64 v, u32 d, u32 *rem)
{
    u32 hi = (u32)(v >> 32), lo = (u32)v, q_hi = hi / d, r = hi % d, q_lo;
    __asm__("divl %4" : "=a"(q_lo), "=d"(r) : "a"(lo), "d"(r), "rm"(d));
    if (rem)
        *rem = r;
    return ((u64)q_hi << 32) | q_lo;
}

static void print_u64(const char *label, u64 v)
{
    print(label);
    char buf[24];
    int n = 0;
    do {
        u32 digit;
        v = divide(v, 10, &digit);
        buf[n++] = (char)('0' + digit);
    } while (v);
    char out[24];
    for (int i = 0; i < n; i++)
        out[i] = buf[n - 1 - i];
    out[n] = 0;
    print(out);
}

static void register_runstate(u32 vcpu)
{
    volatile u64 area = (u32)&runstates[vcpu];
    check(hypercall(__HYPERVISOR_vcpu_op, VCPUOP_register_runstate_memory_area, vcpu, (u32)&area) == 0, "register_runstate_memory_area");
}

/* A consistent copy of vCPU v's runstate area (Xen and KVM set XEN_RUNSTATE_UPDATE in state_entry_time while writing). */
static struct runstate read_runstate(u32 v)
{
    struct runstate r;
    volatile struct runstate *a = &runstates[v];
    do {
        r.state_entry_time = a->state_entry_time;
        __asm__ volatile("" ::: "memory");
        r.state = a->state;
        for (int i = 0; i < 4; i++)
            r.time[i] = a->time[i];
        __asm__ volatile("" ::: "memory");
    } while ((r.state_entry_time >> 63) || r.state_entry_time != a->state_entry_time);
    return r;
}

#ifdef FIFO
/* The FIFO ABI (public/event_channel.h) as Linux's drivers/xen/events/events_fifo.c consumes it. */
#define PENDING (1u << 31)
#define MASKED (1u << 30)
#define LINKED (1u << 29)
#define LINK_MASK 0x1FFFFu
static unsigned char control[2][4096] __attribute__((aligned(4096)));
static unsigned char array[4096] __attribute__((aligned(4096)));
static u32 local_head[2][16];

static volatile u32 *word(u32 port)
{
    return (volatile u32 *)array + port;
}

static void fifo_init(u32 vcpu)
{
    volatile struct { u64 gfn; u32 offset; u32 vcpu; u8 link_bits; u8 pad[7]; } ic = {(u32)control[vcpu] >> 12, 0, vcpu, 0, {0}};
    check(evtchn_op(EVTCHNOP_init_control, (void *)&ic) == 0, "init_control");
}

static void fifo_unmask(u32 port)
{
    __atomic_and_fetch(word(port), ~MASKED, __ATOMIC_SEQ_CST);
    volatile u32 a = port;
    check(evtchn_op(EVTCHNOP_unmask, (void *)&a) == 0, "unmask");
}

/* events_fifo.c clear_linked: LINKED and LINK cleared together; the old LINK is the next port in the queue. */
static u32 clear_linked(volatile u32 *w)
{
    u32 old = *w, next;
    do {
        next = old & ~(LINKED | LINK_MASK);
    } while (!__atomic_compare_exchange_n(w, &old, next, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    return old & LINK_MASK;
}

void fifo_upcall_handler(void);
void fifo_upcall_handler(void)
{
    u32 self = LAPIC[0x20 / 4] >> 24;
    volatile u32 *ready = (volatile u32 *)control[self];
    volatile u32 *heads = (volatile u32 *)(control[self] + 8);
    __atomic_fetch_add(&upcalls, 1, __ATOMIC_SEQ_CST);
    UPCALL_PENDING(VCPU_INFO(self)) = 0;
    u32 r = __atomic_exchange_n(ready, 0, __ATOMIC_SEQ_CST);
    while (r) {
        u32 q = __builtin_ctz(r);
        u32 port = local_head[self][q];
        if (port == 0)
            port = heads[q];
        u32 next = clear_linked(word(port));
        if (next == 0)
            r &= ~(1u << q);
        if ((*word(port) & (PENDING | MASKED)) == PENDING) {
            __atomic_and_fetch(word(port), ~PENDING, __ATOMIC_SEQ_CST);
            events_seen[port]++;
        }
        local_head[self][q] = next;
        r |= __atomic_exchange_n(ready, 0, __ATOMIC_SEQ_CST);
    }
    eoi();
}
void fifo_upcall_stub(void);
__asm__(".globl fifo_upcall_stub\n"
        "fifo_upcall_stub:\n"
        "  pushal\n"
        "  cld\n"
        "  call fifo_upcall_handler\n"
        "  popal\n"
        "  iret\n");
#define UPCALL_STUB fifo_upcall_stub
#define READY_PORT(p) fifo_unmask(p)
#else
extern void upcall_stub(void);
#define UPCALL_STUB upcall_stub
#define READY_PORT(p) ((void)(p))
#endif

/* vCPU 1: answers each IPI, checking its own runstate area as it goes. */
static void ap_main(void)
{
    register_runstate(1);
    ap_ready = 1;
    u64 last_entry = 0;
    for (u32 i = 1;; i++) {
        HALT_UNTIL(events_seen[to_ap] >= i);
        struct runstate r = read_runstate(1);
        check(r.state_entry_time >= last_entry, "vCPU 1's runstate state_entry_time went backwards");
        last_entry = r.state_entry_time;
        check(direct_send(to_bsp) == 0, "IPI back to vCPU 0");
    }
}

static int vcpu_count(void)
{
    /* vCPU 1 exists when VCPUOP_is_up answers for it (0: down) rather than -ENOENT. */
    return hypercall(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 1, 0) >= 0 ? 2 : 1;
}

void guest_main(void)
{
    direct_init();
    int vcpus = vcpu_count();
    place_shared_info();
    set_gate(UPCALL_VECTOR, UPCALL_STUB);
    lapic_enable();
    check(set_param(HVM_PARAM_CALLBACK_IRQ, (2ull << 56) | UPCALL_VECTOR) == 0, "CALLBACK_IRQ vector type");
#ifdef FIFO
    fifo_init(0);
    if (vcpus == 2)
        fifo_init(1);
    for (int i = 0; i < 1024; i++)
        ((volatile u32 *)array)[i] = MASKED;
    volatile u64 gfn = (u32)array >> 12;
    check(evtchn_op(EVTCHNOP_expand_array, (void *)&gfn) == 0, "expand_array");
    print("migrate-live guest: FIFO events\n");
#else
    print("migrate-live guest: 2-level events\n");
#endif
    register_runstate(0);
    volatile u32 vb[3] = {VIRQ_TIMER, 0, 0};
    check(evtchn_op(EVTCHNOP_bind_virq, (void *)vb) == 0, "bind_virq timer");
    timer_port = vb[2];
    port_vcpu[timer_port] = 0;
    READY_PORT(timer_port);
    if (vcpus == 2) {
        to_bsp = bind_ipi(0);
        to_ap = bind_ipi(1);
        READY_PORT(to_bsp);
        READY_PORT(to_ap);
        start_vcpu1(ap_main);
        while (!ap_ready)
            __asm__ volatile("pause" ::: "memory");
    }
    print_u64("migrate-live guest: mailbox at ", (u32)&mailbox);
    print("\n");

    u64 last = now_ns(0), last_entry = 0, last_running = 0;
    for (u64 tick = 1;; tick++) {
        volatile struct { u64 timeout; u32 flags; } __attribute__((packed)) t = {now_ns(0) + TICK_NS, 0};
        check(direct(__HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer, 0, (u32)&t) == 0, "set_singleshot_timer by VMCALL");
        HALT_UNTIL(events_seen[timer_port] >= tick);
        if (vcpus == 2) {
            check(direct_send(to_ap) == 0, "IPI to vCPU 1");
            HALT_UNTIL(events_seen[to_bsp] >= tick);
            mailbox.ipis = tick;
        }
        u64 now = now_ns(0);
        check(now >= last, "pvclock went backwards");
        if (now - last > mailbox.max_gap)
            mailbox.max_gap = now - last;
        last = now;
        struct runstate r = read_runstate(0);
        check(r.state_entry_time >= last_entry && r.time[0] >= last_running, "vCPU 0's runstate area went backwards");
        last_entry = r.state_entry_time;
        last_running = r.time[0];
        mailbox.ticks = tick;
        if (mailbox.go == 1) {
            check(r.state == 0, "vCPU 0's runstate says running");
            print_u64("PASS migrate-live guest: ticks ", tick);
            print_u64(", IPIs ", mailbox.ipis);
            print_u64(", largest gap us ", divide(mailbox.max_gap, 1000, 0));
            print_u64(", running ms ", divide(r.time[0], 1000000, 0));
            print("\n");
            return;
        }
    }
}
