/*
 * A 64-bit PVH guest that is live-migrated while it runs (LiveMigrationTest): it keeps rewriting a working set of
 * PAGES pages, each round checking that every page still holds what the previous round wrote (a page lost or sent
 * stale by the migration fails the check), and counts its rounds in a mailbox page. It prints the mailbox's address
 * and that of a ballast area it never touches (the test fills it from the host, so the first round has enough to send
 * that a cut stream is noticed before the switch-over). When the host writes 1 to mailbox.go it checks once more,
 * prints PASS with its round count and powers off. Entry and hypercalls as pvh_long.c.
 */
#include "long64_entry.h"

#define PAGES 256

struct mailbox {
    volatile u64 go;     /* the host writes 1: finish */
    volatile u64 rounds; /* rounds completed */
};

struct mailbox mailbox __attribute__((aligned(4096)));
u64 work[PAGES][512] __attribute__((aligned(4096)));
unsigned char ballast[12 << 20] __attribute__((aligned(4096)));

static void print_hex(const char *label, u64 v)
{
    char buf[128];
    unsigned n = 0;
    while (*label)
        buf[n++] = *label++;
    buf[n++] = '0';
    buf[n++] = 'x';
    for (int s = 60; s >= 0; s -= 4)
        buf[n++] = "0123456789abcdef"[(v >> s) & 15];
    buf[n++] = '\n';
    buf[n] = 0;
    print(buf);
}

static u64 expected(u64 round, u64 page, u64 word)
{
    return (round << 32) ^ (page << 12) ^ word ^ 0x5A5A000000005A5Aull;
}

/* Every page holds round r's words (three per page: the first, the middle and the last). */
static void verify(u64 r)
{
    for (u64 p = 0; p < PAGES; p++) {
        check(work[p][0] == expected(r, p, 0) && work[p][256] == expected(r, p, 256) && work[p][511] == expected(r, p, 511),
              "a page of the working set lost its last round's contents");
    }
}

void main64(void);
void main64(void)
{
    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000002), "c"(0));
    __asm__ volatile("wrmsr" : : "c"(b), "a"((u32)(u64)hypercall_page), "d"(0));
    print_hex("migrate guest: mailbox at ", (u64)&mailbox);
    print_hex("migrate guest: ballast at ", (u64)ballast);
    print_hex("migrate guest: ballast bytes ", sizeof(ballast));
    for (u64 r = 1;; r++) {
        if (r > 1)
            verify(r - 1);
        for (u64 p = 0; p < PAGES; p++) {
            work[p][0] = expected(r, p, 0);
            work[p][256] = expected(r, p, 256);
            work[p][511] = expected(r, p, 511);
        }
        check((hypercall3(17, 0, 0, 0) >> 16) == 4, "xen_version");
        mailbox.rounds = r;
        if (mailbox.go == 1) {
            verify(r);
            print_hex("PASS migrate guest: working set intact, rounds ", r);
            shutdown(0);
        }
    }
}
