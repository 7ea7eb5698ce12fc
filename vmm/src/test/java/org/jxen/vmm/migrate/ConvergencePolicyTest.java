package org.jxen.vmm.migrate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The switch-over rule and the addresses a migration is given. */
class ConvergencePolicyTest {
    @Test
    void switchesOverWhenTheDowntimeFitsOrTheRoundsRunOut() {
        ConvergencePolicy p = ConvergencePolicy.withMaxDowntime(300);
        // 10,000 dirty pages over 100 MiB/s, plus 64 MiB of digests at 1 GiB/s: ~393 + 63 ms.
        long expected = ConvergencePolicy.expectedDowntimeMillis(10_000, 100L << 20, 64L << 20, 1L << 30);
        assertEquals(456, expected, 2);
        assertFalse(p.switchOver(3, expected));
        assertTrue(p.switchOver(ConvergencePolicy.DEFAULT_MAX_ROUNDS, expected), "bounded: a guest that never converges is stopped anyway");
        assertTrue(p.switchOver(1, ConvergencePolicy.expectedDowntimeMillis(1_000, 100L << 20, 64L << 20, 1L << 30)));
        assertThrows(IllegalArgumentException.class, () -> ConvergencePolicy.withMaxDowntime(0));
    }

    @Test
    void addressesListenOnLoopbackUnlessToldOtherwise() throws Exception {
        assertEquals(new MigrationAddress("", 4444), MigrationAddress.parse("tcp:4444"));
        assertTrue(MigrationAddress.parse("tcp::4444").socketAddress().getAddress().isLoopbackAddress());
        assertEquals(new MigrationAddress("10.0.0.2", 80), MigrationAddress.parse("tcp:10.0.0.2:80"));
        assertEquals(new MigrationAddress("::1", 80), MigrationAddress.parse("tcp:[::1]:80"));
        assertThrows(IllegalArgumentException.class, () -> MigrationAddress.parse("unix:/tmp/x"));
        assertThrows(IllegalArgumentException.class, () -> MigrationAddress.parse("tcp:host:port"));
        assertThrows(IllegalArgumentException.class, () -> MigrationAddress.parse("tcp:host:70000"));
    }
}
