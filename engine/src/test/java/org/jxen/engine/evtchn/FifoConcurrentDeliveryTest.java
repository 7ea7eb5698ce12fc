package org.jxen.engine.evtchn;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.ReentrantLock;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.FifoLayout;
import org.jxen.engine.guestside.FifoConsumer;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.testing.EventFixture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntFunction;

/**
 * FIFO under concurrency: Java-thread vCPUs consume as Linux's events_fifo.c does while other threads send, mask and
 * unmask (guest-side clear_masked_cond, EVTCHNOP_unmask when pending), change priorities across all 16 and move ports
 * between vCPUs (Linux's mask / bind_vcpu / unmask). Test ports sit above 4,096. Count-based check as in the
 * 2-level test: every event sent to a port is consumed at least once after it was sent. At the end no word is left
 * LINKED and every queue is empty (READY clear): the queues were never corrupted.
 */
class FifoConcurrentDeliveryTest {
    private static final int VCPUS = 4;
    private static final int FIRST_TEST_PORT = 4200;
    private static final int PAIRS = 24;
    private static final long SENDS_PER_SENDER = 150_000;
    private static final int PAGES = 6; // event words for ports 0..6143

    static final class Counts {
        final AtomicLong sent = new AtomicLong();
        final AtomicLong consumedUpTo = new AtomicLong();

        void consumed() {
            consumedUpTo.accumulateAndGet(sent.get(), Math::max);
        }
    }

