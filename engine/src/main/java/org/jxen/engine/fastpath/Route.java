package org.jxen.engine.fastpath;

/**
 * An installed route, immutable. {@code signal} is the route table's own reference (null for a local-port route);
 * it is closed only after the route has left the table and a grace period has passed.
 */
public record Route(int sendPort, int type, int targetPort, int vcpu, int priority, EventSignal signal) {
    boolean isLocal() {
        return signal == null;
    }

    /** The same route on another vCPU / priority, sharing the signal reference. */
    Route moved(int newVcpu, int newPriority) {
        return new Route(sendPort, type, targetPort, newVcpu, newPriority, signal);
    }
}
