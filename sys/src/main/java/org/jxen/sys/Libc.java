package org.jxen.sys;

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
}
