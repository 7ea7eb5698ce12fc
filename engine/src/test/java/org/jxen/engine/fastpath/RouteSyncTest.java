package org.jxen.engine.fastpath;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Virq;
import org.jxen.engine.testing.EventFixture;
import java.util.List;

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
}
