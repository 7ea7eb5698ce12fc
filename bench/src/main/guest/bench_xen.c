/*
 * The guest jxen's KVM rows run (jxen bench: hypercall-rtt, raise-to-upcall, send-to-backend, ipi-pingpong, ...): a
 * 64-bit PVH guest (bench64.h) with the hypercall page, shared_info in its 64-bit layout, the vector callback and
 * Linux's 2-level upcall loop. It does what bench_bare.c does under the C reference VMM, the Xen way: its call is
 * EVTCHNOP_send on a routed, masked IPI port (a full hypercall: decode, dispatch, the fast path's send, no upcall), its
 * events are event channels (the host raising a port, a backend on an interdomain channel, IPIs between its two
 * vCPUs). Xen's numbers come from xen_abi.h (vmm/src/test/c, shared with the test guests); the structs it builds inline
 * follow xen/include/public (event_channel.h, hvm/hvm_op.h, memory.h, arch-x86/xen-x86_64.h).
 */
#include "bench64.h"
#include "bench_mbox.h"
#include "xen_abi.h"

__asm__(".pushsection .note.Xen, \"a\", @note\n.balign 4\n.long 4, 2f - 1f, 18\n.asciz \"Xen\"\n.balign 4\n"
        "1: .long bench_start_bsp\n2: .balign 4\n.popsection");


unsigned char hypercall_page[4096] __attribute__((aligned(4096)));
unsigned char shared_info[4096] __attribute__((aligned(4096)));
struct mbox mailbox __attribute__((aligned(4096)));

/*
 * Hypercalls as Linux makes them through the hypercall page (arch/x86/include/asm/xen/hypercall.h, _hypercall2 and
 * _hypercall3): a direct call of the number's stub; the 64-bit convention (Xen's hvm_hypercall for a guest in long
 * mode) with the arguments in RDI, RSI, RDX, which Xen may change (outputs too), and the result in RAX; the argument
 * registers past the used ones (RDX, R10, R8) are clobbered, no other register. nr is a constant.
 */
#define hypercall2(nr, a1, a2)                                                                                    \
    ({                                                                                                            \
        long r_;                                                                                                  \
        u64 d_ = (u64)(a1), s_ = (u64)(a2);                                                                       \
        __asm__ volatile("call hypercall_page + %c[off]" : "=a"(r_), "+D"(d_), "+S"(s_) : [off] "i"((nr) * 32)    \
                         : "memory", "rdx", "r10", "r8");                                                         \
        r_;                                                                                                       \
    })
#define hypercall3(nr, a1, a2, a3)                                                                                \
    ({                                                                                                            \
        long r_;                                                                                                  \
        u64 d_ = (u64)(a1), s_ = (u64)(a2), x_ = (u64)(a3);                                                       \
        __asm__ volatile("call hypercall_page + %c[off]" : "=a"(r_), "+D"(d_), "+S"(s_), "+d"(x_)                 \
                         : [off] "i"((nr) * 32) : "memory", "r10", "r8");                                         \
        r_;                                                                                                       \
    })

static int amd; /* VMMCALL rather than VMCALL */

/* A hypercall as Linux makes it (xen_hypercall_amd/intel): the instruction itself, no hypercall page. */
static long direct_hypercall(u32 nr, u64 a1, u64 a2, u64 a3)
{
    long r;
    if (amd)
        __asm__ volatile("vmmcall" : "=a"(r) : "a"((u64)nr), "D"(a1), "S"(a2), "d"(a3) : "memory");
    else
        __asm__ volatile("vmcall" : "=a"(r) : "a"((u64)nr), "D"(a1), "S"(a2), "d"(a3) : "memory");
    return r;
}

static void print(const char *s)
{
    u64 n = 0;
    while (s[n])
        n++;
    hypercall3(__HYPERVISOR_console_io, 0, n, (u64)s);
}

/* A failed setup step: say which on the console and crash the domain (the host reports the guest's end). */
static void check(int ok, const char *what)
{
    if (ok)
        return;
    print("bench-xen: FAIL ");
    print(what);
    print("\n");
    volatile u32 reason = SHUTDOWN_crash;
    hypercall2(__HYPERVISOR_sched_op, SCHEDOP_shutdown, (u64)&reason);
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* ---- shared_info, 64-bit layout: vcpu_info[32] of 64 bytes, then evtchn_pending[64] and evtchn_mask[64] of u64 ---- */
#define VCPU_INFO(v) (shared_info + (v) * 64)
#define UPCALL_PENDING(vi) (*(volatile u8 *)((vi) + 0))
#define EVTCHN_PENDING ((volatile u64 *)(shared_info + 2048))
#define EVTCHN_MASK ((volatile u64 *)(shared_info + 2560))
#define PORTS 1024 /* the ports this guest uses all lie below */

static volatile u32 events_seen[PORTS]; /* by port, counted by the upcall handler */

static inline void wrmsr(u32 msr, u64 value)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)value), "d"((u32)(value >> 32)) : "memory");
}

