package org.jxen.engine.fastpath;

/** Where a route delivers a send (the {@code deliver} union of KVM's Xen event-channel routing entry). */
public sealed interface Delivery {
    /**
     * Raise a local guest port on a vCPU: the send port itself for IPI and VIRQ routes, the peer port of a loopback
     * interdomain pair.
     */
    record LocalPort(int port, int vcpu, int priority) implements Delivery {}

    /** Wake a backend through its signal (an eventfd). */
    record Signal(EventSignal signal) implements Delivery {}
}
