package org.jxen.vmm.backend;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.fastpath.Delivery;
import org.jxen.engine.fastpath.EventSignal;
import org.jxen.engine.fastpath.FastPath;
import org.jxen.engine.fastpath.ReaderSlots;
import org.jxen.engine.fastpath.RouteSpec;
import org.jxen.engine.fastpath.RouteTable;
import org.jxen.engine.testing.EventFixture;
import org.jxen.sys.EventFd;
import org.jxen.vmm.kvm.GracePeriodFence;

/**
 * Route assign/update/deassign/reset/bulk-set while other threads send on those ports. Checks: no exception; no
 * delivery through a route after its deassign returned (an eventfd reference is never signalled after, or while,
 * being closed; a local route's target never becomes pending after its deassign returned); the process's open
 * descriptor count is back to where it started.
 *
 * <p>The senders run as jxen's vCPU threads do, without a fence of their own ({@link GracePeriodFence}).
 *
 * <p>{@code -Djxen.route.stress.ops=N} sets the number of route operations (CI: 200,000; documented full run:
 * 1,000,000).
 */
@Tag("slow")
class RouteStressTest {
    private static final int PORTS = 32;

    /** An eventfd reference that reports any use after (or during) its close. */
    static final class CheckedSignal implements EventSignal {
        final EventFdSignal inner;
        final ConcurrentLinkedQueue<String> violations;
        final AtomicInteger inFlight = new AtomicInteger();
        volatile boolean closed;

        CheckedSignal(EventFdSignal inner, ConcurrentLinkedQueue<String> violations) {
            this.inner = inner;
            this.violations = violations;
        }

        @Override
        public void signal() {
            inFlight.incrementAndGet();
            if (closed) violations.add("signal after close of fd " + inner.eventFd().fd());
            inner.signal();
            if (closed) violations.add("closed while a sender held fd " + inner.eventFd().fd());
            inFlight.decrementAndGet();
        }

        @Override
        public EventSignal duplicate() {
            return new CheckedSignal((EventFdSignal) inner.duplicate(), violations);
        }

        @Override
        public void close() {
            closed = true;
            if (inFlight.get() > 0) violations.add("close while in flight");
            inner.close();
        }
    }

    @Test
    void routeChangesUnderConcurrentSends() throws Exception {
        long ops = Long.getLong("jxen.route.stress.ops", 200_000);
        long seed = Long.getLong("jxen.route.stress.seed", System.nanoTime());
        // As jxen runs (GuestPlatform installs it): senders enter without a fence, route changes run membarrier(2).
        // The engine's own tests cover readers that fence themselves.
        boolean writerFenced = GracePeriodFence.installed();
        System.out.println("route stress: " + ops + " route operations, seed " + seed + ", readers "
                + (writerFenced ? "fenced by the writer's membarrier" : "fencing themselves (no membarrier here)"));
        long fdsBefore = OpenFds.count();
        ConcurrentLinkedQueue<String> violations = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        AtomicLong sends = new AtomicLong();

        try (var f = EventFixture.of(GuestWidth.BITS_64)) {
            RouteTable table = new RouteTable(() -> f.guest.abi().portLimit(), f.guest.vcpuCount(), ReaderSlots.global());
            FastPath fast = new FastPath(f.guest, table);
            AtomicBoolean stop = new AtomicBoolean();
            List<Thread> senders = new ArrayList<>();
            // One sender per spare core: the route writer needs the other one (a preempted sender in its critical
            // section makes a grace period last a scheduler quantum).
            int senderCount = Math.max(1, Runtime.getRuntime().availableProcessors() - 1);
            for (int s = 0; s < senderCount; s++) {
                long senderSeed = seed + s + 1;
                senders.add(Thread.ofPlatform().name("sender-" + s).start(() -> {
                    try {
                        FastPath.Sender sender = fast.newSender(); // on its own thread: its own slot
                        SplittableRandom rnd = new SplittableRandom(senderSeed);
                        long n = 0;
                        while (!stop.get()) {
                            long rc = sender.trySend(1 + rnd.nextInt(PORTS));
                            if (rc != 0 && rc != FastPath.MISS) throw new AssertionError("rc " + rc);
                            n++;
                        }
                        sends.addAndGet(n);
                    } catch (Throwable t) {
                        errors.add(t);
                    }
                }));
            }

            SplittableRandom rnd = new SplittableRandom(seed);
            boolean[] cleared = new boolean[PORTS + 1]; // local route deassigned and pending cleared since
            for (long op = 0; op < ops; op++) {
                int port = 1 + rnd.nextInt(PORTS);
                int kind = rnd.nextInt(100);
                if (kind < 40) {
                    if (cleared[port] && f.pending(port)) violations.add("port " + port + " raised after its deassign returned");
                    RouteSpec spec;
                    EventFd own = null;
                    if (rnd.nextBoolean()) {
                        spec = new RouteSpec(port, EvtchnOp.STAT_IPI, new Delivery.LocalPort(port, rnd.nextInt(4), 7));
                    } else {
                        own = EventFd.create();
                        spec = new RouteSpec(port, EvtchnOp.STAT_INTERDOMAIN,
                                new Delivery.Signal(new CheckedSignal(new EventFdSignal(own), violations)));
                    }
                    int rc = table.assign(spec);
                    if (rc != 0 && rc != -17) throw new AssertionError("assign " + rc);
                    if (own != null) own.close(); // the table holds its own reference
                    if (rc == 0) cleared[port] = false;
                } else if (kind < 65) {
                    var r = table.lookup(port);
                    int rc = table.update(new RouteSpec(port, EvtchnOp.STAT_IPI, new Delivery.LocalPort(port, rnd.nextInt(4), rnd.nextInt(16))));
                    if (rc != 0 && rc != -2 && rc != -22) throw new AssertionError("update " + rc);
                    if (r == null && rc == 0) throw new AssertionError("update of a missing route succeeded");
                } else if (kind < 98) {
                    var r = table.lookup(port);
                    int rc = table.deassign(port);
                    if (rc == 0 && r.signal() == null) {
                        f.clearPendingBit(port);
                        cleared[port] = true;
                    }
                } else if (kind < 99) {
                    table.reset();
                    for (int p = 1; p <= PORTS; p++) {
                        f.clearPendingBit(p);
                        cleared[p] = true;
                    }
                } else {
                    List<RouteSpec> all = new ArrayList<>();
                    for (int p = 1; p <= PORTS; p += 2) all.add(new RouteSpec(p, EvtchnOp.STAT_IPI, new Delivery.LocalPort(p, 0, 7)));
                    assertEquals(0, table.setAll(all));
                    for (int p = 1; p <= PORTS; p++) {
                        if (p % 2 == 0) {
                            f.clearPendingBit(p);
                            cleared[p] = true;
                        } else {
                            cleared[p] = false;
                        }
                    }
                }
            }
            stop.set(true);
            for (Thread t : senders) t.join();
            table.reset();
            System.out.println("route stress: " + sends.get() + " sends meanwhile");
        }
        assertTrue(errors.isEmpty(), () -> "sender failed: " + errors.peek());
        assertTrue(violations.isEmpty(), () -> "violations (seed " + seed + "): " + violations.stream().limit(5).toList());
        assertEquals(fdsBefore, OpenFds.count(), "descriptors leaked");
    }
}
