package org.jxen.vmm.migrate;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Where a live migration stands, after each round and at its end: what the terminal prints and the control socket's
 * {@code migrate} reply carries. Rates are measured on this link; the expected downtime is the stop-and-copy's guess
 * from the pages dirty now ({@link ConvergencePolicy#expectedDowntimeMillis}); {@code downtimeMillis} is the measured one
 * (the source's vCPUs stopped until the stream's end was sent), -1 before the switch-over.
 */
public record MigrationProgress(String phase, int round, long bytesSent, long pagesSent, long dirtyPages, long dirtyPagesPerSecond,
        long linkBytesPerSecond, long expectedDowntimeMillis, long elapsedMillis, long downtimeMillis) {

    /** One line for the terminal. */
    public String line() {
        return String.format("migration %s: round %d, %d MiB sent (%d pages), %d pages dirty (%d/s), link %d MiB/s, expected downtime %d ms%s, %d ms so far",
                phase, round, bytesSent >> 20, pagesSent, dirtyPages, dirtyPagesPerSecond, linkBytesPerSecond >> 20, expectedDowntimeMillis,
                downtimeMillis >= 0 ? ", downtime " + downtimeMillis + " ms" : "", elapsedMillis);
    }

    /** The JSON members of the control socket's reply. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("phase", phase);
        m.put("rounds", (long) round);
        m.put("bytes-sent", bytesSent);
        m.put("pages-sent", pagesSent);
        m.put("dirty-pages", dirtyPages);
        m.put("dirty-pages-per-second", dirtyPagesPerSecond);
        m.put("link-bytes-per-second", linkBytesPerSecond);
        m.put("expected-downtime-ms", expectedDowntimeMillis);
        m.put("downtime-ms", downtimeMillis);
        m.put("total-ms", elapsedMillis);
        return m;
    }
}
