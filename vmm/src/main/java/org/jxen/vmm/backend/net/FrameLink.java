package org.jxen.vmm.backend.net;

import java.lang.foreign.MemorySegment;

/**
 * Where a NIC's Ethernet frames go and come from: a host TAP device ({@link TapLink}) or passt's user-mode network
 * ({@link PasstLink}). netback's I/O thread is the only one to read and write; the link's descriptor sits in that
 * thread's epoll, readable when a frame may be had. {@link #close} comes after the thread stopped (and may come twice:
 * from the backend and from the domain's scope).
 */
public sealed interface FrameLink extends AutoCloseable permits TapLink, PasstLink {
    /** For messages: the TAP's name, or passt's socket. */
    String name();

    /** The descriptor to watch for incoming frames. */
    int fd();

    /**
     * One frame into {@code into}: its length, 0 if no whole frame is there yet (the descriptor becomes readable when
     * more arrives), or -errno when the link failed (reported once by the caller, who stops reading).
     */
    int read(MemorySegment into);

    /** Sends one frame: 0, or -errno (the frame is lost, as on a wire). */
    int write(MemorySegment frame);

    @Override
    void close();
}
