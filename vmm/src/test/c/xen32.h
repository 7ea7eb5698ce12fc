/*
 * What the 32-bit test guests share: the PVH entry (a stack and main), the hypercall page, Xen's interfaces the
 * tests use (constants from xen/include/public: xen.h, event_channel.h, sched.h, vcpu.h, hvm/hvm_op.h, hvm/params.h,
 * memory.h), a GDT and IDT so interrupts can be taken, the local APIC (enabled, EOI), shared_info placed by the guest,
 * Linux's 2-level upcall loop, and pvclock time. Guests run in the PVH entry state (32-bit protected mode, paging
 * off), so every pointer is physical. A check that fails prints FAIL and crashes the domain (exit status 3); a guest
 * that reaches its end powers off (0).
 */
#ifndef XEN32_H
#define XEN32_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef int s32;

__asm__(".pushsection .note.Xen, \"a\", @note\n.balign 4\n.long 4, 2f - 1f, 18\n.asciz \"Xen\"\n.balign 4\n"
        "1: .long pvh_start\n2: .balign 4\n.popsection");

#include "xen_abi.h"

extern unsigned char hypercall_page[4096];

static inline long hypercall(int nr, u32 a1, u32 a2, u32 a3)
{
    long r;
    __asm__ volatile("call *%[stub]" : "=a"(r), "+b"(a1), "+c"(a2), "+d"(a3) : [stub] "r"(hypercall_page + nr * 32)
                     : "memory", "esi", "edi");
    return r;
}

static inline u32 strlen32(const char *s)
{
    u32 n = 0;
    while (s[n])
        n++;
    return n;
}

static inline void print(const char *s)
{
    hypercall(__HYPERVISOR_console_io, 0, strlen32(s), (u32)s);
}

static inline void print_u32(u32 v)
{
    char b[11];
    int i = 10;
    b[i] = 0;
    do {
        b[--i] = '0' + v % 10;
        v /= 10;
    } while (v);
    print(b + i);
}

