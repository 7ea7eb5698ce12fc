package org.jxen.engine.evtchn;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.testing.EventFixture;

/** SCHEDOP_poll's building block: a port becoming pending wakes the vCPUs polling it, masked or not. */
class PollersTest {
    @Test
    void maskedPortBecomingPendingWakesItsPoller() {
        try (var f = EventFixture.of(GuestWidth.BITS_64)) {
            List<Integer> woken = new CopyOnWriteArrayList<>();
            f.guest.pollers().setWaker(woken::add);
            int a = f.ports.bindIpi(1), b = f.ports.bindIpi(1);
            f.mask(a);
            f.guest.pollers().arm(1, a); // polling a single port
            f.guest.pollers().arm(2, -1); // polling several ports
            f.guest.pollers().arm(3, b);
            assertEquals(0, f.ports.send(a));
            assertTrue(f.pending(a));
            assertFalse(f.upcallPending(1), "masked: no upcall");
            assertEquals(List.of(1, 2), woken, "the poller of this port and the multi-port poller, not vCPU 3");
            assertFalse(f.guest.pollers().isArmed(1), "woken pollers are disarmed");
            assertTrue(f.guest.pollers().isArmed(3));
            assertEquals(0, f.ports.send(a));
            assertEquals(List.of(1, 2), woken, "an already-pending port wakes nobody");
            assertEquals(0, f.ports.send(b));
            assertEquals(List.of(1, 2, 3), woken);
            assertFalse(f.guest.pollers().disarm(3), "already disarmed by the wake");
            f.guest.pollers().arm(0, a);
            assertTrue(f.guest.pollers().disarm(0), "a timeout disarms a poller nobody woke");
        }
    }
}
