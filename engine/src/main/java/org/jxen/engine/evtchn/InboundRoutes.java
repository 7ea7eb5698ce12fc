package org.jxen.engine.evtchn;

/**
 * Backend → guest notifications carried outside the engine: in kvm mode one irqfd per backend port, which KVM routes
 * to the guest's port ({@code KVM_IRQ_ROUTING_XEN_EVTCHN}), so a backend's notify reaches the guest with no jxen thread
 * and no port-table walk in between (the reverse path of the route table's eventfds). Like the route table it is a
 * cache: a notify it does not carry is raised by the engine.
 *
 * <p>{@link #routed} and {@link #unrouted} come from the port manager's observer, under its write lock;
 * {@link #notify} comes from {@code PortManager.backendNotify}, under its read lock, so no notify runs while a route
 * changes.
 */
public interface InboundRoutes {
    /** Guest port {@code guestPort}, on {@code vcpu}, is (now) the far end of backend port {@code backendPort}. */
    void routed(int guestPort, int backendPort, int vcpu);

    /** Guest port {@code guestPort} is no longer bound to a backend; no delivery through it happens after this returns. */
    void unrouted(int guestPort);

    /** Delivers one notify from {@code backendPort}; false if this path does not carry it now (the engine raises it). */
    boolean notify(int backendPort);

    InboundRoutes NONE = new InboundRoutes() {
        @Override
        public void routed(int guestPort, int backendPort, int vcpu) {}

        @Override
        public void unrouted(int guestPort) {}

        @Override
        public boolean notify(int backendPort) {
            return false;
        }
    };
}
