package org.jxen.sys.kvm;

import org.jxen.sys.Errno;

/** A KVM ioctl failed where jxen cannot go on (VM setup, a vCPU's state); names the ioctl and the errno. */
public final class KvmException extends RuntimeException {
    private final int errno;

    public KvmException(String ioctl, int errno) {
        super(ioctl + " failed: " + Errno.describe(errno));
        this.errno = errno;
    }

    public KvmException(String message) {
        super(message);
        this.errno = 0;
    }

    public int errno() {
        return errno;
    }
}
