package org.jxen.vmm.backend;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The hypervisor's console, as Xen keeps it apart from the guest's own console: what a domain writes with
 * HYPERVISOR_console_io (and to the debug ports) goes to Xen's log, line by line, each line prefixed with the
 * domain ("(d1) ", {@code drivers/char/console.c: guest_console_write}), not to the PV console ({@code xl console}).
 * jxen sends it to standard error (or wherever the run says) so a guest writing both never shows a line twice on
 * its console. Line-buffered and thread-safe: vCPUs write at once.
 */
public final class HypervisorConsole extends OutputStream {
    /** Xen flushes a guest's partial line at this length too. */
    private static final int MAX_LINE = 1024;
    private final byte[] prefix;
    private final byte[] line = new byte[MAX_LINE];
    private int length;
    private volatile OutputStream out;

    public HypervisorConsole(int domid, OutputStream out) {
        this.prefix = ("(d" + domid + ") ").getBytes(StandardCharsets.US_ASCII);
        this.out = out;
    }

    /** Sends later lines to {@code to} (set before the guest runs: the run's choice of stream). */
    public void redirect(OutputStream to) {
        this.out = to;
    }

    @Override
    public synchronized void write(int b) throws IOException {
        if (b == '\r') return;
        line[length++] = (byte) b;
        if (b == '\n' || length == MAX_LINE) emit();
    }

    @Override
    public synchronized void write(byte[] b, int off, int len) throws IOException {
        for (int i = 0; i < len; i++) write(b[off + i]);
    }

    private void emit() throws IOException {
        OutputStream o = out;
        byte[] whole = new byte[prefix.length + length + (line[length - 1] == '\n' ? 0 : 1)];
        System.arraycopy(prefix, 0, whole, 0, prefix.length);
        System.arraycopy(line, 0, whole, prefix.length, length);
        if (line[length - 1] != '\n') whole[whole.length - 1] = '\n';
        length = 0;
        synchronized (o) {
            o.write(whole);
            o.flush();
        }
    }

    @Override
    public synchronized void flush() throws IOException {
        // Partial lines wait for their newline, as Xen's do; the stream itself is flushed per line.
    }
}
