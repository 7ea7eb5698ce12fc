package org.jxen.engine.fastpath;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.IntSupplier;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.jfr.RouteChangeEvent;

/**
 * The fast path's only knowledge: send port to route, like KVM's Xen event-channel routing table.
 *
 * <p>Overview of implementation. The table is an {@link AtomicReferenceArray} indexed by send port, published through
 * a volatile field so {@link #setAll} and growth can replace it whole. Readers ({@link #lookup}) do two dependent
 * acquire loads and never block. Writers serialize on this object. A route is unpublished (entry set to null or the
 * table swapped) before the writer waits for a grace period ({@link ReaderSlots#synchronize}), and only then is its
 * signal reference closed: no sender can use a signal after close, and every reference the table took is closed
 * exactly once (an update shares the old route's reference instead of taking a new one).
 *
 * <p>Rules (KVM's): send port 0 or at/above the ABI's port limit: -EINVAL; type must be ipi, virq or interdomain;
 * ipi and virq deliver to their own send port on an existing vCPU; an interdomain route delivers to a different local
 * port or to a signal; assign of a port that has a route: -EEXIST; update or deassign of a port without one: -ENOENT;
 * update may change only the vCPU and the priority (anything else: -EINVAL); priority 0..15.
 */
public final class RouteTable {
    /** FIFO priorities 0..15 ({@code EVTCHN_FIFO_PRIORITY_MIN} is 15). */
    public static final int MAX_PRIORITY = 15;

    private final IntSupplier portLimit;
    private final int vcpus;
    private final ReaderSlots readers;
    private volatile AtomicReferenceArray<Route> table;
    /** Told every change, under this object's lock; none by default. */
    private RouteMirror mirror = NO_MIRROR;

    private static final RouteMirror NO_MIRROR = new RouteMirror() {
        @Override
        public void assigned(Route route) {}

        @Override
        public void updated(Route route) {}

        @Override
        public void deassigned(Route route) {}

        @Override
        public void replaced(List<Route> routes) {}
    };

    /**
     * @param portLimit the ABI's current port count (it grows when the guest switches to FIFO)
     * @param vcpus the domain's vCPU count
     */
    public RouteTable(IntSupplier portLimit, int vcpus, ReaderSlots readers) {
        this.portLimit = portLimit;
        this.vcpus = vcpus;
        this.readers = readers;
        this.table = new AtomicReferenceArray<>(portLimit.getAsInt());
    }

    public ReaderSlots readers() {
        return readers;
    }

    /** Mirrors the table into {@code m} from now on, starting with every route installed now. */
    public synchronized void setMirror(RouteMirror m) {
        mirror = m == null ? NO_MIRROR : m;
        mirror.replaced(routes());
    }

    /** The route for {@code port}, or null. Lock-free; call inside a reader slot's critical section. */
    public Route lookup(int port) {
        AtomicReferenceArray<Route> t = table;
        return port > 0 && port < t.length() ? t.getAcquire(port) : null;
    }

    /** Installs a route: 0 or an errno. */
    public synchronized int assign(RouteSpec spec) {
        return recorded("assign", spec == null ? -1 : spec.sendPort(), assignLocked(spec));
    }

    private int assignLocked(RouteSpec spec) {
        int rc = validate(spec);
        if (rc != 0) return rc;
        ensureCapacity();
        if (table.get(spec.sendPort()) != null) return -Errno.EEXIST;
        Route route = install(spec);
        if (route == null) return -Errno.EBADF;
        table.setRelease(spec.sendPort(), route);
        mirror.assigned(route);
        return 0;
    }

    /** Changes the vCPU and/or priority of an existing route: 0 or an errno. */
    public synchronized int update(RouteSpec spec) {
        return recorded("update", spec.sendPort(), updateLocked(spec));
    }

    private int updateLocked(RouteSpec spec) {
        if (spec.sendPort() <= 0 || spec.sendPort() >= portLimit.getAsInt()) return -Errno.EINVAL;
        Route old = lookup(spec.sendPort());
        if (old == null) return -Errno.ENOENT;
        if (old.type() != spec.type()) return -Errno.EINVAL;
        Route moved = switch (spec.delivery()) {
            case Delivery.LocalPort lp -> {
                if (!old.isLocal() || lp.port() != old.targetPort()) yield null;
                if (!validVcpu(lp.vcpu()) || !validPriority(lp.priority())) yield null;
                yield old.moved(lp.vcpu(), lp.priority());
            }
            case Delivery.Signal s -> null; // a signal route has nothing that may change
            case null -> null;
        };
        if (moved == null) return -Errno.EINVAL;
        table.set(spec.sendPort(), moved); // volatile store, before the grace period reads the slots
        readers.synchronize(); // after update returns, no send goes the old way
        mirror.updated(moved);
        return 0;
    }

    /** Removes the route of {@code sendPort}: 0 or an errno. Returns after no sender can use it any more. */
    public synchronized int deassign(int sendPort) {
        return recorded("deassign", sendPort, deassignLocked(sendPort));
    }

