package org.jxen.engine.evtchn;

import java.util.Arrays;
import java.util.function.IntPredicate;

import org.jxen.engine.abi.Errno;

/**
 * A domain's port space, as Xen keeps it: channels in buckets of {@value #BUCKET} (Xen: PAGE_SIZE / sizeof(struct
 * evtchn)); {@link #validPorts()} grows a bucket at a time and never shrinks ({@code d->valid_evtchns}). A port
 * below it is "valid" (status reports it closed when free); at or above it, Xen answers -EINVAL. Port 0 is reserved.
 * Allocation returns the lowest free port that the ABI does not report busy ({@code get_free_port}).
 *
 * <p>Not thread-safe: the owning domain's lock guards it.
 */
public final class PortTable {
    /** EVTCHNS_PER_BUCKET on x86-64 Xen (64-byte struct evtchn in a 4 KiB page). */
    public static final int BUCKET = 64;

    private Channel[] channels = new Channel[BUCKET];
    private int valid = BUCKET;
    /** No free port lies below this one (a search hint; correctness never depends on it being tight). */
    private int freeHint = 1;

    public PortTable() {
        Arrays.fill(channels, Channel.FREE);
        channels[0] = Channel.RESERVED;
    }

    /** d->valid_evtchns. */
    public int validPorts() {
        return valid;
    }

    /** port_is_valid(): true for every port in an allocated bucket (port is treated as unsigned). */
    public boolean isValid(int port) {
        return Integer.compareUnsigned(port, valid) < 0;
    }

    /** The channel at a valid port. */
    public Channel get(int port) {
        return channels[port];
    }

    public void set(int port, Channel channel) {
        channels[port] = channel;
        if (channel.isFree() && port < freeHint) freeHint = port;
    }

    /**
     * get_free_port(): the lowest free, non-busy port, growing the table by a bucket when every valid port is taken.
     *
     * @param limit the ABI's port count ({@code max_evtchns})
     * @param maxPort the domain's highest usable port ({@code max_evtchn_port})
     * @param busy the ABI's is_busy (FIFO: the event word is still linked)
     * @return the port, or -ENOSPC
     */
    public int allocate(int limit, int maxPort, IntPredicate busy) {
        int port = freeHint;
        int firstBusy = -1;
        for (; port < valid; port++) {
            if (port > maxPort) return -Errno.ENOSPC;
            if (channels[port].isFree()) {
                if (!busy.test(port)) {
                    freeHint = firstBusy >= 0 ? firstBusy : port;
                    return port;
                }
                if (firstBusy < 0) firstBusy = port;
            }
        }
        if (firstBusy >= 0) freeHint = firstBusy;
        else freeHint = port;
        if (port >= limit || port > maxPort) return -Errno.ENOSPC;
        grow();
        return port;
    }

    /** Restore: make {@code validPorts} valid (a multiple of the bucket size). */
    void growTo(int validPorts) {
        if (validPorts % BUCKET != 0) throw new IllegalArgumentException("valid ports " + validPorts);
        while (valid < validPorts) grow();
    }

    private void grow() {
        int newValid = valid + BUCKET;
        if (newValid > channels.length) {
            int old = channels.length;
            channels = Arrays.copyOf(channels, Math.max(newValid, old * 2));
            Arrays.fill(channels, old, channels.length, Channel.FREE);
        }
        valid = newValid;
    }
}
