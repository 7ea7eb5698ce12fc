package org.jxen.engine.evtchn;

/**
 * How events are raised in guest memory: Xen's {@code struct evtchn_port_ops} ({@code xen/event.h}). The port
 * manager knows only this interface; the 2-level and FIFO ABIs are its two implementations.
 *
 * <p>Methods that take a vCPU take the channel's notify vCPU (it always exists). Implementations are thread-safe:
 * they are called concurrently by senders (under the domain's read lock, or lock-free from the fast path) and race
 * with the guest, which writes the same memory.
 */
public interface EventChannelAbi {
    /** max_evtchns: the number of ports this ABI can address in the current layout. */
    int portLimit();

    /** evtchn_port_init: a port was just bound. */
    void init(int port, Channel channel);

    /**
     * Raise {@code port} for {@code vcpu}: pending bit, then mask check, then selector/queue, then upcall.
     * {@code priority} is the channel's FIFO priority (ignored by 2-level).
     */
    void setPending(int vcpu, int port, int priority);

    /** Clear the pending state (on close, so a re-bound port starts clean). */
    void clearPending(int port);

    /** EVTCHNOP_unmask: clear the mask and re-raise a pending event to {@code vcpu}. */
    void unmask(int vcpu, int port, int priority);

    boolean isPending(int port);

    boolean isMasked(int port);

    /** Whether a free port may not be reused yet (FIFO: still linked on a queue). */
    boolean isBusy(int port);

    /** EVTCHNOP_set_priority: 0 or an errno (-ENOSYS where the ABI has no priorities). */
    int setPriority(int port, int priority);

    /** Whether the ABI has a set_priority op (Xen's {@code evtchn_port_ops.set_priority}: FIFO yes, 2-level no). */
    default boolean hasPriorities() {
        return false;
    }
}