    private int deassignLocked(int sendPort) {
        if (sendPort <= 0 || sendPort >= portLimit.getAsInt()) return -Errno.EINVAL;
        Route old = lookup(sendPort);
        if (old == null) return -Errno.ENOENT;
        table.set(sendPort, null); // volatile store, before the grace period reads the slots
        readers.synchronize();
        mirror.deassigned(old);
        release(old);
        return 0;
    }

    /** Removes every route. */
    public synchronized void reset() {
        RouteChangeEvent event = new RouteChangeEvent();
        event.begin();
        AtomicReferenceArray<Route> old = table;
        table = new AtomicReferenceArray<>(portLimit.getAsInt());
        readers.synchronize();
        mirror.replaced(List.of());
        releaseAll(old);
        if (event.shouldCommit()) {
            event.operation = "reset";
            event.commit();
        }
    }

    /** Records a change as a JFR event (its duration is not measured: the begin is folded into the commit). */
    private static int recorded(String operation, int port, int rc) {
        RouteChangeEvent event = new RouteChangeEvent();
        if (event.isEnabled()) {
            event.operation = operation;
            event.port = port;
            event.result = rc;
            event.commit();
        }
        return rc;
    }

    /**
     * Replaces the whole table at once with {@code specs} (like KVM_SET_GSI_ROUTING): all validated first; on any
     * error nothing changes. Senders see either the old table or the new one.
     */
    public synchronized int setAll(List<RouteSpec> specs) {
        return recorded("set-all", specs.size(), setAllLocked(specs));
    }

    private int setAllLocked(List<RouteSpec> specs) {
        int limit = portLimit.getAsInt();
        boolean[] seen = new boolean[limit];
        for (RouteSpec spec : specs) {
            int rc = validate(spec);
            if (rc != 0) return rc;
            if (seen[spec.sendPort()]) return -Errno.EEXIST;
            seen[spec.sendPort()] = true;
        }
        AtomicReferenceArray<Route> fresh = new AtomicReferenceArray<>(limit);
        List<Route> installed = new ArrayList<>();
        for (RouteSpec spec : specs) {
            Route r = install(spec);
            if (r == null) {
                installed.forEach(RouteTable::release);
                return -Errno.EBADF;
            }
            installed.add(r);
            fresh.set(spec.sendPort(), r);
        }
        AtomicReferenceArray<Route> old = table;
        table = fresh;
        readers.synchronize();
        mirror.replaced(installed);
        releaseAll(old);
        return 0;
    }

    /** Every installed route (inspection, save, tests). */
    public synchronized List<Route> routes() {
        AtomicReferenceArray<Route> t = table;
        List<Route> out = new ArrayList<>();
        for (int i = 0; i < t.length(); i++) {
            Route r = t.get(i);
            if (r != null) out.add(r);
        }
        return out;
    }

    private void ensureCapacity() {
        int limit = portLimit.getAsInt();
        AtomicReferenceArray<Route> t = table;
        if (t.length() >= limit) return;
        AtomicReferenceArray<Route> grown = new AtomicReferenceArray<>(limit);
        for (int i = 0; i < t.length(); i++) grown.set(i, t.get(i));
        table = grown; // writers are serialized, so nothing was added to t meanwhile
    }

    private int validate(RouteSpec spec) {
        if (spec == null || spec.delivery() == null) return -Errno.EINVAL;
        int port = spec.sendPort();
        if (port <= 0 || port >= portLimit.getAsInt()) return -Errno.EINVAL;
        return switch (spec.type()) {
            case EvtchnOp.STAT_IPI, EvtchnOp.STAT_VIRQ -> spec.delivery() instanceof Delivery.LocalPort lp
                    && lp.port() == port && validVcpu(lp.vcpu()) && validPriority(lp.priority()) ? 0 : -Errno.EINVAL;
            case EvtchnOp.STAT_INTERDOMAIN -> switch (spec.delivery()) {
                case Delivery.LocalPort lp -> lp.port() != port && lp.port() > 0 && lp.port() < portLimit.getAsInt()
                        && validVcpu(lp.vcpu()) && validPriority(lp.priority()) ? 0 : -Errno.EINVAL;
                case Delivery.Signal s -> s.signal() != null ? 0 : -Errno.EINVAL;
            };
            default -> -Errno.EINVAL;
        };
    }

    private boolean validVcpu(int vcpu) {
        return vcpu >= 0 && vcpu < vcpus;
    }

    private static boolean validPriority(int priority) {
        return priority >= 0 && priority <= MAX_PRIORITY;
    }

    /** The installed form of a validated spec, with the table's own signal reference; null if the signal is dead. */
    private static Route install(RouteSpec spec) {
        return switch (spec.delivery()) {
            case Delivery.LocalPort lp -> new Route(spec.sendPort(), spec.type(), lp.port(), lp.vcpu(), lp.priority(), null);
            case Delivery.Signal s -> {
                EventSignal own;
                try {
                    own = s.signal().duplicate();
                } catch (RuntimeException e) {
                    yield null;
                }
                yield new Route(spec.sendPort(), spec.type(), 0, 0, 0, own);
            }
        };
    }

    private static void release(Route r) {
        if (r.signal() != null) r.signal().close();
    }

    private static void releaseAll(AtomicReferenceArray<Route> t) {
        for (int i = 0; i < t.length(); i++) {
            Route r = t.get(i);
            if (r != null) release(r);
        }
    }
}
