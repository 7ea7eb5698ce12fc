/*
 * The C reference VMM's guest (kvmref.c): flat 32-bit protected mode, paging off, loaded at 1 MiB, started by the VMM
 * on both vCPUs (ESI = vCPU index). It does what bench_xen.c does under jxen with nothing of Xen: its "hypercall" is
 * the stub jxen's hypercall page has (mov $n, %eax; out %eax, $0x5A; ret) answered by the VMM with nothing (EBX = 1:
 * the VMM writes the backend's eventfd), its events are MSIs and LAPIC IPIs handled by the in-kernel irqchip.
 */
#include "bench_mbox.h"

typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define LAPIC ((volatile u32 *)0xFEE00000)
#define V_DOORBELL 0xF3 /* the host: a new command */
#define V_RAISE 0xF6    /* the host's raise (CMD_RAISE) and the backend's answer (CMD_BACKEND) */
#define V_PING 0xF4     /* IPI to vCPU 1 */
#define V_PONG 0xF5     /* IPI back to vCPU 0 */

struct mbox mailbox __attribute__((aligned(4096)));
u8 stacks[2][16384] __attribute__((aligned(16)));
struct gate { u16 lo, sel; u8 zero, type; u16 hi; } __attribute__((packed));
extern u8 stacks[2][16384];
static struct gate idt[256] __attribute__((aligned(8)));
static unsigned long long gdt[3] __attribute__((aligned(8))) = {0, 0x00CF9A000000FFFFull, 0x00CF92000000FFFFull};
static volatile u32 doorbells, raises, pings, pongs;

__asm__(".section .text.entry\n.globl _start\n_start:\n"
        "  mov %esi, %eax\n  shl $14, %eax\n  lea stacks+16384(%eax), %esp\n"
        "  push %esi\n  call bare_main\n1: cli; hlt; jmp 1b\n.text\n");

/* The hypercall page's stub shape, here as plain code. */
__asm__(".globl call_stub\ncall_stub:\n  mov $32, %eax\n  out %eax, $0x5A\n  ret\n");
void call_stub(void);

#define HANDLER(name, counter)                                                                                    \
    void name##_c(void);                                                                                          \
    void name##_c(void) { counter++; LAPIC[0xB0 / 4] = 0; }                                                       \
    __asm__(".globl " #name "\n" #name ":\n  pushal\n  cld\n  call " #name "_c\n  popal\n  iret\n");             \
    void name(void);
HANDLER(on_doorbell, doorbells)
HANDLER(on_raise, raises)
HANDLER(on_ping, pings)
HANDLER(on_pong, pongs)


static void gate(int v, void (*f)(void))
{
    idt[v].lo = (u32)f & 0xFFFF;
    idt[v].hi = (u32)f >> 16;
    idt[v].sel = 0x08;
    idt[v].type = 0x8E;
}

void halt_rescue(void);
__asm__(".globl halt_rescue\nhalt_rescue:\n  movl $0, 0xFEE000B0\n  iret\n");

static void cpu_setup(void)
{
    struct { u16 limit; u32 base; } __attribute__((packed)) g = {sizeof(gdt) - 1, (u32)gdt}, i = {sizeof(idt) - 1, (u32)idt};
    __asm__ volatile("lgdt %0\nljmp $0x08, $1f\n1: mov $0x10, %%ax\nmov %%ax, %%ds\nmov %%ax, %%es\nmov %%ax, %%ss\nlidt %1"
                     : : "m"(g), "m"(i) : "eax", "memory");
    LAPIC[0x80 / 4] = 0;          /* TPR */
    LAPIC[0xF0 / 4] = 0x100 | 0xFF; /* SVR: enabled */
    /* The same 10 ms halt-rescue timer as the xen32 guests (xen32.h says why), so both sides run alike. */
    gate(0xEF, halt_rescue);
    LAPIC[0x3E0 / 4] = 0xB;
    LAPIC[0x320 / 4] = (1u << 17) | 0xEF;
    LAPIC[0x380 / 4] = 10000000;
}

static void ipi(u32 apic, u32 vector)
{
    LAPIC[0x310 / 4] = apic << 24;
    LAPIC[0x300 / 4] = vector; /* fixed, physical, edge */
}

#define HALT_UNTIL(cond)                                                                                           \
    do {                                                                                                           \
        while (!(cond))                                                                                            \
            __asm__ volatile("sti; hlt; cli" ::: "memory");                                                        \
    } while (0)

static void run(u32 cmd, u32 iters)
{
    struct mbox *m = &mailbox;
    for (u32 i = 0; i < iters; i++) {
        if (cmd == CMD_RTT || cmd == CMD_SEND_DIRECT || cmd == CMD_EXIT_DIRECT) { /* the bare exit: what the others compare to */
            unsigned long long t0 = tsc();
            __asm__ volatile("call call_stub" : : "b"(0) : "eax", "memory");
            m->samples[i] = tsc() - t0;
        } else if (cmd == CMD_RAISE || cmd == CMD_NOTIFY) { /* CMD_NOTIFY's vector comes through the host's irqfd */
            u32 before = raises;
            outl(PORT_ARMED, i);
            HALT_UNTIL(raises != before);
            outl(PORT_STAMP, i);
        } else if (cmd == CMD_BACKEND) {
            u32 before = raises;
            outl(PORT_STAMP, i);
            __asm__ volatile("call call_stub" : : "b"(1) : "eax", "memory");
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

void bare_main(u32 vcpu);
void bare_main(u32 vcpu)
{
    cpu_setup();
    if (vcpu == 1) {
        for (u32 seen = 0;; seen++) {
            HALT_UNTIL(pings != seen);
            ipi(0, V_PONG);
        }
    }
    gate(V_DOORBELL, on_doorbell);
    gate(V_RAISE, on_raise);
    gate(V_PING, on_ping);
    gate(V_PONG, on_pong);
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
