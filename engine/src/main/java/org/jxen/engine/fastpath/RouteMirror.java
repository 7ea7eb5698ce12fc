package org.jxen.engine.fastpath;

import java.util.List;

/**
 * A second copy of the route table kept elsewhere, e.g. KVM's in-kernel table of outbound event channels
 * ({@code KVM_XEN_ATTR_TYPE_EVTCHN}), which then handles a guest's EVTCHNOP_send on those ports without leaving the
 * kernel. The route table tells it every change, in order, under the table's own lock: the mirror is a cache of
 * routes, never the truth. A mirror may keep only the routes it can carry.
 *
 * <p>{@link #deassigned} is called after the table's grace period and before the route's signal is released, so a
 * mirror whose removal also waits out its senders (KVM's does: synchronize_srcu) leaves no sender able to use the
 * route once the port is freed.
 */
public interface RouteMirror {
    void assigned(Route route);

    /** Same send port, another vCPU or priority. */
    void updated(Route route);

    void deassigned(Route route);

    /** The whole table replaced ({@link RouteTable#setAll}, {@link RouteTable#reset}): {@code routes} is all there is now. */
    void replaced(List<Route> routes);
}
