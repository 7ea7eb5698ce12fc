/*
 * Hypercalls as current Linux makes them (arch/x86/xen/enlighten.c xen_hypercall_setfunc, xen-head.S): no hypercall
 * page, VMMCALL on AMD and VMCALL on Intel, chosen by the CPU vendor; the 32-bit convention (EBX, ECX, EDX). Only
 * KVM's Xen support (KVM_CAP_XEN_HVM with INTERCEPT_HCALL) hands those to jxen, so the guests using them
 * (pvh_direct.c, pvh_migrate_live.c) run with --accel kvm. Included after xen32.h; direct_init() before the first call.
 */
static int amd;

static inline void direct_init(void)
{
    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    amd = b == 0x68747541; /* "Auth"enticAMD */
}

static inline long direct(int nr, u32 a1, u32 a2, u32 a3)
{
    long r;
    if (amd)
        __asm__ volatile("vmmcall" : "=a"(r) : "a"(nr), "b"(a1), "c"(a2), "d"(a3) : "memory");
    else
        __asm__ volatile("vmcall" : "=a"(r) : "a"(nr), "b"(a1), "c"(a2), "d"(a3) : "memory");
    return r;
}
