/*
 * C references for `jxen bench`: the same work as jxen's Java code, with the same atomics, compiled -O2 and called
 * through FFM from the same process, so both sides are measured in one run, interleaved.
 *
 *  - 2-level send (Xen's event_2l.c): route lookup in an array, test-and-set pending, test mask,
 *    test-and-set selector, test-and-set upcall_pending;
 *  - FIFO send (Xen's event_fifo.c evtchn_fifo_set_pending): lock the last queue (spinlock, as Xen), test-and-set
 *    PENDING, test MASKED, test-and-set LINKED, link with cmpxchg on the tail word or write HEAD, test-and-set READY,
 *    test-and-set upcall_pending;
 *  - eventfd notify -> wake between two threads (an echo thread blocked in epoll_wait).
 *
 * Each "run" function performs `iters` operations and returns the elapsed nanoseconds (CLOCK_MONOTONIC).
 * An operation is "undo the previous send as a guest would, then send", exactly what the Java side times.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Xen's evtchn_check_pollers() starts with "is any vCPU polling?": one load, done on a newly pending port. */
static volatile uint64_t poll_mask;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Atomic bit operations on a bitmap as x86 Xen does them: lock bts / lock btr on the containing word. */
static inline int test_and_set_bit(volatile uint8_t *base, long bit) {
    volatile uint64_t *w = (volatile uint64_t *)(base + ((bit >> 6) << 3));
    unsigned char c;
    __asm__ volatile("lock btsq %2,%0; setc %1" : "+m"(*w), "=q"(c) : "r"((uint64_t)(bit & 63)) : "memory");
    return c;
}

static inline void clear_bit(volatile uint8_t *base, long bit) {
    volatile uint64_t *w = (volatile uint64_t *)(base + ((bit >> 6) << 3));
    __asm__ volatile("lock btrq %1,%0" : "+m"(*w) : "r"((uint64_t)(bit & 63)) : "memory");
}

static inline int test_bit(volatile uint8_t *base, long bit) {
    return (base[bit >> 3] >> (bit & 7)) & 1;
}

static inline int test_and_set_bit32(volatile uint32_t *w, int bit) {
    unsigned char c;
    __asm__ volatile("lock btsl %2,%0; setc %1" : "+m"(*w), "=q"(c) : "r"((uint32_t)bit) : "memory");
    return c;
}

static inline void clear_bit32(volatile uint32_t *w, int bit) {
    __asm__ volatile("lock btrl %1,%0" : "+m"(*w) : "r"((uint32_t)bit) : "memory");
}

/* ---- 2-level ---------------------------------------------------------------------------------------------- */

struct route {
    int32_t type; /* 0: none, 5: IPI (EVTCHNSTAT_ipi) */
    int32_t target;
    int32_t vcpu;
    int32_t priority;
};

enum { SHINFO_PENDING = 2048, SHINFO_MASK = 2560, VCPU_INFO_SIZE = 64, SEL = 8 };

static struct {
    uint8_t *shinfo;
    struct route *routes;
    int nports;
    uint64_t upcalls;
} L2;

int ref2l_setup(int nports) {
    free(L2.shinfo);
    free(L2.routes);
    if (posix_memalign((void **)&L2.shinfo, 4096, 4096)) return -1;
    memset(L2.shinfo, 0, 4096);
    L2.routes = calloc(4096, sizeof(struct route));
    L2.nports = nports;
    for (int p = 1; p <= nports && p < 4096; p++) L2.routes[p] = (struct route){5, p, 0, 7};
    return 0;
}

static inline int send_2l(int port) {
    if ((unsigned)port >= 4096) return -22;
    const struct route *r = &L2.routes[port];
    if (!r->type) return -22;
    int p = r->target;
    volatile uint8_t *vi = L2.shinfo + r->vcpu * VCPU_INFO_SIZE;
    if (test_and_set_bit(L2.shinfo + SHINFO_PENDING, p)) return 0;
    if (!test_bit(L2.shinfo + SHINFO_MASK, p) && !test_and_set_bit(vi + SEL, p / 64)) {
        if (!test_and_set_bit(vi, 0)) L2.upcalls++;
    }
    if (poll_mask) return 1;
    return 0;
}

