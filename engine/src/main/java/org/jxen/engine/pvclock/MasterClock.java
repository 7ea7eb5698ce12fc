package org.jxen.engine.pvclock;

/**
 * The one (TSC, system time) anchor every vCPU's vcpu_time_info carries, in the manner of KVM's master clock: all
 * vCPUs extrapolate the same line with the same scale, so with synchronised TSCs a guest reading on one vCPU and then
 * on another never sees time go backwards (per-vCPU anchors taken at different moments would each round differently
 * and could disagree by a nanosecond). The anchor is taken once, at domain start, and again only when the guest TSC
 * is no longer on the line (after a restore), and then published to every vCPU together.
 */
public final class MasterClock {
    private final TscScale scale;
    private final boolean tscStable;
    private volatile ClockSample anchor;

    /** A clock over a host whose TSCs are synchronised across CPUs. */
    public MasterClock(TscScale scale, ClockSample anchor) {
        this(scale, anchor, true);
    }

    /**
     * @param tscStable whether the host keeps every vCPU's TSC in step (KVM's stable master clock); published to the
     *                  guest as XEN_PVCLOCK_TSC_STABLE_BIT, without which a guest adds its own cross-vCPU fixup
     */
    public MasterClock(TscScale scale, ClockSample anchor, boolean tscStable) {
        this.scale = scale;
        this.anchor = anchor;
        this.tscStable = tscStable;
    }

    public boolean tscStable() {
        return tscStable;
    }

    public TscScale scale() {
        return scale;
    }

    public ClockSample anchor() {
        return anchor;
    }

    /** System time at guest TSC {@code tsc}, on the published line (what every vCPU computes). */
    public long systemTimeAt(long tsc) {
        ClockSample a = anchor;
        return a.systemTimeNs() + scale.toNanos(tsc - a.tsc());
    }

    /** Re-anchors (after a restore); the caller republishes every vCPU's time info. */
    public void reanchor(ClockSample sample) {
        anchor = sample;
    }
}
