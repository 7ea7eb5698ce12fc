package org.jxen.engine.fastpath;

import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.IntConsumer;

import org.jxen.engine.evtchn.BackendDomain;

/**
 * Which signal wakes the backend behind each backend-domain port. It is the backend domain's notifier for sends that
 * take the slow path, and the source of the fast path's signal routes. A notification for a port whose signal is
 * not registered yet (bind_interdomain raises the binder's new port before the binder can register) is remembered
 * and delivered on registration, so nothing is lost.
 *
 * <p>Unregister only after the port is closed in the port manager: the slow path notifies under the port manager's
 * read lock, so once the close (write lock) has returned, no notification for the port is in flight.
 */
public final class BackendSignals implements BackendDomain.Notifier {
    private final AtomicReferenceArray<EventSignal> signals = new AtomicReferenceArray<>(BackendDomain.PORTS);
    private final boolean[] early = new boolean[BackendDomain.PORTS];
    private volatile IntConsumer onChange = port -> {};

    /** Told (with the backend port) whenever a registration changes, so routes can follow. */
    public void setListener(IntConsumer listener) {
        this.onChange = listener;
    }

    /** The registered signal of a backend port, or null. */
    public EventSignal get(int backendPort) {
        return backendPort >= 0 && backendPort < signals.length() ? signals.get(backendPort) : null;
    }

    /** Registers the signal (the caller keeps ownership) and delivers any notification that came first. */
    public void register(int backendPort, EventSignal signal) {
        boolean deliver;
        synchronized (this) {
            signals.set(backendPort, signal);
            deliver = early[backendPort];
            early[backendPort] = false;
        }
        if (deliver) signal.signal();
        onChange.accept(backendPort);
    }

    public void unregister(int backendPort) {
        synchronized (this) {
            signals.set(backendPort, null);
            early[backendPort] = false;
        }
        onChange.accept(backendPort);
    }

    @Override
    public void notify(int backendPort) {
        EventSignal s = signals.get(backendPort);
        if (s == null) {
            synchronized (this) {
                s = signals.get(backendPort);
                if (s == null) {
                    early[backendPort] = true;
                    return;
                }
            }
        }
        s.signal();
    }
}
