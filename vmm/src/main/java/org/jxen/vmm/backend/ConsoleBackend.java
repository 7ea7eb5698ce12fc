package org.jxen.vmm.backend;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayDeque;

import org.jxen.engine.memory.GuestRegion;

/**
 * The PV console backend ({@code struct xencons_interface}, {@code public/io/console.h}): the guest's output ring
 * goes to an output stream (jxen's standard output), an input stream (standard input) goes into the guest's input
 * ring. Event-driven like every backend: the guest's notification wakes the I/O thread; a reader thread that gets
 * input wakes it too. Our indexes (out_cons, in_prod) live here; a guest index claiming more than a ring holds resets
 * that ring. Nothing ever touches memory outside the page.
 */
public final class ConsoleBackend implements AutoCloseable {
    /** in[1024], out[2048], then in_cons, in_prod, out_cons, out_prod (XENCONS_RING_IDX, uint32). */
    public static final int IN = 0, IN_SIZE = 1024, OUT = 1024, OUT_SIZE = 2048, IN_CONS = 3072, IN_PROD = 3076,
            OUT_CONS = 3080, OUT_PROD = 3084, INTERFACE_SIZE = 3088;

    private final GuestRegion ring;
    private final XenEvtchnHandle xce;
    private final int port;
    private final OutputStream out;
    private final ArrayDeque<Byte> pendingInput = new ArrayDeque<>();
    private int outCons;
    private int inProd;
    private long bytesOut;
    private final BackendLoop loop;
    private final Thread reader;

    public ConsoleBackend(GuestRegion ring, XenEvtchnHandle xce, int port, OutputStream out, InputStream in) {
        this.ring = ring.slice(0, INTERFACE_SIZE);
        this.xce = xce;
        this.port = port;
        this.out = out;
        this.outCons = ring.getIntVolatile(OUT_CONS);
        this.inProd = ring.getIntVolatile(IN_PROD);
        this.loop = new BackendLoop("jxen-console", xce, this::service);
        this.reader = in == null ? null : Thread.ofPlatform().name("jxen-console-in").daemon().start(() -> readInput(in));
    }

    /** Bytes the guest has written so far. */
    public synchronized long bytesOut() {
        return bytesOut;
    }

    private void readInput(InputStream in) {
        byte[] buf = new byte[256];
        try {
            int n;
            while ((n = in.read(buf)) > 0) {
                synchronized (this) {
                    for (int i = 0; i < n; i++) pendingInput.add(buf[i]);
                }
                loop.wake();
            }
        } catch (IOException e) {
            // input closed
        }
    }

    private synchronized void service() {
        boolean progress = drainOutput();
        progress |= fillInput();
        if (progress) xce.notify(port);
    }

    private boolean drainOutput() {
        int prod = ring.getIntVolatile(OUT_PROD);
        int avail = prod - outCons;
        if (avail == 0) return false;
        if (avail < 0 || avail > OUT_SIZE) { // garbage index: reset the ring
            outCons = prod;
            ring.putIntRelease(OUT_CONS, outCons);
            return true;
        }
        byte[] data = new byte[avail];
        for (int i = 0; i < avail; i++) data[i] = ring.getByte(OUT + ((outCons + i) & (OUT_SIZE - 1)));
        outCons = prod;
        ring.putIntRelease(OUT_CONS, outCons);
        bytesOut += avail;
        try {
            out.write(data);
            out.flush();
        } catch (IOException e) {
            // standard output gone: the guest keeps running
        }
        return true;
    }

    private boolean fillInput() {
        if (pendingInput.isEmpty()) return false;
        int cons = ring.getIntVolatile(IN_CONS);
        int used = inProd - cons;
        if (used < 0 || used > IN_SIZE) used = IN_SIZE; // garbage index: write nothing until the guest recovers
        boolean wrote = false;
        while (used < IN_SIZE && !pendingInput.isEmpty()) {
            ring.putByte(IN + (inProd & (IN_SIZE - 1)), pendingInput.poll());
            inProd++;
            used++;
            wrote = true;
        }
        if (wrote) ring.putIntRelease(IN_PROD, inProd);
        return wrote;
    }

    /** Stops the I/O thread (for a save: what the guest wrote so far has gone out; the ring indexes are in RAM). */
    public void pause() {
        loop.close();
    }

    @Override
    public void close() {
        loop.close();
        if (reader != null) reader.interrupt();
    }

}
