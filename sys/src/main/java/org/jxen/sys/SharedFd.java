package org.jxen.sys;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * A file descriptor used by several threads and closed by one of them. Linux reuses a closed descriptor's number at
 * once, so a call that read the number before the close and issues its syscall after it would act on whatever file
 * got that number next (a write to someone else's eventfd, an MSI into another VM). Each call therefore holds the
 * descriptor for the length of its syscall ({@link #acquire}/{@link #release}); {@link #close} stops new holds, waits
 * for the ones in flight (syscalls that never block, so the wait is short) and only then closes the number.
 *
 * <p>State: bit 31 = closing; bits 0..30 = holds in flight. One atomic add per call.
 */
public final class SharedFd {
    private static final int CLOSING = 1 << 31;
    private final int fd;
    private final AtomicInteger state = new AtomicInteger();

    public SharedFd(int fd) {
        this.fd = fd;
    }

    /** The descriptor, held until {@link #release}; -1 (nothing held) once closing has begun. */
    public int acquire() {
        if ((state.getAndIncrement() & CLOSING) != 0) {
            state.getAndDecrement();
            return -1;
        }
        return fd;
    }

    /** Ends a hold that {@link #acquire} granted. */
    public void release() {
        state.getAndDecrement();
    }

    /** The number, for messages and for calls made by the closing thread itself. */
    public int number() {
        return fd;
    }

    public boolean isClosed() {
        return (state.get() & CLOSING) != 0;
    }

    /** Closes the descriptor once no call holds it; idempotent. */
    public void close() {
        int s = state.getAndUpdate(v -> v | CLOSING);
        if ((s & CLOSING) != 0) return;
        while ((state.get() & ~CLOSING) != 0) Thread.onSpinWait();
        Libc.close(fd);
    }
}
