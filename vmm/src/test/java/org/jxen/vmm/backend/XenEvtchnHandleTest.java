package org.jxen.vmm.backend;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.Binding;
import org.jxen.engine.fastpath.BackendSignals;
import org.jxen.engine.guestside.TwoLevelConsumer;
import org.jxen.engine.testing.EventFixture;
import org.jxen.sys.Errno;
import org.jxen.sys.EventFd;

class XenEvtchnHandleTest {
    private static final int DOMID = 1;

    private static EventFixture fixture(boolean fastPath) {
        EventFixture f = EventFixture.of(GuestWidth.BITS_64);
        if (fastPath) return f.withFastPath();
        f.backendSignals = new BackendSignals();
        f.backend.setNotifier(f.backendSignals);
        return f;
    }

    /** close() while the backend's thread waits in epoll: it is woken with -EBADF, then the descriptors go. */
    @Test
    void closingTheHandleWakesTheThreadWaitingInIt() throws Exception {
        long fdsBefore = OpenFds.count();
        try (var f = fixture(true)) {
            var xce = new XenEvtchnHandle(f.ports, f.backendSignals);
            int port = xce.bindInterdomain(DOMID, f.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOM0));
            assertEquals(port, xce.pending());
            CountDownLatch waiting = new CountDownLatch(1);
            CompletableFuture<Integer> woken = CompletableFuture.supplyAsync(() -> {
                waiting.countDown();
                return xce.awaitPending(-1);
            });
            waiting.await();
            Thread.sleep(20); // most likely inside epoll_wait by now; either way close() must wake it
            xce.close();
            assertEquals(-Errno.EBADF, woken.get(60, TimeUnit.SECONDS));
            assertEquals(-Errno.EBADF, xce.awaitPending(-1), "a wait after close answers at once");
        }
        assertEquals(fdsBefore, OpenFds.count(), "the epoll and eventfd descriptors are closed");
    }

    @ParameterizedTest(name = "fast path {0}")
    @ValueSource(booleans = {true, false})
    void backendBlockedInEpollIsWokenByAGuestSend(boolean fastPath) throws Exception {
        long fdsBefore = OpenFds.count();
        try (var f = fixture(fastPath); var xce = new XenEvtchnHandle(f.ports, f.backendSignals)) {
            int guestPort = f.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOM0);
            int port = xce.bindInterdomain(DOMID, guestPort);
            assertTrue(port > 0);
            assertEquals(port, xce.pending(), "bind_interdomain raises the binder's new port");
            assertEquals(0, xce.unmask(port));
            assertEquals(fastPath, f.routes != null && f.routes.lookup(guestPort) != null);

            CountDownLatch waiting = new CountDownLatch(1);
            CompletableFuture<Integer> woken = CompletableFuture.supplyAsync(() -> {
                waiting.countDown();
                return xce.awaitPending(10_000);
            });
            waiting.await();
            Thread.sleep(50); // let it block in epoll_wait
            assertFalse(woken.isDone());
            assertEquals(0, f.call(EvtchnOp.SEND, guestPort));
            assertEquals(port, woken.get(60, TimeUnit.SECONDS));

            // Masked until unmask: a second send is held back, not lost.
            assertEquals(0, f.call(EvtchnOp.SEND, guestPort));
            assertEquals(-1, xce.pending());
            assertEquals(0, xce.unmask(port));
            assertEquals(port, xce.pending());

            assertEquals(0, xce.unbind(port));
            assertInstanceOf(Binding.Unbound.class, f.ports.channel(guestPort).binding(), "the guest's end reverts to unbound");
            assertEquals(-107, xce.unbind(port));
            assertEquals(-107, xce.notify(port));
        }
        assertEquals(fdsBefore, OpenFds.count(), "every eventfd and epoll descriptor closed");
    }

    @Test
    void guestConsumerSeesAnEventRaisedByABackendEventfdWrite() throws Exception {
        long fdsBefore = OpenFds.count();
        try (var f = fixture(true); var xce = new XenEvtchnHandle(f.ports, f.backendSignals);
                var injector = new EventFdInjector(f.ports)) {
            int port = xce.bindUnboundPort(DOMID);
            int guestPort = f.ports.bindInterdomain(DomId.DOM0, port);
            AtomicIntegerArray owner = new AtomicIntegerArray(4096);
            for (int i = 0; i < 4096; i++) owner.set(i, -1);
            owner.set(guestPort, 0);
            CountDownLatch consumed = new CountDownLatch(2);
            var vcpu0 = new TwoLevelConsumer(0, f.guest.shared(), owner, p -> {
                if (p == guestPort) consumed.countDown();
            });
            f.guest.setUpcallSink(v -> vcpu0.upcall());
            Thread t = Thread.ofPlatform().start(vcpu0);
            vcpu0.upcall(); // bind_interdomain left the guest port pending
            // Wait for the first consumption before the backend writes, so the two cannot coalesce.
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (consumed.getCount() == 2 && System.nanoTime() < deadline) Thread.sleep(1);

            EventFd irqfd = injector.attach(port);
            irqfd.signal(); // what a backend (here, or in another process holding the fd) does
            assertTrue(consumed.await(60, TimeUnit.SECONDS), "the guest consumer saw the backend's event");
            vcpu0.stop();
            t.join();
            injector.detach(port);
        }
        assertEquals(fdsBefore, OpenFds.count());
    }

    @Test
    void notifyRaisesTheGuestEnd() {
        try (var f = fixture(true); var xce = new XenEvtchnHandle(f.ports, f.backendSignals)) {
            int port = xce.bindUnboundPort(DOMID);
            int guestPort = f.ports.bindInterdomain(DomId.DOM0, port);
            f.clearPendingBit(guestPort);
            f.acknowledge(0);
            assertEquals(0, xce.notify(port));
            assertTrue(f.pending(guestPort));
            assertTrue(f.upcallPending(0));
            assertEquals(-3, xce.bindUnboundPort(42), "no such domain");
        }
    }

    /**
     * A port is masked as it is reported: several sends make one report, and unmask reports it again only if a send
     * came while it was masked, once.
     */
    @Test
    void aPortIsReportedOncePerBurstAndAfterUnmaskOnlyForASendWhileMasked() {
        try (var f = fixture(true); var xce = new XenEvtchnHandle(f.ports, f.backendSignals)) {
            int guest1 = f.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOM0), guest2 = f.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOM0);
            int port1 = xce.bindInterdomain(DOMID, guest1), port2 = xce.bindInterdomain(DOMID, guest2);
            assertEquals(Set.of(port1, port2), Set.of(xce.pending(), xce.pending()), "the binds' own events");
            assertEquals(-1, xce.pending());
            assertEquals(0, xce.unmask(port1));
            assertEquals(0, xce.unmask(port2));
            assertEquals(-1, xce.pending(), "nothing came while they were masked");

            for (int i = 0; i < 3; i++) assertEquals(0, f.call(EvtchnOp.SEND, guest1));
            assertEquals(0, f.call(EvtchnOp.SEND, guest2));
            assertEquals(Set.of(port1, port2), Set.of(xce.pending(), xce.pending()));
            assertEquals(-1, xce.pending(), "three sends, one report");
            assertEquals(0, xce.unmask(port1));
            assertEquals(0, xce.unmask(port2));
            assertEquals(-1, xce.pending(), "the sends were taken with the report: unmask fires nothing");

            assertEquals(0, f.call(EvtchnOp.SEND, guest1));
            assertEquals(port1, xce.awaitPending(0));
            assertEquals(0, f.call(EvtchnOp.SEND, guest1));
            assertEquals(0, f.call(EvtchnOp.SEND, guest1));
            assertEquals(-1, xce.pending(), "masked: held back");
            assertEquals(0, xce.unmask(port1));
            assertEquals(port1, xce.pending(), "a send while masked fires at unmask");
            assertEquals(0, xce.unmask(port1));
            assertEquals(-1, xce.pending(), "once");
        }
    }

    @Test
    void aWakeupSeenByANonBlockingLookStillEndsTheNextWait() throws Exception {
        // The backend loop's shutdown race: wakeup() lands, a non-blocking pending() drains it, then the loop blocks.
        try (var f = fixture(true); var xce = new XenEvtchnHandle(f.ports, f.backendSignals)) {
            xce.wakeup();
            assertEquals(-1, xce.pending(), "no port pending; the wakeup is collected");
            var waited = CompletableFuture.supplyAsync(() -> xce.awaitPending(-1));
            try {
                assertEquals(-1, waited.get(60, TimeUnit.SECONDS), "the wait ended: the wakeup was not lost");
            } finally {
                xce.wakeup(); // a waiter stuck by the bug must leave before the handle closes
                waited.get(60, TimeUnit.SECONDS);
            }
        }
    }

    /**
     * A send to a masked port does not end a blocked wait (it is held for the unmask), and an unmask from another
     * thread hands the held port to the thread still waiting.
     */
    @Test
    void aSendWhileMaskedWaitsForTheUnmaskEvenFromAnotherThread() throws Exception {
        try (var f = fixture(true); var xce = new XenEvtchnHandle(f.ports, f.backendSignals)) {
            int guest1 = f.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOM0), guest2 = f.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOM0);
            int port1 = xce.bindInterdomain(DOMID, guest1), port2 = xce.bindInterdomain(DOMID, guest2);
            assertEquals(Set.of(port1, port2), Set.of(xce.pending(), xce.pending()), "the binds' own events, both now masked");
            assertEquals(0, xce.unmask(port2));

            CountDownLatch waiting = new CountDownLatch(1);
            CompletableFuture<Integer> woken = CompletableFuture.supplyAsync(() -> {
                waiting.countDown();
                return xce.awaitPending(-1);
            });
            waiting.await();
            Thread.sleep(50); // let it block in epoll_wait
            assertEquals(0, f.call(EvtchnOp.SEND, guest1));
            Thread.sleep(50); // a wrongly ended wait would be over by now
            assertFalse(woken.isDone(), "a send to a masked port ended the wait: " + woken.getNow(null));
            assertEquals(0, xce.unmask(port1));
            assertEquals(port1, woken.get(60, TimeUnit.SECONDS), "the held send is handed out at unmask");

            assertEquals(0, f.call(EvtchnOp.SEND, guest2));
            assertEquals(port2, xce.awaitPending(60_000), "the other port was unmasked all along");
            assertEquals(-1, xce.awaitPending(1), "nothing else is pending");
        }
    }
}
