package org.jxen.engine.evtchn;

/**
 * Told of every change to the guest's port table, under the domain's write lock, so that state derived from it
 * (the fast path's routes) stays in step: installed after a bind, removed before a close frees the port, moved on
 * bind_vcpu, dropped on reset.
 */
public interface PortObserver {
    /** {@code port} was bound, or its binding, vCPU or priority changed (an unbound port became interdomain, a peer closed, bind_vcpu). */
    default void changed(int port, Channel channel) {}

    /** {@code port} is about to be freed; no delivery through derived state may happen after this returns. */
    default void closing(int port) {}

    PortObserver NONE = new PortObserver() {};
}
