package org.jxen.engine.evtchn;

/**
 * Where an upcall goes: called when a vCPU's {@code evtchn_upcall_pending} goes 0 to 1. Under KVM it injects the
 * callback vector into that vCPU; under tests a Java thread standing in for the vCPU is woken.
 * Must not block, and must not call back into the port manager's write operations.
 */
@FunctionalInterface
public interface UpcallSink {
    void upcall(int vcpu);

    UpcallSink NONE = vcpu -> {};
}
