/*
 * The peer guest's disk measurer (tools/peer, docs/peer.md): direct I/O (O_DIRECT, no page cache) on a block device
 * through Linux's native AIO (io_setup/io_submit/io_getevents as raw system calls, so the static binary needs no
 * libaio), keeping DEPTH requests in flight, for SECONDS of the guest's monotonic clock. Prints one line
 *   peer: disk NAME bytes B ios N seconds S mbps M iops I
 * Usage: diskbench DEVICE NAME read|write seq|rand BLOCK DEPTH SECONDS
 * Sequential runs wrap at the device's end; random offsets are BLOCK-aligned, from a fixed-seed xorshift, over the
 * whole device. Written for this harness, not a port of fio: fio's Debian package links ~60 libraries.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_random(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: diskbench DEVICE NAME read|write seq|rand BLOCK DEPTH SECONDS\n");
        return 2;
    }
    const char *device = argv[1], *name = argv[2];
    int writing = strcmp(argv[3], "write") == 0, random = strcmp(argv[4], "rand") == 0;
    long block = atol(argv[5]), depth = atol(argv[6]);
    double seconds = atof(argv[7]);
    if (block <= 0 || block % 4096 || depth <= 0 || depth > 256 || seconds <= 0) {
        fprintf(stderr, "diskbench: BLOCK a multiple of 4096, DEPTH 1..256, SECONDS > 0\n");
        return 2;
    }
    int fd = open(device, (writing ? O_WRONLY : O_RDONLY) | O_DIRECT);
    if (fd < 0) {
        fprintf(stderr, "diskbench: open %s: %s\n", device, strerror(errno));
        return 1;
    }
    uint64_t size;
    if (ioctl(fd, BLKGETSIZE64, &size) < 0 || size < (uint64_t)block) {
        fprintf(stderr, "diskbench: %s: no usable size\n", device);
        return 1;
    }
    uint64_t blocks = size / block;
    char *buffers;
    if (posix_memalign((void **)&buffers, 4096, block * depth)) return 1;
    memset(buffers, 0xA5, block * depth);
    aio_context_t ctx = 0;
    if (syscall(SYS_io_setup, depth, &ctx) < 0) {
        fprintf(stderr, "diskbench: io_setup: %s\n", strerror(errno));
        return 1;
    }
    struct iocb *iocbs = calloc(depth, sizeof *iocbs);
    struct io_event *events = calloc(depth, sizeof *events);
    uint64_t next_block = 0, ios = 0;
    long in_flight = 0;
    double start = now(), end = start + seconds;
    int stopping = 0;
    for (;;) {
        /* Refill every free slot (slot i uses buffer i) while the time lasts. */
        struct iocb *ready[256];
        int n = 0;
        for (long i = 0; i < depth && !stopping; i++) {
            if (iocbs[i].aio_data) continue; /* in flight */
            uint64_t b = random ? next_random() % blocks : next_block++ % blocks;
            memset(&iocbs[i], 0, sizeof iocbs[i]);
            iocbs[i].aio_data = i + 1;
            iocbs[i].aio_fildes = fd;
            iocbs[i].aio_lio_opcode = writing ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
            iocbs[i].aio_buf = (uint64_t)(uintptr_t)(buffers + i * block);
            iocbs[i].aio_nbytes = block;
            iocbs[i].aio_offset = (int64_t)(b * block);
            ready[n++] = &iocbs[i];
        }
        if (n > 0) {
            long submitted = syscall(SYS_io_submit, ctx, n, ready);
            if (submitted != n) {
                fprintf(stderr, "diskbench: io_submit: %ld of %d: %s\n", submitted, n, strerror(errno));
                return 1;
            }
            in_flight += n;
        }
        if (in_flight == 0) break;
        long done = syscall(SYS_io_getevents, ctx, 1, depth, events, NULL);
        if (done < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "diskbench: io_getevents: %s\n", strerror(errno));
            return 1;
        }
        for (long i = 0; i < done; i++) {
            if (events[i].res != block) {
                fprintf(stderr, "diskbench: a request ended with %lld\n", (long long)events[i].res);
                return 1;
            }
            iocbs[events[i].data - 1].aio_data = 0;
            ios++;
        }
        in_flight -= done;
        if (!stopping && now() >= end) stopping = 1; /* drain what is in flight, submit nothing more */
    }
    double elapsed = now() - start;
    printf("peer: disk %s bytes %llu ios %llu seconds %.3f mbps %.2f iops %.1f\n", name, (unsigned long long)(ios * block),
           (unsigned long long)ios, elapsed, ios * block / elapsed / 1e6, ios / elapsed);
    return 0;
}
