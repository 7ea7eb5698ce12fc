package org.jxen.vmm.kvm;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.time.Duration;

/** What {@code jxen run} starts: the image, RAM, vCPUs, the kernel command line, the time limit, the console. */
public record RunConfig(Path image, long memoryBytes, int vcpus, String cmdline, Duration timeout, OutputStream console,
        InputStream consoleInput) {
    public RunConfig {
        if (vcpus < 1 || vcpus > 32) throw new IllegalArgumentException("--vcpus must be 1..32");
        if (memoryBytes < (2L << 20) || memoryBytes > (3L << 30)) throw new IllegalArgumentException("--memory must be 2..3072 MiB");
        if (timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("--timeout must be positive");
    }
}
