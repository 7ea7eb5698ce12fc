package org.jxen.vmm.kvm;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.time.Duration;

/**
 * What {@code jxen run} starts: the image, RAM, vCPUs, the kernel command line, the time limit, the guest's console
 * (the PV console ring: output and input) and the hypervisor console (console_io and the debug ports, prefixed
 * "(dN) " per line, as Xen's log keeps them apart from the guest's console).
 */
public record RunConfig(Path image, long memoryBytes, int vcpus, String cmdline, Duration timeout, OutputStream console,
        InputStream consoleInput, OutputStream hypervisorConsole) {
    /** Both consoles on one stream (tests, embedding): the hypervisor console's lines carry their prefix. */
    public RunConfig(Path image, long memoryBytes, int vcpus, String cmdline, Duration timeout, OutputStream console, InputStream consoleInput) {
        this(image, memoryBytes, vcpus, cmdline, timeout, console, consoleInput, console);
    }

    public RunConfig {
        if (vcpus < 1 || vcpus > 32) throw new IllegalArgumentException("--vcpus must be 1..32");
        if (memoryBytes < (2L << 20) || memoryBytes > (3L << 30)) throw new IllegalArgumentException("--memory must be 2..3072 MiB");
        if (timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("--timeout must be positive");
    }
}
