package org.jxen.engine.fastpath;

import static org.jxen.engine.abi.Errno.*;
import static org.jxen.engine.abi.EvtchnOp.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.jxen.engine.testing.RecordingSignal;

/** Every rule of the route table, and its reference counting of signals. */
class RouteTableTest {
    private final AtomicInteger refs = new AtomicInteger();
    private final ConcurrentLinkedQueue<Integer> log = new ConcurrentLinkedQueue<>();
    private int limit = 4096;
    private final RouteTable table = new RouteTable(() -> limit, 4, ReaderSlots.global());

    private static RouteSpec ipi(int port, int vcpu) {
        return new RouteSpec(port, STAT_IPI, new Delivery.LocalPort(port, vcpu, 7));
    }

    private RouteSpec toSignal(int port, RecordingSignal s) {
        return new RouteSpec(port, STAT_INTERDOMAIN, new Delivery.Signal(s));
    }

    @Test
    void sendPortMustBeInRange() {
        assertEquals(-EINVAL, table.assign(ipi(0, 0)));
        assertEquals(-EINVAL, table.assign(ipi(4096, 0)));
        assertEquals(-EINVAL, table.assign(ipi(-1, 0)));
        assertEquals(0, table.assign(ipi(4095, 0)));
        assertEquals(-EINVAL, table.deassign(0));
        assertEquals(-EINVAL, table.deassign(4096));
        assertEquals(-EINVAL, table.update(ipi(4096, 1)));
    }

    @Test
    void typesAndDeliveries() {
        assertEquals(-EINVAL, table.assign(new RouteSpec(5, STAT_IPI, new Delivery.LocalPort(6, 0, 7))), "IPI delivers to itself");
        assertEquals(-EINVAL, table.assign(new RouteSpec(5, STAT_VIRQ, new Delivery.LocalPort(6, 0, 7))), "so does a VIRQ");
        assertEquals(-EINVAL, table.assign(new RouteSpec(5, STAT_IPI, new Delivery.LocalPort(5, 4, 7))), "no vCPU 4");
        assertEquals(-EINVAL, table.assign(new RouteSpec(5, STAT_IPI, new Delivery.LocalPort(5, 0, 16))), "priority 0..15");
        assertEquals(-EINVAL, table.assign(new RouteSpec(5, STAT_IPI, new Delivery.Signal(RecordingSignal.create(5, log, refs)))));
        assertEquals(-EINVAL, table.assign(new RouteSpec(5, STAT_INTERDOMAIN, new Delivery.LocalPort(5, 0, 7))),
                "a loopback route targets another port");
        assertEquals(-EINVAL, table.assign(new RouteSpec(5, STAT_INTERDOMAIN, new Delivery.LocalPort(0, 0, 7))));
        assertEquals(-EINVAL, table.assign(new RouteSpec(5, STAT_INTERDOMAIN, new Delivery.LocalPort(4096, 0, 7))));
        assertEquals(-EINVAL, table.assign(new RouteSpec(5, STAT_UNBOUND, new Delivery.LocalPort(5, 0, 7))));
        assertEquals(-EINVAL, table.assign(new RouteSpec(5, STAT_PIRQ, new Delivery.LocalPort(5, 0, 7))));
        assertEquals(-EINVAL, table.assign(new RouteSpec(5, STAT_IPI, null)));
        assertEquals(-EINVAL, table.assign(null));
        assertEquals(0, table.assign(new RouteSpec(5, STAT_INTERDOMAIN, new Delivery.LocalPort(6, 3, 0))));
        assertEquals(0, table.assign(new RouteSpec(7, STAT_VIRQ, new Delivery.LocalPort(7, 3, 15))));
    }

