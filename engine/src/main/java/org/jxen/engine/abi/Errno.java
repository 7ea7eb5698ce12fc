package org.jxen.engine.abi;

/**
 * Xen error numbers as a guest sees them (negated in RAX). Values are Xen's {@code public/errno.h},
 * which match Linux x86 numbering for the codes used here.
 */
public final class Errno {
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int ESRCH = 3;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int ENXIO = 6;
    public static final int E2BIG = 7;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EBADF = 9;
    public static final int EFAULT = 14;
    public static final int EBUSY = 16;
    public static final int EEXIST = 17;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int ENOSYS = 38;
    public static final int EOPNOTSUPP = 95;
    public static final int EAGAIN = 11;

    private Errno() {}

    /** The symbolic name of a (negative or positive) error code, for logs and test messages. */
    public static String name(long rc) {
        if (rc >= 0) return Long.toString(rc);
        return switch ((int) -rc) {
            case EPERM -> "-EPERM";
            case ENOENT -> "-ENOENT";
            case ESRCH -> "-ESRCH";
            case EINTR -> "-EINTR";
            case EIO -> "-EIO";
            case ENXIO -> "-ENXIO";
            case E2BIG -> "-E2BIG";
            case EAGAIN -> "-EAGAIN";
            case ENOMEM -> "-ENOMEM";
            case EACCES -> "-EACCES";
            case EBADF -> "-EBADF";
            case EFAULT -> "-EFAULT";
            case EBUSY -> "-EBUSY";
            case EEXIST -> "-EEXIST";
            case EINVAL -> "-EINVAL";
            case ENOSPC -> "-ENOSPC";
            case ENOSYS -> "-ENOSYS";
            case EOPNOTSUPP -> "-EOPNOTSUPP";
            default -> Long.toString(rc);
        };
    }
}
