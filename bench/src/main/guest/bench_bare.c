/*
 * The C reference VMM's guest (kvmref.c): 64-bit (bench64.h), loaded at 1 MiB, started by the VMM on both vCPUs in
 * 32-bit protected mode with ESI = the vCPU index. It does what bench_xen.c does under jxen with nothing of Xen: its
 * "hypercall" is the stub jxen's hypercall page has (mov $n, %eax; out %eax, $0x5A; ret) answered by the VMM with
 * nothing (EBX = 1: the VMM writes the backend's eventfd), its events are MSIs and LAPIC IPIs handled by the in-kernel
 * irqchip.
 */
#include "bench64.h"
#include "bench_mbox.h"

#define V_DOORBELL 0xF3 /* the host: a new command */
#define V_RAISE 0xF6    /* the host's raise (CMD_RAISE) and the backend's answer (CMD_BACKEND) */
#define V_PING 0xF4     /* IPI to vCPU 1 */
#define V_PONG 0xF5     /* IPI back to vCPU 0 */

struct mbox mailbox __attribute__((aligned(4096)));
static volatile u32 doorbells, raises, pings, pongs;

/* The hypercall page's stub shape, here as plain code. */
__asm__(".globl call_stub\ncall_stub:\n  mov $32, %eax\n  out %eax, $0x5A\n  ret\n");
void call_stub(void);

#define HANDLER(name, counter)                                                                                    \
    INTERRUPT_HANDLER(name)                                                                                       \
    void name##_c(void) { counter++; eoi(); }
HANDLER(on_doorbell, doorbells)
HANDLER(on_raise, raises)
HANDLER(on_ping, pings)
HANDLER(on_pong, pongs)

static void ipi(u32 apic, u32 vector)
{
    LAPIC[0x310 / 4] = apic << 24;
    LAPIC[0x300 / 4] = vector; /* fixed, physical, edge */
}

static void run(u32 cmd, u32 iters)
{
    struct mbox *m = &mailbox;
    for (u32 i = 0; i < iters; i++) {
        if (cmd == CMD_RTT || cmd == CMD_SEND_DIRECT || cmd == CMD_EXIT_DIRECT || cmd == CMD_CALL_ONLY) { /* the bare exit: what the others compare to */
            unsigned long long t0 = tsc();
            __asm__ volatile("call call_stub" : : "b"(0) : "rax", "memory");
            m->samples[i] = tsc() - t0;
        } else if (cmd == CMD_HANDLER) {
            unsigned long long t0 = tsc();
            on_raise_c();
            m->samples[i] = tsc() - t0;
        } else if (cmd == CMD_RAISE || cmd == CMD_NOTIFY) { /* CMD_NOTIFY's vector comes through the host's irqfd */
            u32 before = raises;
            outl(PORT_ARMED, i);
            HALT_UNTIL(raises != before);
            outl(PORT_STAMP, i);
        } else if (cmd == CMD_BACKEND) {
            u32 before = raises;
            outl(PORT_STAMP, i);
            __asm__ volatile("call call_stub" : : "b"(1) : "rax", "memory");
            HALT_UNTIL(raises != before);
        } else if (cmd == CMD_PINGPONG) {
            u32 before = pongs;
            unsigned long long t0 = tsc();
            ipi(1, V_PING);
            HALT_UNTIL(pongs != before);
            m->samples[i] = tsc() - t0;
        }
    }
}

void bench_main(u32 vcpu)
{
    load_idt();
    lapic_enable();
    if (vcpu == 1) {
        ap_ready = 1;
        for (u32 seen = 0;; seen++) {
            HALT_UNTIL(pings != seen);
            ipi(0, V_PONG);
        }
    }
    set_gate(V_DOORBELL, on_doorbell);
    set_gate(V_RAISE, on_raise);
    set_gate(V_PING, on_ping);
    set_gate(V_PONG, on_pong);
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
