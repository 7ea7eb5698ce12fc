package org.jxen.vmm.accel;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.util.ArrayList;
import java.util.List;

import org.jxen.sys.kvm.Kvm;

/**
 * What the host's KVM offered for Xen guests (the flags KVM_CHECK_EXTENSION(KVM_CAP_XEN_HVM) answered, Linux
 * {@code Documentation/virt/kvm/api.rst} "KVM_XEN_HVM_CONFIG") and which of it jxen uses: each feature below is a
 * pure function of the flags, so every partial offer can be tested with made-up flags on any host. The one record
 * both the choice of acceleration and {@link KvmXenAcceleration}'s wiring read.
 *
 * @param flags KVM_XEN_HVM_CONFIG_* bits; 0 where KVM has no Xen support
 */
public record XenOffer(int flags) {
    /** A KVM without Xen support. */
    public static final XenOffer NONE = new XenOffer(0);

    public XenOffer {
        if (flags < 0) flags = 0; // an old KVM answers -EINVAL for an unknown capability
    }

    /** Asks this host's KVM. */
    public static XenOffer probe(Kvm kvm) {
        return new XenOffer(kvm.checkExtension(KVM_CAP_XEN_HVM));
    }

    /** VMCALL/VMMCALL reach jxen as KVM_EXIT_XEN (INTERCEPT_HCALL): what kvm mode needs at all. */
    public boolean interceptsHypercalls() {
        return has(KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL);
    }

    /**
     * Guest sends on IPI, loopback and backend ports are delivered by KVM from the routes jxen mirrors into its table.
     * Tried wherever hypercalls are intercepted: a KVM that refuses a route leaves that port's sends to jxen.
     */
    public boolean sendRoutes() {
        return interceptsHypercalls();
    }

    /** Each vCPU's singleshot timer may be KVM's (the TIMER attribute came with EVTCHN_SEND, Linux 5.19). */
    public boolean timers() {
        return interceptsHypercalls() && has(KVM_XEN_HVM_CONFIG_EVTCHN_SEND);
    }

    /** KVM keeps the vCPUs' runstate areas (it can when the host kernel has scheduler statistics). */
    public boolean runstates() {
        return interceptsHypercalls() && has(KVM_XEN_HVM_CONFIG_RUNSTATE);
    }

    /** KVM brackets its runstate writes with XEN_RUNSTATE_UPDATE when the guest asks (Linux 6.3). */
    public boolean runstateUpdateFlag() {
        return runstates() && has(KVM_XEN_HVM_CONFIG_RUNSTATE_UPDATE_FLAG);
    }

    /** Backends' notifies reach 2-level guest ports through irqfds KVM routes to them (KVM_IRQ_ROUTING_XEN_EVTCHN). */
    public boolean backendIrqfds() {
        return interceptsHypercalls() && has(KVM_XEN_HVM_CONFIG_EVTCHN_2LEVEL);
    }

    /** jxen's own 2-level raises go through KVM (KVM_XEN_HVM_EVTCHN_SEND), so KVM can run SCHEDOP_poll in the kernel. */
    public boolean eventSend() {
        return interceptsHypercalls() && has(KVM_XEN_HVM_CONFIG_EVTCHN_SEND);
    }

    /** The features used, for {@code jxen run}'s line ("hypercalls, send routes, timers, ..."); "none" without Xen support. */
    public String describe() {
        if (!interceptsHypercalls()) return "none";
        List<String> used = new ArrayList<>(List.of("hypercalls", "pvclock", "callback vector"));
        if (sendRoutes()) used.add("send routes");
        if (timers()) used.add("timers");
        if (runstates()) used.add(runstateUpdateFlag() ? "runstates (with update flag)" : "runstates");
        if (backendIrqfds()) used.add("backend irqfds");
        if (eventSend()) used.add("event send");
        return String.join(", ", used);
    }

    private boolean has(int flag) {
        return (flags & flag) != 0;
    }
}
