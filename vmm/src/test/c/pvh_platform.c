/*
 * The rest of the guest interface as a guest meets it: xen_version strings NUL-terminated with the rest of each
 * buffer zeroed (no host bytes leak in), the feature map; Xen's CPUID leaves; MSRs nothing implements (and reading
 * the hypercall MSR) as #GP through the guest's own IDT; decrease_reservation twice on one frame (1, then 0) with
 * the frame's contents gone, and populate_physmap bringing it back.
 */
#include "xen32.h"

static volatile u32 gp_faults;
static unsigned char victim[4096] __attribute__((aligned(4096)));

/* #GP handler: count it and skip the 2-byte rdmsr/wrmsr that caused it. */
void gp_handler(void);
void gp_handler(void)
{
    gp_faults++;
}
__asm__(".globl gp_stub\n"
        "gp_stub:\n"
        "  pushal\n"
        "  call gp_handler\n"
        "  popal\n"
        "  addl $4, %esp\n"       /* the error code */
        "  addl $2, (%esp)\n"     /* past rdmsr / wrmsr */
        "  iret\n");
extern void gp_stub(void);

static u32 rdmsr_faults(u32 index)
{
    u32 before = gp_faults, lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(index));
    return gp_faults - before;
}

static u32 wrmsr_faults(u32 index, u32 lo, u32 hi)
{
    u32 before = gp_faults;
    __asm__ volatile("wrmsr" : : "c"(index), "a"(lo), "d"(hi) : "memory");
    return gp_faults - before;
}

static void check_string(int cmd, u32 size, const char *expect_prefix)
{
    static unsigned char buf[1024];
    for (u32 i = 0; i < size; i++)
        buf[i] = 0xAA;
    check(hypercall(__HYPERVISOR_xen_version, cmd, (u32)buf, 0) == 0, "xen_version string sub-op");
    u32 n = strlen32((const char *)buf);
    check(n < size, "NUL-terminated within its buffer");
    for (u32 i = 0; expect_prefix[i]; i++)
        check(buf[i] == (unsigned char)expect_prefix[i], "expected string");
    for (u32 i = n; i < size; i++)
        check(buf[i] == 0, "the rest of the buffer zeroed");
}

static void versions(void)
{
    long v = hypercall(__HYPERVISOR_xen_version, 0, 0, 0);
    check((v >> 16) == 4, "xen_version: major 4");
    check_string(1, 16, ".");        /* extraversion: xen_extraversion_t is 16 bytes */
    check_string(3, 1024, "hvm-3.0"); /* capabilities: 1024 bytes */
    check_string(4, 64, "");          /* changeset: 64 bytes */
    check(hypercall(__HYPERVISOR_xen_version, 7, 0, 0) == 4096, "pagesize");
    volatile u32 fi[2] = {0, 0};      /* xen_feature_info { submap_idx; submap } */
    check(hypercall(__HYPERVISOR_xen_version, 6, (u32)fi, 0) == 0, "get_features submap 0");
    check(fi[1] & (1u << 8), "XENFEAT_hvm_callback_vector");
    fi[0] = 1;
    check(hypercall(__HYPERVISOR_xen_version, 6, (u32)fi, 0) == 0 && fi[1] == 0, "submap 1 is empty");
    pass("xen_version strings and padding, features");

    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000001), "c"(0));
    check(a == (u32)v, "CPUID 0x40000001 is the xen_version");
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000000), "c"(0));
    check(a >= 0x40000004, "CPUID 0x40000000: the highest Xen leaf");
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000004), "c"(0));
    check((a & (1u << 3)) && b == 0, "VCPU_ID_PRESENT, vCPU 0 in EBX");
    check((a & (1u << 4)) && c == 1, "DOMID_PRESENT, domain 1 in ECX");
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000003), "c"(0));
    check(b == 2 && c > 0, "TSC leaf: never emulate, the guest's TSC kHz");
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000100), "c"(0));
    check(a == 0 && b == 0 && c == 0 && d == 0, "nothing at 0x40000100");
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    check(c & (1u << 31), "CPUID.1:ECX.hypervisor");
    pass("CPUID leaves as the guest sees them");
}

static void msrs(void)
{
    set_gate(13, gp_stub);
    check(rdmsr_faults(0x40000000) == 1, "reading the hypercall MSR: #GP");
    check(wrmsr_faults(0x40000000, (u32)hypercall_page | 1, 0) == 1, "hypercall page index 1: #GP");
    check(rdmsr_faults(0x40000100) == 1, "an MSR nothing implements: #GP on read");
    check(wrmsr_faults(0x40000100, 1, 0) == 1, "an MSR nothing implements: #GP on write");
    check(wrmsr_faults(0x40000000, (u32)hypercall_page, 0) == 0, "rewriting the hypercall page is fine");
    pass("MSRs: #GP through the guest's IDT");
}

static long reservation(int cmd, u32 gfn)
{
    volatile u32 list[1] = {gfn};
    volatile struct { u32 extent_start; u32 nr_extents; u32 extent_order; u32 mem_flags; u16 domid; u16 pad; } r =
        {(u32)list, 1, 0, 0, DOMID_SELF, 0};
    return hypercall(__HYPERVISOR_memory_op, cmd, (u32)&r, 0);
}

static void memory(void)
{
    for (int i = 0; i < 4096; i++)
        ((volatile unsigned char *)victim)[i] = 0x5A;
    u32 gfn = (u32)victim >> 12;
    check(reservation(XENMEM_decrease_reservation, gfn) == 1, "decrease_reservation: 1 extent");
    check(reservation(XENMEM_decrease_reservation, gfn) == 0, "again on the same frame: 0");
    check(reservation(XENMEM_populate_physmap, gfn) == 1, "populate_physmap brings it back");
    int zero = 1;
    for (int i = 0; i < 4096; i++)
        zero &= ((volatile unsigned char *)victim)[i] == 0;
    check(zero, "the frame came back empty: its contents left with it");
    pass("decrease_reservation twice (1 then 0), populate_physmap");
}

void guest_main(void)
{
    place_shared_info();
    versions();
    msrs();
    memory();
}