    @Test
    void noEventLostNoQueueCorrupted() throws Exception {
        try (var f = FifoTest.fifoFixture(VCPUS)) {
            PortManager pm = f.ports;
            for (int v = 0; v < VCPUS; v++) assertEquals(0, FifoTest.initControl(f, 0x10 + v, 64, v));
            for (int i = 0; i < PAGES; i++) assertEquals(0, FifoTest.expand(f, 0x20 + i));
            // Linux initialises every new event-array page with all words MASKED; test ports get unmasked below.
            for (int i = 0; i < PAGES; i++) {
                GuestRegion page = f.ram.page(0x20 + i).orElseThrow();
                for (int w = 0; w < FifoLayout.WORDS_PER_PAGE; w++) page.setBit(w * 4L, FifoLayout.MASKED);
            }
            FifoAbi fifo = FifoTest.fifo(f);
            IntFunction<GuestRegion> wordPage = port -> f.ram.page(0x20 + port / FifoLayout.WORDS_PER_PAGE).orElseThrow();

            while (pm.allocUnbound(DomId.DOMID_SELF, DomId.DOM0) < FIRST_TEST_PORT - 1) {
                // fillers: the test ports must be above 4,096
            }
            int[] send = new int[PAIRS], target = new int[PAIRS];
            AtomicReferenceArray<Counts> counts = new AtomicReferenceArray<>(FifoLayout.NR_CHANNELS);
            ReentrantLock[] locks = new ReentrantLock[PAIRS];
            for (int i = 0; i < PAIRS; i++) {
                target[i] = pm.allocUnbound(DomId.DOMID_SELF, DomId.DOMID_SELF);
                send[i] = pm.bindInterdomain(DomId.DOMID_SELF, target[i]);
                assertTrue(target[i] > 4096);
                counts.set(target[i], new Counts());
                counts.set(send[i], new Counts());
                locks[i] = new ReentrantLock();
                assertEquals(0, pm.bindVcpu(target[i], i % VCPUS));
                assertEquals(0, pm.setPriority(target[i], i % FifoLayout.MAX_QUEUES));
            }

            FifoConsumer[] consumers = new FifoConsumer[VCPUS];
            for (int v = 0; v < VCPUS; v++) {
                consumers[v] = new FifoConsumer(v, f.guest.shared(), fifo.controlBlock(v), wordPage, port -> {
                    Counts c = counts.get(port);
                    if (c != null) c.consumed();
                });
            }
            f.guest.setUpcallSink(v -> consumers[v].upcall());
            List<Thread> vcpuThreads = new ArrayList<>();
            for (FifoConsumer c : consumers) vcpuThreads.add(Thread.ofPlatform().name("vcpu").start(c));
            for (int i = 0; i < PAIRS; i++) {
                assertEquals(0, pm.unmask(target[i]));
                assertEquals(0, pm.unmask(send[i]));
            }

            ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
            AtomicBoolean stop = new AtomicBoolean();
            List<Thread> workers = new ArrayList<>();
            for (int s = 0; s < 2; s++) {
                long seed = 100 + s;
                workers.add(start(errors, "sender", () -> {
                    SplittableRandom rnd = new SplittableRandom(seed);
                    for (long n = 0; n < SENDS_PER_SENDER; n++) {
                        int i = rnd.nextInt(PAIRS);
                        counts.get(target[i]).sent.incrementAndGet();
                        assertEquals(0, pm.send(send[i]));
                    }
                }));
            }
            workers.add(start(errors, "masker", () -> {
                SplittableRandom rnd = new SplittableRandom(5);
                while (!stop.get()) {
                    int i = rnd.nextInt(PAIRS);
                    locks[i].lock();
                    try {
                        GuestRegion page = wordPage.apply(target[i]);
                        FifoConsumer.mask(page, target[i]);
                        long until = System.nanoTime() + 20_000 + rnd.nextInt(40_000);
                        while (System.nanoTime() < until) Thread.onSpinWait();
                        if (!FifoConsumer.clearMaskedCond(page, target[i])) assertEquals(0, pm.unmask(target[i]));
                    } finally {
                        locks[i].unlock();
                    }
                }
            }));
            workers.add(start(errors, "priority", () -> {
                SplittableRandom rnd = new SplittableRandom(6);
                while (!stop.get()) {
                    int i = rnd.nextInt(PAIRS);
                    assertEquals(0, pm.setPriority(target[i], rnd.nextInt(FifoLayout.MAX_QUEUES)));
                    Thread.sleep(0, 20_000);
                }
            }));
            workers.add(start(errors, "mover", () -> {
                SplittableRandom rnd = new SplittableRandom(7);
                while (!stop.get()) {
                    int i = rnd.nextInt(PAIRS);
                    locks[i].lock();
                    try { // Linux's xen_rebind_evtchn_to_cpu
                        GuestRegion page = wordPage.apply(target[i]);
                        boolean wasMasked = page.testAndSetBit((target[i] % FifoLayout.WORDS_PER_PAGE) * 4L, FifoLayout.MASKED);
                        assertEquals(0, pm.bindVcpu(target[i], rnd.nextInt(VCPUS)));
                        if (!wasMasked && !FifoConsumer.clearMaskedCond(page, target[i])) assertEquals(0, pm.unmask(target[i]));
                    } finally {
                        locks[i].unlock();
                    }
                    Thread.sleep(0, 50_000);
                }
            }));
            for (int s = 0; s < 2; s++) workers.get(s).join();
            stop.set(true);
            for (Thread t : workers) t.join();
            assertTrue(errors.isEmpty(), () -> "worker failed: " + errors.peek());

            long deadline = System.nanoTime() + 10_000_000_000L;
            List<String> lost;
            do {
                lost = new ArrayList<>();
                for (int i = 0; i < PAIRS; i++) {
                    Counts c = counts.get(target[i]);
                    if (c.consumedUpTo.get() < c.sent.get()) {
                        lost.add("port " + target[i] + ": sent " + c.sent.get() + " consumed up to " + c.consumedUpTo.get()
                                + " word=0x" + Integer.toHexString(fifo.eventWord(target[i])) + " vcpu="
                                + pm.channel(target[i]).vcpu() + " prio=" + pm.channel(target[i]).priority());
                    }
                }
                if (!lost.isEmpty()) Thread.sleep(10);
            } while (!lost.isEmpty() && System.nanoTime() < deadline);
            for (FifoConsumer c : consumers) c.stop();
            for (Thread t : vcpuThreads) t.join();
            List<String> finalLost = lost;
            assertTrue(lost.isEmpty(), () -> "lost events:\n" + String.join("\n", finalLost));
            for (int i = 0; i < PAIRS; i++) {
                int w = fifo.eventWord(target[i]);
                assertEquals(0, w & ((1 << FifoLayout.LINKED) | FifoLayout.LINK_MASK | (1 << FifoLayout.BUSY)),
                        "port " + target[i] + " left linked or busy: 0x" + Integer.toHexString(w));
            }
            for (int v = 0; v < VCPUS; v++) assertEquals(0, fifo.controlBlock(v).getIntVolatile(FifoLayout.CONTROL_READY));
        }
    }

