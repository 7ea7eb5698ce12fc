/*
 * Grant a page to a jxen backend (public/grant_table.h, v1): the guest places its grant-table frame with
 * XENMEM_add_to_physmap, fills entry 8 (permit access, backend domain 0, the page's frame), and leaves the reference
 * in a mailbox at guest-physical 0x7000 that the test's backend watches. The backend maps the grant read-write (Xen
 * sets GTF_writing), writes into the page, and tells the guest. The guest sees the write, then tries to revoke while
 * the page is mapped (fails, as in Xen: GTF_writing is set), asks the backend to unmap, and revokes (succeeds).
 */
#include "xen32.h"

#define XENMAPSPACE_grant_table 1
#define GTF_permit_access 1
#define GTF_reading (1 << 3)
#define GTF_writing (1 << 4)
#define REF 8

static unsigned char grant_frame[4096] __attribute__((aligned(4096)));
static unsigned char shared_page[4096] __attribute__((aligned(4096)));
#define MAILBOX ((volatile u32 *)0x7000) /* [0] magic, [1] ref, [2] state: 1 granted, 2 seen, 3 unmap, 4 unmapped */

static void wait_state(u32 state)
{
    u64 give_up = now_ns(0) + 30000000000ull;
    while (MAILBOX[2] != state)
        check(now_ns(0) < give_up, "the backend answered within 30 s");
}

/* Linux's gnttab_end_foreign_access_ref: clear the flags only if nothing maps the grant. */
static int revoke(volatile u16 *flags)
{
    u16 f = *flags;
    do {
        if (f & (GTF_reading | GTF_writing))
            return 0;
    } while (!__atomic_compare_exchange_n(flags, &f, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    return 1;
}

void guest_main(void)
{
    place_shared_info();
    volatile struct { u16 domid; u16 size; u32 space; u32 idx; u32 gpfn; } a = {DOMID_SELF, 0, XENMAPSPACE_grant_table,
                                                                             0, (u32)grant_frame >> 12};
    check(hypercall(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, (u32)&a, 0) == 0, "grant-table frame 0 placed");
    volatile u16 *flags = (volatile u16 *)(grant_frame + REF * 8);
    *(volatile u16 *)(grant_frame + REF * 8 + 2) = 0;                       /* domid: the backend, dom0 */
    *(volatile u32 *)(grant_frame + REF * 8 + 4) = (u32)shared_page >> 12; /* frame */
    __asm__ volatile("" ::: "memory");
    *flags = GTF_permit_access;
    MAILBOX[1] = REF;
    MAILBOX[2] = 1;
    __asm__ volatile("" ::: "memory");
    MAILBOX[0] = 0x544E5247; /* "GRNT" */
    wait_state(2);
    check(*(volatile u32 *)shared_page == 0xC0FFEE, "the backend's write is in the granted page");
    check(*flags & GTF_writing, "GTF_writing set while the backend maps it");
    pass("a page granted to a jxen backend, and its write seen");
    check(!revoke(flags), "revoking while mapped fails");
    MAILBOX[2] = 3;
    wait_state(4);
    check(!(*flags & (GTF_reading | GTF_writing)), "GTF_reading/GTF_writing cleared by the unmap");
    check(revoke(flags), "revoking after the unmap succeeds");
    pass("revoke while mapped fails, after unmap succeeds");
}
