package org.jxen.engine.testing;

import java.util.Collection;
import java.util.concurrent.atomic.AtomicInteger;

import org.jxen.engine.fastpath.EventSignal;

/**
 * A test {@link EventSignal}: each signal appends the backend port to a shared log; references are counted so tests
 * can check that every duplicate the route table took was closed once, and that no closed reference is signalled.
 */
public final class RecordingSignal implements EventSignal {
    private final int port;
    private final Collection<Integer> log;
    private final AtomicInteger openRefs;
    private volatile boolean closed;

    private RecordingSignal(int port, Collection<Integer> log, AtomicInteger openRefs) {
        this.port = port;
        this.log = log;
        this.openRefs = openRefs;
        openRefs.incrementAndGet();
    }

    public static RecordingSignal create(int port, Collection<Integer> log, AtomicInteger openRefs) {
        return new RecordingSignal(port, log, openRefs);
    }

    @Override
    public void signal() {
        if (closed) throw new IllegalStateException("signal after close (port " + port + ")");
        log.add(port);
    }

    @Override
    public EventSignal duplicate() {
        if (closed) throw new IllegalStateException("duplicate after close");
        return new RecordingSignal(port, log, openRefs);
    }

    @Override
    public void close() {
        if (closed) throw new IllegalStateException("double close (port " + port + ")");
        closed = true;
        openRefs.decrementAndGet();
    }
}
