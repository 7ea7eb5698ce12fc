package org.jxen.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;

/**
 * The console's input handed from one domain to the next when a reboot restarts the guest: one thread reads the
 * user's input and passes it to the domain running now, through a pipe of its own. A domain's console reader blocks
 * in a read that cannot be taken back; when the domain is gone its pipe is closed, so that reader sees the end, and
 * no keystroke goes to a domain that no longer exists.
 */
final class ConsoleHandoff {
    private final InputStream source;
    private PipedOutputStream current;
    private Thread pump;

    ConsoleHandoff(InputStream source) {
        this.source = source;
    }

    /** A new input for the next domain; the previous domain's input ends. */
    synchronized InputStream next() throws IOException {
        endCurrent();
        PipedInputStream in = new PipedInputStream(4096);
        current = new PipedOutputStream(in);
        if (pump == null) pump = Thread.ofPlatform().name("jxen-console-handoff").daemon().start(this::pump);
        return in;
    }

    private void pump() {
        byte[] buf = new byte[256];
        try {
            int n;
            while ((n = source.read(buf)) > 0) {
                PipedOutputStream to;
                synchronized (this) {
                    to = current;
                }
                try {
                    to.write(buf, 0, n);
                    to.flush();
                } catch (IOException domainGone) {
                    // its reader ended with the domain: the bytes were typed in between
                }
            }
        } catch (IOException inputClosed) {
            // the input ends for every domain
        }
        synchronized (this) {
            endCurrent();
        }
    }

    private void endCurrent() {
        if (current == null) return;
        try {
            current.close();
        } catch (IOException e) {
            // already closed
        }
    }
}