static inline void shutdown(u32 reason)
{
    volatile u32 arg = reason;
    hypercall(__HYPERVISOR_sched_op, SCHEDOP_shutdown, (u32)&arg, 0);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static inline void check_at(int ok, const char *what, u32 line)
{
    if (!ok) {
        print("FAIL line ");
        print_u32(line);
        print(": ");
        print(what);
        print("\n");
        shutdown(SHUTDOWN_crash);
    }
}
#define check(ok, what) check_at((ok), (what), __LINE__)

static inline void pass(const char *what)
{
    print("PASS ");
    print(what);
    print("\n");
}

/* ---- events ---- */
static inline long evtchn_op(int cmd, void *arg)
{
    return hypercall(__HYPERVISOR_event_channel_op, cmd, (u32)arg, 0);
}

/* Which vCPU each port notifies (as Linux's per-cpu evtchn masks): an upcall handles only its own vCPU's ports. */
extern volatile u8 port_vcpu[1024];

static inline int bind_ipi(u32 vcpu)
{
    volatile u32 a[2] = {vcpu, 0};
    check(evtchn_op(EVTCHNOP_bind_ipi, (void *)a) == 0, "bind_ipi");
    if (a[1] < 1024)
        port_vcpu[a[1]] = vcpu;
    return a[1];
}

static inline long send(u32 port)
{
    volatile u32 a = port;
    return evtchn_op(EVTCHNOP_send, (void *)&a);
}

/* A port allocated for dom0, announced as "ready to save, host port N": the test binds it, saves and restores the
 * domain, then sends on it; the guest halts until then (HALT_UNTIL(events_seen[port] >= 1)). */
static inline u32 ready_to_save(void)
{
    volatile struct { u16 dom, remote_dom; u32 port; } u = {DOMID_SELF, 0, 0};
    check(evtchn_op(EVTCHNOP_alloc_unbound, (void *)&u) == 0, "alloc_unbound for dom0");
    print("ready to save, host port ");
    print_u32(u.port);
    print("\n");
    return u.port;
}

static inline long set_param(u32 index, u64 value)
{
    volatile struct { u16 domid; u16 pad; u32 index; u64 value; } __attribute__((packed)) a = {DOMID_SELF, 0, index, value};
    return hypercall(__HYPERVISOR_hvm_op, HVMOP_set_param, (u32)&a, 0);
}

static inline u64 get_param(u32 index)
{
    volatile struct { u16 domid; u16 pad; u32 index; u64 value; } __attribute__((packed)) a = {DOMID_SELF, 0, index, 0};
    check(hypercall(__HYPERVISOR_hvm_op, HVMOP_get_param, (u32)&a, 0) == 0, "get_param");
    return a.value;
}

/* ---- CPU: GDT, IDT, interrupts, local APIC ---- */
#define LAPIC ((volatile u32 *)0xFEE00000)
#define LAPIC_EOI (0xB0 / 4)
#define LAPIC_SVR (0xF0 / 4)
#define LAPIC_TPR (0x80 / 4)

/*
 * A 10 ms periodic LAPIC timer whose handler only EOIs, started by lapic_enable. It wakes a vCPU that halted after its
 * wakeup was taken already: under the emulated SVM of tools/kvm-vm an interrupt is sometimes delivered inside the
 * STI;HLT shadow, before the HLT, which then halts for good (seen with jxen and with the minimal C VMM alike). It
 * creates no event: a wait for an event that was never raised still never ends.
 */
#define HALT_RESCUE_VECTOR 0xEF
void halt_rescue_timer(void);

static inline void lapic_enable(void)
{
    LAPIC[LAPIC_TPR] = 0;
    LAPIC[LAPIC_SVR] = 0x100 | 0xFF;
    halt_rescue_timer();
}

static inline void eoi(void)
{
    LAPIC[LAPIC_EOI] = 0;
}

struct idt_gate { u16 off_lo; u16 sel; u8 zero; u8 type; u16 off_hi; } __attribute__((packed));
extern struct idt_gate idt[256];

static inline void set_gate(int vector, void (*stub)(void))
{
    idt[vector].off_lo = (u32)stub & 0xFFFF;
    idt[vector].sel = 0x10;
    idt[vector].zero = 0;
    idt[vector].type = 0x8E; /* present, DPL0, 32-bit interrupt gate */
    idt[vector].off_hi = (u32)stub >> 16;
}

void cpu_setup(void); /* GDT with flat code 0x10 / data 0x18, an empty IDT loaded */

static inline u64 rdtsc(void)
{
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}

/* ---- shared_info (32-bit layout: xen_ulong_t is 32 bits) ---- */
extern unsigned char shared_info[4096];
#define VCPU_INFO(v) (shared_info + (v) * 64)
#define UPCALL_PENDING(vi) (*(volatile u8 *)((vi) + 0))
#define UPCALL_MASK(vi) (*(volatile u8 *)((vi) + 1))
#define PENDING_SEL(vi) (*(volatile u32 *)((vi) + 4))
#define EVTCHN_PENDING ((volatile u32 *)(shared_info + 2048))
#define EVTCHN_MASK ((volatile u32 *)(shared_info + 2176))

static inline void place_shared_info(void)
{
    volatile struct { u16 domid; u16 size; u32 space; u32 idx; u32 gpfn; } a = {DOMID_SELF, 0, XENMAPSPACE_shared_info, 0,
                                                                             (u32)shared_info >> 12};
    check(hypercall(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, (u32)&a, 0) == 0, "add_to_physmap shared_info");
}

static inline void set_bit(volatile u32 *words, u32 bit)
{
    __asm__ volatile("lock btsl %1, %0" : "+m"(*words) : "r"(bit) : "memory");
}

static inline void clear_bit(volatile u32 *words, u32 bit)
{
    __asm__ volatile("lock btrl %1, %0" : "+m"(*words) : "r"(bit) : "memory");
}

static inline int test_bit(volatile u32 *words, u32 bit)
{
    return (words[bit / 32] >> (bit % 32)) & 1;
}

/*
 * Time in ns (Xen system time) from vcpu_info's pvclock, as Linux's pvclock_clocksource_read: without
 * XEN_PVCLOCK_TSC_STABLE_BIT the vCPUs' TSCs may disagree, and the guest keeps time monotonic across vCPUs itself
 * with a global last value (compare-and-swap), as Linux does.
 */
extern u64 pvclock_last;
extern volatile u32 pvclock_unstable_reads;
static inline u64 now_ns(int vcpu)
{
    volatile u8 *t = VCPU_INFO(vcpu) + 32;
    u32 version, mul;
    u64 stamp, system;
    s32 shift;
    do {
        version = *(volatile u32 *)t;
        __asm__ volatile("" ::: "memory");
        stamp = *(volatile u64 *)(t + 8);
        system = *(volatile u64 *)(t + 16);
        mul = *(volatile u32 *)(t + 24);
        shift = *(volatile signed char *)(t + 28);
        __asm__ volatile("" ::: "memory");
    } while ((version & 1) || version != *(volatile u32 *)t);
    u64 delta = rdtsc() - stamp;
    if (shift < 0)
        delta >>= -shift;
    else
        delta <<= shift;
    u64 lo = ((u64)(u32)delta * mul) >> 32;
    u64 hi = (u64)(u32)(delta >> 32) * mul;
    u64 ret = system + lo + hi;
    if (*(volatile u8 *)(t + 29) & 1)
        return ret;
    pvclock_unstable_reads++;
    u64 last = __atomic_load_n(&pvclock_last, __ATOMIC_SEQ_CST);
    do {
        if (ret <= last)
            return last;
    } while (!__atomic_compare_exchange_n(&pvclock_last, &last, ret, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    return ret;
}

/* Interrupts on and halt until cond holds (each interrupt ends a hlt; sti's shadow keeps the check-then-halt atomic). */
#define HALT_UNTIL(cond)                                                                                           \
    do {                                                                                                           \
        while (!(cond))                                                                                            \
            __asm__ volatile("sti; hlt; cli" ::: "memory");                                                        \
    } while (0)

/* Counts of events taken by the upcall handler, by port (2-level: at most 1024 ports). */
extern volatile u32 events_seen[1024];
extern volatile u32 upcalls;

/* Starts vCPU 1 (VCPUOP_initialise, a flat 32-bit context; VCPUOP_up): it sets up its CPU and runs fn. */
void start_vcpu1(void (*fn)(void));

/* The entry point and the hypercall page's installation; each guest defines main(). */
void guest_main(void);

#endif
