/* The parts of xen32.h that need definitions: entry, stacks, GDT/IDT, the upcall handler (Linux's 2-level loop). */
#include "xen32.h"

unsigned char hypercall_page[4096] __attribute__((aligned(4096)));
unsigned char shared_info[4096] __attribute__((aligned(4096)));
unsigned char boot_stack[16384] __attribute__((aligned(16)));
struct idt_gate idt[256] __attribute__((aligned(8)));
volatile u32 events_seen[1024];
volatile u8 port_vcpu[1024];
u64 pvclock_last;
volatile u32 pvclock_unstable_reads;
volatile u32 upcalls;

static u64 gdt[4] __attribute__((aligned(8))) = {0, 0, 0x00CF9A000000FFFFull, 0x00CF92000000FFFFull};

void cpu_setup(void)
{
    struct { u16 limit; u32 base; } __attribute__((packed)) gdtr = {sizeof(gdt) - 1, (u32)gdt};
    struct { u16 limit; u32 base; } __attribute__((packed)) idtr = {sizeof(idt) - 1, (u32)idt};
    __asm__ volatile("lgdt %0\n"
                     "ljmp $0x10, $1f\n"
                     "1: mov $0x18, %%ax\n"
                     "mov %%ax, %%ds\nmov %%ax, %%es\nmov %%ax, %%ss\nmov %%ax, %%fs\nmov %%ax, %%gs\n"
                     "lidt %1"
                     :
                     : "m"(gdtr), "m"(idtr)
                     : "eax", "memory");
}

/*
 * Linux's xen_evtchn_do_upcall for the 2-level ABI, 32-bit words, on the interrupted vCPU (its APIC id is its Xen
 * vCPU id here): its vcpu_info in shared_info, or where vCPU 0 moved its own.
 */
unsigned char *upcall_vcpu_info;

void upcall_handler(void);
void upcall_handler(void)
{
    u32 self = LAPIC[0x20 / 4] >> 24;
    unsigned char *vi = self == 0 && upcall_vcpu_info ? upcall_vcpu_info : VCPU_INFO(self);
    __atomic_fetch_add(&upcalls, 1, __ATOMIC_SEQ_CST);
    do {
        UPCALL_PENDING(vi) = 0;
        u32 sel = __atomic_exchange_n((u32 *)(vi + 4), 0, __ATOMIC_SEQ_CST);
        while (sel) {
            u32 w = __builtin_ctz(sel);
            sel &= sel - 1;
            u32 pend = EVTCHN_PENDING[w] & ~EVTCHN_MASK[w];
            while (pend) {
                u32 b = __builtin_ctz(pend);
                pend &= pend - 1;
                if (port_vcpu[w * 32 + b] != self)
                    continue; /* another vCPU's port in the same word: it is that vCPU's to take */
                clear_bit(&EVTCHN_PENDING[w], b);
                events_seen[w * 32 + b]++;
            }
        }
    } while (UPCALL_PENDING(vi));
    eoi();
}

__asm__(".globl upcall_stub\n"
        "upcall_stub:\n"
        "  pushal\n"
        "  cld\n"
        "  call upcall_handler\n"
        "  popal\n"
        "  iret\n");

void halt_rescue_stub(void);
__asm__(".globl halt_rescue_stub\nhalt_rescue_stub:\n  movl $0, 0xFEE000B0\n  iret\n");

void halt_rescue_timer(void)
{
    set_gate(HALT_RESCUE_VECTOR, halt_rescue_stub);
    LAPIC[0x3E0 / 4] = 0xB;                              /* divide by 1: KVM's APIC timer counts at 1 GHz */
    LAPIC[0x320 / 4] = (1u << 17) | HALT_RESCUE_VECTOR; /* periodic */
    LAPIC[0x380 / 4] = 10000000;                         /* 10 ms */
}

/* A second vCPU: VCPUOP_initialise with a flat 32-bit vcpu_hvm_context at ap_entry, then VCPUOP_up. */
unsigned char ap_stack[16384] __attribute__((aligned(16)));
static void (*ap_function)(void);

void ap_trampoline(void);
void ap_trampoline(void)
{
    cpu_setup();
    lapic_enable();
    ap_function();
    for (;;)
        __asm__ volatile("cli; hlt"); /* done: parked with interrupts off (vCPU 0 ends the run) */
}

__asm__(".globl ap_entry\nap_entry:\n  mov $ap_stack + 16384, %esp\n  call ap_trampoline\n1: cli; hlt; jmp 1b\n");
extern void ap_entry(void);

void start_vcpu1(void (*fn)(void))
{
    static volatile u32 ctx[32] __attribute__((aligned(8)));
    ap_function = fn;
    flat32_vcpu_context(ctx, (u32)ap_entry, 0);
    check(hypercall(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 1, 0) == 0, "vCPU 1 starts down");
    check(hypercall(__HYPERVISOR_vcpu_op, VCPUOP_up, 1, 0) == -22, "up before initialise: -EINVAL");
    check(hypercall(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1, (u32)ctx) == 0, "VCPUOP_initialise");
    check(hypercall(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1, (u32)ctx) == -17, "initialise twice: -EEXIST");
    check(hypercall(__HYPERVISOR_vcpu_op, VCPUOP_up, 1, 0) == 0, "VCPUOP_up");
    check(hypercall(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 1, 0) == 1, "vCPU 1 is up");
}

__attribute__((section(".text.entry"), naked, used)) void pvh_start(void)
{
    __asm__ volatile("mov $boot_stack + 16384, %esp\n"
                     "call xen32_main\n"
                     "1: cli; hlt; jmp 1b");
}

void xen32_main(void);
void xen32_main(void)
{
    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000002), "c"(0));
    __asm__ volatile("wrmsr" : : "c"(b), "a"((u32)hypercall_page), "d"(0));
    cpu_setup();
    guest_main();
    print("ALL PASSED\n");
    shutdown(SHUTDOWN_poweroff);
}

/*
 * 64-bit atomics for 32-bit guests built without x87 (-mgeneral-regs-only): gcc calls these instead of moving the
 * value through fild/fistp, which a PVM host cannot emulate at CPL0. lock cmpxchg8b, as libatomic does on i586+.
 */
u64 __atomic_load_8(const volatile void *p, int order)
{
    (void)order;
    u64 v = 0; /* compare with 0, store 0: memory unchanged either way, the value lands in edx:eax */
    __asm__ volatile("lock cmpxchg8b %1" : "+A"(v), "+m"(*(volatile u64 *)p) : "b"(0), "c"(0) : "memory", "cc");
    return v;
}

_Bool __atomic_compare_exchange_8(volatile void *p, void *expected, u64 desired, _Bool weak, int success, int failure)
{
    (void)weak, (void)success, (void)failure;
    u64 old = *(u64 *)expected;
    u8 ok;
    __asm__ volatile("lock cmpxchg8b %1; sete %2"
                     : "+A"(old), "+m"(*(volatile u64 *)p), "=q"(ok)
                     : "b"((u32)desired), "c"((u32)(desired >> 32))
                     : "memory", "cc");
    if (!ok)
        *(u64 *)expected = old;
    return ok;
}
