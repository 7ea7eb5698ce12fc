package org.jxen.engine.evtchn;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

import org.jxen.engine.abi.Virq;

/**
 * What must always hold of the port tables: both ends of every interdomain channel point at each other; every VIRQ and
 * PIRQ binding is recorded where Xen records it (a global VIRQ on vCPU 0, even after bind_vcpu) and nowhere else;
 * vCPUs and priorities are in range; port 0 stays reserved. Used by fuzzers, stress tests and restore. The caller
 * holds the port manager's lock.
 */
final class PortInvariants {
    private PortInvariants() {}

    static List<String> check(GuestDomain guest, BackendDomain backend, IntFunction<EventDomain> domainById) {
        List<String> bad = new ArrayList<>();
        for (EventDomain d : List.of(guest, backend)) {
            if (!(d.ports.get(0).binding() instanceof Binding.Reserved)) bad.add(d.domid() + ": port 0 not reserved");
            for (int p = 1; p < d.ports.validPorts(); p++) {
                Channel ch = d.ports.get(p);
                if (ch.vcpu() < 0 || (d == guest && !guest.hasVcpu(ch.vcpu()))) bad.add(d.domid() + ":" + p + " bad vcpu");
                if (ch.priority() < 0 || ch.priority() > 15) bad.add(d.domid() + ":" + p + " bad priority");
                switch (ch.binding()) {
                    case Binding.Interdomain i -> {
                        EventDomain rd = domainById.apply(i.remoteDomid());
                        if (rd == null || !rd.ports.isValid(i.remotePort())) {
                            bad.add(d.domid() + ":" + p + " peer missing");
                        } else if (!(rd.ports.get(i.remotePort()).binding() instanceof Binding.Interdomain back)
                                || back.remoteDomid() != d.domid() || back.remotePort() != p) {
                            bad.add(d.domid() + ":" + p + " peer does not point back");
                        }
                    }
                    case Binding.Virq v -> {
                        int owner = Virq.isGlobal(v.virq()) ? 0 : ch.vcpu();
                        if (d != guest || guest.virqPort(owner, v.virq()) != p) bad.add(p + " virq map");
                    }
                    case Binding.Pirq q -> {
                        if (d != guest || guest.pirqPort(q.pirq()) != p) bad.add(p + " pirq map");
                    }
                    case Binding.Reserved r -> bad.add(d.domid() + ":" + p + " reserved");
                    default -> {}
                }
            }
        }
        for (int v = 0; v < guest.vcpuCount(); v++) {
            for (int virq = 0; virq < Virq.COUNT; virq++) {
                int p = guest.virqPort(v, virq);
                if (p != 0 && (!guest.ports.isValid(p) || !(guest.ports.get(p).binding() instanceof Binding.Virq b)
                        || b.virq() != virq)) bad.add("virq " + virq + " of vcpu " + v + " -> " + p);
            }
        }
        for (int pirq = 0; pirq < guest.config().nrPirqs(); pirq++) {
            int p = guest.pirqPort(pirq);
            if (p != 0 && (!guest.ports.isValid(p) || !(guest.ports.get(p).binding() instanceof Binding.Pirq b)
                    || b.pirq() != pirq)) bad.add("pirq " + pirq + " -> " + p);
        }
        return bad;
    }
}