/* The guest's undo: clear the pending bit, exchange the selector with 0, clear upcall_pending. */
static inline void consume_2l(int port) {
    volatile uint8_t *vi = L2.shinfo;
    clear_bit(L2.shinfo + SHINFO_PENDING, port);
    __atomic_exchange_n((volatile uint64_t *)(vi + SEL), 0, __ATOMIC_SEQ_CST);
    clear_bit(vi, 0);
}

uint64_t ref2l_run(long iters) {
    int n = L2.nports, port = 1, prev = 1;
    int rc = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        consume_2l(prev);
        rc |= send_2l(port);
        prev = port;
        if (++port > n) port = 1;
    }
    uint64_t t1 = now_ns();
    return rc ? 0 : t1 - t0;
}

/*
 * Several threads at once, each as a vCPU sending to the next one (port t+1 is an IPI bound to vCPU (t+1) % threads):
 * the same undo-then-send as ref2l_run, on ports that share shared_info's pending word, as vCPUs of one guest do.
 * Returns the wall time of the slowest thread's `iters` operations.
 */
struct mt_arg {
    volatile int port; /* the evtchn_send struct in "guest memory", read on every send as the hypercall does */
    int vcpu;
    long iters;
    pthread_barrier_t *start;
    int rc;
};

static void *mt_main(void *p) {
    struct mt_arg *a = p;
    volatile uint8_t *vi = L2.shinfo + a->vcpu * VCPU_INFO_SIZE;
    int rc = 0;
    pthread_barrier_wait(a->start);
    for (long i = 0; i < a->iters; i++) {
        int port = a->port;
        clear_bit(L2.shinfo + SHINFO_PENDING, port);
        __atomic_exchange_n((volatile uint64_t *)(vi + SEL), 0, __ATOMIC_SEQ_CST);
        clear_bit(vi, 0);
        rc |= send_2l(port);
    }
    a->rc = rc;
    return NULL;
}

uint64_t ref2l_threads_run(int threads, long iters) {
    if (threads < 1 || threads > 64 || ref2l_setup(threads)) return 0;
    for (int t = 0; t < threads; t++) L2.routes[t + 1].vcpu = (t + 1) % threads;
    pthread_t th[64];
    struct mt_arg args[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, threads + 1);
    for (int t = 0; t < threads; t++) {
        args[t] = (struct mt_arg){t + 1, (t + 1) % threads, iters, &start, 0};
        pthread_create(&th[t], NULL, mt_main, &args[t]);
    }
    pthread_barrier_wait(&start);
    uint64_t t0 = now_ns();
    int rc = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        rc |= args[t].rc;
    }
    uint64_t t1 = now_ns();
    pthread_barrier_destroy(&start);
    return rc ? 0 : t1 - t0;
}

/* ---- FIFO ------------------------------------------------------------------------------------------------- */

enum { PENDING = 31, MASKED = 30, LINKED = 29, BUSY = 28, LINK_MASK = (1 << 17) - 1, NR = 1 << 17 };

struct fifo_queue {
    uint32_t tail;
    uint8_t priority;
    uint8_t vcpu;
    volatile int lock;
};

struct control_block {
    uint32_t ready;
    uint32_t rsvd;
    uint32_t head[16];
};

enum { FIFO_VCPUS = 64 };

/* Per vCPU, as Xen's: 16 queues, a control block (128 bytes apart) and a vcpu_info (64 bytes apart). */
static struct {
    uint32_t *words;
    uint32_t *lastq;
    struct route *routes;
    struct fifo_queue queues[FIFO_VCPUS][16];
    uint8_t *cb;
    uint8_t *vcpu_info;
    int nports;
    uint64_t upcalls[FIFO_VCPUS]; /* each vCPU's events come from one thread here: no shared counter */
} F;

