/*
 * The peer harness's network measurer (tools/peer, docs/peer.md): TCP between the guest and the host end of its TAP,
 * the same program on both sides (static in the guest's initramfs, on the host beside run.sh).
 *   netbench serve PORT              host: serves clients one after another, forever: each sends one mode byte first,
 *                                    'r' ping-pong (echo every byte), 't' guest sends (read and drop),
 *                                    'x' guest receives (write until the client closes)
 *   netbench rr HOST PORT ROUNDS     guest: one-byte round trips; prints "peer: net rr rounds N us MEDIAN"
 *   netbench tx HOST PORT SECS       guest → host stream of 64 KiB writes; prints "peer: net tx ... mbps M"
 *   netbench rx HOST PORT SECS       host → guest stream; prints "peer: net rx ... mbps M"
 * Times are the guest's own CLOCK_MONOTONIC, as in diskbench and pingpong.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(const char *what) {
    fprintf(stderr, "netbench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int full_write(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t) w;
    }
    return 0;
}

static void serve_one(int c) {
    static char buf[CHUNK];
    char mode;
    if (read(c, &mode, 1) != 1) return;
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (mode == 'r') {
        char b;
        while (read(c, &b, 1) == 1)
            if (write(c, &b, 1) != 1) return;
    } else if (mode == 't') {
        while (read(c, buf, sizeof buf) > 0) {}
    } else if (mode == 'x') {
        memset(buf, 0x5a, sizeof buf);
        while (full_write(c, buf, sizeof buf) == 0) {}
    }
}

static void serve(int port) {
    signal(SIGPIPE, SIG_IGN);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) fail("socket");
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(s, (struct sockaddr *) &a, sizeof a) < 0) fail("bind");
    if (listen(s, 4) < 0) fail("listen");
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR) continue;
            fail("accept");
        }
        serve_one(c);
        close(c);
    }
}

static int dial(const char *host, int port, char mode) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "netbench: %s: not an IPv4 address\n", host);
        exit(2);
    }
    int s = -1;
    /* The link may still be coming up: up to 12 tries of 5 s each (SO_SNDTIMEO bounds connect), so a NIC that passes
     * nothing fails this run in a minute with a line saying so instead of hanging the boot in SYN retries. */
    struct timeval connect_limit = {.tv_sec = 5}, io_limit = {.tv_sec = 30};
    for (int tries = 0; tries < 12; tries++) {
        s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) fail("socket");
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &connect_limit, sizeof connect_limit);
        if (connect(s, (struct sockaddr *) &a, sizeof a) == 0) break;
        close(s);
        s = -1;
        sleep(1);
    }
    if (s < 0) fail("connect");
    /* A transfer that stalls for 30 s ends the run with an error line rather than never. */
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &io_limit, sizeof io_limit);
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &io_limit, sizeof io_limit);
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (write(s, &mode, 1) != 1) fail("write mode");
    return s;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "serve")) {
        serve(atoi(argv[2]));
        return 0;
    }
    if (argc != 5) {
        fprintf(stderr, "usage: netbench serve PORT | rr|tx|rx HOST PORT N\n");
        return 2;
    }
    const char *what = argv[1], *host = argv[2];
    int port = atoi(argv[3]), n = atoi(argv[4]);
    if (n <= 0) {
        fprintf(stderr, "netbench: N must be positive\n");
        return 2;
    }
    static char buf[CHUNK];
    if (!strcmp(what, "rr")) {
        int s = dial(host, port, 'r');
        double *us = malloc(sizeof(double) * n);
        if (!us) fail("malloc");
        for (int i = 0; i < n; i++) {
            char b = 'p';
            double t0 = now();
            if (write(s, &b, 1) != 1 || read(s, &b, 1) != 1) fail("round trip");
            us[i] = (now() - t0) * 1e6;
        }
        qsort(us, n, sizeof *us, cmp);
        printf("peer: net rr rounds %d us %.1f\n", n, us[n / 2]);
        close(s);
        return 0;
    }
    if (strcmp(what, "tx") && strcmp(what, "rx")) {
        fprintf(stderr, "netbench: unknown mode %s\n", what);
        return 2;
    }
    int sending = !strcmp(what, "tx");
    int s = dial(host, port, sending ? 't' : 'x');
    memset(buf, 0xa5, sizeof buf);
    double t0 = now(), end = t0 + n;
    long long bytes = 0;
    while (now() < end) {
        ssize_t k = sending ? write(s, buf, sizeof buf) : read(s, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) fail(sending ? "send" : "receive");
        bytes += k;
    }
    double secs = now() - t0;
    printf("peer: net %s secs %.1f bytes %lld mbps %.2f\n", what, secs, bytes, bytes / secs / 1e6);
    close(s);
    return 0;
}
