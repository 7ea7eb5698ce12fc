package org.jxen.vmm.kvm;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.platform.Runstates;
import org.jxen.vmm.accel.Offload;
import org.jxen.vmm.backend.xenbus.PvBackend;
import org.jxen.vmm.control.ControlCommands;
import org.jxen.vmm.control.ControlTarget;

/** The control socket's view of a platform: its ports, and counters of upcalls, hypercalls, KVM exits by kind and the PV devices' traffic. */
final class PlatformCounters implements ControlTarget {
    private final GuestPlatform platform;
    private final int vcpuCount;
    private final Runstates runstates;
    private final List<PvBackend> backends;
    private final LongAdder upcallsRaised;
    private final ExitCounts exits;

    PlatformCounters(GuestPlatform platform, int vcpuCount, Runstates runstates, List<PvBackend> backends, LongAdder upcallsRaised,
            ExitCounts exits) {
        this.platform = platform;
        this.vcpuCount = vcpuCount;
        this.runstates = runstates;
        this.backends = backends;
        this.upcallsRaised = upcallsRaised;
        this.exits = exits;
    }

    @Override
    public PortManager ports() {
        return platform.ports();
    }

    @Override
    public Map<String, Object> counters() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("abi", ControlCommands.abiName(platform.ports()));
        m.put("vcpus", vcpuCount);
        m.put("upcalls", upcallsRaised.sum());
        m.put("hypercalls", platform.hypercallsHandled());
        Offload.Figures accel = platform.offload().figures(); // 0 where KVM takes nothing over
        m.put("ports-delivered-by-kvm", accel.portsDeliveredByKvm());
        m.put("backend-notifies-by-irqfd", accel.backendNotifiesByIrqfd());
        m.put("timers-handed-to-kvm", accel.timersHandedToKvm());
        m.put("runstates-handed-to-kvm", accel.runstatesHandedToKvm());
        m.put("hypercall-bugs", platform.hypercallBugs());
        m.put("exits", exits.figures()); // KVM exits to jxen by kind, all vCPUs
        m.put("console-bytes", platform.devices().console().bytesOut());
        m.put("xenstore-requests", platform.devices().xenstore().requests());
        List<Object> rs = new ArrayList<>();
        for (int v = 0; v < vcpuCount; v++) {
            Runstates.Figures f = runstates.figures(v);
            long[] t = f.time();
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("vcpu", v);
            e.put("state", f.state());
            e.put("running-ns", t[Runstates.RUNNING]);
            e.put("runnable-ns", t[Runstates.RUNNABLE]);
            e.put("blocked-ns", t[Runstates.BLOCKED]);
            e.put("offline-ns", t[Runstates.OFFLINE]);
            rs.add(e);
        }
        m.put("runstates", rs); // per vCPU, as the guest's runstate area has them (kvm mode: KVM's accounting)
        for (PvBackend b : backends) m.put(b.name(), b.counters());
        return m;
    }
}