/*
 * A vCPU's own data, found through GS as Linux finds its per-cpu data (this_cpu_read: one %gs-relative load), not
 * through the local APIC's id register. evtchn is Linux's per-cpu cpu_evtchn_mask (drivers/xen/events/events_2l.c):
 * the ports this vCPU handles, one bit each, so the handler takes its own ports of a word with one AND.
 */
struct percpu {
    struct percpu *self; /* at %gs:0: the base, as Linux reads its per-cpu base (this_cpu_off) through %gs */
    unsigned char *vcpu_info;
    u64 evtchn[64]; /* every 2-level port of the 64-bit layout */
};
static struct percpu percpu[2];

static inline struct percpu *this_cpu(void)
{
    struct percpu *p;
    __asm__("movq %%gs:0, %0" : "=r"(p));
    return p;
}

static void percpu_init(u32 vcpu)
{
    struct percpu *p = &percpu[vcpu];
    p->self = p;
    p->vcpu_info = VCPU_INFO(vcpu);
    wrmsr(0xC0000101u, (u64)p); /* GS base */
}

/* Which vCPU handles a port: Linux's bind_evtchn_to_cpu (a new port goes to vCPU 0). */
static void port_to_vcpu(u32 port, u32 vcpu)
{
    for (u32 v = 0; v < 2; v++)
        percpu[v].evtchn[port / 64] &= ~(1ull << (port % 64));
    percpu[vcpu].evtchn[port / 64] |= 1ull << (port % 64);
}

static inline void set_bit(volatile u64 *words, u32 bit)
{
    __asm__ volatile("lock btsq %1, %0" : "+m"(words[bit / 64]) : "r"((u64)(bit % 64)) : "memory");
}

static inline void clear_word_bit(volatile u64 *word, u64 bit)
{
    __asm__ volatile("lock btrq %1, %0" : "+m"(*word) : "r"(bit) : "memory");
}

static inline void clear_bit(volatile u64 *words, u32 bit)
{
    clear_word_bit(&words[bit / 64], bit % 64);
}

/*
 * Linux's xen_evtchn_do_upcall for the 2-level ABI, 64-bit words, on the interrupted vCPU: upcall_pending cleared,
 * the selector exchanged, each word's pending & ~mask & this vCPU's ports (events_2l.c's active_evtchns), each port's
 * pending bit cleared (its edge handler's ack) and counted; again while upcall_pending was set meanwhile.
 */
INTERRUPT_HANDLER(upcall)
void upcall_c(void)
{
    struct percpu *pc = this_cpu();
    unsigned char *vi = pc->vcpu_info;
    do {
        UPCALL_PENDING(vi) = 0;
        u64 sel = __atomic_exchange_n((u64 *)(vi + 8), 0, __ATOMIC_SEQ_CST);
        while (sel) {
            u64 w = __builtin_ctzll(sel);
            sel &= sel - 1;
            volatile u64 *pending = &EVTCHN_PENDING[w];
            u64 pend = *pending & ~EVTCHN_MASK[w] & pc->evtchn[w];
            while (pend) {
                u64 b = __builtin_ctzll(pend);
                pend &= pend - 1;
                clear_word_bit(pending, b);
                events_seen[w * 64 + b]++; /* only ports below PORTS have a bit in evtchn */
            }
        }
    } while (UPCALL_PENDING(vi));
    eoi();
}

static u32 bind_ipi(u32 vcpu)
{
    volatile u32 a[2] = {vcpu, 0};
    check(hypercall2(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_ipi, (u64)a) == 0, "bind_ipi");
    check(a[1] < PORTS, "bind_ipi: port below 1024");
    port_to_vcpu(a[1], vcpu);
    return a[1];
}

static long send(u32 port)
{
    volatile u32 a = port;
    return hypercall2(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u64)&a);
}

static void place_shared_info(void)
{
    volatile struct { u16 domid, size; u32 space; u64 idx, gpfn; } a = {DOMID_SELF, 0, XENMAPSPACE_shared_info, 0,
                                                                      (u64)shared_info >> 12};
    check(hypercall2(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, (u64)&a) == 0, "add_to_physmap shared_info");
}

static long set_param(u32 index, u64 value)
{
    volatile struct { u16 domid, pad; u32 index; u64 value; } a = {DOMID_SELF, 0, index, value};
    return hypercall2(__HYPERVISOR_hvm_op, HVMOP_set_param, (u64)&a);
}

/*
 * vCPU 1: VCPUOP_initialise with a flat 32-bit vcpu_hvm_context (paging off) at bench_start with ESI = 1, then
 * VCPUOP_up; it switches itself to long mode as vCPU 0 did.
 */
static void start_vcpu1(void)
{
    static volatile u32 ctx[32] __attribute__((aligned(8)));
    extern void bench_start(void);
    flat32_vcpu_context(ctx, (u32)(u64)bench_start, 1);
    check(hypercall3(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1, (u64)ctx) == 0, "VCPUOP_initialise");
    check(hypercall3(__HYPERVISOR_vcpu_op, VCPUOP_up, 1, 0) == 0, "VCPUOP_up");
}

