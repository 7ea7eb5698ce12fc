package org.jxen.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An epoll instance ({@code sys/epoll.h}). Each registered descriptor carries a 64-bit token that {@link #await}
 * hands back when it is ready. The epoll descriptor itself is pollable, so an Epoll can stand for "any of these
 * descriptors" (libxenevtchn's single fd). {@link #await} is for one thread at a time; registration is thread-safe
 * (the kernel serializes it).
 */
public final class Epoll implements AutoCloseable {
    public static final int EPOLLIN = 0x001;
    /** Report each new event (each wake-up of the descriptor), not the level: nothing needs reading to quiet it. */
    public static final int EPOLLET = 1 << 31;
    private static final int EPOLL_CLOEXEC = 0x80000;
    private static final int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    /** struct epoll_event is packed on x86-64: uint32_t events; uint64_t data (12 bytes). */
    private static final MemoryLayout EVENT = MemoryLayout.structLayout(
            ValueLayout.JAVA_INT.withName("events"), ValueLayout.JAVA_LONG_UNALIGNED.withName("data"));
    private static final long EVENT_SIZE = 12;
    private static final int MAX_EVENTS = 64;

    /** Receives the token of each ready descriptor. */
    @FunctionalInterface
    public interface ReadyHandler {
        void ready(long token);
    }

    private final int epfd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment events = arena.allocate(EVENT_SIZE * MAX_EVENTS, 8);
    private final MemorySegment waitErrno = Libc.errnoBuffer(arena);
    private final MemorySegment ctlEvent = arena.allocate(EVENT_SIZE, 8);
    private final MemorySegment ctlErrno = Libc.errnoBuffer(arena);
    private volatile boolean closed;

    public Epoll() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = Libc.errnoBuffer(a);
            int fd = (int) Libc.EPOLL_CREATE1.invokeExact(st, EPOLL_CLOEXEC);
            if (fd < 0) throw new SyscallException("epoll_create1", Libc.errno(st));
            this.epfd = fd;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
        assert EVENT.byteSize() == EVENT_SIZE;
    }

    public int fd() {
        return epfd;
    }

    /** Watches {@code fd} for readability. */
    public void add(int fd, long token) {
        add(fd, EPOLLIN, token);
    }

    /** Watches {@code fd} for {@code eventMask} (EPOLLIN, optionally with EPOLLET). */
    public void add(int fd, int eventMask, long token) {
        ctl(EPOLL_CTL_ADD, fd, eventMask, token);
    }

    /** Changes what {@code fd} is watched for: EPOLLIN, or 0 to keep it registered but silent. */
    public void modify(int fd, int eventMask, long token) {
        ctl(EPOLL_CTL_MOD, fd, eventMask, token);
    }

    public void remove(int fd) {
        ctl(EPOLL_CTL_DEL, fd, 0, 0);
    }

    private void ctl(int op, int fd, int mask, long token) {
        // One event buffer per instance, not an arena per call: a backend re-arms a port on every event.
        synchronized (ctlEvent) {
            if (closed) throw new SyscallException("epoll_ctl", Errno.EBADF);
            ctlEvent.set(ValueLayout.JAVA_INT, 0, mask);
            ctlEvent.set(ValueLayout.JAVA_LONG_UNALIGNED, 4, token);
            int rc;
            try {
                rc = (int) Libc.EPOLL_CTL.invokeExact(ctlErrno, epfd, op, fd, ctlEvent);
            } catch (Throwable t) {
                throw Libc.rethrow(t);
            }
            if (rc != 0) throw new SyscallException("epoll_ctl", Libc.errno(ctlErrno));
        }
    }

    /**
     * Waits up to {@code timeoutMillis} (-1: forever, 0: poll) and calls {@code handler} for each ready descriptor.
     * Returns the number of ready descriptors (0 on timeout or on a signal interrupting the wait).
     */
    public int await(int timeoutMillis, ReadyHandler handler) {
        int n;
        try {
            n = (int) Libc.EPOLL_WAIT.invokeExact(waitErrno, epfd, events, MAX_EVENTS, timeoutMillis);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
        if (n < 0) {
            int errno = Libc.errno(waitErrno);
            if (errno == Errno.EINTR) return 0;
            throw new SyscallException("epoll_wait", errno);
        }
        for (int i = 0; i < n; i++) handler.ready(events.get(ValueLayout.JAVA_LONG_UNALIGNED, i * EVENT_SIZE + 4));
        return n;
    }

    @Override
    public void close() {
        synchronized (ctlEvent) {
            if (closed) return;
            closed = true;
        }
        Libc.close(epfd);
        arena.close();
    }
}
