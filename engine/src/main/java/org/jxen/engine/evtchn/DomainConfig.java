package org.jxen.engine.evtchn;

import java.util.function.IntPredicate;

import org.jxen.engine.abi.DomId;

/**
 * A guest domain's fixed parameters.
 *
 * @param domid the guest's domain id (not 0, which the backends use, nor a reserved id)
 * @param vcpus number of vCPUs (Xen's max_vcpus: all exist from the start, whether up or down)
 * @param nrPirqs d->nr_pirqs: PIRQs 0..nrPirqs-1 may be bound
 * @param maxPort d->max_evtchn_port: highest usable port (Integer.MAX_VALUE: only the ABI limits)
 * @param pirqAccess pirq_access_permitted(): which PIRQs the guest may bind. Xen skips this check for HVM guests;
 *     jxen keeps it so a VMM can restrict PIRQs to devices it routed.
 */
public record DomainConfig(int domid, int vcpus, int nrPirqs, int maxPort, IntPredicate pirqAccess) {
    public DomainConfig {
        if (domid <= 0 || domid >= DomId.DOMID_FIRST_RESERVED) throw new IllegalArgumentException("bad domid " + domid);
        if (vcpus < 1 || vcpus > 4096) throw new IllegalArgumentException("bad vcpu count " + vcpus);
        if (nrPirqs < 0) throw new IllegalArgumentException("bad nr_pirqs " + nrPirqs);
    }

    /** domid 1, {@code vcpus} vCPUs, 256 PIRQs, no port limit beyond the ABI's, every PIRQ permitted (HVM). */
    public static DomainConfig of(int vcpus) {
        return new DomainConfig(1, vcpus, 256, Integer.MAX_VALUE, pirq -> true);
    }

    public DomainConfig withMaxPort(int port) {
        return new DomainConfig(domid, vcpus, nrPirqs, port, pirqAccess);
    }

    public DomainConfig withPirqAccess(IntPredicate access) {
        return new DomainConfig(domid, vcpus, nrPirqs, maxPort, access);
    }
}
