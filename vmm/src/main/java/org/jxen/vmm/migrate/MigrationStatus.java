package org.jxen.vmm.migrate;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What the control socket's {@code query-migrate} answers about a domain's live migration while one runs and after:
 * {@code status} none → active → completed, failed or in-doubt (then resolved-here or resolved-there), the destination,
 * the last progress figures ({@link MigrationProgress#toMap}) and a failure's reason. Thread-safe: the migration's
 * thread reports, control clients read.
 */
public final class MigrationStatus {
    private String status = "none", destination, error;
    private MigrationProgress last;

    public synchronized void started(String uri) {
        status = "active";
        destination = uri;
        last = null;
        error = null;
    }

    public synchronized void progressed(MigrationProgress p) {
        last = p;
    }

    public synchronized void completed(MigrationProgress p) {
        status = "completed";
        last = p;
    }

    public synchronized void failed(MigrationSource.MigrationFailed e) {
        status = e.inDoubt() ? "in-doubt" : "failed";
        error = e.getMessage();
    }

    public synchronized void resolved(boolean here) {
        status = here ? "resolved-here" : "resolved-there";
    }

    public synchronized Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("status", status);
        if (destination != null) m.put("uri", destination);
        if (last != null) m.putAll(last.toMap());
        if (error != null) m.put("error", error);
        return m;
    }
}
