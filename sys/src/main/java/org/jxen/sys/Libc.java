package org.jxen.sys;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * Downcall handles for the libc functions jxen uses, each {@code static final}. Calls that can fail capture errno
 * into a caller-supplied segment ({@link #errnoBuffer}); the short, never-blocking ones on hot paths (eventfd
 * signal) are marked {@code critical} so the call skips the thread-state transition.
 */
public final class Libc {
    private static final Logger LOG = System.getLogger(Libc.class.getName());
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    private static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;
    private static final ValueLayout ADDR = ValueLayout.ADDRESS;

    static final MethodHandle EVENTFD = handle("eventfd", FunctionDescriptor.of(C_INT, C_INT, C_INT));
    static final MethodHandle READ = handle("read", FunctionDescriptor.of(C_LONG, C_INT, ADDR, C_LONG));
    static final MethodHandle WRITE = handle("write", FunctionDescriptor.of(C_LONG, C_INT, ADDR, C_LONG));
    /** write(2) for eventfd signalling: never blocks (EFD_NONBLOCK), so it may run as a critical call. */
    static final MethodHandle WRITE_CRITICAL = LINKER.downcallHandle(LIBC.find("write").orElseThrow(),
            FunctionDescriptor.of(C_LONG, C_INT, ADDR, C_LONG), Linker.Option.critical(false));
    static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(C_INT, C_INT));
    static final MethodHandle DUP = handle("fcntl", FunctionDescriptor.of(C_INT, C_INT, C_INT, C_INT),
            Linker.Option.firstVariadicArg(2));
    static final MethodHandle EPOLL_CREATE1 = handle("epoll_create1", FunctionDescriptor.of(C_INT, C_INT));
    static final MethodHandle EPOLL_CTL = handle("epoll_ctl", FunctionDescriptor.of(C_INT, C_INT, C_INT, C_INT, ADDR));
    static final MethodHandle EPOLL_WAIT = handle("epoll_wait", FunctionDescriptor.of(C_INT, C_INT, ADDR, C_INT, C_INT));

    static final MethodHandle OPEN = handle("open", FunctionDescriptor.of(C_INT, ADDR, C_INT), Linker.Option.firstVariadicArg(2));
    static final MethodHandle IOCTL_PTR = handle("ioctl", FunctionDescriptor.of(C_INT, C_INT, C_LONG, ADDR), Linker.Option.firstVariadicArg(2));
    static final MethodHandle IOCTL_LONG = handle("ioctl", FunctionDescriptor.of(C_INT, C_INT, C_LONG, C_LONG), Linker.Option.firstVariadicArg(2));
    static final MethodHandle MMAP = handle("mmap", FunctionDescriptor.of(ADDR, ADDR, C_LONG, C_INT, C_INT, C_INT, C_LONG));
    static final MethodHandle MUNMAP = handle("munmap", FunctionDescriptor.of(C_INT, ADDR, C_LONG));
    static final MethodHandle MADVISE = handle("madvise", FunctionDescriptor.of(C_INT, ADDR, C_LONG, C_INT));
    static final MethodHandle GETTID = handle("gettid", FunctionDescriptor.of(C_INT));
    static final MethodHandle TGKILL = handle("tgkill", FunctionDescriptor.of(C_INT, C_INT, C_INT, C_INT));
    static final MethodHandle GETPID = handle("getpid", FunctionDescriptor.of(C_INT));
    static final MethodHandle SOCKET = handle("socket", FunctionDescriptor.of(C_INT, C_INT, C_INT, C_INT));
    static final MethodHandle CONNECT = handle("connect", FunctionDescriptor.of(C_INT, C_INT, ADDR, C_INT));
    static final MethodHandle SEND = handle("send", FunctionDescriptor.of(C_LONG, C_INT, ADDR, C_LONG, C_INT));
    static final MethodHandle POLL = handle("poll", FunctionDescriptor.of(C_INT, ADDR, C_LONG, C_INT));
    /** syscall(2) with three int arguments (membarrier has no libc wrapper). */
    static final MethodHandle SYSCALL3 = handle("syscall", FunctionDescriptor.of(C_LONG, C_LONG, C_INT, C_INT, C_INT),
            Linker.Option.firstVariadicArg(1));

    public static final int O_RDWR = 2, O_CLOEXEC = 0x80000;
    public static final int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20,
            MAP_NORESERVE = 0x4000;
    public static final int MADV_DONTNEED = 4;
    /** SIGPIPE: the JVM's own handler ignores it, so a thread can be interrupted out of a blocking ioctl with it. */
    public static final int SIGPIPE = 13;

    /** fcntl F_DUPFD_CLOEXEC. */
    static final int F_DUPFD_CLOEXEC = 1030;

    private Libc() {}

    private static MethodHandle handle(String name, FunctionDescriptor fd, Linker.Option... extra) {
        Linker.Option[] options = new Linker.Option[extra.length + 1];
        options[0] = CAPTURE_ERRNO;
        System.arraycopy(extra, 0, options, 1, extra.length);
        MemorySegment symbol = LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, fd, options);
    }

    /** A buffer for one call's captured errno (one per thread or per call site). */
    public static MemorySegment errnoBuffer(Arena arena) {
        return arena.allocate(CALL_STATE);
    }

    /** The errno a call left in {@code state}. */
    public static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    /** close(2), ignoring EINTR (Linux frees the descriptor anyway). Returns 0 or the errno. */
    public static int close(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = errnoBuffer(a);
            int rc = (int) CLOSE.invokeExact(st, fd);
            return rc == 0 ? 0 : errno(st);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** fcntl(fd, F_DUPFD_CLOEXEC, 0): a new descriptor for the same open file. */
    public static int dup(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = errnoBuffer(a);
            int rc = (int) DUP.invokeExact(st, fd, F_DUPFD_CLOEXEC, 0);
            if (rc < 0) throw new SyscallException("dup", errno(st));
            return rc;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** open(2); throws SyscallException (with the path) on failure. */
    public static int open(String path, int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = errnoBuffer(a);
            int fd = (int) OPEN.invokeExact(st, a.allocateFrom(path), flags);
            if (fd < 0) throw new SyscallException(path, errno(st));
            return fd;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ioctl(fd, request, ptr): the result (>= 0) or -errno. */
    public static int ioctl(int fd, long request, MemorySegment arg, MemorySegment errnoState) {
        try {
            int rc = (int) IOCTL_PTR.invokeExact(errnoState, fd, request, arg);
            return rc < 0 ? -errno(errnoState) : rc;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ioctl(fd, request, value) for requests whose argument is an integer: the result (>= 0) or -errno. */
    public static int ioctl(int fd, long request, long arg, MemorySegment errnoState) {
        try {
            int rc = (int) IOCTL_LONG.invokeExact(errnoState, fd, request, arg);
            return rc < 0 ? -errno(errnoState) : rc;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * mmap(2) of {@code length} bytes, owned by {@code owner}: closing that arena unmaps it, and every access after
     * that (through this segment or any slice of it) throws IllegalStateException instead of touching freed memory.
     * The mapping has no other way to be released, so whoever closes the arena must first stop every thread (and
     * every kernel object, such as a KVM memslot or a running vCPU) that may still use it.
     */
    public static MemorySegment mmap(Arena owner, long length, int prot, int flags, int fd, long offset) {
        MemorySegment p;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = errnoBuffer(a);
            p = (MemorySegment) MMAP.invokeExact(st, MemorySegment.NULL, length, prot, flags, fd, offset);
            if (p.address() == -1L) throw new SyscallException("mmap", errno(st));
        } catch (Throwable t) {
            throw rethrow(t);
        }
        long address = p.address();
        return p.reinterpret(length, owner, unused -> unmap(address, length));
    }

    /** The arena's cleanup for a mapping: runs once, after no thread can reach the segment any more. */
    private static void unmap(long address, long length) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = errnoBuffer(a);
            int rc = (int) MUNMAP.invokeExact(st, MemorySegment.ofAddress(address), length);
            if (rc != 0) LOG.log(Level.ERROR, "munmap of 0x" + Long.toHexString(address) + " failed: " + Errno.describe(errno(st)));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** madvise(2); returns 0 or the errno. */
    public static int madvise(MemorySegment range, int advice) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = errnoBuffer(a);
            int rc = (int) MADVISE.invokeExact(st, range, range.byteSize(), advice);
            return rc == 0 ? 0 : errno(st);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The calling thread's kernel thread id. */
    public static int gettid() {
        try (Arena a = Arena.ofConfined()) {
            return (int) GETTID.invokeExact(errnoBuffer(a));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Sends {@code signal} to thread {@code tid} of this process; returns 0 or the errno. */
    public static int signalThread(int tid, int signal) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = errnoBuffer(a);
            int pid = (int) GETPID.invokeExact(st);
            int rc = (int) TGKILL.invokeExact(st, pid, tid, signal);
            return rc == 0 ? 0 : errno(st);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
