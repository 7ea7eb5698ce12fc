package org.jxen.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The client end of a UNIX-domain stream socket ({@code unix(7)}), non-blocking and close-on-exec, for a descriptor
 * that epoll watches: bytes in, bytes out, no message boundaries (whoever uses it frames them). Reads and writes are
 * for one thread at a time; {@link #close} after it stopped.
 */
public final class UnixStream implements AutoCloseable {
    private static final int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000;
    /** struct sockaddr_un: sun_family, then a 108-byte path (NUL-terminated). */
    private static final int SOCKADDR_UN_SIZE = 110, SUN_PATH = 2, SUN_PATH_MAX = 108;
    /** send(2) flag: a peer that closed gives EPIPE, not SIGPIPE. */
    private static final int MSG_NOSIGNAL = 0x4000;
    /** struct pollfd: fd, events, revents; POLLOUT. */
    private static final int POLLFD_SIZE = 8, POLL_EVENTS = 4, POLLOUT = 4;

    private final OwnedFd fd;
    private final MemorySegment pollfd;

    private UnixStream(int fd, Path path) {
        this.fd = new OwnedFd(fd, "the UNIX socket to " + path);
        this.pollfd = this.fd.allocate(POLLFD_SIZE);
    }

    /** Connects to the socket at {@code path}; SyscallException (with the path) if nobody accepts there. */
    public static UnixStream connect(Path path) {
        byte[] name = path.toString().getBytes(StandardCharsets.UTF_8);
        if (name.length >= SUN_PATH_MAX) throw new IllegalArgumentException("a UNIX socket path has at most " + (SUN_PATH_MAX - 1) + " bytes: " + path);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = Libc.errnoBuffer(a);
            int fd = (int) Libc.SOCKET.invokeExact(st, AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) throw new SyscallException("socket(AF_UNIX)", Libc.errno(st));
            MemorySegment addr = a.allocate(SOCKADDR_UN_SIZE);
            addr.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
            MemorySegment.copy(name, 0, addr, ValueLayout.JAVA_BYTE, SUN_PATH, name.length);
            // A local stream connect completes at once or fails (unix(7): no EINPROGRESS unless the backlog is full).
            int rc = (int) Libc.CONNECT.invokeExact(st, fd, addr, SOCKADDR_UN_SIZE);
            if (rc < 0) {
                int e = Libc.errno(st);
                Libc.close(fd);
                throw new SyscallException("connect " + path, e);
            }
            return new UnixStream(fd, path);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** The descriptor, for epoll: readable when bytes (or the peer's close) are queued. */
    public int fd() {
        return fd.number();
    }

    /** Reads what is queued into {@code into}: the count (> 0), 0 at the end of the stream (the peer closed), or -errno (-EAGAIN: nothing queued). */
    public int read(MemorySegment into) {
        try {
            long rc = (long) Libc.READ.invokeExact(fd.errno(), fd.number(), into, into.byteSize());
            return rc >= 0 ? (int) rc : -Libc.errno(fd.errno());
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Sends what the socket takes of {@code bytes} now: the count (possibly less than all), or -errno (-EAGAIN: full, -EPIPE: the peer closed). */
    public int send(MemorySegment bytes) {
        try {
            long rc = (long) Libc.SEND.invokeExact(fd.errno(), fd.number(), bytes, bytes.byteSize(), MSG_NOSIGNAL);
            return rc >= 0 ? (int) rc : -Libc.errno(fd.errno());
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Waits up to {@code millis} for room to send: true if there is (or the socket failed, which the next send reports). */
    public boolean awaitWritable(int millis) {
        pollfd.set(ValueLayout.JAVA_INT, 0, fd.number());
        pollfd.set(ValueLayout.JAVA_SHORT, POLL_EVENTS, (short) POLLOUT);
        pollfd.set(ValueLayout.JAVA_SHORT, POLL_EVENTS + 2, (short) 0);
        try {
            int rc = (int) Libc.POLL.invokeExact(fd.errno(), pollfd, 1L, millis);
            return rc != 0; // an error (EINTR included) lets the caller try again at once
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    @Override
    public void close() {
        fd.close();
    }
}
