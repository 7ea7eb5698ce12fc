/*
 * A hostile PVH guest: after taking the hypercall page it issues random hypercalls (random numbers, commands,
 * registers and pointers: into its scratch area, at its edges, far beyond RAM, or plain noise), then reports how many
 * it made and powers off. jxen must answer every one with a result and keep running. It leaves alone only what
 * would end or unmake the run by design: sched_op (shutdown, block), decrease_reservation (its own code pages), and
 * vcpu_op down; and its pointers never land on its own code (noise is kept above its 16 MiB of RAM; small values
 * name frames below 1 MiB, where it loads nothing). Runs in the PVH entry state (32-bit, paging off, interrupts off), built for i386.
 */
typedef unsigned int u32;

__asm__(".pushsection .note.Xen, \"a\", @note\n"
        ".balign 4\n"
        ".long 4, 2f - 1f, 18\n"
        ".asciz \"Xen\"\n"
        ".balign 4\n"
        "1: .long pvh_start\n"
        "2: .balign 4\n"
        ".popsection");

#define CALLS 20000

static unsigned char hypercall_page[4096] __attribute__((aligned(4096)));
#define SCRATCH 65536
/* The scratch area, then a guard: structs written at its end run on into the guard, not into the stack. */
static unsigned char scratch[SCRATCH + 16384] __attribute__((aligned(4096)));
unsigned char stack[8192] __attribute__((aligned(16)));
static u32 seed = 0x2545F491;

static u32 rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    return seed;
}

static long hypercall5(int nr, u32 a1, u32 a2, u32 a3, u32 a4, u32 a5)
{
    long r;
    __asm__ volatile("call *%[stub]"
                     : "=a"(r), "+b"(a1), "+c"(a2), "+d"(a3), "+S"(a4), "+D"(a5)
                     : [stub] "r"(hypercall_page + nr * 32)
                     : "memory");
    return r;
}

static u32 pointer(void)
{
    switch (rnd() % 6) {
    case 0: return rnd() | 0x10000000u;                    /* noise, never inside the guest's own 16 MiB */
    case 1: return 0xFFFFF000u + (rnd() & 0xFFF);          /* far beyond RAM */
    case 2: return (u32)scratch + SCRATCH - (rnd() & 63); /* straddling the scratch end */
    default: return (u32)scratch + (rnd() % (SCRATCH - 256));
    }
}

static u32 value(void)
{
    switch (rnd() % 4) {
    case 0: return rnd() | 0x10000000u; /* large; as a pointer, beyond the guest's RAM */
    case 1: return 0x7FF0; /* DOMID_SELF */
    default: return rnd() % 64;
    }
}

static void print(const char *s)
{
    u32 n = 0;
    while (s[n])
        n++;
    hypercall5(18, 0, n, (u32)s, 0, 0); /* console_io write */
}

static void fill_scratch(void)
{
    for (u32 i = 0; i < SCRATCH; i += 4)
        *(volatile u32 *)(scratch + i) = (rnd() & 1) ? rnd() : rnd() % 128;
}

void main32(void);
void main32(void)
{
    u32 eax, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(0x40000002), "c"(0));
    __asm__ volatile("wrmsr" : : "c"(ebx), "a"((u32)hypercall_page), "d"(0));
    u32 made = 0;
    for (u32 i = 0; i < CALLS; i++) {
        if ((i & 255) == 0)
            fill_scratch();
        int nr = rnd() % 64;
        u32 cmd = value();
        if (nr == 29 || nr == 23 || nr == 6)
            continue; /* sched_op, iret (ud2), sched_op_compat */
        if (nr == 12 && (cmd & 0x3F) == 1)
            continue; /* decrease_reservation */
        if (nr == 24 && cmd == 2)
            continue; /* VCPUOP_down */
        hypercall5(nr, cmd, pointer(), value(), pointer(), value());
        made++;
    }
    char line[] = "hostile: 00000 hypercalls answered\n";
    for (int d = 13; d >= 9; d--) {
        line[d] = '0' + made % 10;
        made /= 10;
    }
    print(line);
    u32 reason = 0;
    hypercall5(29, 2, (u32)&reason, 0, 0, 0); /* SCHEDOP_shutdown poweroff */
    for (;;)
        __asm__ volatile("cli; hlt");
}

__attribute__((section(".text.entry"), naked, used)) void pvh_start(void)
{
    __asm__ volatile("mov $stack + 8192, %esp\n"
                     "call main32\n"
                     "1: cli; hlt; jmp 1b");
}