    interface Body {
        void run() throws Exception;
    }

    private static Thread start(ConcurrentLinkedQueue<Throwable> errors, String name, Body body) {
        return Thread.ofPlatform().name(name).start(() -> {
            try {
                body.run();
            } catch (Throwable t) {
                errors.add(t);
            }
        });
    }

    /**
     * Fast-path senders racing the guest's switch from 2-level to FIFO and the growth of the event array: each of
     * 1,200 routed IPI ports is sent on exactly once, at a random moment while vCPU 0 and 1 register their control
     * blocks and two event pages arrive. Nobody consumes, so afterwards every port must be PENDING in its FIFO event
     * word: a send that set a 2-level bit after the carry-over, or held its event after the sweep, would be lost.
     */
    @Test
    void sendsRacingTheAbiSwitchAndArrayGrowthAreNeverLost() throws Exception {
        int rounds = Integer.getInteger("jxen.fifo.switch.rounds", 300);
        int senders = 2, perSender = 600;
        SplittableRandom seeds = new SplittableRandom(Long.getLong("jxen.fifo.switch.seed", 7));
        for (int round = 0; round < rounds; round++) {
            try (var f = FifoTest.fifoFixture(2).withFastPath()) {
                int[][] own = new int[senders][perSender];
                for (int s = 0; s < senders; s++)
                    for (int i = 0; i < perSender; i++) own[s][i] = f.ports.bindIpi(0);
                CountDownLatch go = new CountDownLatch(1);
                List<Thread> threads = new ArrayList<>();
                AtomicReference<String> wrong = new AtomicReference<>();
                for (int s = 0; s < senders; s++) {
                    int[] mine = own[s];
                    SplittableRandom rnd = seeds.split();
                    threads.add(Thread.ofPlatform().start(() -> {
                        var sender = f.fastPath.newSender();
                        for (int i = mine.length - 1; i > 0; i--) { // a random order
                            int j = rnd.nextInt(i + 1), t = mine[i];
                            mine[i] = mine[j];
                            mine[j] = t;
                        }
                        try {
                            go.await();
                        } catch (InterruptedException e) {
                            return;
                        }
                        for (int p : mine) {
                            long rc = sender.trySend(p);
                            if (rc != 0) wrong.compareAndSet(null, "send(" + p + ") = " + rc);
                            for (int k = rnd.nextInt(64); k > 0; k--) Thread.onSpinWait();
                        }
                    }));
                }
                go.countDown();
                assertEquals(0, FifoTest.initControl(f, 0x10, 64, 0));
                assertEquals(0, FifoTest.initControl(f, 0x11, 64, 1));
                assertEquals(0, FifoTest.expand(f, 0x20));
                assertEquals(0, FifoTest.expand(f, 0x21));
                for (Thread t : threads) t.join();
                assertNull(wrong.get());
                FifoAbi fifo = FifoTest.fifo(f);
                for (int[] mine : own)
                    for (int p : mine)
                        assertTrue((fifo.eventWord(p) & (1 << FifoLayout.PENDING)) != 0, "round " + round + ": the send on port " + p + " was lost");
            }
        }
    }
}
