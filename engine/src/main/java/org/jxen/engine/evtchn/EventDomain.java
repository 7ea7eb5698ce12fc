package org.jxen.engine.evtchn;

/**
 * A party with a port space: the guest, or the VMM's local backend domain. The port manager moves channels between
 * states; the domain decides what "raise this port" means for it (guest memory bits, or a backend notification).
 */
public abstract sealed class EventDomain permits GuestDomain, BackendDomain {
    private final int domid;
    final PortTable ports = new PortTable();

    EventDomain(int domid) {
        this.domid = domid;
    }

    /** domain_id. */
    public int domid() {
        return domid;
    }

    /** max_evtchns: what the ABI can address. */
    abstract int portLimit();

    /** max_evtchn_port: the highest port this domain may use (a configuration limit below the ABI's). */
    abstract int maxPort();

    /** The ABI's is_busy for a free port (FIFO keeps linked ports out of reuse). */
    abstract boolean isBusy(int port);

    /** Raise {@code port}, whose channel is {@code channel}, in this domain. */
    abstract void raise(int port, Channel channel);

    /** Forget any pending notification on {@code port} (it is being freed). */
    abstract void clearPending(int port);

    /** A port was just bound (evtchn_port_init). */
    abstract void initPort(int port, Channel channel);

    /** Allocates the lowest free port (or -ENOSPC). */
    final int allocatePort() {
        return ports.allocate(portLimit(), maxPort(), this::isBusy);
    }
}
