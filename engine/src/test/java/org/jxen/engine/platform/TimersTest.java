package org.jxen.engine.platform;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Virq;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.testing.EventFixture;
import java.util.function.BooleanSupplier;

/** Singleshot and periodic vCPU timers raise VIRQ_TIMER; set_timer_op; Xen's argument rules. */
class TimersTest {
    private static final long ARG = 0x1800;

    private static void waitFor(BooleanSupplier c) throws InterruptedException {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (!c.getAsBoolean()) {
            if (System.nanoTime() > deadline) fail("timed out");
            Thread.sleep(1);
        }
    }

    @Test
    void timersRaiseVirqTimer() throws Exception {
        try (var f = EventFixture.of(GuestWidth.BITS_64);
                var timers = new VcpuTimers(4, System::nanoTime, v -> f.ports.raiseVirq(v, Virq.TIMER))) {
            VcpuOp op = new VcpuOp(f.ports, f.ram, timers, System::nanoTime);
            var self = new PlatformOpsTest.TestVcpu(2);
            int port = f.ports.bindVirq(Virq.TIMER, 2);
            var s = f.ram.segment();

            // Singleshot 30 ms ahead.
            long t0 = System.nanoTime();
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, t0 + 30_000_000L);
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, 0);
            assertEquals(0, op.handle(self, HypercallArgs.from64(24, VcpuOp.SET_SINGLESHOT_TIMER, 2, ARG, 0, 0), f.vmem));
            waitFor(() -> f.pending(port));
            assertTrue(System.nanoTime() - t0 >= 30_000_000L, "not before its deadline");
            assertTrue(f.upcallPending(2));

            // A past deadline fires at once; with VCPU_SSHOTTMR_future it is -ETIME.
            f.clearPendingBit(port);
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, System.nanoTime() - 1_000_000L);
            assertEquals(0, op.handle(self, HypercallArgs.from64(24, VcpuOp.SET_SINGLESHOT_TIMER, 2, ARG, 0, 0), f.vmem));
            waitFor(() -> f.pending(port));
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, VcpuOp.SSHOTTMR_FUTURE);
            assertEquals(-VcpuOp.ETIME, op.handle(self, HypercallArgs.from64(24, VcpuOp.SET_SINGLESHOT_TIMER, 2, ARG, 0, 0), f.vmem));
            assertEquals(-Errno.EINVAL, op.handle(self, HypercallArgs.from64(24, VcpuOp.SET_SINGLESHOT_TIMER, 1, ARG, 0, 0), f.vmem),
                    "another vCPU's singleshot timer");

            // Stopped before its deadline: disarmed, and it never fires. The deadline is far enough ahead that no load
            // can make the stop come after it; a later timer on the same vCPU (fired below) would run after it anyway.
            f.clearPendingBit(port);
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, System.nanoTime() + 3_000_000_000L);
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, 0);
            op.handle(self, HypercallArgs.from64(24, VcpuOp.SET_SINGLESHOT_TIMER, 2, ARG, 0, 0), f.vmem);
            assertEquals(0, op.handle(self, HypercallArgs.from64(24, VcpuOp.STOP_SINGLESHOT_TIMER, 2, 0, 0, 0), f.vmem));
            assertEquals(0, timers.singleshotDeadline(2), "disarmed");
            assertFalse(f.pending(port));

            // Periodic every 5 ms: fires again and again until stopped.
            AtomicInteger fires = new AtomicInteger();
            try (var counting = new VcpuTimers(4, System::nanoTime, v -> fires.incrementAndGet())) {
                VcpuOp op2 = new VcpuOp(f.ports, f.ram, counting, System::nanoTime);
                s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, 999_999L);
                assertEquals(-Errno.EINVAL, op2.handle(self, HypercallArgs.from64(24, VcpuOp.SET_PERIODIC_TIMER, 2, ARG, 0, 0), f.vmem), "< 1 ms");
                s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, 5_000_000L);
                assertEquals(0, op2.handle(self, HypercallArgs.from64(24, VcpuOp.SET_PERIODIC_TIMER, 2, ARG, 0, 0), f.vmem));
                waitFor(() -> fires.get() >= 4);
                assertEquals(0, op2.handle(self, HypercallArgs.from64(24, VcpuOp.STOP_PERIODIC_TIMER, 2, 0, 0, 0), f.vmem));
                int after = fires.get();
                Thread.sleep(30);
                assertTrue(fires.get() <= after + 1, "stopped (one may have been in flight)");
            }

            // set_timer_op: 32-bit callers split the 64-bit deadline; 0 stops.
            f.clearPendingBit(port);
            TimerOp timerOp = new TimerOp(timers);
            long when = System.nanoTime() + 10_000_000L;
            assertEquals(0, timerOp.handle(self, HypercallArgs.from32(15, when & 0xFFFF_FFFFL, when >>> 32, 0, 0, 0)));
            assertEquals(when, timers.singleshotDeadline(2));
            waitFor(() -> f.pending(port));
            timerOp.handle(self, HypercallArgs.from64(15, System.nanoTime() + 50_000_000L, 0, 0, 0, 0));
            timerOp.handle(self, HypercallArgs.from64(15, 0, 0, 0, 0, 0));
            assertEquals(0, timers.singleshotDeadline(2), "0 stops it");
        }
    }
}
