package org.jxen.bench.paired;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** The C reference library ({@code bench/src/main/c/jxenref.c}, built by Maven), loaded into this process. */
final class CReferences {
    private static final Linker LINKER = Linker.nativeLinker();
    private final MethodHandle ref2lSetup, ref2lRun, ref2lThreadsRun, fifoSetup, fifoRun, fifoThreadsRun, efdSetup, efdRun, efdTeardown, kvmOpen, kvmRun, kvmClose;

    private CReferences(SymbolLookup lib) {
        ref2lSetup = fn(lib, "ref2l_setup", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        ref2lRun = fn(lib, "ref2l_run", FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
        ref2lThreadsRun = fn(lib, "ref2l_threads_run", FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
        fifoSetup = fn(lib, "reffifo_setup", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        fifoRun = fn(lib, "reffifo_run", FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
        fifoThreadsRun = fn(lib, "reffifo_threads_run", FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
        efdSetup = fn(lib, "refefd_setup", FunctionDescriptor.of(ValueLayout.JAVA_INT));
        efdRun = fn(lib, "refefd_run", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
        efdTeardown = fn(lib, "refefd_teardown", FunctionDescriptor.ofVoid());
        kvmOpen = fn(lib, "kvmref_open", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
        kvmRun = fn(lib, "kvmref_run", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
        kvmClose = fn(lib, "kvmref_close", FunctionDescriptor.ofVoid());
    }

    private static MethodHandle fn(SymbolLookup lib, String name, FunctionDescriptor d) {
        return LINKER.downcallHandle(lib.find(name).orElseThrow(() -> new IllegalStateException("no " + name)), d);
    }

    /** Extracts libjxenref.so from the jar (or classes directory) and loads it. */
    static CReferences load() {
        try (InputStream in = CReferences.class.getResourceAsStream("/native/libjxenref.so")) {
            if (in == null) throw new IllegalStateException("libjxenref.so is not built (run the Maven build)");
            Path tmp = Files.createTempFile("jxenref", ".so");
            tmp.toFile().deleteOnExit();
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            return new CReferences(SymbolLookup.libraryLookup(tmp, Arena.global()));
        } catch (IOException e) {
            throw new IllegalStateException("cannot extract the C references: " + e.getMessage(), e);
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        return t instanceof RuntimeException r ? r : new IllegalStateException(t);
    }

    void setup2l(int ports) {
        try {
            if ((int) ref2lSetup.invokeExact(ports) != 0) throw new IllegalStateException("ref2l_setup failed");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    long run2l(long iters) {
        try {
            return (long) ref2lRun.invokeExact(iters);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code threads} threads sending 2-level to each other, {@code iters} each: the wall time, 0 on failure. */
    long run2lThreads(int threads, long iters) {
        try {
            return (long) ref2lThreadsRun.invokeExact(threads, iters);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code threads} threads sending FIFO events to each other, {@code iters} each: the wall time, 0 on failure. */
    long runFifoThreads(int threads, long iters) {
        try {
            return (long) fifoThreadsRun.invokeExact(threads, iters);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void setupFifo(int ports) {
        try {
            if ((int) fifoSetup.invokeExact(ports) != 0) throw new IllegalStateException("reffifo_setup failed");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    long runFifo(long iters) {
        try {
            return (long) fifoRun.invokeExact(iters);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void setupEventFd() {
        try {
            if ((int) efdSetup.invokeExact() != 0) throw new IllegalStateException("refefd_setup failed");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Round-trip samples in nanoseconds. */
    long[] runEventFd(int iters) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment samples = a.allocate(ValueLayout.JAVA_LONG, iters);
            if ((int) efdRun.invokeExact((long) iters, samples) != 0) throw new IllegalStateException("refefd_run failed");
            return samples.toArray(ValueLayout.JAVA_LONG);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void teardownEventFd() {
        try {
            efdTeardown.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The C reference VMM (kvmref.c) with {@code guest} on two vCPUs; 0 or -errno. */
    int kvmOpen(Path guest) {
        try (Arena a = Arena.ofConfined()) {
            return (int) kvmOpen.invokeExact(a.allocateFrom(guest.toString()));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** One batch of a benchmark guest command (GuestCommands.CMD_*), samples in ns; 0 or -errno. */
    int kvmRun(int cmd, int iters, long[] samples, long settleNanos) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(ValueLayout.JAVA_LONG, iters);
            int rc = (int) kvmRun.invokeExact(cmd, (long) iters, s, settleNanos);
            MemorySegment.copy(s, ValueLayout.JAVA_LONG, 0, samples, 0, iters);
            return rc;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void kvmClose() {
        try {
            kvmClose.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