static inline void spin_lock(volatile int *l) {
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) __builtin_ia32_pause();
}

static inline void spin_unlock(volatile int *l) {
    __atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

static struct control_block *fifo_cb(int vcpu) {
    return (struct control_block *)(F.cb + 128 * vcpu);
}

int reffifo_setup(int nports) {
    free(F.words);
    free(F.lastq);
    free(F.routes);
    free(F.cb);
    free(F.vcpu_info);
    if (posix_memalign((void **)&F.words, 4096, NR * 4)) return -1;
    memset(F.words, 0, NR * 4);
    F.lastq = calloc(NR, 4);
    F.routes = calloc(NR, sizeof(struct route));
    F.cb = aligned_alloc(64, 128 * FIFO_VCPUS);
    memset(F.cb, 0, 128 * FIFO_VCPUS);
    F.vcpu_info = aligned_alloc(64, 64 * FIFO_VCPUS);
    memset(F.vcpu_info, 0, 64 * FIFO_VCPUS);
    memset(F.queues, 0, sizeof(F.queues));
    for (int v = 0; v < FIFO_VCPUS; v++)
        for (int q = 0; q < 16; q++) F.queues[v][q].priority = q, F.queues[v][q].vcpu = v;
    F.nports = nports;
    for (int p = 1; p <= nports && p < NR; p++) F.routes[p] = (struct route){5, p, 0, 7};
    return 0;
}

static int fifo_set_link(volatile uint32_t *word, uint32_t link) {
    uint32_t w = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    for (int attempt = 0; attempt < 5; attempt++) {
        if (!(w & (1u << LINKED))) return 0;
        uint32_t nw = (w & ~((1u << BUSY) | LINK_MASK)) | link;
        if (__atomic_compare_exchange_n(word, &w, nw, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return 1;
    }
    return 1;
}

static inline int send_fifo(int port) {
    if ((unsigned)port >= NR) return -22;
    const struct route *r = &F.routes[port];
    if (!r->type) return -22;
    int p = r->target;
    volatile uint32_t *word = &F.words[p];
    struct fifo_queue *q = &F.queues[r->vcpu][r->priority], *old_q, *locked;
    for (;;) {
        uint32_t lq = __atomic_load_n(&F.lastq[p], __ATOMIC_ACQUIRE);
        old_q = &F.queues[lq >> 8][lq & 0xff];
        spin_lock(&old_q->lock);
        if (__atomic_load_n(&F.lastq[p], __ATOMIC_ACQUIRE) == lq) break;
        spin_unlock(&old_q->lock);
    }
    locked = old_q;
    int linked = 1;
    int was_pending = test_and_set_bit32(word, PENDING);
    if (!(*word & (1u << MASKED)) && !test_and_set_bit32(word, LINKED)) {
        if (old_q->tail == (uint32_t)p) old_q->tail = 0;
        if (old_q != q) {
            __atomic_store_n(&F.lastq[p], (uint32_t)(r->vcpu << 8 | r->priority), __ATOMIC_RELEASE);
            spin_unlock(&old_q->lock);
            spin_lock(&q->lock);
            locked = q;
        }
        linked = q->tail && fifo_set_link(&F.words[q->tail], p);
        if (!linked) __atomic_store_n(&fifo_cb(q->vcpu)->head[q->priority], (uint32_t)p, __ATOMIC_RELEASE); /* write_atomic */
        q->tail = p;
    }
    spin_unlock(&locked->lock);
    if (!linked && !test_and_set_bit32(&fifo_cb(q->vcpu)->ready, q->priority)) {
        if (!test_and_set_bit(F.vcpu_info + 64 * q->vcpu, 0)) F.upcalls[q->vcpu]++;
    }
    if (!was_pending && poll_mask) return 1;
    return 0;
}

/* The guest's undo on vCPU vcpu: unlink and clear PENDING of the event, clear READY and upcall_pending. */
static inline void consume_fifo(int port, int priority, int vcpu) {
    volatile uint32_t *word = &F.words[port];
    uint32_t w = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    while (!__atomic_compare_exchange_n(word, &w, w & ~((1u << LINKED) | LINK_MASK | (1u << PENDING)), 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    clear_bit32(&fifo_cb(vcpu)->ready, priority);
    clear_bit(F.vcpu_info + 64 * vcpu, 0);
}

uint64_t reffifo_run(long iters) {
    int n = F.nports, port = 1, prev = 1;
    int rc = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        consume_fifo(prev, 7, 0);
        rc |= send_fifo(port);
        prev = port;
        if (++port > n) port = 1;
    }
    uint64_t t1 = now_ns();
    return rc ? 0 : t1 - t0;
}

/* Several threads, as ref2l_threads_run: thread t sends on port t+1, bound to vCPU (t+1) % threads, after its undo. */
struct fifo_mt_arg {
    int port, vcpu;
    long iters;
    pthread_barrier_t *start;
    int rc;
};

static void *fifo_mt_main(void *p) {
    struct fifo_mt_arg *a = p;
    int rc = 0;
    pthread_barrier_wait(a->start);
    for (long i = 0; i < a->iters; i++) {
        consume_fifo(a->port, 7, a->vcpu);
        rc |= send_fifo(a->port);
    }
    a->rc = rc;
    return NULL;
}

uint64_t reffifo_threads_run(int threads, long iters) {
    if (threads < 1 || threads > FIFO_VCPUS || reffifo_setup(threads)) return 0;
    for (int t = 0; t < threads; t++) F.routes[t + 1].vcpu = (t + 1) % threads;
    pthread_t th[FIFO_VCPUS];
    struct fifo_mt_arg args[FIFO_VCPUS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, threads + 1);
    for (int t = 0; t < threads; t++) {
        args[t] = (struct fifo_mt_arg){t + 1, (t + 1) % threads, iters, &start, 0};
        pthread_create(&th[t], NULL, fifo_mt_main, &args[t]);
    }
    pthread_barrier_wait(&start);
    uint64_t t0 = now_ns();
    int rc = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        rc |= args[t].rc;
    }
    uint64_t t1 = now_ns();
    pthread_barrier_destroy(&start);
    return rc ? 0 : t1 - t0;
}

/* ---- eventfd notify -> wake ------------------------------------------------------------------------------- */

static struct {
    int ping, pong, ep_main;
    volatile int stop;
    pthread_t echo;
} E;

static void *echo_main(void *arg) {
    (void)arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1};
    epoll_ctl(ep, EPOLL_CTL_ADD, E.ping, &ev);
    uint64_t v, one = 1;
    while (!E.stop) {
        struct epoll_event out;
        if (epoll_wait(ep, &out, 1, 100) > 0 && read(E.ping, &v, 8) == 8) {
            if (write(E.pong, &one, 8) != 8) break;
        }
    }
    close(ep);
    return NULL;
}

int refefd_setup(void) {
    E.ping = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    E.pong = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    E.ep_main = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1};
    epoll_ctl(E.ep_main, EPOLL_CTL_ADD, E.pong, &ev);
    E.stop = 0;
    return pthread_create(&E.echo, NULL, echo_main, NULL);
}

/* One round trip per sample: notify the echo thread, wait until it notifies back. */
int refefd_run(long iters, uint64_t *samples) {
    uint64_t one = 1, v;
    for (long i = 0; i < iters; i++) {
        uint64_t t0 = now_ns();
        if (write(E.ping, &one, 8) != 8) return -1;
        struct epoll_event out;
        while (epoll_wait(E.ep_main, &out, 1, 1000) <= 0) {
        }
        if (read(E.pong, &v, 8) != 8) return -1;
        samples[i] = now_ns() - t0;
    }
    return 0;
}

void refefd_teardown(void) {
    E.stop = 1;
    pthread_join(E.echo, NULL);
    close(E.ping);
    close(E.pong);
    close(E.ep_main);
}
