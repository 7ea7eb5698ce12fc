package org.jxen.vmm.control;

import java.util.Map;

import org.jxen.engine.evtchn.PortManager;

/** What the control socket inspects and acts on: a domain's port manager and its counters. */
public interface ControlTarget {
    PortManager ports();

    /** Named counters (hypercalls, upcalls, ...), read when asked. */
    Map<String, Object> counters();

    /**
     * Live-migrates the domain to {@code uri} ({@code tcp:HOST:PORT}) with the downtime target {@code maxDowntimeMillis}
     * and returns its final figures once it has ended; an exception's message is the reply's error. Only a VMM that can
     * migrate its domain offers it.
     */
    default Map<String, Object> migrate(String uri, long maxDowntimeMillis) throws Exception {
        throw new UnsupportedOperationException("this jxen cannot migrate its domain");
    }

    /**
     * The operator's word on a migration left in doubt (the commit sent, the destination's answer lost): {@code here}
     * resumes the guest at this source, otherwise this run ends as migrated. Returns what was done.
     */
    default Map<String, Object> resolveMigration(boolean here) throws Exception {
        throw new UnsupportedOperationException("this jxen cannot migrate its domain");
    }

    /**
     * Where this domain's live migration stands, as QEMU's {@code query-migrate} tells it: {@code status} ("none",
     * "active", "completed", "failed", "in-doubt"), the last progress figures, and the failure's reason.
     */
    default Map<String, Object> migrationStatus() {
        throw new UnsupportedOperationException("this jxen cannot migrate its domain");
    }
}
