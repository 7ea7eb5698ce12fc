package org.jxen.engine.evtchn;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.ReentrantLock;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.testing.EventFixture;
import org.jxen.engine.guestside.TwoLevelConsumer;

/**
 * Java threads as vCPUs consume events the way Linux does while other threads send on IPI ports and loopback pairs,
 * mask and unmask, move ports between vCPUs (bind_vcpu, with Linux's mask/rebind/unmask protocol) and close and
 * re-bind IPI ports. Count-based check: for every port incarnation still open at the end, some consumption happened
 * after its last send (the consumer reads the send counter after clearing the pending bit, so a consumption that
 * could have missed send #k sees a count below k). No event may be lost, on either layout.
 *
 * <p>Guest-side per-port operations (mask/unmask, rebind, close+rebind) serialize on a per-port lock, as Linux's
 * irq descriptor lock serializes them.
 */
class ConcurrentDeliveryTest {
    private static final int VCPUS = 4;
    private static final int IPI_PORTS = 16;
    private static final int PAIRS = 16;
    private static final long SENDS_PER_SENDER = 150_000;

    /** One binding's life: sends counted, and the highest count a consumption observed. */
    static final class Incarnation {
        final AtomicLong sent = new AtomicLong();
        final AtomicLong consumedUpTo = new AtomicLong();
        volatile boolean closed;

