package org.jxen.vmm.backend.net;

import static org.jxen.vmm.backend.net.Netif.ETH_HLEN;
import static org.jxen.vmm.backend.net.Netif.MAX_FRAME;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.function.Supplier;

import org.jxen.sys.Errno;
import org.jxen.sys.UnixStream;

/**
 * Ethernet frames over a stream socket as passt and QEMU's {@code -netdev stream} carry them: each preceded by its
 * length, a 4-byte big-endian integer (passt's {@code tap.c}: {@code tap_send}, {@code tap_handler_passt}).
 *
 * <p>The stream has no message boundaries: reads gather bytes in {@link #inbox} and hand out whole frames; a length
 * beyond {@link Netif#MAX_FRAME} (or below an Ethernet header) can only come from a peer gone wrong, and stops the link
 * (logged once) rather than allocating for it: the stream cannot be resynchronized. A write is a whole frame or
 * nothing, because a partial one would desynchronize the stream too: with the socket full it waits a little, then drops
 * the frame (as a full NIC queue would); stuck half-way it stops the link. The buffers are this object's arena's, closed
 * by {@link #close}, which comes after the one thread that reads and writes stopped.
 */
final class LengthPrefixedFrames implements AutoCloseable {
    private static final Logger LOG = System.getLogger(LengthPrefixedFrames.class.getName());
    static final int HEADER = 4;
    private static final ValueLayout.OfInt LENGTH = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    /** Room for one largest frame with its header, and as much again so that reads gather several small ones. */
    private static final int INBOX = 2 * (HEADER + MAX_FRAME);
    /** How long a write waits for room before its frame is dropped, and half-way before the link stops. */
    private static final int WRITE_WAIT_MS = 200, STUCK_MS = 5_000;

    private final UnixStream stream;
    private final String name;
    /** What to add to the line when the peer closed (e.g. passt's exit status). */
    private final Supplier<String> after;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment inbox = arena.allocate(INBOX), outbox = arena.allocate(HEADER + MAX_FRAME);
    /** The unread bytes of {@link #inbox} (I/O thread only). */
    private int start, end;
    /** The errno the link stopped with, or 0. */
    private int stopped;
    private boolean closed;

    /** Frames over {@code stream} (which this now owns), {@code name}d so in the one line of a failure. */
    LengthPrefixedFrames(UnixStream stream, String name, Supplier<String> after) {
        this.stream = stream;
        this.name = name;
        this.after = after;
    }

    int fd() {
        return stream.fd();
    }

    /** {@link FrameLink#read}: a whole frame, 0 until one is there, or -errno once the link stopped. */
    int read(MemorySegment into) {
        while (stopped == 0) {
            int queued = end - start;
            if (queued >= HEADER) {
                int length = inbox.get(LENGTH, start);
                if (length < ETH_HLEN || length > MAX_FRAME)
                    return stop(Errno.EPROTO, "the peer sent a frame length of " + Integer.toUnsignedString(length) + " (a frame has " + ETH_HLEN + ".." + MAX_FRAME
                            + " bytes); the link stops");
                if (queued >= HEADER + length) {
                    MemorySegment.copy(inbox, start + HEADER, into, 0, Math.min(length, into.byteSize()));
                    start += HEADER + length;
                    return length;
                }
            }
            if (start > 0) { // room at the end for the rest of the frame
                MemorySegment.copy(inbox, start, inbox, 0, queued);
                start = 0;
                end = queued;
            }
            int n = stream.read(inbox.asSlice(end, INBOX - end));
            if (n > 0) end += n;
            else if (n == -Errno.EAGAIN) return 0;
            else if (n == 0) return stop(Errno.EPIPE, "the peer closed the socket" + after.get() + "; the link stops");
            else return stop(-n, "reading the socket: " + Errno.describe(-n) + "; the link stops");
        }
        return -stopped;
    }

    /** {@link FrameLink#write}: 0 once the whole frame is in the socket, or -errno (-EAGAIN: dropped whole). */
    int write(MemorySegment frame) {
        if (stopped != 0) return -stopped;
        int length = (int) frame.byteSize();
        if (length > MAX_FRAME) return -Errno.EINVAL;
        outbox.set(LENGTH, 0, length);
        MemorySegment.copy(frame, 0, outbox, HEADER, length);
        int total = HEADER + length, sent = 0;
        long waitedMs = 0;
        while (sent < total) {
            int n = stream.send(outbox.asSlice(sent, total - sent));
            if (n > 0) {
                sent += n;
                waitedMs = 0;
            } else if (n == -Errno.EAGAIN) {
                if (stream.awaitWritable(WRITE_WAIT_MS)) continue;
                waitedMs += WRITE_WAIT_MS;
                if (sent == 0) return -Errno.EAGAIN; // dropped whole: the stream stays in step
                if (waitedMs >= STUCK_MS) return stop(Errno.EPIPE, "the peer took half a frame and no more for " + STUCK_MS + " ms; the link stops");
            } else return stop(-n, "writing to the socket: " + Errno.describe(-n) + "; the link stops");
        }
        return 0;
    }

    private int stop(int errno, String why) {
        if (stopped == 0) LOG.log(Level.ERROR, "frames over " + name + ": " + why);
        stopped = errno;
        return -errno;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        stream.close();
        arena.close();
    }
}
