/*
 * The long-mode runtime both benchmark guests share (bench_bare.c under the C reference VMM, bench_xen.c under jxen),
 * so that they run on every KVM this project meets: a nested PVM /dev/kvm cannot emulate a 32-bit iret or x87 at CPL0
 * (../shared/design/host-kvm.md), so these guests are 64-bit, take interrupts with iretq and are built without x87 or
 * SSE code (-mgeneral-regs-only). Each guest includes this header once.
 *
 * Entry: 32-bit protected mode with paging off, as the PVH entry and kvmref.c start a vCPU, with ESI = the vCPU's
 * index (0 or 1). It loads the static page tables (4 GiB identity-mapped with 2 MiB pages, the local APIC's page
 * included), enables PAE, EFER.LME and paging as every PVH kernel does, and calls bench_main(vcpu) in 64-bit mode on
 * that vCPU's stack. bench_start_bsp is the same for vCPU 0 without a register convention (the PVH entry only sets EBX).
 */
#ifndef BENCH64_H
#define BENCH64_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

void bench_main(u32 vcpu);

unsigned char bench_stacks[2][16384] __attribute__((aligned(16)));

__asm__(".pushsection .data\n"
        ".balign 4096\n"
        "bench_pml4:\n  .quad bench_pdpt + 3\n  .fill 511, 8, 0\n"
        "bench_pdpt:\n  .quad bench_pd + 3, bench_pd + 0x1003, bench_pd + 0x2003, bench_pd + 0x3003\n  .fill 508, 8, 0\n"
        "bench_pd:\n  .set bench_page, 0\n  .rept 2048\n  .quad (bench_page << 21) | 0x83\n"
        "  .set bench_page, bench_page + 1\n  .endr\n"
        ".balign 8\n"
        "bench_gdt:\n  .quad 0, 0x00AF9A000000FFFF, 0x00CF92000000FFFF\n"
        "bench_gdt_desc:\n  .word 23\n  .long bench_gdt\n"
        ".popsection\n"
        ".pushsection .text.entry, \"ax\"\n"
        ".code32\n"
        ".globl bench_start_bsp\n"
        "bench_start_bsp:\n"
        "  xorl %esi, %esi\n"
        ".globl bench_start\n"
        "bench_start:\n"
        "  movl $bench_pml4, %eax\n  movl %eax, %cr3\n"
        "  movl %cr4, %eax\n  orl $0x20, %eax\n  movl %eax, %cr4\n"          /* PAE */
        "  movl $0xC0000080, %ecx\n  rdmsr\n  orl $0x100, %eax\n  wrmsr\n"  /* EFER.LME */
        "  movl %cr0, %eax\n  orl $0x80000001, %eax\n  movl %eax, %cr0\n"   /* PG | PE */
        "  lgdt bench_gdt_desc\n"
        "  ljmp $0x08, $1f\n"
        ".code64\n"
        "1: movw $0x10, %ax\n  movw %ax, %ds\n  movw %ax, %es\n  movw %ax, %ss\n  movw %ax, %fs\n  movw %ax, %gs\n"
        "  movl %esi, %edi\n"
        "  leal 1(%esi), %eax\n  shll $14, %eax\n  leaq bench_stacks(%rax), %rsp\n"
        "  call bench_main\n"
        "2: cli\n  hlt\n  jmp 2b\n"
        ".popsection\n");

/* ---- interrupts: a 64-bit IDT, handlers that save the caller-saved registers and return with iretq ---- */
struct idt_gate64 { u16 off_lo, sel; u8 ist, type; u16 off_mid; u32 off_hi, reserved; } __attribute__((packed));
static struct idt_gate64 bench_idt[256] __attribute__((aligned(16)));

static inline void set_gate(int vector, void (*stub)(void))
{
    u64 a = (u64)stub;
    bench_idt[vector] = (struct idt_gate64){(u16)a, 0x08, 0, 0x8E, (u16)(a >> 16), (u32)(a >> 32), 0};
}

/*
 * An interrupt handler: the stub saves what a C call may clobber (the CPU aligned RSP to 16 and pushed 5 words, so 9
 * more keep the C call aligned), calls name_c, restores and returns with iretq.
 */
#define INTERRUPT_HANDLER(name)                                                                                   \
    void name##_c(void);                                                                                          \
    void name(void);                                                                                              \
    __asm__(".globl " #name "\n" #name ":\n"                                                                      \
            "  push %rax\n  push %rcx\n  push %rdx\n  push %rsi\n  push %rdi\n"                                   \
            "  push %r8\n  push %r9\n  push %r10\n  push %r11\n"                                                  \
            "  cld\n  call " #name "_c\n"                                                                         \
            "  pop %r11\n  pop %r10\n  pop %r9\n  pop %r8\n"                                                      \
            "  pop %rdi\n  pop %rsi\n  pop %rdx\n  pop %rcx\n  pop %rax\n"                                        \
            "  iretq\n");

static inline void load_idt(void)
{
    struct { u16 limit; u64 base; } __attribute__((packed)) idtr = {sizeof(bench_idt) - 1, (u64)bench_idt};
    __asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

/* ---- the local APIC (xAPIC, identity-mapped) ---- */
#define LAPIC ((volatile u32 *)0xFEE00000ul)

static inline void eoi(void)
{
    LAPIC[0xB0 / 4] = 0;
}

/*
 * A 10 ms periodic LAPIC timer whose handler only EOIs. It wakes a vCPU that halted after its wakeup was taken
 * already: under the emulated SVM of tools/kvm-vm an interrupt is sometimes delivered inside the STI;HLT shadow,
 * before the HLT, which then halts for good (seen with jxen and with the C VMM alike). It creates no event.
 */
#define HALT_RESCUE_VECTOR 0xEF
INTERRUPT_HANDLER(halt_rescue)
void halt_rescue_c(void)
{
    eoi();
}

static inline void lapic_enable(void)
{
    LAPIC[0x80 / 4] = 0;            /* TPR */
    LAPIC[0xF0 / 4] = 0x100 | 0xFF; /* SVR: enabled */
    set_gate(HALT_RESCUE_VECTOR, halt_rescue);
    LAPIC[0x3E0 / 4] = 0xB;                              /* divide by 1 */
    LAPIC[0x320 / 4] = (1u << 17) | HALT_RESCUE_VECTOR; /* periodic */
    LAPIC[0x380 / 4] = 10000000;
}

/*
 * vCPU 1 sets this once its local APIC is enabled; vCPU 0 waits for it before it tells the host it is ready. Until
 * then a fixed interrupt sent to vCPU 1 would be dropped (a software-disabled APIC accepts none), and an event channel
 * whose upcall was dropped that way is never raised again (evtchn_upcall_pending stays set).
 */
static volatile u32 ap_ready;

static inline void wait_for_ap(void)
{
    while (!ap_ready)
        __asm__ volatile("pause" ::: "memory");
}

/* Interrupts on and halt until cond holds (each interrupt ends a hlt; sti's shadow keeps the check-then-halt atomic). */
#define HALT_UNTIL(cond)                                                                                           \
    do {                                                                                                           \
        while (!(cond))                                                                                            \
            __asm__ volatile("sti; hlt; cli" ::: "memory");                                                        \
    } while (0)

#endif
