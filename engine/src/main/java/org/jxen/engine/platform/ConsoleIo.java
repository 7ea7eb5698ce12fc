package org.jxen.engine.platform;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.memory.GuestVirtualMemory;

/**
 * HYPERVISOR_console_io(cmd, count, buffer): CONSOLEIO_write copies the guest's bytes to the console in bounded
 * chunks (any count, no allocation proportional to it; the first unreadable chunk is -EFAULT), as a verbose-debug Xen
 * lets a domU do. CONSOLEIO_read is for the console domain only: -EPERM.
 */
public final class ConsoleIo {
    public static final int WRITE = 0, READ = 1;
    private static final int CHUNK = 128;

    private final OutputStream console;

    public ConsoleIo(OutputStream console) {
        this.console = console;
    }

    public long handle(HypercallArgs args, GuestVirtualMemory mem) {
        int cmd = HypercallArgs.u32(args.a1());
        if (cmd == READ) return -Errno.EPERM;
        if (cmd != WRITE) return -Errno.ENOSYS;
        long count = Integer.toUnsignedLong(HypercallArgs.u32(args.a2()));
        long buffer = args.a3();
        byte[] chunk = new byte[CHUNK];
        MemorySegment seg = MemorySegment.ofArray(chunk);
        for (long done = 0; done < count; done += CHUNK) {
            int n = (int) Math.min(CHUNK, count - done);
            if (mem.read(buffer + done, seg.asSlice(0, n)) != 0) return -Errno.EFAULT;
            try {
                console.write(chunk, 0, n);
            } catch (IOException e) {
                return 0; // the host's console is gone: the guest goes on
            }
        }
        try {
            console.flush();
        } catch (IOException ignored) {
            // as above
        }
        return 0;
    }

}
