package org.jxen.engine.evtchn;

import org.jxen.engine.jfr.DeliveryEvent;

/**
 * The VMM's own backends seen as one local domain (dom0 from the guest's point of view, as QEMU presents its
 * backends). Its ports live only in this table; raising one calls the {@link Notifier} (an eventfd write under the
 * VMM, a queue in tests). The backend side of each interdomain channel is driven through {@link PortManager}'s
 * backend operations.
 */
public final class BackendDomain extends EventDomain {
    /** Told that a backend port was raised. Must not block. */
    @FunctionalInterface
    public interface Notifier {
        void notify(int port);
    }

    /** Backends use the 2-level 64-bit port count; they do not need more. */
    public static final int PORTS = 4096;

    private volatile Notifier notifier = port -> {};

    public BackendDomain(int domid) {
        super(domid);
    }

    public void setNotifier(Notifier notifier) {
        this.notifier = notifier;
    }

    @Override
    int portLimit() {
        return PORTS;
    }

    @Override
    int maxPort() {
        return PORTS - 1;
    }

    @Override
    boolean isBusy(int port) {
        return false;
    }

    @Override
    void raise(int port, Channel channel) {
        DeliveryEvent event = new DeliveryEvent();
        if (event.isEnabled()) {
            event.target = "backend";
            event.index = port;
            event.commit();
        }
        notifier.notify(port);
    }

    @Override
    void clearPending(int port) {}

    @Override
    void initPort(int port, Channel channel) {}
}
