/*
 * The peer guest's event round trip (tools/peer, docs/peer.md): two processes pinned to vCPU 0 and vCPU 1 pass one
 * byte back and forth through two pipes, ROUNDS times; each blocks in read, so every hop wakes a sleeping vCPU: a
 * reschedule IPI, which a Xen guest sends as an event channel (EVTCHNOP_send or KVM's in-kernel delivery) and takes
 * through its callback vector. Prints "peer: pingpong rounds N us U" (the mean round trip in microseconds, by the
 * guest's monotonic clock). Usage: pingpong ROUNDS
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) perror("pingpong: sched_setaffinity");
}

int main(int argc, char **argv) {
    long rounds = argc > 1 ? atol(argv[1]) : 1000;
    int there[2], back[2];
    char b = 0;
    if (rounds <= 0 || pipe(there) || pipe(back)) return 2;
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
        pin(1);
        for (long i = 0; i < rounds; i++) {
            if (read(there[0], &b, 1) != 1 || write(back[1], &b, 1) != 1) _exit(1);
        }
        _exit(0);
    }
    pin(0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < rounds; i++) {
        if (write(there[1], &b, 1) != 1 || read(back[0], &b, 1) != 1) return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int status;
    waitpid(child, &status, 0);
    double us = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / rounds;
    printf("peer: pingpong rounds %ld us %.1f\n", rounds, us);
    return 0;
}
