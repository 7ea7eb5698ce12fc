/*
 * The first things every Xen guest does (on the xen32 library, which has already written the hypercall MSR): find
 * Xen's CPUID signature and the one hypercall page, print through HYPERVISOR_console_io, check xen_version, and
 * power off (the library does that when this returns).
 */
#include "xen32.h"

void guest_main(void)
{
    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000000), "c"(0));
    check(b == 0x566e6558 && c == 0x65584d4d && d == 0x4d4d566e, "Xen signature in CPUID 0x40000000");
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000002), "c"(0));
    check(a == 1 && b == 0x40000000, "one hypercall page, MSR 0x40000000");
    print("hello via HYPERVISOR_console_io\n");
    check((hypercall(__HYPERVISOR_xen_version, 0, 0, 0) >> 16) == 4, "xen_version major 4");
}
