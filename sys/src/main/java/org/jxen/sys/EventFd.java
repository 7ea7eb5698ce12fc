package org.jxen.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A Linux eventfd (non-blocking, close-on-exec): a 64-bit counter that {@link #signal()} adds 1 to and
 * {@link #drain()} reads and resets. It is a real descriptor, so epoll can wait on it, and another process can
 * receive it (over a UNIX socket with SCM_RIGHTS, or inherited across fork/exec) and signal or drain it.
 *
 * <p>{@link #signal()} is thread-safe and never blocks; {@link #drain()} is for the one thread that consumes it.
 * {@link #close()} is idempotent and may race with signals: a signal that loses the race writes nothing (the
 * descriptor's number may already belong to another file) and returns false.
 */
public final class EventFd implements AutoCloseable {
    /** EFD_CLOEXEC | EFD_NONBLOCK ({@code sys/eventfd.h}). */
    private static final int FLAGS = 0x80000 | 0x800;
    /** The 8-byte value 1 that every signal writes; read-only, shared by all threads. */
    private static final MemorySegment ONE = Arena.global().allocateFrom(ValueLayout.JAVA_LONG, 1L);

    private final SharedFd fd;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Arena arena = Arena.ofShared();
    private final MemorySegment readBuffer = arena.allocate(ValueLayout.JAVA_LONG);
    private final MemorySegment readErrno = Libc.errnoBuffer(arena);

    private EventFd(int fd) {
        this.fd = new SharedFd(fd);
    }

    /** A new eventfd with counter 0. */
    public static EventFd create() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = Libc.errnoBuffer(a);
            int fd = (int) Libc.EVENTFD.invokeExact(st, 0, FLAGS);
            if (fd < 0) throw new SyscallException("eventfd", Libc.errno(st));
            return new EventFd(fd);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Wraps a descriptor received from elsewhere (it must be an eventfd); this object now owns it. */
    public static EventFd adopt(int fd) {
        return new EventFd(fd);
    }

    /** The descriptor's number (for epoll registration, irqfds, passing to another process). */
    public int fd() {
        return fd.number();
    }

    /** Adds 1 to the counter, waking any epoll or reader; false (nothing written) if the EventFd is closed. */
    public boolean signal() {
        int f = fd.acquire();
        if (f < 0) return false;
        long rc;
        try {
            rc = (long) Libc.WRITE_CRITICAL.invokeExact(f, ONE, 8L);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        } finally {
            fd.release();
        }
        // rc < 0 only when the counter would overflow (EAGAIN): the reader is already woken; nothing is lost.
        assert rc == 8 || rc == -1;
        return true;
    }

    /** Reads and resets the counter: the number of signals since the last drain, or 0 if none. */
    public long drain() {
        try {
            long rc = (long) Libc.READ.invokeExact(readErrno, fd.number(), readBuffer, 8L);
            if (rc == 8) return readBuffer.get(ValueLayout.JAVA_LONG, 0);
            int errno = Libc.errno(readErrno);
            if (errno == Errno.EAGAIN) return 0;
            throw new SyscallException("read(eventfd)", errno);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** A second, independently closable EventFd on the same counter (dup). */
    public EventFd duplicate() {
        return new EventFd(Libc.dup(fd.number()));
    }

    public boolean isClosed() {
        return closed.get();
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            fd.close();
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "EventFd[" + fd.number() + (closed.get() ? ", closed]" : "]");
    }
}
