package org.jxen.sys;

/** Linux errno values the sys layer reacts to (asm-generic/errno-base.h, errno.h). */
public final class Errno {
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EINTR = 4;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EFAULT = 14;
    public static final int EEXIST = 17;
    public static final int ENODEV = 19;
    public static final int EIO = 5;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int EOPNOTSUPP = 95;
    public static final int EMFILE = 24;
    public static final int ENOSYS = 38;
    public static final int ENOTCONN = 107;
    public static final int EPIPE = 32;
    public static final int EPROTO = 71;
    public static final int ECONNREFUSED = 111;

    private Errno() {}

    public static String describe(int errno) {
        String name = switch (errno) {
            case EPERM -> "EPERM";
            case ENOENT -> "ENOENT";
            case EINTR -> "EINTR";
            case EBADF -> "EBADF";
            case EAGAIN -> "EAGAIN";
            case ENOMEM -> "ENOMEM";
            case EACCES -> "EACCES";
            case EFAULT -> "EFAULT";
            case EEXIST -> "EEXIST";
            case ENODEV -> "ENODEV";
            case EIO -> "EIO";
            case EINVAL -> "EINVAL";
            case ENOSPC -> "ENOSPC";
            case EOPNOTSUPP -> "EOPNOTSUPP";
            case EMFILE -> "EMFILE";
            case ENOSYS -> "ENOSYS";
            case ENOTCONN -> "ENOTCONN";
            case EPIPE -> "EPIPE";
            case EPROTO -> "EPROTO";
            case ECONNREFUSED -> "ECONNREFUSED";
            default -> "errno " + errno;
        };
        return name;
    }
}
