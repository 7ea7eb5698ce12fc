package org.jxen.vmm.backend;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.jxen.engine.evtchn.PortManager;
import org.jxen.sys.EventFd;
import org.jxen.sys.IoLoop;

/**
 * The reverse direction, like KVM's irqfd with a Xen event-channel routing entry: a backend (in this process or,
 * holding a copy of the descriptor, in another) writes to an eventfd, and the guest's end of the backend's port is
 * raised. An I/O thread waits on all the attached eventfds; nothing polls.
 */
public final class EventFdInjector implements AutoCloseable {
    private record Attachment(EventFd eventFd, long token) {}

    private final PortManager ports;
    private final IoLoop loop;
    private final boolean ownsLoop;
    private final Map<Integer, Attachment> attached = new HashMap<>();

    public EventFdInjector(PortManager ports) {
        this(ports, new IoLoop("jxen-irqfd"), true);
    }

    public EventFdInjector(PortManager ports, IoLoop loop) {
        this(ports, loop, false);
    }

    private EventFdInjector(PortManager ports, IoLoop loop, boolean ownsLoop) {
        this.ports = ports;
        this.loop = loop;
        this.ownsLoop = ownsLoop;
    }

    /**
     * An eventfd whose every write notifies the guest through backend port {@code backendPort} (as
     * xenevtchn_notify would). The injector owns it; {@link #detach} closes it.
     */
    public synchronized EventFd attach(int backendPort) {
        if (attached.containsKey(backendPort)) throw new IllegalStateException("port " + backendPort + " already attached");
        EventFd ev = EventFd.create();
        long token = loop.register(ev.fd(), () -> {
            if (ev.drain() > 0) ports.backendNotify(backendPort);
        });
        attached.put(backendPort, new Attachment(ev, token));
        return ev;
    }

    public synchronized void detach(int backendPort) {
        Attachment a = attached.remove(backendPort);
        if (a == null) return;
        loop.unregister(a.eventFd().fd(), a.token()); // waits out a running handler
        a.eventFd().close();
    }

    @Override
    public synchronized void close() {
        for (int port : List.copyOf(attached.keySet())) detach(port);
        if (ownsLoop) loop.close();
    }
}
