package org.jxen.engine.fastpath;

import java.util.ArrayList;
import java.util.List;

import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.evtchn.Binding;
import org.jxen.engine.evtchn.Channel;
import org.jxen.engine.evtchn.InboundRoutes;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.evtchn.PortObserver;

/**
 * Keeps the route table in step with the port table: a route is installed after a bind, removed before a close frees
 * the port (and before the peer of a loopback pair stops being its target), moved on bind_vcpu, dropped on reset.
 * IPI and VIRQ ports route to themselves; a loopback interdomain port routes to its peer on the peer's vCPU; a port
 * whose peer is a backend routes to that backend's signal once one is registered.
 *
 * <p>Runs under the port manager's write lock (it is the port manager's observer), so route changes are ordered
 * with the port changes that cause them. The route table's grace periods never wait on that lock: fast-path senders
 * leave their critical section before falling through to the port manager.
 */
public final class RouteSync implements PortObserver {
    private final PortManager ports;
    private final RouteTable routes;
    private final BackendSignals signals;
    private InboundRoutes inbound = InboundRoutes.NONE;

    private RouteSync(PortManager ports, RouteTable routes, BackendSignals signals) {
        this.ports = ports;
        this.routes = routes;
        this.signals = signals;
    }

    /** Connects the three: routes for every port already bound, then kept in step. */
    public static RouteSync install(PortManager ports, RouteTable routes, BackendSignals signals) {
        RouteSync sync = new RouteSync(ports, routes, signals);
        ports.backend().setNotifier(signals);
        ports.withWriteLock(() -> {
            List<RouteSpec> all = new ArrayList<>();
            for (int p = 1; p < ports.validPorts(); p++) {
                RouteSpec spec = sync.desired(p, ports.channel(p));
                if (spec != null) all.add(spec);
            }
            routes.setAll(all);
            ports.setObserver(sync);
        });
        signals.setListener(sync::backendSignalChanged);
        return sync;
    }

    /**
     * From now on also keeps {@code inbound} in step (the backend → guest direction: which guest port, on which vCPU,
     * each backend port notifies), starting with the ports bound now; the port manager then notifies through it.
     */
    public void carryInbound(InboundRoutes inbound) {
        ports.withWriteLock(() -> {
            this.inbound = inbound;
            for (int p = 1; p < ports.validPorts(); p++) inboundChanged(p, ports.channel(p));
            ports.setInboundRoutes(inbound);
        });
    }

    @Override
    public void changed(int port, Channel channel) {
        inboundChanged(port, channel);
        refresh(port, channel);
        if (channel.binding() instanceof Binding.Interdomain i && i.remoteDomid() == ports.guest().domid()) {
            refresh(i.remotePort(), ports.channel(i.remotePort())); // its route targets us, on our vCPU
        }
    }

    @Override
    public void closing(int port) {
        inbound.unrouted(port);
        routes.deassign(port);
        if (ports.channel(port).binding() instanceof Binding.Interdomain i && i.remotePort() != port
                && i.remoteDomid() == ports.guest().domid()) {
            routes.deassign(i.remotePort()); // the peer's route delivers to this port
        }
    }

    private void inboundChanged(int port, Channel channel) {
        if (channel.binding() instanceof Binding.Interdomain i && i.remoteDomid() == ports.backend().domid())
            inbound.routed(port, i.remotePort(), channel.vcpu());
        else inbound.unrouted(port);
    }

    private void backendSignalChanged(int backendPort) {
        ports.withWriteLock(() -> {
            if (ports.backendChannel(backendPort).binding() instanceof Binding.Interdomain i
                    && i.remoteDomid() == ports.guest().domid()) {
                refresh(i.remotePort(), ports.channel(i.remotePort()));
            }
        });
    }

    private void refresh(int port, Channel channel) {
        RouteSpec want = desired(port, channel);
        Route have = routes.lookup(port);
        if (want == null) {
            if (have != null) routes.deassign(port);
            return;
        }
        if (have != null && sameShape(have, want)) {
            Delivery.LocalPort lp = (Delivery.LocalPort) want.delivery();
            if (have.vcpu() != lp.vcpu() || have.priority() != lp.priority()) routes.update(want);
            return;
        }
        if (have != null) routes.deassign(port);
        routes.assign(want);
    }

    /** Whether {@code want} differs from {@code have} at most in vCPU and priority (an update can do it). */
    private static boolean sameShape(Route have, RouteSpec want) {
        return have.type() == want.type() && have.isLocal()
                && want.delivery() instanceof Delivery.LocalPort lp && lp.port() == have.targetPort();
    }

    private RouteSpec desired(int port, Channel ch) {
        return switch (ch.binding()) {
            case Binding.Ipi i -> new RouteSpec(port, EvtchnOp.STAT_IPI, new Delivery.LocalPort(port, ch.vcpu(), ch.priority()));
            case Binding.Virq v -> new RouteSpec(port, EvtchnOp.STAT_VIRQ, new Delivery.LocalPort(port, ch.vcpu(), ch.priority()));
            case Binding.Interdomain i when i.remoteDomid() == ports.guest().domid() -> {
                Channel peer = ports.channel(i.remotePort());
                yield new RouteSpec(port, EvtchnOp.STAT_INTERDOMAIN,
                        new Delivery.LocalPort(i.remotePort(), peer.vcpu(), peer.priority()));
            }
            case Binding.Interdomain i when i.remoteDomid() == ports.backend().domid() -> {
                EventSignal s = signals.get(i.remotePort());
                yield s == null ? null : new RouteSpec(port, EvtchnOp.STAT_INTERDOMAIN, new Delivery.Signal(s));
            }
            default -> null;
        };
    }
}
