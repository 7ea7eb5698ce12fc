package org.jxen.engine.hostile;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.hypercall.HypercallDispatcher;
import org.jxen.engine.testing.EventFixture;

/**
 * Hostile hypercalls at volume, concurrently: several threads act as the vCPUs of one guest and issue random
 * hypercalls (arbitrary numbers, commands, registers and pointers), while another thread scribbles over the guest's
 * RAM (argument structs, shared_info, control blocks, event words). No exception may escape, every result must be a
 * Xen errno, and the port tables must be consistent at the end.
 *
 * <p>{@code -Djxen.hostile.calls=N} (CI: 400,000; the documented run: 10,000,000). Seed: {@code -Djxen.hostile.seed}.
 */
@Tag("slow")
class HostileHypercallTest {
    private static final int VCPUS = 2;

    @Test
    void hostileHypercallsFromSeveralVcpus() throws Exception {
        long total = Long.getLong("jxen.hostile.calls", 400_000);
        long seed = Long.getLong("jxen.hostile.seed", System.nanoTime());
        System.out.println("hostile hypercalls: " + total + " calls on " + VCPUS + " vCPU threads, seed " + seed);
        ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        AtomicLong done = new AtomicLong();
        long rounds = 0;
        while (done.get() < total) {
            rounds++;
            long roundSeed = seed + rounds;
            // A fresh guest now and then, so exhaustion, FIFO switches and resets all happen many times.
            try (var f = new EventFixture(GuestWidth.BITS_64, DomainConfig.of(VCPUS))) {
                if ((roundSeed & 1) == 0) f.withFastPath();
                HypercallDispatcher d = HostileGuest.dispatcher(f);
                AtomicBoolean stop = new AtomicBoolean();
                long perThread = Math.min(50_000, (total - done.get()) / VCPUS + 1);
                List<Thread> vcpus = new ArrayList<>();
                for (int v = 0; v < VCPUS; v++) {
                    SplittableRandom rnd = new SplittableRandom(roundSeed * 31 + v);
                    vcpus.add(Thread.ofPlatform().start(() -> {
                        try {
                            HostileGuest.Choices c = choices(rnd);
                            for (long i = 0; i < perThread; i++) {
                                HostileGuest.hypercall(f, d, c); // checks the result itself
                            }
                            done.addAndGet(perThread);
                        } catch (Throwable t) {
                            errors.add(t);
                        }
                    }));
                }
                Thread scribbler = Thread.ofPlatform().start(() -> {
                    HostileGuest.Choices c = choices(new SplittableRandom(roundSeed));
                    while (!stop.get()) {
                        HostileGuest.scribble(f, c);
                        Thread.onSpinWait();
                    }
                });
                for (Thread t : vcpus) t.join();
                stop.set(true);
                scribbler.join();
                assertTrue(errors.isEmpty(), () -> "seed " + seed + " round " + roundSeed + ": " + errors.peek());
                assertEquals(List.of(), f.ports.checkInvariants(), "seed " + seed);
            }
        }
        System.out.println("hostile hypercalls: " + done.get() + " calls in " + rounds + " guests, all results Xen errnos");
    }

    private static HostileGuest.Choices choices(SplittableRandom rnd) {
        return new HostileGuest.Choices() {
            @Override
            public int intIn(int min, int max) {
                return min + rnd.nextInt(max - min + 1);
            }

            @Override
            public long anyLong() {
                return rnd.nextLong();
            }

            @Override
            public boolean bool() {
                return rnd.nextBoolean();
            }

            @Override
            public byte[] bytes(int max) {
                byte[] b = new byte[rnd.nextInt(max + 1)];
                rnd.nextBytes(b);
                return b;
            }
        };
    }
}
