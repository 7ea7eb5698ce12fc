/*
 * How much a cross-thread eventfd wake costs after the woken thread has been asleep for a while: one thread spins
 * for IDLE µs (keeping its own core busy, as a vCPU thread running its guest does), stamps the time and writes an
 * eventfd; the other, blocked in read(2) (or epoll_wait(2) then read with EPOLL=1), takes the time as it wakes.
 * Medians of 3,500 wakes. Used in docs/benchmarks.md (send-to-backend).
 *
 *   gcc -O2 -pthread tools/wake-after-idle.c -o /tmp/wake-after-idle && for i in 5 15 60 200; do /tmp/wake-after-idle $i 0; done
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define WAKES 4000
#define WARMUP 500

static int efd, ep, use_epoll;
static volatile int64_t stamp;
static volatile int woken;
static int64_t latency[WAKES];

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void *waiter(void *arg)
{
    (void)arg;
    for (int i = 0; i < WAKES; i++) {
        uint64_t v;
        struct epoll_event e;
        if (use_epoll && epoll_wait(ep, &e, 1, -1) != 1)
            abort();
        if (read(efd, &v, sizeof v) != sizeof v)
            abort();
        latency[i] = now_ns() - stamp;
        woken = i + 1;
    }
    return NULL;
}

static int compare(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: wake-after-idle IDLE_US EPOLL(0|1)\n");
        return 2;
    }
    int64_t idle = atol(argv[1]) * 1000;
    use_epoll = atoi(argv[2]);
    efd = eventfd(0, 0);
    ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = 1};
    if (efd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &e) < 0)
        return 1;
    pthread_t t;
    pthread_create(&t, NULL, waiter, NULL);
    for (int i = 0; i < WAKES; i++) {
        int64_t start = now_ns();
        while (now_ns() - start < idle)
            ;
        stamp = now_ns();
        uint64_t one = 1;
        if (write(efd, &one, sizeof one) != sizeof one)
            return 1;
        while (woken <= i)
            ;
    }
    pthread_join(t, NULL);
    int n = WAKES - WARMUP;
    qsort(latency + WARMUP, n, sizeof latency[0], compare);
    printf("idle %ld us, %s: wake median %.1f us, p10 %.1f, p90 %.1f\n", (long)(idle / 1000), use_epoll ? "epoll_wait+read" : "read",
           latency[WARMUP + n / 2] / 1000.0, latency[WARMUP + n / 10] / 1000.0, latency[WARMUP + n * 9 / 10] / 1000.0);
    return 0;
}
