package org.jxen.engine.fastpath;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Virq;
import org.jxen.engine.testing.EventFixture;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.jxen.engine.evtchn.InboundRoutes;

/** Routes follow the port table: installed on bind, moved on bind_vcpu, removed before close, cleared on reset. */
class RouteSyncTest {
    @Test
    void routesFollowBindsMovesAndCloses() {
        try (var f = EventFixture.of(GuestWidth.BITS_64).withFastPath()) {
            var pm = f.ports;
            int ipi = pm.bindIpi(1);
            int timer = pm.bindVirq(Virq.TIMER, 2);
            int q = pm.allocUnbound(DomId.DOMID_SELF, DomId.DOMID_SELF);
            assertNull(f.routes.lookup(q), "unbound ports have no route");
            int p = pm.bindInterdomain(DomId.DOMID_SELF, q);

            assertEquals(new Route(ipi, EvtchnOp.STAT_IPI, ipi, 1, 7, null), f.routes.lookup(ipi));
            assertEquals(new Route(timer, EvtchnOp.STAT_VIRQ, timer, 2, 7, null), f.routes.lookup(timer));
            assertEquals(new Route(p, EvtchnOp.STAT_INTERDOMAIN, q, 0, 7, null), f.routes.lookup(p));
            assertEquals(new Route(q, EvtchnOp.STAT_INTERDOMAIN, p, 0, 7, null), f.routes.lookup(q));

            assertEquals(0, pm.bindVcpu(q, 3));
            assertEquals(3, f.routes.lookup(p).vcpu(), "the route into q follows q's vCPU");
            assertEquals(0, f.routes.lookup(q).vcpu(), "q's own route targets p, which did not move");

            assertEquals(0, pm.close(p));
            assertNull(f.routes.lookup(p));
            assertNull(f.routes.lookup(q), "q is unbound again");
            assertEquals(0, pm.reset(DomId.DOMID_SELF));
            assertTrue(f.routes.routes().isEmpty());
        }
    }

    @Test
    void fastSendMatchesTheSlowPath() {
        try (var f = EventFixture.of(GuestWidth.BITS_64).withFastPath()) {
            var pm = f.ports;
            int q = pm.allocUnbound(DomId.DOMID_SELF, DomId.DOMID_SELF);
            int p = pm.bindInterdomain(DomId.DOMID_SELF, q);
            f.acknowledge(0);
            f.clearPendingBit(p);
            f.upcalls.clear();
            assertEquals(0, pm.bindVcpu(q, 2));
            assertEquals(0, f.call(EvtchnOp.SEND, p));
            assertTrue(f.pending(q));
            assertTrue(f.upcallPending(2), "delivered on q's new vCPU");
            assertFalse(f.upcallPending(0));
            int timer = pm.bindVirq(Virq.TIMER, 1);
            assertEquals(-22, f.call(EvtchnOp.SEND, timer), "VIRQ ports cannot be sent on, fast path or not");
        }
    }

    @Test
    void backendPortsRouteToTheirSignalOnceRegistered() {
        try (var f = EventFixture.of(GuestWidth.BITS_64).withFastPath()) {
            var pm = f.ports;
            int bport = pm.backendAllocUnbound(DomId.DOMID_SELF);
            int g = pm.bindInterdomain(DomId.DOM0, bport);
            assertNull(f.routes.lookup(g), "no signal registered yet: the slow path handles it");
            assertEquals(0, f.call(EvtchnOp.SEND, g));
            assertTrue(f.backendNotifications.isEmpty());
            f.registerBackendPort(bport);
            assertEquals(List.of(bport), List.copyOf(f.backendNotifications), "the early notification is delivered");
            assertNotNull(f.routes.lookup(g));
            assertEquals(2, f.openSignalRefs.get(), "the caller's reference and the route table's");
            assertEquals(0, f.call(EvtchnOp.SEND, g));
            assertEquals(2, f.backendNotifications.size());
            assertEquals(0, pm.backendClose(bport));
            assertNull(f.routes.lookup(g));
            assertEquals(1, f.openSignalRefs.get(), "the route's reference was closed");
        }
    }

    /** A recording inbound path (kvm mode's irqfds), carrying notifies only while told to. */
    private static final class RecordingInbound implements InboundRoutes {
        final Map<Integer, List<Integer>> byGuest = new HashMap<>(); // guest port -> [backend port, vcpu]
        final List<Integer> carried = new ArrayList<>();
        boolean carrying = true;

        @Override
        public void routed(int guestPort, int backendPort, int vcpu) {
            byGuest.put(guestPort, List.of(backendPort, vcpu));
        }

        @Override
        public void unrouted(int guestPort) {
            byGuest.remove(guestPort);
        }

        @Override
        public boolean notify(int backendPort) {
            boolean known = byGuest.values().stream().anyMatch(v -> v.getFirst() == backendPort);
            if (carrying && known) carried.add(backendPort);
            return carrying && known;
        }
    }

    @Test
    void inboundRoutesFollowBackendBindsMovesAndClosesAndCarryNotifies() {
        try (var f = EventFixture.of(GuestWidth.BITS_64).withFastPath()) {
            var pm = f.ports;
            int bport = pm.backendAllocUnbound(DomId.DOMID_SELF);
            int g = pm.bindInterdomain(DomId.DOM0, bport); // bound before the path exists: picked up when it is set
            int q = pm.allocUnbound(DomId.DOMID_SELF, DomId.DOMID_SELF);
            int loop = pm.bindInterdomain(DomId.DOMID_SELF, q);
            RecordingInbound in = new RecordingInbound();
            f.routeSync.carryInbound(in);
            assertEquals(Map.of(g, List.of(bport, 0)), in.byGuest, "only ports bound to a backend");

            assertEquals(0, pm.bindVcpu(g, 2));
            assertEquals(List.of(bport, 2), in.byGuest.get(g), "moved with bind_vcpu");
            f.acknowledge(0);
            f.clearPendingBit(g);
            assertEquals(0, pm.backendNotify(bport));
            assertEquals(List.of(bport), in.carried);
            assertFalse(f.pending(g), "carried by the path: the engine did not raise it too");
            in.carrying = false;
            assertEquals(0, pm.backendNotify(bport));
            assertTrue(f.pending(g), "not carried: the engine raised it");

            int bport2 = pm.backendAllocUnbound(DomId.DOMID_SELF);
            int g2 = pm.bindInterdomain(DomId.DOM0, bport2);
            assertEquals(List.of(bport2, 0), in.byGuest.get(g2));
            assertEquals(0, pm.backendClose(bport2));
            assertNull(in.byGuest.get(g2), "the backend closed its end: the guest's port is unbound");
            assertEquals(0, pm.close(g));
            assertTrue(in.byGuest.isEmpty(), "closed by the guest");
            assertEquals(0, pm.close(loop));
            int g3 = pm.bindInterdomain(DomId.DOM0, pm.backendAllocUnbound(DomId.DOMID_SELF));
            assertEquals(0, pm.reset(DomId.DOMID_SELF));
            assertNull(in.byGuest.get(g3), "reset closes every port");
        }
    }
}
