/*
 * What the 64-bit test guests share (pvh_long.c, pvh_migrate.c, pvh_timer64.c): their start (long64_entry.h), hypercalls through the
 * page in the 64-bit convention (arguments in RDI, RSI, RDX), the console, power-off, and a check that prints FAIL and
 * ends the domain with status 3.
 */
#include "long64_entry.h"

/* Has Xen fill the hypercall page: its address written to the MSR that CPUID leaf 0x40000002 names in EBX. */
static inline void install_hypercall_page(void)
{
    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000002), "c"(0));
    __asm__ volatile("wrmsr" : : "c"(b), "a"((u32)(u64)hypercall_page), "d"(0));
}

static inline long hypercall3(int nr, u64 a1, u64 a2, u64 a3)
{
    long r;
    __asm__ volatile("call *%[stub]" : "=a"(r), "+D"(a1), "+S"(a2), "+d"(a3) : [stub] "r"(hypercall_page + nr * 32)
                     : "memory", "rcx", "r8", "r9", "r10", "r11");
    return r;
}

static inline unsigned len(const char *s)
{
    unsigned n = 0;
    while (s[n])
        n++;
    return n;
}

static inline void print(const char *s)
{
    hypercall3(18, 0, len(s), (u64)s);
}

static inline void shutdown(u32 reason)
{
    volatile u32 r = reason;
    hypercall3(29, 2, (u64)&r, 0);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static inline void check(int ok, const char *what)
{
    if (!ok) {
        print("FAIL: ");
        print(what);
        print("\n");
        shutdown(3);
    }
}