static void ap_main(void)
{
    u32 p0 = mailbox.arg[4], p1 = mailbox.arg[5];
    for (u32 seen = 0;; seen++) {
        HALT_UNTIL(events_seen[p1] != seen);
        mailbox.arg[7] = seen + 1; /* progress, for the host's report if the guest stops answering */
        send(p0);
    }
}

static void run(u32 cmd, u32 iters)
{
    struct mbox *m = &mailbox;
    u32 self = m->arg[ARG_RTT], raise = m->arg[ARG_RAISE], backend = m->arg[ARG_BACKEND];
    u32 p0 = m->arg[4], p1 = m->arg[5];
    for (u32 i = 0; i < iters; i++) {
        if (cmd == CMD_RTT) {
            clear_bit(EVTCHN_PENDING, self);
            unsigned long long t0 = tsc();
            send(self);
            m->samples[i] = tsc() - t0;
        } else if (cmd == CMD_SEND_DIRECT) {
            volatile u32 port = self;
            clear_bit(EVTCHN_PENDING, self);
            unsigned long long t0 = tsc();
            direct_hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u64)&port, 0);
            m->samples[i] = tsc() - t0;
        } else if (cmd == CMD_EXIT_DIRECT) {
            unsigned long long t0 = tsc();
            direct_hypercall(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 0, 0);
            m->samples[i] = tsc() - t0;
        } else if (cmd == CMD_CALL_ONLY) {
            unsigned long long t0 = tsc();
            __asm__ volatile("call hypercall_page + 32 * 32" : : "D"(~0ull) : "rax", "memory");
            m->samples[i] = tsc() - t0;
        } else if (cmd == CMD_HANDLER) {
            set_bit(EVTCHN_PENDING, raise);
            set_bit((volatile u64 *)(VCPU_INFO(0) + 8), raise / 64);
            UPCALL_PENDING(VCPU_INFO(0)) = 1;
            unsigned long long t0 = tsc();
            upcall_c();
            m->samples[i] = tsc() - t0;
        } else if (cmd == CMD_RAISE) {
            u32 before = events_seen[raise];
            outl(PORT_ARMED, i);
            HALT_UNTIL(events_seen[raise] != before);
            outl(PORT_STAMP, i);
        } else if (cmd == CMD_NOTIFY) {
            u32 before = events_seen[backend];
            outl(PORT_ARMED, i);
            HALT_UNTIL(events_seen[backend] != before);
            outl(PORT_STAMP, i);
        } else if (cmd == CMD_BACKEND) {
            u32 before = events_seen[backend];
            outl(PORT_STAMP, i);
            send(backend);
            HALT_UNTIL(events_seen[backend] != before);
        } else if (cmd == CMD_PINGPONG) {
            u32 before = events_seen[p0];
            m->arg[6] = i;
            unsigned long long t0 = tsc();
            send(p1);
            HALT_UNTIL(events_seen[p0] != before);
            m->samples[i] = tsc() - t0;
        }
    }
}

void bench_main(u32 vcpu)
{
    load_idt();
    percpu_init(vcpu);
    lapic_enable();
    if (vcpu == 1) {
        ap_ready = 1;
        ap_main();
    }
    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    amd = b == 0x68747541; /* "AuthenticAMD" */
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000002), "c"(0));
    (void)a, (void)c, (void)d;
    /* The hypercall page from long mode: jxen latches the 64-bit shared_info layout at this write, as Xen does. */
    wrmsr(b, (u64)hypercall_page);
    place_shared_info();
    set_gate(UPCALL_VECTOR, upcall);
    check(set_param(HVM_PARAM_CALLBACK_IRQ, (2ull << 56) | UPCALL_VECTOR) == 0, "CALLBACK_IRQ vector type");
    mailbox.arg[ARG_DOORBELL] = bind_ipi(0);
    mailbox.arg[ARG_RAISE] = bind_ipi(0);
    u32 self = bind_ipi(0);
    set_bit(EVTCHN_MASK, self);
    mailbox.arg[ARG_RTT] = self;
    volatile struct { u16 dom, remote_dom; u32 port; } u = {DOMID_SELF, 0, 0};
    check(hypercall2(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, (u64)&u) == 0, "alloc_unbound for dom0");
    check(u.port < PORTS, "alloc_unbound: port below 1024");
    port_to_vcpu(u.port, 0);
    mailbox.arg[ARG_BACKEND] = u.port;
    mailbox.arg[4] = bind_ipi(0);
    mailbox.arg[5] = bind_ipi(1);
    start_vcpu1();
    wait_for_ap();
    u32 seq = 0;
    outl(PORT_HELLO, (u32)(u64)&mailbox);
    for (;;) {
        HALT_UNTIL(mailbox.seq != seq);
        seq = mailbox.seq;
        run(mailbox.cmd, mailbox.iters);
        mailbox.done = seq;
        outl(PORT_DONE, seq);
    }
}
