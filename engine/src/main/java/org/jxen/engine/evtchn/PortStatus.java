package org.jxen.engine.evtchn;

import org.jxen.engine.abi.EvtchnOp;

/**
 * EVTCHNOP_status's answer. {@code rc} is 0 or an errno; on success {@code status} is an EVTCHNSTAT_* value and
 * {@code binding} says which union member Xen fills (with the remote domain already resolved to its id).
 */
public record PortStatus(int rc, int status, int vcpu, Binding binding) {
    public static PortStatus error(int rc) {
        return new PortStatus(rc, 0, 0, null);
    }

    static PortStatus of(Channel ch) {
        int status = switch (ch.binding()) {
            case Binding.Free f -> EvtchnOp.STAT_CLOSED;
            case Binding.Reserved r -> EvtchnOp.STAT_CLOSED;
            case Binding.Unbound u -> EvtchnOp.STAT_UNBOUND;
            case Binding.Interdomain i -> EvtchnOp.STAT_INTERDOMAIN;
            case Binding.Pirq p -> EvtchnOp.STAT_PIRQ;
            case Binding.Virq v -> EvtchnOp.STAT_VIRQ;
            case Binding.Ipi i -> EvtchnOp.STAT_IPI;
        };
        return new PortStatus(0, status, ch.vcpu(), ch.binding());
    }
}
