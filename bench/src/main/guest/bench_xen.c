/*
 * The guest jxen's KVM rows run (jxen bench: hypercall-rtt, raise-to-upcall, send-to-backend, ipi-pingpong), on the
 * xen32 test-guest library: a PVH guest with the hypercall page, shared_info, the vector callback and Linux's 2-level
 * upcall loop. It does what bench_bare.c does under the C reference VMM, the Xen way: its call is EVTCHNOP_send on a
 * routed, masked IPI port (a full hypercall: decode, dispatch, the fast path's send, no upcall), its events are event
 * channels (the host raising a port, a backend on an interdomain channel, IPIs between its two vCPUs).
 */
#include "xen32.h"
#include "bench_mbox.h"

extern void upcall_stub(void);
struct mbox mailbox __attribute__((aligned(4096)));
static volatile int p0, p1; /* IPIs delivered to vCPU 0 and to vCPU 1 */
static int amd; /* VMMCALL rather than VMCALL */

/* A hypercall as Linux makes it (xen_hypercall_amd/intel): the instruction itself, no hypercall page. */
static long direct_hypercall(u32 nr, u32 a1, u32 a2, u32 a3)
{
    long r;
    if (amd)
        __asm__ volatile("vmmcall" : "=a"(r) : "a"(nr), "b"(a1), "c"(a2), "d"(a3) : "memory");
    else
        __asm__ volatile("vmcall" : "=a"(r) : "a"(nr), "b"(a1), "c"(a2), "d"(a3) : "memory");
    return r;
}

static void ap_main(void)
{
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
            direct_hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u32)&port, 0);
            m->samples[i] = tsc() - t0;
        } else if (cmd == CMD_EXIT_DIRECT) {
            unsigned long long t0 = tsc();
            direct_hypercall(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 0, 0);
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

void guest_main(void)
{
    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    (void)a, (void)c, (void)d;
    amd = b == 0x68747541; /* "AuthenticAMD" */
    place_shared_info();
    set_gate(UPCALL_VECTOR, upcall_stub);
    lapic_enable();
    check(set_param(HVM_PARAM_CALLBACK_IRQ, (2ull << 56) | UPCALL_VECTOR) == 0, "CALLBACK_IRQ vector type");
    mailbox.arg[ARG_DOORBELL] = bind_ipi(0);
    mailbox.arg[ARG_RAISE] = bind_ipi(0);
    u32 self = bind_ipi(0);
    set_bit(EVTCHN_MASK, self);
    mailbox.arg[ARG_RTT] = self;
    volatile struct { u16 dom, remote_dom; u32 port; } u = {DOMID_SELF, 0, 0};
    check(evtchn_op(EVTCHNOP_alloc_unbound, (void *)&u) == 0, "alloc_unbound for dom0");
    mailbox.arg[ARG_BACKEND] = u.port;
    p0 = mailbox.arg[4] = bind_ipi(0);
    p1 = mailbox.arg[5] = bind_ipi(1);
    start_vcpu1(ap_main);
    u32 seq = 0;
    outl(PORT_HELLO, (u32)&mailbox);
    for (;;) {
        HALT_UNTIL(mailbox.seq != seq);
        seq = mailbox.seq;
        run(mailbox.cmd, mailbox.iters);
        mailbox.done = seq;
        outl(PORT_DONE, seq);
    }
}
