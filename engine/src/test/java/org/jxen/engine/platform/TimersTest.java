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

            // set_timer_op: 32-bit callers split the 64-bit deadline (one far ahead, so that it is read before any load
            // can make it fire and clear); a near one fires; 0 stops.
            f.clearPendingBit(port);
            TimerOp timerOp = new TimerOp(timers, System::nanoTime);
            long when = System.nanoTime() + 600_000_000_000L;
            assertEquals(0, timerOp.handle(self, HypercallArgs.from32(15, when & 0xFFFF_FFFFL, when >>> 32, 0, 0, 0)));
            assertEquals(when, timers.singleshotDeadline(2), "the two halves make one deadline");
            long soon = System.nanoTime() + 10_000_000L;
            assertEquals(0, timerOp.handle(self, HypercallArgs.from32(15, soon & 0xFFFF_FFFFL, soon >>> 32, 0, 0, 0)));
            waitFor(() -> f.pending(port));
            timerOp.handle(self, HypercallArgs.from64(15, System.nanoTime() + 50_000_000L, 0, 0, 0, 0));
            timerOp.handle(self, HypercallArgs.from64(15, 0, 0, 0, 0, 0));
            assertEquals(0, timers.singleshotDeadline(2), "0 stops it");
        }
    }
    /**
     * A guest whose pvclock has fallen 50 ms behind the host clock the timers run on (jxen's pvclock extrapolates the
     * guest's TSC; the host's clock is another oscillator): a deadline 30 ms ahead on the guest's clock is 20 ms past on
     * the host's. Xen measures it on the guest's clock: not -ETIME with VCPU_SSHOTTMR_future, and no event before the
     * guest's clock reaches it (30 ms from the call), by either call.
     */
    @Test
    void aSingleshotDeadlineIsMeasuredOnTheCallersClock() throws Exception {
        long lag = 50_000_000L;
        GuestClock behind = self -> System.nanoTime() - lag;
        try (var f = EventFixture.of(GuestWidth.BITS_64);
                var timers = new VcpuTimers(4, System::nanoTime, v -> f.ports.raiseVirq(v, Virq.TIMER))) {
            VcpuOp op = new VcpuOp(f.ports, f.ram, timers, System::nanoTime).withGuestClock(behind);
            var self = new PlatformOpsTest.TestVcpu(2);
            int port = f.ports.bindVirq(Virq.TIMER, 2);
            var s = f.ram.segment();
            long t0 = System.nanoTime();
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, behind.now(self) + 30_000_000L);
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, VcpuOp.SSHOTTMR_FUTURE);
            assertEquals(0, op.handle(self, HypercallArgs.from64(24, VcpuOp.SET_SINGLESHOT_TIMER, 2, ARG, 0, 0), f.vmem),
                    "ahead on the guest's clock: not -ETIME");
            waitFor(() -> f.pending(port));
            assertTrue(System.nanoTime() - t0 >= 30_000_000L, "VCPUOP_set_singleshot_timer: not before the guest's clock reaches it");

            f.clearPendingBit(port);
            TimerOp timerOp = new TimerOp(timers, behind);
            t0 = System.nanoTime();
            assertEquals(0, timerOp.handle(self, HypercallArgs.from64(15, behind.now(self) + 30_000_000L, 0, 0, 0, 0)));
            waitFor(() -> f.pending(port));
            assertTrue(System.nanoTime() - t0 >= 30_000_000L, "set_timer_op: not before the guest's clock reaches it");
        }
    }

    @Test
    void setTimerOpTreatsWrappedAndHugeTimeoutsAsXenDoes() {
        long[] now = {5_000_000_000L};
        // vCPU 1's timer is held by a keeper, which records each deadline and fires nothing: a past deadline, which
        // this engine's own timer would fire (and clear) at once, is read as set.
        try (var timers = new VcpuTimers(2, () -> now[0], v -> {})) {
            timers.setKeeper(new HoldingKeeper());
            TimerOp op = new TimerOp(timers, () -> now[0]);
            var self = new PlatformOpsTest.TestVcpu(1);
            op.handle(self, HypercallArgs.from64(15, now[0] + (1L << 50) - 1, 0, 0, 0, 0));
            assertEquals(now[0] + (1L << 50) - 1, timers.singleshotDeadline(1), "just under 2^50 ns ahead is kept");
            op.handle(self, HypercallArgs.from64(15, now[0] + (1L << 50), 0, 0, 0, 0));
            assertEquals(now[0] + TimerOp.HUGE_TIMEOUT_DELAY_NS, timers.singleshotDeadline(1), "2^50 ns ahead: 100 ms instead");
            op.handle(self, HypercallArgs.from64(15, -5, 0, 0, 0, 0));
            assertEquals(now[0] + TimerOp.HUGE_TIMEOUT_DELAY_NS, timers.singleshotDeadline(1), "wrapped negative: 100 ms instead");
            op.handle(self, HypercallArgs.from32(15, 0xFFFF_FFF0L, 0xFFFF_FFFFL, 0, 0, 0));
            assertEquals(now[0] + TimerOp.HUGE_TIMEOUT_DELAY_NS, timers.singleshotDeadline(1), "a 32-bit caller's wrapped value too");
            op.handle(self, HypercallArgs.from64(15, 1, 0, 0, 0, 0));
            assertEquals(1, timers.singleshotDeadline(1), "a past (positive) deadline stays: it fires at once");
        }
    }

    /** A keeper that holds vCPU 1's timer (as KVM does in kvm mode) and records what it was asked. */
    private static final class HoldingKeeper implements SingleshotKeeper {
        volatile boolean holds = true;
        volatile long deadline;

        @Override
        public boolean set(int vcpu, long deadlineNs) {
            if (vcpu != 1 || !holds) return false;
            deadline = deadlineNs;
            return true;
        }

        @Override
        public boolean stop(int vcpu) {
            if (vcpu != 1 || !holds) return false;
            deadline = 0;
            return true;
        }

        @Override
        public long deadline(int vcpu) {
            return vcpu == 1 && holds ? deadline : -1;
        }
    }

    @Test
    void aKeptTimerIsTheKeepersAndTheOthersStayTheEngines() throws Exception {
        AtomicInteger fired = new AtomicInteger();
        try (var timers = new VcpuTimers(2, System::nanoTime, v -> fired.incrementAndGet())) {
            long far = System.nanoTime() + 600_000_000_000L;
            timers.setSingleshot(1, far);
            assertEquals(far, timers.detachSingleshot(1), "handing over returns the engine's deadline");
            assertEquals(0, timers.detachSingleshot(1), "and disarms it");
            HoldingKeeper keeper = new HoldingKeeper();
            timers.setKeeper(keeper);
            timers.setSingleshot(1, far + 1);
            assertEquals(far + 1, keeper.deadline, "vCPU 1's call reaches the keeper");
            assertEquals(far + 1, timers.singleshotDeadline(1), "and a save reads the keeper's deadline");
            assertEquals(0, timers.detachSingleshot(1), "the engine armed nothing for it");
            timers.stopSingleshot(1);
            assertEquals(0, keeper.deadline);
            timers.setSingleshot(0, System.nanoTime());
            waitFor(() -> fired.get() == 1); // vCPU 0's timer is the engine's and fires
            keeper.holds = false; // given back: the engine takes calls for vCPU 1 again
            timers.setSingleshot(1, System.nanoTime());
            waitFor(() -> fired.get() == 2);
            assertEquals(0, keeper.deadline);
        }
    }
}
