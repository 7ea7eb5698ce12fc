package org.jxen.vmm.backend;

import org.jxen.engine.fastpath.EventSignal;
import org.jxen.sys.EventFd;

/** The engine's {@link EventSignal} as a real eventfd: signal is write(2), duplicate is dup(2), close is close(2). */
public final class EventFdSignal implements EventSignal {
    private final EventFd eventFd;

    public EventFdSignal(EventFd eventFd) {
        this.eventFd = eventFd;
    }

    public EventFd eventFd() {
        return eventFd;
    }

    @Override
    public void signal() {
        eventFd.signal();
    }

    @Override
    public EventSignal duplicate() {
        return new EventFdSignal(eventFd.duplicate());
    }

    @Override
    public void close() {
        eventFd.close();
    }
}
