/*
 * A PVH guest that talks to Xen the way every Xen guest starts: it finds Xen's CPUID leaves, writes the hypercall
 * MSR to get the hypercall page, prints through HYPERVISOR_console_io, checks xen_version, and powers off with
 * SCHEDOP_shutdown. Runs in the PVH entry state (32-bit protected mode, paging off), so it is built for i386.
 * Exit status 0 means every check passed; a failed check crashes the domain (SHUTDOWN_crash: status 3).
 */
typedef unsigned int u32;
typedef unsigned long long u64;

__asm__(".pushsection .note.Xen, \"a\", @note\n"
        ".balign 4\n"
        ".long 4, 2f - 1f, 18\n"
        ".asciz \"Xen\"\n"
        ".balign 4\n"
        "1: .long pvh_start\n"
        "2: .balign 4\n"
        ".popsection");

#define __HYPERVISOR_console_io 18
#define __HYPERVISOR_xen_version 17
#define __HYPERVISOR_sched_op 29
#define CONSOLEIO_write 0
#define XENVER_version 0
#define SCHEDOP_shutdown 2
#define SHUTDOWN_poweroff 0
#define SHUTDOWN_crash 3

static unsigned char hypercall_page[4096] __attribute__((aligned(4096)));
unsigned char stack[8192] __attribute__((aligned(16)));

static long hypercall3(int nr, u32 a1, u32 a2, u32 a3)
{
    long r;
    __asm__ volatile("call *%[stub]"
                     : "=a"(r), "+b"(a1), "+c"(a2), "+d"(a3)
                     : [stub] "r"(hypercall_page + nr * 32)
                     : "memory", "esi", "edi");
    return r;
}

static void cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

static unsigned len(const char *s)
{
    unsigned n = 0;
    while (s[n])
        n++;
    return n;
}

static void print(const char *s)
{
    hypercall3(__HYPERVISOR_console_io, CONSOLEIO_write, len(s), (u32)s);
}

static void shutdown(u32 reason)
{
    u32 arg = reason;
    hypercall3(__HYPERVISOR_sched_op, SCHEDOP_shutdown, (u32)&arg, 0);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static void check(int ok, const char *what)
{
    if (!ok) {
        print("FAIL: ");
        print(what);
        print("\n");
        shutdown(SHUTDOWN_crash);
    }
}

void main32(void);
void main32(void)
{
    u32 a, b, c, d;
    cpuid(0x40000000, &a, &b, &c, &d);
    check(b == 0x566e6558 && c == 0x65584d4d && d == 0x4d4d566e, "Xen signature in CPUID 0x40000000");
    cpuid(0x40000002, &a, &b, &c, &d);
    check(a == 1, "one hypercall page");
    u32 lo = (u32)hypercall_page, hi = 0;
    __asm__ volatile("wrmsr" : : "c"(b), "a"(lo), "d"(hi));
    print("hello via HYPERVISOR_console_io\n");
    long v = hypercall3(__HYPERVISOR_xen_version, XENVER_version, 0, 0);
    check((v >> 16) == 4, "xen_version major 4");
    shutdown(SHUTDOWN_poweroff);
}

__attribute__((section(".text.entry"), naked, used)) void pvh_start(void)
{
    __asm__ volatile("mov $stack + 8192, %esp\n"
                     "call main32\n"
                     "1: cli; hlt; jmp 1b");
}
