package org.jxen.vmm.backend;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayDeque;
import java.util.concurrent.ArrayBlockingQueue;

import org.jxen.engine.memory.GuestRegion;

/**
 * The PV console backend ({@code struct xencons_interface}, {@code public/io/console.h}): the guest's output ring
 * goes to an output stream (jxen's standard output), an input stream (standard input) goes into the guest's input
 * ring. Event-driven like every backend: the guest's notification wakes the I/O thread; a reader thread that gets
 * input wakes it too. Our indexes (out_cons, in_prod) live here; a guest index claiming more than a ring holds resets
 * that ring. Nothing ever touches memory outside the page.
 *
 * <p>The output stream is written by a thread of its own that holds only copies: a stream that blocks (a terminal
 * nobody reads, a full pipe) stalls the guest's console ring — the guest waits, as on Xen — but never the I/O thread,
 * which must stop before guest RAM is unmapped.
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
    /** Output copied out of the ring, waiting for the writer thread; bounded, so a stalled stream stalls the ring. */
    private final ArrayBlockingQueue<byte[]> toWrite = new ArrayBlockingQueue<>(64);
    private final Thread writer;

    public ConsoleBackend(GuestRegion ring, XenEvtchnHandle xce, int port, OutputStream out, InputStream in) {
        this.ring = ring.slice(0, INTERFACE_SIZE);
        this.xce = xce;
        this.port = port;
        this.out = out;
        this.outCons = ring.getIntVolatile(OUT_CONS);
        this.inProd = ring.getIntVolatile(IN_PROD);
        this.writer = Thread.ofPlatform().name("jxen-console-out").daemon().start(this::writeOutput);
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

    /** The writer thread: heap copies to the stream, then a service pass for what the full queue held back. */
    private void writeOutput() {
        try {
            while (true) {
                byte[] data = toWrite.take();
                try {
                    out.write(data);
                    out.flush();
                } catch (IOException e) {
                    // standard output gone: the guest keeps running
                }
                loop.wake();
            }
        } catch (InterruptedException stop) {
            // closed
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
        if (toWrite.remainingCapacity() == 0) return false; // the writer wakes us when there is room
        byte[] data = new byte[avail];
        for (int i = 0; i < avail; i++) data[i] = ring.getByte(OUT + ((outCons + i) & (OUT_SIZE - 1)));
        toWrite.add(data);
        outCons = prod;
        ring.putIntRelease(OUT_CONS, outCons);
        bytesOut += avail;
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

    /**
     * Stops the I/O thread (for a save: what the guest wrote so far has left the ring; the ring indexes are in RAM).
     * False (reported) if it would not stop.
     */
    public boolean pause() {
        return loop.stop();
    }

    /** After {@link #pause}, the save abandoned (a failed live migration): the I/O thread serves again. */
    public boolean unpause() {
        return loop.restart();
    }

    /**
     * Stops the I/O thread, the only one here that touches guest memory; the writer finishes what it holds (heap
     * copies) and the reader is left to end with its stream. False (reported) if the I/O thread would not stop.
     */
    public boolean stop() {
        boolean stopped = loop.stop();
        if (reader != null) reader.interrupt();
        try {
            // Let what the guest wrote reach the stream before the process may exit, unless the stream is stuck.
            for (int i = 0; i < 200 && !toWrite.isEmpty(); i++) Thread.sleep(5);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        writer.interrupt();
        return stopped;
    }

    @Override
    public void close() {
        stop();
    }

}
