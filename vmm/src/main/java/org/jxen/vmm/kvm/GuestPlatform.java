package org.jxen.vmm.kvm;

import java.io.InputStream;
import java.io.OutputStream;
import java.util.function.IntFunction;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.Virq;
import org.jxen.engine.evtchn.BackendDomain;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.evtchn.FifoControl;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.fastpath.BackendSignals;
import org.jxen.engine.fastpath.FastPath;
import org.jxen.engine.fastpath.ReaderSlots;
import org.jxen.engine.fastpath.RouteSync;
import org.jxen.engine.fastpath.RouteTable;
import org.jxen.engine.grant.GrantTable;
import org.jxen.engine.grant.GrantTableOp;
import org.jxen.engine.hvm.HvmOp;
import org.jxen.engine.hvm.HvmParams;
import org.jxen.engine.hypercall.EventChannelOp;
import org.jxen.engine.hypercall.HypercallDispatcher;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.platform.ConsoleIo;
import org.jxen.engine.platform.MemoryOp;
import org.jxen.engine.platform.PlatformHypercalls;
import org.jxen.engine.platform.Runstates;
import org.jxen.engine.platform.SchedOp;
import org.jxen.engine.platform.TimerOp;
import org.jxen.engine.platform.VcpuControl;
import org.jxen.engine.platform.VcpuLifecycle;
import org.jxen.engine.platform.VcpuOp;
import org.jxen.engine.platform.VcpuSet;
import org.jxen.engine.platform.VcpuTimers;
import org.jxen.engine.platform.VmAssist;
import org.jxen.engine.platform.XenVersion;
import org.jxen.engine.pvclock.MasterClock;
import org.jxen.vmm.backend.PvDevices;
import org.jxen.vmm.boot.GuestLayout;
import org.jxen.vmm.cpu.XenMsrs;
import org.jxen.vmm.xenstore.XenStore;

/**
 * Everything a Xen domain is apart from its CPUs: the event-channel engine with its fast path, HVM parameters, the
 * hypercall table (one dispatcher per vCPU), timers, runstates and the vCPU lifecycle rules, grant table, memory ops,
 * the hypercall MSR, pvclock, and the PV console and XenStore backends on their ring pages. It knows nothing of KVM:
 * upcalls leave through an {@link MsiSink} (KVM_SIGNAL_MSI under KVM, a recorder in tests) and the vCPUs are
 * {@link VcpuControl}s, so the whole wiring is tested without a VM.
 */
public final class GuestPlatform implements AutoCloseable {
    /** Delivers an upcall vector to a local APIC; &gt; 0 if delivered (KVM_SIGNAL_MSI's answer). */
    @FunctionalInterface
    public interface MsiSink {
        int signalMsi(int apicId, int vector);
    }

    public static final String GUEST_NAME = "jxen-guest";

    private final GuestDomain guest;
    private final PortManager ports;
    private final HvmParams params;
    private final VcpuTimers timers;
    private final PlatformHypercalls hypercalls;
    private final XenMsrs msrs;
    private final PvClockPublisher pvclock;
    private final PvDevices devices;
    private final GrantTable grants;

    /**
     * @param vcpus      the vCPUs' controls (block/wake, shutdown) by Xen vCPU id; null for one not created yet
     * @param apicIdOf   the local APIC id of a Xen vCPU id
     * @param released   told of every frame the guest gives back (the host page can be released)
     */
    public GuestPlatform(GuestMemory ram, GuestLayout layout, int vcpuCount, IntFunction<VcpuControl> vcpus,
            java.util.function.IntUnaryOperator apicIdOf, VcpuLifecycle lifecycle, MsiSink msi, MasterClock clock,
            LongSupplier systemTime, LongConsumer released, OutputStream console, InputStream consoleInput) {
        guest = new GuestDomain(DomainConfig.of(vcpuCount));
        ports = new PortManager(guest, new BackendDomain(DomId.DOM0));
        EventChannelOp evtchn = new EventChannelOp(ports, new FifoControl(ports, ram));
        RouteTable routes = new RouteTable(() -> guest.abi().portLimit(), vcpuCount, ReaderSlots.global());
        BackendSignals signals = new BackendSignals();
        RouteSync.install(ports, routes, signals);
        evtchn.setFastPath(new FastPath(guest, routes));
        params = new HvmParams(vcpuCount);
        timers = new VcpuTimers(vcpuCount, systemTime, v -> ports.raiseVirq(v, Virq.TIMER));
        Runstates runstates = new Runstates(ram, vcpuCount, systemTime.getAsLong());
        grants = new GrantTable(32);
        MemoryOp memoryOp = new MemoryOp(ports, ram, grants, layout.memoryMap());
        memoryOp.onRelease(released);
        hypercalls = new PlatformHypercalls(evtchn, new HvmOp(guest, params), new SchedOp(guest, vcpus, systemTime),
                new VcpuOp(ports, ram, timers, systemTime).withVcpus(new VcpuSet(vcpuCount, lifecycle), runstates),
                memoryOp, new ConsoleIo(console), new XenVersion(new byte[16]), new GrantTableOp(grants, guest.domid()),
                new VmAssist(runstates), new TimerOp(timers));
        msrs = new XenMsrs(ram, guest);
        pvclock = new PvClockPublisher(guest, clock, System.currentTimeMillis() * 1_000_000L - systemTime.getAsLong());
        guest.setUpcallSink(v -> {
            int vector = params.upcallVector(v);
            if (vector != 0) msi.signalMsi(apicIdOf.applyAsInt(v), vector);
            VcpuControl c = vcpus.apply(v);
            if (c != null) c.wake(); // null while the domain is still being built
        });
        devices = new PvDevices(ports, signals, ram, params, new XenStore(XenStore.Quota.DEFAULT), GUEST_NAME,
                layout.consoleGfn(), layout.storeGfn(), console, consoleInput);
        pvclock.publishAll();
    }

    /** The exit handling of vCPU {@code self}: its own hypercall dispatcher, the shared MSRs, pvclock republishing. */
    public ExitHandler exitHandler(GuestMemory ram, VcpuControl self, OutputStream console) {
        ExitHandler h = new ExitHandler(ram, dispatcher(self), msrs, console);
        h.afterPlacement(pvclock::publishAll);
        return h;
    }

    HypercallDispatcher dispatcher(VcpuControl self) {
        return hypercalls.dispatcher(self, false);
    }

    public GuestDomain guest() {
        return guest;
    }

    public PortManager ports() {
        return ports;
    }

    public HvmParams params() {
        return params;
    }

    /** The guest's grant table (for backends that map what the guest grants: {@code GrantMapper}). */
    public GrantTable grants() {
        return grants;
    }

    public PvDevices devices() {
        return devices;
    }

    @Override
    public void close() {
        devices.close();
        timers.close();
    }
}
