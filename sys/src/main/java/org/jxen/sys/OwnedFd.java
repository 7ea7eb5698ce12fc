package org.jxen.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A descriptor that one object owns, with the native memory its calls use (the errno buffer they capture into, and
 * whatever else the owner allocates here) in one shared arena, closed with it. Calls come from one thread at a time
 * (or under the owner's lock); {@link #close} is idempotent and comes after the threads that may still call have
 * stopped (docs/ownership.md). A call after the close throws IllegalStateException naming the descriptor instead of
 * acting on a number Linux may already have given to another file. A descriptor that several threads call at once,
 * and that one of them may close meanwhile, is a {@link SharedFd} instead.
 */
final class OwnedFd implements AutoCloseable {
    private final int fd;
    /** What the descriptor is, for the message of a late call. */
    private final String what;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment errno = Libc.errnoBuffer(arena);
    private volatile boolean closed;

    OwnedFd(int fd, String what) {
        this.fd = fd;
        this.what = what;
    }

    /** The number; IllegalStateException once closed. */
    int number() {
        if (closed) throw new IllegalStateException(what + " (descriptor " + fd + ") is closed");
        return fd;
    }

    /** The errno buffer for this descriptor's calls (one thread at a time, as the calls). */
    MemorySegment errno() {
        return errno;
    }

    /** Native memory that lives as long as the descriptor is open. */
    MemorySegment allocate(long bytes) {
        return arena.allocate(bytes);
    }

    boolean isClosed() {
        return closed;
    }

    /** Closes the descriptor, then frees its memory; idempotent. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        Libc.close(fd);
        arena.close();
    }
}
