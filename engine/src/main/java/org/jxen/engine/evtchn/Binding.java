package org.jxen.engine.evtchn;

/** What a port is bound to: Xen's channel states (ECS_* in {@code xen/sched.h}) with their per-state data. */
public sealed interface Binding {
    /** ECS_FREE. */
    record Free() implements Binding {}

    /** ECS_RESERVED: port 0. */
    record Reserved() implements Binding {}

    /** ECS_UNBOUND: waiting for {@code remoteDomid} to bind_interdomain to it. */
    record Unbound(int remoteDomid) implements Binding {}

    /** ECS_INTERDOMAIN: connected to {@code remotePort} of {@code remoteDomid} (itself for a loopback pair). */
    record Interdomain(int remoteDomid, int remotePort) implements Binding {}

    /** ECS_VIRQ. */
    record Virq(int virq) implements Binding {}

    /** ECS_IPI. */
    record Ipi() implements Binding {}

    /** ECS_PIRQ. */
    record Pirq(int pirq) implements Binding {}

    Free FREE = new Free();
    Reserved RESERVED = new Reserved();
    Ipi IPI = new Ipi();
}