    @Test
    void duplicateAssignAndUnknownPorts() {
        assertEquals(0, table.assign(ipi(9, 1)));
        assertEquals(-EEXIST, table.assign(ipi(9, 2)));
        assertEquals(-ENOENT, table.deassign(10));
        assertEquals(-ENOENT, table.update(ipi(10, 1)));
        assertEquals(0, table.deassign(9));
        assertEquals(-ENOENT, table.deassign(9));
        assertNull(table.lookup(9));
    }

    @Test
    void updateMayChangeOnlyVcpuAndPriority() {
        assertEquals(0, table.assign(new RouteSpec(5, STAT_INTERDOMAIN, new Delivery.LocalPort(6, 0, 7))));
        assertEquals(0, table.update(new RouteSpec(5, STAT_INTERDOMAIN, new Delivery.LocalPort(6, 2, 3))));
        assertEquals(new Route(5, STAT_INTERDOMAIN, 6, 2, 3, null), table.lookup(5));
        assertEquals(-EINVAL, table.update(new RouteSpec(5, STAT_INTERDOMAIN, new Delivery.LocalPort(8, 2, 3))), "target");
        assertEquals(-EINVAL, table.update(new RouteSpec(5, STAT_IPI, new Delivery.LocalPort(5, 2, 3))), "type");
        assertEquals(-EINVAL, table.update(new RouteSpec(5, STAT_INTERDOMAIN, new Delivery.LocalPort(6, 9, 3))), "vCPU");
        assertEquals(-EINVAL, table.update(new RouteSpec(5, STAT_INTERDOMAIN, new Delivery.LocalPort(6, 1, 99))), "priority");
        var s = RecordingSignal.create(5, log, refs);
        assertEquals(-EINVAL, table.update(toSignal(5, s)), "local to signal");
        assertEquals(0, table.assign(toSignal(11, s)));
        assertEquals(-EINVAL, table.update(toSignal(11, s)), "a signal route has nothing to update");
        assertEquals(-EINVAL, table.update(new RouteSpec(11, STAT_INTERDOMAIN, new Delivery.LocalPort(12, 0, 7))));
        assertEquals(2, refs.get(), "updates take no new reference (the seed's leak)");
    }

    @Test
    void everyReferenceTakenIsClosedOnce() {
        var s = RecordingSignal.create(1, log, refs);
        assertEquals(0, table.assign(toSignal(3, s)));
        assertEquals(0, table.assign(toSignal(4, s)));
        assertEquals(3, refs.get());
        assertEquals(0, table.deassign(3));
        assertEquals(2, refs.get());
        table.reset();
        assertEquals(1, refs.get());
        assertEquals(0, table.setAll(List.of(toSignal(5, s), toSignal(6, s), ipi(7, 0))));
        assertEquals(3, refs.get());
        assertEquals(0, table.setAll(List.of(toSignal(5, s))), "replacing releases the old table's references");
        assertEquals(2, refs.get());
        s.close();
        assertEquals(-EBADF, table.assign(toSignal(8, s)), "a dead signal cannot be routed");
        table.reset();
        assertEquals(0, refs.get());
    }

    @Test
    void bulkSetIsAllOrNothing() {
        assertEquals(0, table.assign(ipi(3, 0)));
        assertEquals(-EEXIST, table.setAll(List.of(ipi(5, 0), ipi(5, 1))));
        assertEquals(-EINVAL, table.setAll(List.of(ipi(5, 0), ipi(0, 1))));
        assertNotNull(table.lookup(3), "a failed bulk set changes nothing");
        assertNull(table.lookup(5));
        assertEquals(0, table.setAll(List.of(ipi(5, 0), ipi(6, 1))));
        assertNull(table.lookup(3));
        assertEquals(2, table.routes().size());
    }

    @Test
    void theLimitFollowsTheAbi() {
        assertEquals(-EINVAL, table.assign(ipi(5000, 0)));
        limit = 131072;
        assertEquals(0, table.assign(ipi(131071, 0)));
        assertNotNull(table.lookup(131071));
        assertNull(table.lookup(131072));
    }
}
