/*
 * The two PV devices from a guest (public/io/console.h, public/io/xs_wire.h): output through the console ring
 * reaches jxen's standard output; XenStore read, write, directory, rm (then ENOENT), a watch with its initial fire
 * and a later event, and two transactions on one node where the second to end gets EAGAIN. Every request goes
 * through the store ring and EVTCHNOP_send to the backend's eventfd; every reply raises the guest's port. It also
 * measures console bytes/s and XenStore requests/s as seen from the guest (pvclock time).
 */
#include "xen32.h"

#define XS_DIRECTORY 1
#define XS_READ 2
#define XS_WATCH 4
#define XS_TRANSACTION_START 6
#define XS_TRANSACTION_END 7
#define XS_WRITE 11
#define XS_RM 13
#define XS_WATCH_EVENT 15
#define XS_ERROR 16

extern void upcall_stub(void);
static volatile unsigned char *xs;
static u32 xs_port;
static u32 watch_events;
static char last_watch[64];
static u32 next_req = 1;

struct msg { u32 type, req_id, tx_id, len; char body[512]; };

static void ring_write(const void *data, u32 len)
{
    volatile u32 *cons = (volatile u32 *)(xs + 2048), *prod = (volatile u32 *)(xs + 2052);
    for (u32 i = 0; i < len; i++) {
        while (*prod - *cons >= 1024)
            __asm__ volatile("pause" ::: "memory");
        xs[*prod & 1023] = ((const unsigned char *)data)[i];
        __asm__ volatile("" ::: "memory");
        *prod = *prod + 1;
    }
}

static void ring_read(void *data, u32 len)
{
    volatile u32 *cons = (volatile u32 *)(xs + 2056), *prod = (volatile u32 *)(xs + 2060);
    u64 give_up = now_ns(0) + 10000000000ull;
    for (u32 i = 0; i < len; i++) {
        __asm__ volatile("sti");
        while (*prod == *cons) {
            check(now_ns(0) < give_up, "a XenStore reply within 10 s");
            __asm__ volatile("pause" ::: "memory");
        }
        __asm__ volatile("cli");
        ((unsigned char *)data)[i] = xs[1024 + (*cons & 1023)];
        __asm__ volatile("" ::: "memory");
        *cons = *cons + 1;
    }
}

/* One request; returns the reply (watch events that arrive meanwhile are counted and kept). */
static void request(u32 type, u32 tx, const char *a, u32 alen, const char *b, u32 blen, struct msg *reply)
{
    u32 id = next_req++;
    u32 hdr[4] = {type, id, tx, alen + blen};
    ring_write(hdr, 16);
    ring_write(a, alen);
    if (blen)
        ring_write(b, blen);
    check(send(xs_port) == 0, "notify the XenStore backend");
    for (;;) {
        ring_read(reply, 16);
        check(reply->len < sizeof(reply->body), "reply fits");
        ring_read(reply->body, reply->len);
        reply->body[reply->len] = 0;
        if (reply->type == XS_WATCH_EVENT) {
            watch_events++;
            for (u32 i = 0; i < sizeof(last_watch) && i < reply->len; i++)
                last_watch[i] = reply->body[i];
            continue;
        }
        check(reply->req_id == id, "reply to our request");
        return;
    }
}

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

#define S(x) x, sizeof(x)

