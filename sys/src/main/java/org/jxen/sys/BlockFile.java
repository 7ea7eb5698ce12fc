package org.jxen.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/**
 * A disk image file for a block backend: positional reads and writes straight between the file and a memory segment
 * (a granted guest page), {@code fdatasync} for flushes and {@code fallocate(PUNCH_HOLE)} for discards. Calls return
 * byte counts or negative errno values, so a failing disk becomes an I/O error for the one request, not an exception.
 * The owner closes it after the one thread doing I/O on it has stopped.
 */
public final class BlockFile implements AutoCloseable {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle PREAD = handle("pread", FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
    private static final MethodHandle PWRITE = handle("pwrite", FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
    private static final MethodHandle FDATASYNC = handle("fdatasync", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle FALLOCATE = handle("fallocate", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
    private static final MethodHandle LSEEK = handle("lseek", FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
            ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
    private static final MethodHandle FCNTL_LOCK = LINKER.downcallHandle(LINKER.defaultLookup().find("fcntl").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS),
            Linker.Option.firstVariadicArg(2), Linker.Option.captureCallState("errno"));
    /** O_RDONLY; FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE; SEEK_END. */
    private static final int O_RDONLY = 0, PUNCH_HOLE = 0x01 | 0x02, SEEK_END = 2;
    /** fcntl's F_OFD_SETLK and the lock types (asm-generic/fcntl.h). */
    private static final int F_OFD_SETLK = 37, F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;
    /** struct flock on x86-64: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid (32 bytes). */
    private static final long FLOCK_SIZE = 32, L_TYPE = 0, L_WHENCE = 2, L_START = 8, L_LEN = 16, L_PID = 24;

    private final OwnedFd fd;
    private final long size;
    private final boolean readOnly;

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd, Linker.Option.captureCallState("errno"));
    }

    private BlockFile(int fd, Path file, long size, boolean readOnly) {
        this.fd = new OwnedFd(fd, "the image " + file);
        this.size = size;
        this.readOnly = readOnly;
    }

    /**
     * Opens an image (read-only or read-write) and locks it for as long as it is open: a read-write image exclusively,
     * a read-only one shared, so a second user that would write is refused while anyone uses it, and read-only users
     * share it. The lock is an open file description lock ({@code F_OFD_SETLK}) over the whole file, the kind QEMU
     * takes on its images ({@code util/osdep.c} {@code qemu_lock_fd}): it belongs to this open, not to the process, so
     * two opens conflict even within one process, and it goes with the last descriptor of the open. SyscallException
     * naming the file if it cannot be opened; {@link SyscallException#errno()} EAGAIN (or EACCES) if another open holds
     * a conflicting lock.
     */
    public static BlockFile open(Path file, boolean readOnly) {
        int fd = Libc.open(file.toString(), (readOnly ? O_RDONLY : Libc.O_RDWR) | Libc.O_CLOEXEC);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = Libc.errnoBuffer(a);
            int locked = setLock(fd, readOnly ? F_RDLCK : F_WRLCK);
            if (locked != 0) {
                Libc.close(fd);
                throw new SyscallException(file + ": F_OFD_SETLK", locked);
            }
            long end = (long) LSEEK.invokeExact(st, fd, 0L, SEEK_END);
            if (end < 0) {
                int e = Libc.errno(st);
                Libc.close(fd);
                throw new SyscallException(file + ": lseek", e);
            }
            return new BlockFile(fd, file, end, readOnly);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** F_OFD_SETLK of {@code type} over the whole file; 0 or the errno. */
    private static int setLock(int fd, int type) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = Libc.errnoBuffer(a);
            MemorySegment lock = a.allocate(FLOCK_SIZE, 8); // zeroed: SEEK_SET, from 0, to the end and beyond; l_pid 0 as OFD locks need
            lock.set(ValueLayout.JAVA_SHORT, L_TYPE, (short) type);
            lock.set(ValueLayout.JAVA_SHORT, L_WHENCE, (short) 0);
            lock.set(ValueLayout.JAVA_LONG, L_START, 0L);
            lock.set(ValueLayout.JAVA_LONG, L_LEN, 0L);
            lock.set(ValueLayout.JAVA_INT, L_PID, 0);
            return (int) FCNTL_LOCK.invokeExact(st, fd, F_OFD_SETLK, lock) < 0 ? Libc.errno(st) : 0;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /**
     * Gives the image's lock up while it stays open (a live migration's switch-over: the destination opens and locks
     * it, as QEMU's source inactivates its images, block.c bdrv_inactivate_all); nothing may write it meanwhile.
     */
    public void unlock() {
        int e = setLock(fd.number(), F_UNLCK);
        if (e != 0) throw new SyscallException("F_OFD_SETLK F_UNLCK", e);
    }

    /** Takes the lock {@link #open} took again after {@link #unlock}; SyscallException (EAGAIN) if another open holds it now. */
    public void relock() {
        int e = setLock(fd.number(), readOnly ? F_RDLCK : F_WRLCK);
        if (e != 0) throw new SyscallException("F_OFD_SETLK", e);
    }

    /** The image's size in bytes (at open). */
    public long size() {
        return size;
    }

    public boolean readOnly() {
        return readOnly;
    }

    /** Reads {@code dst.byteSize()} bytes at {@code offset}; 0, or -errno (-EIO for a short read past the end). */
    public synchronized int read(MemorySegment dst, long offset) {
        return transfer(PREAD, dst, offset);
    }

    /** Writes all of {@code src} at {@code offset}; 0 or -errno. */
    public synchronized int write(MemorySegment src, long offset) {
        if (readOnly) return -Errno.EBADF;
        return transfer(PWRITE, src, offset);
    }

    private int transfer(MethodHandle call, MemorySegment buf, long offset) {
        if (fd.isClosed()) return -Errno.EBADF;
        long done = 0, len = buf.byteSize();
        try {
            while (done < len) {
                long n = (long) call.invokeExact(fd.errno(), fd.number(), buf.asSlice(done), len - done, offset + done);
                if (n < 0) {
                    int e = Libc.errno(fd.errno());
                    if (e == Errno.EINTR) continue;
                    return -e;
                }
                if (n == 0) return -Errno.EIO; // past the end of the file
                done += n;
            }
            return 0;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** fdatasync(2): what was written is on stable storage when this returns 0. */
    public synchronized int flush() {
        if (fd.isClosed()) return -Errno.EBADF;
        try {
            int rc = (int) FDATASYNC.invokeExact(fd.errno(), fd.number());
            return rc == 0 ? 0 : -Libc.errno(fd.errno());
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Deallocates a range (reads of it return zeros afterwards); -EOPNOTSUPP where the file system cannot. */
    public synchronized int discard(long offset, long length) {
        if (fd.isClosed()) return -Errno.EBADF;
        if (readOnly) return -Errno.EBADF;
        try {
            int rc = (int) FALLOCATE.invokeExact(fd.errno(), fd.number(), PUNCH_HOLE, offset, length);
            return rc == 0 ? 0 : -Libc.errno(fd.errno());
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    @Override
    public synchronized void close() { // after an I/O call in flight, which holds the lock
        fd.close();
    }
}
