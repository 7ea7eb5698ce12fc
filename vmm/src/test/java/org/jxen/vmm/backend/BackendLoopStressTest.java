package org.jxen.vmm.backend;

import static org.junit.jupiter.api.Assertions.*;

import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.testing.EventFixture;

/**
 * A ring device's handshake, many times over, as a guest and a backend drive it: the guest publishes a request and
 * sends on its port, the backend's {@link BackendLoop} wakes, answers every request it sees, and the guest waits for
 * the answer. Meanwhile another thread wakes the loop for host-side work (as XenStore watches do). A notification the
 * handle loses leaves a request unanswered: the guest's wait then fails, naming the port.
 *
 * <p>{@code -Djxen.backend.stress.requests=N} sets the number of requests (CI: 20,000).
 */
class BackendLoopStressTest {
    private static final int DOMID = 1, PORTS = 3;
    private static final long STUCK_NANOS = 60_000_000_000L;

    @Test
    void everyRequestIsAnsweredWhileTheLoopIsAlsoWokenForHostWork() throws Exception {
        int requests = Integer.getInteger("jxen.backend.stress.requests", 20_000);
        try (var f = EventFixture.of(GuestWidth.BITS_64).withFastPath(); var xce = new XenEvtchnHandle(f.ports, f.backendSignals)) {
            int[] guestPorts = new int[PORTS];
            for (int i = 0; i < PORTS; i++) {
                guestPorts[i] = f.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOM0);
                assertTrue(xce.bindInterdomain(DOMID, guestPorts[i]) > 0);
            }
            AtomicLongArray produced = new AtomicLongArray(PORTS), consumed = new AtomicLongArray(PORTS);
            Runnable service = () -> {
                for (int i = 0; i < PORTS; i++) consumed.set(i, produced.get(i)); // the ring: all requests seen are answered
            };
            AtomicBoolean done = new AtomicBoolean();
            try (var loop = new BackendLoop("stress-backend", xce, service)) {
                Thread hostWork = Thread.ofPlatform().name("stress-host").start(() -> {
                    SplittableRandom r = new SplittableRandom(1);
                    while (!done.get()) {
                        loop.wake();
                        LockSupport.parkNanos(r.nextLong(1_000, 200_000));
                    }
                });
                try {
                    SplittableRandom r = new SplittableRandom(42);
                    for (int n = 0; n < requests; n++) {
                        int i = r.nextInt(PORTS);
                        long want = produced.incrementAndGet(i);
                        assertEquals(0, f.call(EvtchnOp.SEND, guestPorts[i]));
                        long deadline = System.nanoTime() + STUCK_NANOS;
                        while (consumed.get(i) < want) {
                            if (System.nanoTime() > deadline)
                                fail("request " + n + " on guest port " + guestPorts[i] + " never answered: the backend missed its notification");
                            if (r.nextInt(4) == 0) Thread.onSpinWait();
                            else Thread.yield();
                        }
                    }
                } finally {
                    done.set(true);
                    hostWork.join();
                }
            }
        }
    }
}