static void xenstore(void)
{
    struct msg r;
    request(XS_WRITE, 0, S("data/test"), "hello", 5, &r);
    check(r.type == XS_WRITE && streq(r.body, "OK"), "write");
    request(XS_READ, 0, S("data/test"), 0, 0, &r);
    check(r.type == XS_READ && r.len == 5 && streq(r.body, "hello"), "read back");
    request(XS_DIRECTORY, 0, S("data"), 0, 0, &r);
    check(r.type == XS_DIRECTORY && streq(r.body, "test"), "directory lists the node");
    request(XS_RM, 0, S("data/test"), 0, 0, &r);
    check(r.type == XS_RM, "rm");
    request(XS_READ, 0, S("data/test"), 0, 0, &r);
    check(r.type == XS_ERROR && streq(r.body, "ENOENT"), "read after rm: ENOENT");
    pass("xenstore read, write, directory, rm");

    request(XS_WATCH, 0, "data/w\0tok", 11, 0, 0, &r);
    check(r.type == XS_WATCH, "watch");
    request(XS_WRITE, 0, S("data/w"), "1", 1, &r); /* the initial fire may come before or after this reply */
    u32 expected = 2;
    while (watch_events < expected) {
        struct msg e;
        ring_read(&e, 16);
        ring_read(e.body, e.len);
        check(e.type == XS_WATCH_EVENT, "only watch events are unsolicited");
        watch_events++;
        for (u32 i = 0; i < sizeof(last_watch) && i < e.len; i++)
            last_watch[i] = e.body[i];
    }
    check(streq(last_watch, "data/w") && streq(last_watch + 7, "tok"), "watch event names the path and token");
    pass("watch: initial fire and an event on write");

    request(XS_TRANSACTION_START, 0, "", 1, 0, 0, &r);
    check(r.type == XS_TRANSACTION_START, "transaction 1");
    u32 t1 = 0;
    for (char *c = r.body; *c; c++)
        t1 = t1 * 10 + (*c - '0');
    request(XS_TRANSACTION_START, 0, "", 1, 0, 0, &r);
    u32 t2 = 0;
    for (char *c = r.body; *c; c++)
        t2 = t2 * 10 + (*c - '0');
    check(t1 != 0 && t2 != 0 && t1 != t2, "two transaction ids");
    request(XS_WRITE, t1, S("data/tx"), "a", 1, &r);
    request(XS_WRITE, t2, S("data/tx"), "b", 1, &r);
    request(XS_TRANSACTION_END, t1, S("T"), 0, 0, &r);
    check(r.type == XS_TRANSACTION_END && streq(r.body, "OK"), "the first commit succeeds");
    request(XS_TRANSACTION_END, t2, S("T"), 0, 0, &r);
    check(r.type == XS_ERROR && streq(r.body, "EAGAIN"), "the conflicting commit gets EAGAIN");
    request(XS_READ, 0, S("data/tx"), 0, 0, &r);
    check(streq(r.body, "a"), "the first transaction's value stands");
    pass("transaction conflict: EAGAIN");

    u64 t0 = now_ns(0);
    for (int i = 0; i < 500; i++)
        request(XS_READ, 0, S("domid"), 0, 0, &r);
    u64 took = now_ns(0) - t0;
    print("xenstore: 500 reads from the guest, ");
    u32 us = (u32)(took >> 10) ? (u32)(took >> 10) : 1; /* ~microseconds (1024 ns): no 64-bit division here */
    print_u32(500000000u / us);
    print(" requests/s (~)\n");
}

static void console(void)
{
    volatile unsigned char *ring = (volatile unsigned char *)(u32)(get_param(HVM_PARAM_CONSOLE_PFN) << 12);
    u32 port = (u32)get_param(HVM_PARAM_CONSOLE_EVTCHN);
    volatile u32 *cons = (volatile u32 *)(ring + 3080), *prod = (volatile u32 *)(ring + 3084);
    static const char hello[] = "hello from the PV console ring\n";
    for (u32 i = 0; i < sizeof(hello) - 1; i++)
        ring[1024 + ((*prod + i) & 2047)] = hello[i];
    __asm__ volatile("" ::: "memory");
    *prod = *prod + sizeof(hello) - 1;
    check(send(port) == 0, "notify the console backend");
    u64 give_up = now_ns(0) + 10000000000ull;
    while (*cons != *prod)
        check(now_ns(0) < give_up, "console backend consumed the ring");
    pass("console ring output consumed");

    /* Throughput: 64 KiB of 'x' lines through the 2 KiB ring. */
    u32 total = 65536, done = 0;
    u64 t0 = now_ns(0);
    while (done < total) {
        u32 room = 2048 - (*prod - *cons);
        if (room == 0) {
            __asm__ volatile("pause" ::: "memory");
            continue;
        }
        u32 n = room < total - done ? room : total - done;
        for (u32 i = 0; i < n; i++)
            ring[1024 + ((*prod + i) & 2047)] = ((done + i) % 64 == 63) ? '\n' : 'x';
        __asm__ volatile("" ::: "memory");
        *prod = *prod + n;
        done += n;
        send(port);
    }
    while (*cons != *prod)
        __asm__ volatile("pause" ::: "memory");
    u64 took = now_ns(0) - t0;
    print("console: 65536 bytes through the ring, ");
    u32 us = (u32)(took >> 10) ? (u32)(took >> 10) : 1;
    print_u32((65536000u / us) * 1000);
    print(" bytes/s (~)\n");
}

void guest_main(void)
{
    place_shared_info();
    set_gate(UPCALL_VECTOR, upcall_stub);
    lapic_enable();
    check(set_param(HVM_PARAM_CALLBACK_IRQ, (2ull << 56) | UPCALL_VECTOR) == 0, "CALLBACK_IRQ vector type");
    xs = (volatile unsigned char *)(u32)(get_param(HVM_PARAM_STORE_PFN) << 12);
    xs_port = (u32)get_param(HVM_PARAM_STORE_EVTCHN);
    console();
    xenstore();
}
