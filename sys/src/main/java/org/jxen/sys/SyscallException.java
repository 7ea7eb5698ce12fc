package org.jxen.sys;

/** A failed system call on the host side: the call's name and errno, as one line. */
public final class SyscallException extends RuntimeException {
    private final int errno;

    public SyscallException(String call, int errno) {
        super(call + " failed: " + Errno.describe(errno));
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
