package org.jxen.engine.platform;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Virq;
import org.jxen.engine.evtchn.DomainSnapshot;
import org.jxen.engine.evtchn.SnapshotCodec;
import org.jxen.engine.evtchn.Snapshots;
import org.jxen.engine.hvm.HvmParam;
import org.jxen.engine.hvm.HvmParams;
import org.jxen.engine.testing.EventFixture;

/** Callback parameters and pending timers travel with a saved domain, and a restored timer still fires. */
class PlatformStateTest {
    @Test
    void paramsAndTimersSurviveSaveAndRestore() throws Exception {
        byte[] saved;
        long deadline = System.nanoTime() + 1_500_000_000L; // far enough to compare before it fires
        try (var f = EventFixture.of(GuestWidth.BITS_64); var timers = new VcpuTimers(4, System::nanoTime, v -> {})) {
            HvmParams params = new HvmParams(4);
            params.set(HvmParam.CALLBACK_IRQ, (2L << 56) | 0xF3);
            params.set(HvmParam.STORE_PFN, 0x21);
            params.setVcpuUpcallVector(2, 0xE0);
            timers.setSingleshot(1, deadline);
            timers.setPeriodic(3, 7_000_000L);
            f.ports.bindVirq(Virq.TIMER, 1);
            DomainSnapshot snap = Snapshots.capture(f.ports, f.ram).withExtensions(PlatformState.capture(params, timers, 4));
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            SnapshotCodec.write(snap, new DataOutputStream(b));
            saved = b.toByteArray();
        }
        try (var f = EventFixture.of(GuestWidth.BITS_64)) {
            DomainSnapshot snap = SnapshotCodec.read(new DataInputStream(new ByteArrayInputStream(saved)));
            var ports = Snapshots.restore(snap, f.ram, p -> true);
            HvmParams params = new HvmParams(4);
            try (var timers = new VcpuTimers(4, System::nanoTime, v -> ports.raiseVirq(v, Virq.TIMER))) {
                PlatformState.restore(snap, params, timers);
                assertEquals(0xF3, params.upcallVector(0));
                assertEquals(0xE0, params.upcallVector(2));
                assertEquals(0x21, params.get(HvmParam.STORE_PFN));
                assertEquals(deadline, timers.singleshotDeadline(1));
                assertEquals(7_000_000L, timers.period(3));
                int timerPort = ports.guest().boundVirqPort(1, Virq.TIMER);
                long until = System.nanoTime() + 5_000_000_000L;
                while (!ports.guest().abi().isPending(timerPort) && System.nanoTime() < until) Thread.sleep(1);
                assertTrue(ports.guest().abi().isPending(timerPort), "the restored singleshot timer fired VIRQ_TIMER");
            }
        }
    }
}
