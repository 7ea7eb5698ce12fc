package org.jxen.vmm.kvm;

import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.pvclock.MasterClock;
import org.jxen.engine.pvclock.PvClock;

/**
 * Writes every vCPU's vcpu_time_info (one master anchor for all, see {@link MasterClock}) and the wallclock into
 * wherever shared_info and the vcpu_infos are now. Called when the guest moves them (XENMEM_add_to_physmap of
 * shared_info, VCPUOP_register_vcpu_info) and at vCPU start, so a guest reading its pvclock always finds it there.
 */
final class PvClockPublisher {
    private final GuestDomain guest;
    private final MasterClock clock;
    private final long bootEpochNanos;

    PvClockPublisher(GuestDomain guest, MasterClock clock, long bootEpochNanos) {
        this.guest = guest;
        this.clock = clock;
        this.bootEpochNanos = bootEpochNanos;
    }

    synchronized void publishAll() {
        for (int v = 0; v < guest.vcpuCount(); v++)
            PvClock.updateVcpuTime(guest.shared().vcpuInfo(v), clock.anchor(), clock.scale(), clock.tscStable());
        PvClock.updateWallclock(guest.shared().sharedInfo(), guest.shared().width(), bootEpochNanos);
    }
}
