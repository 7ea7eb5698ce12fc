/*
 * A 64-bit PVH guest: its 32-bit entry builds identity page tables (1 GiB of 2 MiB pages), enables PAE, EFER.LME
 * and paging, and jumps to 64-bit code, as every PVH kernel does. In long mode it takes the hypercall page and makes
 * hypercalls in the 64-bit convention; then it calls Xen from a 32-bit code segment (compatibility mode) with
 * garbage in the upper register halves, which Xen's per-call convention must ignore, and gets a zero-extended
 * 32-bit result.
 */
#include "long64_entry.h"

/* Compatibility-mode trampoline: far-called from 64-bit code with ESI = the stub, returns with lret. */
__asm__(".section .text.entry, \"ax\"\n"
        ".code32\n"
        "compat_call:\n"
        "  call *%esi\n"
        "  lret\n"
        ".code64\n"
        ".text\n");

extern void compat_call(void);

/* A hypercall from a 32-bit code segment: EBX carries the command; the upper halves of RAX and RBX hold garbage. */
static u64 compat_hypercall1(int nr, u32 a1)
{
    struct { u32 offset; unsigned short sel; } __attribute__((packed)) far = {(u32)(u64)compat_call, 0x18};
    u64 rax = 0xDEADBEEF00000000ull | (u32)nr;
    u64 rbx = 0xBADC0FFE00000000ull | a1;
    u64 rsi = (u64)(hypercall_page + nr * 32);
    __asm__ volatile("lcall *%[far]" : "+a"(rax), "+b"(rbx), "+S"(rsi) : [far] "m"(far) : "memory", "rcx", "rdx", "rdi");
    return rax;
}

void main64(void);
void main64(void)
{
    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000002), "c"(0));
    __asm__ volatile("wrmsr" : : "c"(b), "a"((u32)(u64)hypercall_page), "d"(0));
    print("hello from 64-bit long mode\n");
    long v = hypercall3(17, 0, 0, 0);
    check((v >> 16) == 4, "xen_version from 64-bit code");
    print("PASS 64-bit guest: long mode entered, hypercalls in the 64-bit convention\n");
    u64 r = compat_hypercall1(17, 0);
    check((u32)r == (u32)v, "xen_version from a 32-bit code segment");
    check((r >> 32) == 0, "the 32-bit result is zero-extended into RAX");
    /* An error from compatibility mode is a 32-bit -EINVAL/-ENOSYS, not a 64-bit one. */
    u64 e = compat_hypercall1(17, 0x7FFF);
    check(e == 0xFFFFFFFFull - 38 + 1 || e == 0xFFFFFFFFull - 22 + 1 || e == 0xFFFFFFFFull, "a 32-bit errno");
    print("PASS hypercall from a 32-bit code segment of a 64-bit guest\n");
    print("ALL PASSED\n");
    shutdown(0);
}
