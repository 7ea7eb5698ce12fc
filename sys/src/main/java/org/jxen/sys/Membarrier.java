package org.jxen.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * membarrier(2), private expedited: a full memory barrier on every running thread of this process, issued by one
 * thread. It lets frequent readers skip their own fence (a locked instruction each) while a rare writer pays for all
 * of them, as liburcu's membarrier flavour does.
 */
public final class Membarrier {
    private Membarrier() {}

    private static final long SYS_MEMBARRIER = 324; // x86-64
    private static final int CMD_QUERY = 0, CMD_PRIVATE_EXPEDITED = 1 << 3, CMD_REGISTER_PRIVATE_EXPEDITED = 1 << 4;

    /** Registers the process for private expedited barriers; false where the kernel has none (or refuses). */
    public static boolean registerPrivateExpedited() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = Libc.errnoBuffer(a);
            long supported = (long) Libc.SYSCALL3.invokeExact(st, SYS_MEMBARRIER, CMD_QUERY, 0, 0);
            if (supported < 0 || (supported & CMD_PRIVATE_EXPEDITED) == 0 || (supported & CMD_REGISTER_PRIVATE_EXPEDITED) == 0) return false;
            return (long) Libc.SYSCALL3.invokeExact(st, SYS_MEMBARRIER, CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** A barrier on every running thread of this process (after {@link #registerPrivateExpedited}). */
    public static void privateExpedited() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = Libc.errnoBuffer(a);
            long rc = (long) Libc.SYSCALL3.invokeExact(st, SYS_MEMBARRIER, CMD_PRIVATE_EXPEDITED, 0, 0);
            if (rc != 0) throw new SyscallException("membarrier", Libc.errno(st));
        } catch (SyscallException e) {
            throw e;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }
}
