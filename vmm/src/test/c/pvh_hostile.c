/*
 * A hostile PVH guest on two vCPUs: after taking the hypercall page both vCPUs issue random hypercalls (random
 * numbers, commands, registers and pointers: into a scratch area, at its edge, far beyond RAM, or plain noise) at the
 * same time, then report how many they made, and vCPU 0 powers off. jxen must answer every one with a result and
 * keep running. The guest leaves alone only what would end or unmake the run by design: sched_op (shutdown, block),
 * decrease_reservation (its own code pages), vcpu_op down; and its pointers never land on its own code or data, nor do
 * the handles and frame numbers inside the structs it passes (noise is kept above its 16 MiB of RAM; small values
 * name frames below 1 MiB, where it loads nothing; a plain random word there once let a call write into the guest's
 * own image and garble its report). Interrupts stay off:
 * a random HVMOP may well set an upcall vector this guest has no handler for.
 */
#include "xen32.h"

#define CALLS 10000
#define SCRATCH 65536

/* The scratch area, then a guard: structs written at its end run on into the guard, not into other data. */
static unsigned char scratch[SCRATCH + 16384] __attribute__((aligned(4096)));
static volatile u32 made[2], done[2];

static u32 rnd(u32 *seed)
{
    *seed ^= *seed << 13;
    *seed ^= *seed >> 17;
    *seed ^= *seed << 5;
    return *seed;
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

static u32 pointer(u32 *seed)
{
    switch (rnd(seed) % 6) {
    case 0: return rnd(seed) | 0x10000000u;                        /* noise, beyond the guest's RAM */
    case 1: return 0xFFFFF000u + (rnd(seed) & 0xFFF);              /* far beyond RAM */
    case 2: return (u32)scratch + SCRATCH - (rnd(seed) & 63);      /* straddling the scratch end */
    default: return (u32)scratch + (rnd(seed) % (SCRATCH - 256));
    }
}

static u32 value(u32 *seed)
{
    switch (rnd(seed) % 4) {
    case 0: return rnd(seed) | 0x10000000u; /* large; as a pointer, beyond the guest's RAM */
    case 1: return DOMID_SELF;
    default: return rnd(seed) % 64;
    }
}

static void storm(u32 vcpu)
{
    u32 seed = 0x2545F491u + vcpu * 0x9E3779B9u;
    for (u32 i = 0; i < CALLS; i++) {
        if ((i & 255) == 0)
            for (u32 j = vcpu * (SCRATCH / 2); j < (vcpu + 1) * (SCRATCH / 2); j += 4)
                *(volatile u32 *)(scratch + j) = (rnd(&seed) & 1) ? rnd(&seed) | 0x10000000u : rnd(&seed) % 128;
        int nr = rnd(&seed) % 64;
        u32 cmd = value(&seed);
        if (nr == 29 || nr == 23 || nr == 6)
            continue; /* sched_op, iret (ud2), sched_op_compat */
        if (nr == 12 && (cmd & 0x3F) == 1)
            continue; /* decrease_reservation */
        if (nr == 24 && cmd == 2)
            continue; /* VCPUOP_down */
        hypercall5(nr, cmd, pointer(&seed), value(&seed), pointer(&seed), value(&seed));
        made[vcpu]++;
    }
    done[vcpu] = 1;
}

static void vcpu1(void)
{
    storm(1);
}

void guest_main(void)
{
    start_vcpu1(vcpu1);
    storm(0);
    u64 give_up = now_ns(0) + 120000000000ull;
    while (!done[1] && now_ns(0) < give_up)
        __asm__ volatile("pause" ::: "memory");
    check(done[1], "vCPU 1 finished its hypercalls");
    /* A random console write may have left a partial line; the hypervisor console flushes a line at 1024 bytes (as
     * Xen flushes a domain's buffer when full), which could split this report: start it on a line of its own. */
    print("\nhostile: ");
    print_u32(made[0] + made[1]);
    print(" hypercalls answered on 2 vCPUs\n");
}
