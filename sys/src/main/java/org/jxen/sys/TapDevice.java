package org.jxen.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * A Linux TAP interface ({@code Documentation/networking/tuntap.rst}): Ethernet frames, one per read or write, on a
 * non-blocking, close-on-exec descriptor of {@code /dev/net/tun} attached with TUNSETIFF (IFF_TAP | IFF_NO_PI: no
 * packet-information prefix, no offload header). Attaching to an existing persistent TAP (made by
 * {@code ip tuntap add mode tap}) needs only access to it; naming one that does not exist creates it (CAP_NET_ADMIN),
 * multi-queue, and it goes away with the last descriptor. A multi-queue TAP (one jxen made, or
 * {@code ip tuntap add mode tap multi_queue}) takes a descriptor per process: a live migration's destination on the
 * same host attaches beside the source. Reads and writes are for one thread at a time; {@link #close} after it stopped.
 */
public final class TapDevice implements AutoCloseable {
    /** TUNSETIFF = _IOW('T', 202, int) ({@code linux/if_tun.h}). */
    private static final long TUNSETIFF = 0x400454caL;
    private static final short IFF_TAP = 0x0002, IFF_NO_PI = 0x1000, IFF_MULTI_QUEUE = 0x0100;
    /** struct ifreq: a 16-byte name, then a union whose first member here is the short ifr_flags. */
    private static final int IFREQ_SIZE = 40, IFNAMSIZ = 16, IFR_FLAGS = 16;
    private static final int O_NONBLOCK = 0x800;

    private final OwnedFd fd;
    private final String name;

    private TapDevice(int fd, String name) {
        this.fd = new OwnedFd(fd, "the TAP " + name);
        this.name = name;
    }

    /** Attaches to (or creates) the TAP interface {@code name}; SyscallException naming what failed. */
    public static TapDevice open(String name) {
        byte[] bytes = name.getBytes(StandardCharsets.US_ASCII);
        if (bytes.length == 0 || bytes.length >= IFNAMSIZ) throw new IllegalArgumentException("an interface name has 1..15 characters");
        // Multi-queue first: a second process (a live migration's destination on the same host) can then attach a
        // queue of its own while the source still holds one (drivers/net/tun.c tun_set_iff: a single-queue device
        // already attached is -EBUSY). A persistent single-queue TAP refuses the flag (-EINVAL): attach as it is.
        Attached t = attach(bytes, (short) (IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE));
        if (t.fd() == -Errno.EINVAL) t = attach(bytes, (short) (IFF_TAP | IFF_NO_PI));
        if (t.fd() < 0) throw new SyscallException("TUNSETIFF " + name, -t.fd());
        return new TapDevice(t.fd(), t.name());
    }

    /** A descriptor attached to a TAP, with the name the kernel gave it; fd is -errno if the attach failed. */
    private record Attached(int fd, String name) {}

    private static Attached attach(byte[] name, short flags) {
        int fd = Libc.open("/dev/net/tun", Libc.O_RDWR | Libc.O_CLOEXEC | O_NONBLOCK);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = a.allocate(IFREQ_SIZE);
            MemorySegment.copy(name, 0, ifr, ValueLayout.JAVA_BYTE, 0, name.length);
            ifr.set(ValueLayout.JAVA_SHORT, IFR_FLAGS, flags);
            int rc = Libc.ioctl(fd, TUNSETIFF, ifr, Libc.errnoBuffer(a));
            if (rc < 0) {
                Libc.close(fd);
                return new Attached(rc, null);
            }
            return new Attached(fd, ifr.getString(0, StandardCharsets.US_ASCII));
        }
    }

    /** The interface's name (as the kernel has it). */
    public String name() {
        return name;
    }

    /** The descriptor, for epoll: readable when a frame is queued. */
    public int fd() {
        return fd.number();
    }

    /**
     * Reads one frame into {@code into}: its length (a frame longer than {@code into} is cut to it), 0 if none is
     * queued, or -errno.
     */
    public int read(MemorySegment into) {
        try {
            long rc = (long) Libc.READ.invokeExact(fd.errno(), fd.number(), into, into.byteSize());
            if (rc >= 0) return (int) rc;
            int e = Libc.errno(fd.errno());
            return e == Errno.EAGAIN ? 0 : -e;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Writes one frame: 0, or -errno (EIO while the interface is down: the frame is dropped, as by a cable unplugged). */
    public int write(MemorySegment frame) {
        try {
            long rc = (long) Libc.WRITE.invokeExact(fd.errno(), fd.number(), frame, frame.byteSize());
            return rc >= 0 ? 0 : -Libc.errno(fd.errno());
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    @Override
    public void close() {
        fd.close();
    }
}