        void consumed() {
            long s = sent.get();
            consumedUpTo.accumulateAndGet(s, Math::max);
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void noEventSentToAnOpenPortIsLost(GuestWidth width) throws Exception {
        try (var f = new EventFixture(width, DomainConfig.of(VCPUS))) {
            PortManager pm = f.ports;
            // Test ports sit two to a selector word, with never-signalled filler ports between them, so that
            // traffic on one port cannot rescue another port's lost event by making the consumer scan its word.
            int stride = width.bitsPerWord() / 2;
            int portSpace = (1 + IPI_PORTS + 2 * PAIRS) * stride + 1;
            AtomicIntegerArray owner = new AtomicIntegerArray(portSpace);
            AtomicReferenceArray<Incarnation> current = new AtomicReferenceArray<>(portSpace);
            ReentrantLock[] portLocks = new ReentrantLock[portSpace];
            for (int i = 0; i < portSpace; i++) {
                portLocks[i] = new ReentrantLock();
                owner.set(i, -1);
                current.set(i, new Incarnation());
            }
            ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();

            TwoLevelConsumer[] consumers = new TwoLevelConsumer[VCPUS];
            for (int v = 0; v < VCPUS; v++) {
                consumers[v] = new TwoLevelConsumer(v, f.guest.shared(), owner, port -> current.get(port).consumed());
            }
            f.guest.setUpcallSink(v -> consumers[v].upcall());

            int[] ipi = new int[IPI_PORTS];
            for (int i = 0; i < IPI_PORTS; i++) {
                int v = i % VCPUS;
                int expected = alignNextFree(pm, stride);
                owner.set(expected, v);
                ipi[i] = pm.bindIpi(v);
                assertEquals(expected, ipi[i]);
            }
            // Loopback pairs: send on s, raised on t.
            int[] pairSend = new int[PAIRS], pairTarget = new int[PAIRS];
            for (int i = 0; i < PAIRS; i++) {
                int expected = alignNextFree(pm, stride);
                owner.set(expected, 0);
                int t = pm.allocUnbound(DomId.DOMID_SELF, DomId.DOMID_SELF);
                assertEquals(expected, t);
                expected = alignNextFree(pm, stride);
                owner.set(expected, 0);
                int s = pm.bindInterdomain(DomId.DOMID_SELF, t);
                assertEquals(expected, s);
                pairSend[i] = s;
                pairTarget[i] = t;
            }

            List<Thread> threads = new ArrayList<>();
            for (TwoLevelConsumer c : consumers) threads.add(Thread.ofPlatform().name("vcpu").start(c));
            // bind_interdomain raised the new local ports: the consumers take those now.
            for (int v = 0; v < VCPUS; v++) consumers[v].upcall();

            AtomicBoolean stop = new AtomicBoolean();
            List<Thread> workers = new ArrayList<>();
            for (int s = 0; s < 2; s++) {
                long seed = 1000 + s;
                workers.add(Thread.ofPlatform().name("sender-" + s).start(guard(errors, () -> {
                    SplittableRandom rnd = new SplittableRandom(seed);
                    for (long n = 0; n < SENDS_PER_SENDER; n++) {
                        if (rnd.nextBoolean()) {
                            int port = ipi[rnd.nextInt(IPI_PORTS)];
                            current.get(port).sent.incrementAndGet();
                            int rc = pm.send(port);
                            if (rc != 0 && rc != -22) throw new AssertionError("send rc " + rc);
                        } else {
                            int i = rnd.nextInt(PAIRS);
                            current.get(pairTarget[i]).sent.incrementAndGet();
                            assertEquals(0, pm.send(pairSend[i]));
                        }
                    }
                })));
            }
            workers.add(Thread.ofPlatform().name("masker").start(guard(errors, () -> {
                SplittableRandom rnd = new SplittableRandom(7);
                while (!stop.get()) {
                    int t = pairTarget[rnd.nextInt(PAIRS)];
                    portLocks[t].lock();
                    try {
                        boolean wasMasked = f.sharedInfo().testAndSetBit(width.maskOffset, t);
                        long until = System.nanoTime() + 20_000 + rnd.nextInt(60_000); // let sends land while masked
                        while (System.nanoTime() < until) Thread.onSpinWait();
                        if (!wasMasked) assertEquals(0, pm.unmask(t));
                    } finally {
                        portLocks[t].unlock();
                    }
                }
            })));
            workers.add(Thread.ofPlatform().name("mover").start(guard(errors, () -> {
                SplittableRandom rnd = new SplittableRandom(8);
                while (!stop.get()) {
                    int t = pairTarget[rnd.nextInt(PAIRS)];
                    int v = rnd.nextInt(VCPUS);
                    portLocks[t].lock();
                    try { // Linux's xen_rebind_evtchn_to_cpu
                        boolean wasMasked = f.sharedInfo().testAndSetBit(width.maskOffset, t);
                        assertEquals(0, pm.bindVcpu(t, v));
                        owner.set(t, v);
                        if (!wasMasked) assertEquals(0, pm.unmask(t));
                    } finally {
                        portLocks[t].unlock();
                    }
                }
            })));
            workers.add(Thread.ofPlatform().name("closer").start(guard(errors, () -> {
                SplittableRandom rnd = new SplittableRandom(9);
                while (!stop.get()) {
                    int p = ipi[rnd.nextInt(IPI_PORTS)];
                    int v = rnd.nextInt(VCPUS);
                    portLocks[p].lock();
                    try { // close, re-bind masked, publish, unmask: Linux keeps a new port masked until startup
                        f.sharedInfo().setBit(width.maskOffset, p);
                        current.get(p).closed = true;
                        assertEquals(0, pm.close(p));
                        assertEquals(p, pm.bindIpi(v), "the lowest free port comes back");
                        owner.set(p, v);
                        current.set(p, new Incarnation());
                        assertEquals(0, pm.unmask(p));
                    } finally {
                        portLocks[p].unlock();
                    }
                    Thread.sleep(1);
                }
            })));

            for (int s = 0; s < 2; s++) workers.get(s).join();
            stop.set(true);
            for (Thread t : workers) t.join();
            assertTrue(errors.isEmpty(), () -> "worker failed: " + errors.peek());

            // Quiesce: every incarnation still open must have been consumed up to its last send.
            long deadline = System.nanoTime() + 10_000_000_000L;
            List<String> lost;
            do {
                lost = new ArrayList<>();
                for (int p = 1; p < portSpace; p++) {
                    Incarnation inc = current.get(p);
                    if (!inc.closed && inc.consumedUpTo.get() < inc.sent.get()) {
                        lost.add("port " + p + ": sent " + inc.sent.get() + " consumed up to " + inc.consumedUpTo.get()
                                + " pending=" + f.pending(p) + " masked=" + f.masked(p) + " owner=" + owner.get(p)
                                + " vcpu=" + pm.channel(p).vcpu());
                    }
                }
                if (!lost.isEmpty()) Thread.sleep(10);
            } while (!lost.isEmpty() && System.nanoTime() < deadline);
            for (TwoLevelConsumer c : consumers) c.stop();
            for (Thread t : threads) t.join();
            List<String> finalLost = lost;
            assertTrue(lost.isEmpty(), () -> "lost events (" + width + "):\n" + String.join("\n", finalLost));
        }
    }

    /** Fills ports with unbound fillers until the next free port is a multiple of {@code stride}; returns it. */
    private static int alignNextFree(PortManager pm, int stride) {
        while (true) {
            int p = pm.allocUnbound(DomId.DOMID_SELF, DomId.DOM0);
            if (p % stride == 0) {
                assertEquals(0, pm.close(p));
                return p;
            }
        }
    }

    interface Body {
        void run() throws Exception;
    }

    private static Runnable guard(ConcurrentLinkedQueue<Throwable> errors, Body body) {
        return () -> {
            try {
                body.run();
            } catch (Throwable t) {
                errors.add(t);
            }
        };
    }
}
