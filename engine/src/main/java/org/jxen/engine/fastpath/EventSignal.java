package org.jxen.engine.fastpath;

/**
 * A wake-up for a backend: under the VMM an eventfd (the sys layer implements this), under tests anything. The engine
 * knows nothing more of it: signal it, duplicate it (the route table owns its own reference, as KVM takes an
 * eventfd_ctx reference), close a reference.
 */
public interface EventSignal extends AutoCloseable {
    /** Wakes the backend. Thread-safe, never blocks. Never called after {@link #close()} of this reference. */
    void signal();

    /** A new, independently closable reference to the same signal (dup(2) for an eventfd). */
    EventSignal duplicate();

    /** Releases this reference. */
    @Override
    void close();
}
