package org.jxen.engine.evtchn;

/**
 * One port's state: its binding, the vCPU it notifies ({@code notify_vcpu_id}) and its FIFO priority.
 * Immutable; the port table replaces it under the domain's write lock.
 */
public record Channel(Binding binding, int vcpu, int priority) {
    /** EVTCHN_FIFO_PRIORITY_DEFAULT ({@code public/event_channel.h}). */
    public static final int DEFAULT_PRIORITY = 7;

    public static final Channel FREE = new Channel(Binding.FREE, 0, DEFAULT_PRIORITY);
    public static final Channel RESERVED = new Channel(Binding.RESERVED, 0, DEFAULT_PRIORITY);

    /** A freshly bound channel: evtchn_port_init resets the priority to the default. */
    public static Channel bound(Binding binding, int vcpu) {
        return new Channel(binding, vcpu, DEFAULT_PRIORITY);
    }

    public boolean isFree() {
        return binding instanceof Binding.Free;
    }

    /**
     * Xen's {@code evtchn_usable()} ({@code xen/include/xen/event.h}): a bound port (state above ECS_RESERVED).
     * Unmask, poll and set_priority act only on usable ports.
     */
    public boolean usable() {
        return !(binding instanceof Binding.Free) && !(binding instanceof Binding.Reserved);
    }

    public Channel withVcpu(int newVcpu) {
        return new Channel(binding, newVcpu, priority);
    }

    public Channel withPriority(int newPriority) {
        return new Channel(binding, vcpu, newPriority);
    }
}
