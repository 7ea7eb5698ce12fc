package org.jxen.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * A terminal in raw mode (termios through libc's tcgetattr, cfmakeraw, tcsetattr): every key reaches the guest's
 * console as typed, with no local echo or line editing, as {@code xl console} does. {@link #close} restores the
 * settings it found.
 */
public final class Terminal implements AutoCloseable {
    /** sizeof(struct termios) with glibc on x86-64 is 60; room to spare. */
    private static final int TERMIOS_SIZE = 128, TCSANOW = 0;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle ISATTY = handle("isatty", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle TCGETATTR = handle("tcgetattr", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
    private static final MethodHandle TCSETATTR = handle("tcsetattr",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
    private static final MethodHandle CFMAKERAW = handle("cfmakeraw", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));

    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment saved = arena.allocate(TERMIOS_SIZE, 8);
    private boolean restored;

    private static MethodHandle handle(String name, FunctionDescriptor d) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), d);
    }

    private Terminal(int fd) {
        this.fd = fd;
    }

    /** Whether {@code fd} is a terminal. */
    public static boolean isTerminal(int fd) {
        try {
            return (int) ISATTY.invokeExact(fd) == 1;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Puts terminal {@code fd} in raw mode; null if it is not a terminal or refuses. */
    public static Terminal raw(int fd) {
        if (!isTerminal(fd)) return null;
        Terminal t = new Terminal(fd);
        try (Arena a = Arena.ofConfined()) {
            if ((int) TCGETATTR.invokeExact(fd, t.saved) != 0) {
                t.arena.close();
                return null;
            }
            MemorySegment raw = a.allocate(TERMIOS_SIZE, 8);
            MemorySegment.copy(t.saved, 0, raw, 0, TERMIOS_SIZE);
            CFMAKERAW.invokeExact(raw);
            if ((int) TCSETATTR.invokeExact(fd, TCSANOW, raw) != 0) {
                t.arena.close();
                return null;
            }
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
        return t;
    }

    /** Restores the settings found; idempotent. */
    @Override
    public synchronized void close() {
        if (restored) return;
        restored = true;
        try {
            int rc = (int) TCSETATTR.invokeExact(fd, TCSANOW, saved);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        } finally {
            arena.close();
        }
    }
}
