package org.jxen.vmm.migrate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.Map;

import org.junit.jupiter.api.Test;

/** query-migrate's answer through a migration's life: none, active with the last figures, then how it ended. */
class MigrationStatusTest {
    private static MigrationProgress progress(String phase, int round, long downtime) {
        return new MigrationProgress(phase, round, 4L << 20, 1024, 12, 600, 8L << 20, 40, 900, downtime);
    }

    @Test
    void followsAMigrationFromStartToItsEnd() {
        MigrationStatus s = new MigrationStatus();
        assertEquals(Map.of("status", "none"), s.toMap());
        s.started("tcp:10.0.0.2:4444");
        assertEquals("active", s.toMap().get("status"));
        assertFalse(s.toMap().containsKey("rounds"), "no figures before the first round");
        s.progressed(progress("pre-copy", 2, -1));
        Map<String, Object> active = s.toMap();
        assertEquals("tcp:10.0.0.2:4444", active.get("uri"));
        assertEquals(2L, active.get("rounds"));
        assertEquals("pre-copy", active.get("phase"));
        s.completed(progress("completed", 3, 120));
        assertEquals("completed", s.toMap().get("status"));
        assertEquals(120L, s.toMap().get("downtime-ms"));
    }

    @Test
    void aFailureAndADoubtSayWhyAndTheDoubtsResolution() {
        MigrationStatus s = new MigrationStatus();
        s.started("tcp:h:1");
        s.failed(new MigrationSource.MigrationFailed("cannot reach tcp:h:1: refused; the guest keeps running", true));
        assertEquals("failed", s.toMap().get("status"));
        assertEquals("cannot reach tcp:h:1: refused; the guest keeps running", s.toMap().get("error"));
        s.started("tcp:h:2");
        assertFalse(s.toMap().containsKey("error"), "a new migration starts clean");
        s.failed(new MigrationSource.MigrationFailed("the stream failed after the commit was sent", false, true));
        assertEquals("in-doubt", s.toMap().get("status"));
        s.resolved(true);
        assertEquals("resolved-here", s.toMap().get("status"));
    }
}
