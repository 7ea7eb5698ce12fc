package org.jxen.vmm.kvm;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import java.util.function.IntFunction;
import java.util.function.IntUnaryOperator;
import java.util.function.LongSupplier;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.Virq;
import org.jxen.engine.evtchn.BackendDomain;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.evtchn.DomainSnapshot;
import org.jxen.engine.evtchn.Snapshots;
import org.jxen.engine.evtchn.FifoControl;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.fastpath.BackendSignals;
import org.jxen.engine.fastpath.FastPath;
import org.jxen.engine.fastpath.ReaderSlots;
import org.jxen.engine.fastpath.RouteSync;
import org.jxen.engine.fastpath.RouteTable;
import org.jxen.engine.grant.GrantMapper;
import org.jxen.engine.grant.GrantTable;
import org.jxen.engine.grant.GrantTableOp;
import org.jxen.engine.hvm.HvmOp;
import org.jxen.engine.hvm.HvmParams;
import org.jxen.engine.hypercall.EventChannelOp;
import org.jxen.engine.hypercall.HypercallDispatcher;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.HoleFrames;
import org.jxen.engine.platform.ConsoleIo;
import org.jxen.engine.platform.MemoryOp;
import org.jxen.engine.platform.PlatformHypercalls;
import org.jxen.engine.platform.PlatformState;
import org.jxen.engine.platform.Runstates;
import org.jxen.engine.platform.SchedOp;
import org.jxen.engine.platform.TimerOp;
import org.jxen.engine.platform.VcpuControl;
import org.jxen.engine.platform.VcpuOp;
import org.jxen.engine.platform.VcpuSet;
import org.jxen.engine.platform.VcpuTimers;
import org.jxen.engine.platform.VmAssist;
import org.jxen.engine.platform.XenVersion;
import org.jxen.engine.pvclock.MasterClock;
import org.jxen.vmm.backend.HypervisorConsole;
import org.jxen.vmm.backend.PvDevices;
import org.jxen.vmm.backend.xenbus.BackendContext;
import org.jxen.vmm.backend.xenbus.PvBackend;
import org.jxen.vmm.boot.AcpiTables;
import org.jxen.vmm.boot.GuestLayout;
import org.jxen.vmm.cpu.XenMsrs;
import org.jxen.vmm.xenstore.XenStore;
import org.jxen.vmm.backend.ThreadStop;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.evtchn.UpcallSink;
import org.jxen.vmm.control.ControlTarget;
import org.jxen.vmm.accel.AcceleratedVcpu;
import org.jxen.vmm.accel.Acceleration;
import org.jxen.vmm.accel.EngineParts;
import org.jxen.vmm.accel.KvmXenCalls;
import org.jxen.vmm.accel.Offload;

/**
 * Everything a Xen domain is apart from its CPUs: the event-channel engine with its fast path, HVM parameters, the
 * hypercall table (one dispatcher per vCPU), timers, runstates and the vCPU lifecycle rules, grant table, memory ops,
 * the hypercall MSR, pvclock, and the PV console and XenStore backends on their ring pages. It knows nothing of KVM:
 * upcalls leave through an {@link MsiSink} (KVM_SIGNAL_MSI under KVM, a recorder in tests), the vCPUs are
 * {@link VcpuControl}s, and what KVM's Xen support takes over is asked of the domain's {@link Offload} (see
 * {@link #accelerate}), so the whole wiring is tested without a VM. It is built from one {@link PlatformSpec}.
 *
 * <p>Why it is over 350 lines: the constructor is the wiring itself (about twenty engine parts, each given the few
 * others it needs), and the save and the restore of that wiring stay beside it because they reach the same private
 * parts; the control socket's counters are {@link PlatformCounters}. Splitting the save out comes with the
 * snapshot sections' per-component savers (issue 32 item 3).
 */
public final class GuestPlatform implements AutoCloseable {
    private static final Logger LOG = System.getLogger(GuestPlatform.class.getName());
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
    /** System time (timers, runstates, saves) and the line jxen publishes as every vCPU's pvclock in user mode. */
    private final LongSupplier systemTime;
    private final MasterClock clock;
    private final PvDevices devices;
    private final GrantTable grants;
    /** dom0's mappings of the guest's grants: one for every backend, so their pins on a shared ref add up. */
    private final GrantMapper grantMapper;
    /** Ring backends beyond the console and XenStore (disks, NICs), stopped before those. */
    private final List<PvBackend> backends = new CopyOnWriteArrayList<>();
    private final MemoryOp memoryOp;
    private final HoleFrames holes;
    private final BackendSignals signals;
    private final IoPorts ioPorts = new IoPorts();
    private final GuestMemory ram;
    private final int vcpuCount;
    private final Runstates runstates;
    private final VcpuSet vcpuSet;
    private final UpcallSink upcall;
    /** console_io and the debug ports: Xen's log, apart from the PV console (the guest's console). */
    private final HypervisorConsole hypervisorConsole;
    private final LongAdder upcallsRaised = new LongAdder();
    private final ExitCounts exits = new ExitCounts();
    private final LongAdder hypercallBugs = new LongAdder();

    /**
     * What a saved domain keeps of its platform, each part a section of the save (SaveFile): the event channels with
     * the platform's extensions, the console's and XenStore's state ({@code PvDevices.save}), and one record per disk
     * and NIC in the order they were attached.
     */
    public record Saved(DomainSnapshot snapshot, byte[] devices, List<byte[]> backends) {
        public Saved {
            backends = List.copyOf(backends);
        }

        /** A platform without disks or NICs. */
        public Saved(DomainSnapshot snapshot, byte[] devices) {
            this(snapshot, devices, List.of());
        }
    }

    /** A booting domain's platform: the console's and XenStore's grants seeded, as Xen's toolstack does. */
    public GuestPlatform(PlatformSpec spec) {
        this(spec, null);
    }

    /**
     * The platform of a saved domain, over RAM that holds the saved contents, with a clock that continues the saved one
     * (pending timers are absolute system times); a saved grant frame in a hole is mapped there again. IOException with
     * a one-line reason if the save does not fit.
     */
    public static GuestPlatform restore(PlatformSpec spec, Saved saved) throws IOException {
        if (saved.snapshot().vcpus() != spec.vcpuCount())
            throw new IOException("the save has " + saved.snapshot().vcpus() + " vCPUs, not " + spec.vcpuCount());
        try {
            return new GuestPlatform(spec, saved);
        } catch (UncheckedIOException e) {
            IOException cause = e.getCause();
            if (cause instanceof EOFException) throw new IOException("the save's platform state ends early");
            if (cause.getMessage() == null) throw new IOException("the save's platform state is damaged (" + cause.getClass().getSimpleName() + ")");
            throw cause;
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage());
        }
    }

    private GuestPlatform(PlatformSpec spec, Saved saved) {
        GuestMemory ram = spec.ram();
        GuestLayout layout = spec.layout();
        int vcpuCount = spec.vcpuCount();
        IntFunction<VcpuControl> vcpus = spec.vcpus();
        LongSupplier systemTime = spec.systemTime();
        OutputStream console = spec.console();
        InputStream consoleInput = spec.consoleInput();
        HoleFrames holes = spec.holes();
        this.ram = ram;
        this.holes = holes;
        this.vcpuCount = vcpuCount;
        this.systemTime = systemTime;
        this.clock = spec.clock();
        this.hypervisorConsole = new HypervisorConsole(saved == null ? DomainConfig.of(vcpuCount).domid() : saved.snapshot().domid(), console);
        if (saved == null) {
            guest = new GuestDomain(DomainConfig.of(vcpuCount));
            ports = new PortManager(guest, new BackendDomain(DomId.DOM0));
        } else {
            unchecked(() -> {
                PlatformState.restoreHoles(saved.snapshot(), ram);
                return null;
            });
            ports = Snapshots.restore(saved.snapshot(), ram, DomainConfig.of(vcpuCount).pirqAccess());
            guest = ports.guest();
        }
        FifoControl fifoControl = new FifoControl(ports, ram);
        EventChannelOp evtchn = new EventChannelOp(ports, fifoControl);
        eventChannelOp = evtchn;
        GracePeriodFence.installed(); // before any sender of this process takes its reader slot
        routes = new RouteTable(() -> guest.abi().portLimit(), vcpuCount, ReaderSlots.global());
        fifoControl.setGracePeriod(() -> {
            routes.readers().synchronize();
            offload.abiChecked(); // the acceleration's own senders too (KVM's table, its raises, backends' irqfds)
        });
        signals = new BackendSignals();
        routeSync = RouteSync.install(ports, routes, signals);
        evtchn.setFastPath(new FastPath(guest, routes));
        params = new HvmParams(vcpuCount);
        timers = new VcpuTimers(vcpuCount, systemTime, v -> ports.raiseVirq(v, Virq.TIMER));
        runstates = new Runstates(ram, vcpuCount, systemTime.getAsLong());
        vcpuSet = new VcpuSet(vcpuCount, spec.lifecycle());
        grants = new GrantTable(32);
        if (saved == null) { // the console's and XenStore's entries, as Xen's toolstack seeds them (a restore has its own)
            grants.seed(GrantTable.RESERVED_CONSOLE, guest.domid(), DomId.DOM0, layout.consoleGfn());
            grants.seed(GrantTable.RESERVED_XENSTORE, guest.domid(), DomId.DOM0, layout.storeGfn());
        }
        grantMapper = new GrantMapper(grants, ram, DomId.DOM0);
        memoryOp = new MemoryOp(ports, ram, grants, layout.memoryMap());
        memoryOp.onRelease(spec.released());
        memoryOp.onHoles(holes);
        hypercalls = new PlatformHypercalls(evtchn, new HvmOp(guest, params), new SchedOp(guest, vcpus, systemTime).withUpcallRoute(v -> params.upcallVector(v) != 0),
                new VcpuOp(ports, ram, timers, systemTime).withVcpus(vcpuSet, runstates).withGuestClock(this::guestNow),
                memoryOp, new ConsoleIo(hypervisorConsole), new XenVersion(new byte[16]), new GrantTableOp(grants, guest.domid()),
                new VmAssist(runstates), new TimerOp(timers, this::guestNow));
        msrs = new XenMsrs(ram, guest);
        pvclock = new PvClockPublisher(guest, spec.clock(), System.currentTimeMillis() * 1_000_000L - systemTime.getAsLong());
        upcall = v -> {
            int vector = params.upcallVector(v);
            upcallsRaised.increment();
            if (vector == 0) return; // no upcall route: nothing is injected and nobody is kicked (hvm_assert_evtchn_irq)
            if (!offload.deliverUpcall(v)) spec.msi().signalMsi(spec.apicIdOf().applyAsInt(v), vector);
            VcpuControl c = vcpus.apply(v);
            if (c != null) c.wake(); // null while the domain is still being built
        };
        guest.setUpcallSink(upcall);
        // ACPI power management (the FADT's registers, see AcpiTables): S5 powers off, the reset register reboots.
        ioPorts.register(AcpiTables.SLEEP_CONTROL_PORT, (v, value) -> {
            if ((value & SLEEP_ENABLE) != 0 && ((value >>> 2) & 7) == AcpiTables.SLEEP_TYPE_S5) shutdownFrom(vcpus, v, SHUTDOWN_POWEROFF);
        });
        ioPorts.register(AcpiTables.RESET_PORT, (v, value) -> {
            if ((value & 0xFF) == AcpiTables.RESET_VALUE) shutdownFrom(vcpus, v, SHUTDOWN_REBOOT);
        });
        XenStore store = new XenStore(XenStore.Quota.DEFAULT);
        if (saved == null) {
            devices = new PvDevices(ports, signals, ram, params, store, GUEST_NAME, layout.consoleGfn(), layout.storeGfn(), console, consoleInput);
        } else {
            var parts = new PlatformState.Parts(runstates, vcpuSet, grants, ram, holes);
            try {
                unchecked(() -> {
                    PlatformState.restore(saved.snapshot(), params, timers);
                    PlatformState.restore(saved.snapshot(), parts);
                    return null;
                });
                ByteArrayInputStream devicesIn = new ByteArrayInputStream(saved.devices());
                PvDevices restored = unchecked(() -> new PvDevices(ports, signals, ram, store, layout.consoleGfn(), layout.storeGfn(), console,
                        consoleInput, new DataInputStream(devicesIn)));
                if (devicesIn.available() != 0) {
                    restored.stop();
                    throw new UncheckedIOException(new IOException("the saved console and XenStore state has " + devicesIn.available()
                            + " bytes after its end"));
                }
                devices = restored;
            } catch (RuntimeException e) {
                timers.close(); // a save that does not fit leaves no timer thread behind
                throw e;
            }
        }
        pvclock.publishAll();
    }

    /**
     * Xen system time as vCPU {@code self}'s guest reads it now, for its singleshot deadlines: in user mode the pvclock
     * line jxen publishes, at the vCPU's TSC read on its own thread (jxen's timers run on the host's clock, which the
     * guest's TSC-based clock drifts from); in kvm mode KVM writes the pvclock from the system time jxen reads from it.
     */
    private long guestNow(VcpuControl self) {
        if (offload == Offload.USER_SPACE) {
            OptionalLong tsc = self.guestTsc();
            if (tsc.isPresent()) return clock.systemTimeAt(tsc.getAsLong());
        }
        return systemTime.getAsLong();
    }

    /** SLP_EN in the hardware-reduced sleep control register; the sched.h shutdown codes ACPI maps to. */
    private static final int SLEEP_ENABLE = 1 << 5, SHUTDOWN_POWEROFF = 0, SHUTDOWN_REBOOT = 1;

    private static void shutdownFrom(IntFunction<VcpuControl> vcpus, int vcpu, int reason) {
        VcpuControl c = vcpus.apply(vcpu);
        if (c != null) c.shutdown(reason);
    }

    private interface IoAction<T> {
        T run() throws IOException;
    }

    /** Runs a step of a restore inside the constructor, where only unchecked exceptions can leave (restore() unwraps). */
    private static <T> T unchecked(IoAction<T> a) {
        try {
            return a.run();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * For a save, with every vCPU stopped: stops the backends' I/O threads, then captures the event channels, the
     * platform's state and the devices'. The domain cannot run afterwards (its backends are paused): close it.
     */
    public Saved save() {
        // Disks and NICs first: their threads raise events and write guest memory. Each stops between passes, with
        // every request it took answered, so a restored backend takes the rings over from their published indexes.
        for (PvBackend b : backends) {
            if (!b.pause()) throw new IllegalStateException(b.name() + ": its I/O thread did not stop; nothing saved");
        }
        timers.pause();
        if (!devices.pause()) throw new IllegalStateException("a PV backend did not stop; nothing saved");
        var parts = new PlatformState.Parts(runstates, vcpuSet, grants, ram, holes);
        DomainSnapshot snap = Snapshots.capture(ports, ram).withExtensions(PlatformState.capture(params, timers, vcpuCount, parts));
        ByteArrayOutputStream d = new ByteArrayOutputStream();
        List<byte[]> records = new ArrayList<>();
        unchecked(() -> {
            devices.save(new DataOutputStream(d));
            for (PvBackend b : backends) {
                ByteArrayOutputStream one = new ByteArrayOutputStream();
                b.save(new DataOutputStream(one));
                records.add(one.toByteArray());
            }
            return null;
        });
        return new Saved(snap, d.toByteArray(), records);
    }

    /**
     * After {@link #save}, when the saved state is abandoned (a live migration that failed before the destination
     * confirmed): the backends' I/O threads and the timers run again, as if no save had been made. False if a
     * backend's thread had not stopped (it then still runs).
     */
    public boolean unpause() {
        boolean all = true;
        for (PvBackend b : backends) all &= b.reclaimHostFiles();
        all &= devices.unpause();
        timers.unpause();
        for (PvBackend b : backends) all &= b.unpause();
        return all;
    }

    /** A live migration's switch-over, after {@link #save}: the backends give up what the destination takes (images' locks). */
    public void releaseHostFiles() {
        for (PvBackend b : backends) b.releaseHostFiles();
    }

    /** The control socket's view: the ports, and counters of upcalls and of the PV devices' traffic. */
    public ControlTarget controlTarget() {
        return new PlatformCounters(this, vcpuCount, runstates, backends, upcallsRaised, exits);
    }

    /** Whether vCPU {@code v} is up (VCPUOP_up / down): the vCPUs a resumed domain runs. */
    public boolean isUp(int v) {
        return vcpuSet.isUp(v);
    }

    /**
     * After a restore: an upcall for each vCPU whose vcpu_info says one is pending (it may have been raised after the
     * vCPU's APIC state was saved); a spurious upcall is harmless, a lost one is not.
     */
    public void redeliverPendingUpcalls() {
        for (int v = 0; v < vcpuCount; v++) {
            if (guest.shared().vcpuInfo(v).testBit(SharedInfoLayout.UPCALL_PENDING, 0)) upcall.upcall(v);
        }
    }

    /** EVTCHNOP's decoder: asked whether the guest is offered the FIFO ABI ({@link #offerFifo}). */
    private final EventChannelOp eventChannelOp;
    private final RouteTable routes;
    private final RouteSync routeSync;
    /**
     * What the domain's acceleration has taken over ({@link Offload}): jxen alone until {@link #accelerate}, which a
     * domain calls once, right after building the platform (a restore's expired timer may fire before that).
     */
    private volatile Offload offload = Offload.USER_SPACE;
    private boolean accelerated;

    /**
     * Lets {@code acceleration} take over what it can of this platform's engine (see {@link Acceleration#attach}).
     * Once, before the guest runs.
     *
     * @param vcpus the vCPUs' threads by Xen vCPU id; null for one not created yet
     */
    public synchronized Offload accelerate(Acceleration acceleration, KvmXenCalls calls, IntFunction<? extends AcceleratedVcpu> vcpus,
            IntUnaryOperator apicIdOf) {
        if (accelerated) throw new IllegalStateException("the platform is accelerated already");
        accelerated = true;
        offload = acceleration.attach(new EngineParts(guest, ports, params, timers, runstates, routes, routeSync, ram, vcpuCount), calls, vcpus, apicIdOf);
        return offload;
    }

    /** What the domain's acceleration has taken over (the vCPUs ask it before they enter; tests read its figures). */
    public Offload offload() {
        return offload;
    }

    /**
     * Where the hypervisor console goes (HYPERVISOR_console_io and the debug ports, each line prefixed "(dN) "): the
     * PV console's stream until told otherwise; {@code jxen run} sends it to standard error. Before the guest runs.
     */
    public void routeHypervisorConsole(OutputStream to) {
        hypervisorConsole.redirect(to);
    }

    /** The exit handling of vCPU {@code self}: its own hypercall dispatcher, the shared MSRs, pvclock republishing. */
    public ExitHandler exitHandler(GuestMemory ram, VcpuControl self) {
        ExitHandler h = new ExitHandler(ram, dispatcher(self), msrs, hypervisorConsole, ioPorts, self.vcpu(), exits);
        h.afterPlacement(() -> {
            if (!offload.afterPlacement(self.vcpu())) pvclock.publishAll();
        });
        return h;
    }

    HypercallDispatcher dispatcher(VcpuControl self) {
        HypercallDispatcher d = hypercalls.dispatcher(self, false);
        dispatchers.add(d);
        d.setBugReporter((args, bug) -> {
            hypercallBugs.increment();
            LOG.log(Level.ERROR, "bug in hypercall " + args.number() + " on vCPU " + self.vcpu() + " (answered -EFAULT)", bug);
        });
        return d;
    }

    private final List<HypercallDispatcher> dispatchers = new CopyOnWriteArrayList<>();

    /** Hypercalls that reached jxen, over every vCPU (in kvm mode KVM answers some itself: those are not here). */
    public long hypercallsHandled() {
        long n = 0;
        for (HypercallDispatcher d : dispatchers) n += d.calls();
        return n;
    }

    /**
     * Hypercalls whose handler threw, over every vCPU (each one a jxen bug: the guest got -EFAULT). A hostile guest
     * may earn every error code Xen has, but never one of these.
     */
    public long hypercallBugs() {
        return hypercallBugs.sum();
    }

    /** A report on a guest that stopped making progress (see {@link StallReport}). */
    StallReport.Snapshot stallReport() {
        return StallReport.of(this, backends);
    }

    public GuestDomain guest() {
        return guest;
    }

    /** Whether the guest may switch to the FIFO ABI (RunConfig.EventChannels); without it Linux stays on 2-level events. */
    public void offerFifo(boolean offered) {
        eventChannelOp.offerFifo(offered);
    }

    /** Whether the guest is offered the FIFO ABI. */
    public boolean fifoOffered() {
        return eventChannelOp.fifoOffered();
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

    /** The domain's port-I/O devices beyond jxen's own (register before the guest runs). */
    public IoPorts ioPorts() {
        return ioPorts;
    }

    /** Where backends register their ports' eventfds ({@code new XenEvtchnHandle(ports(), signals())}). */
    public BackendSignals signals() {
        return signals;
    }

    public PvDevices devices() {
        return devices;
    }

    /** What a dom0 backend of this guest works with (event channels, grant mappings, XenStore). */
    private BackendContext backendContext() {
        return new BackendContext(ports, signals, grantMapper, devices.store(), guest.domid());
    }

    /** Adds a ring backend (before the guest runs, so its frontend is there at boot); the platform stops it. */
    public <B extends PvBackend> B attach(Function<BackendContext, B> make) {
        B b = make.apply(backendContext());
        backends.add(b);
        return b;
    }

    private Boolean stopped;

    /**
     * Stops every thread of the platform that can touch guest memory or raise an event (the PV backends' I/O threads,
     * the timer thread) and waits for each. True if all stopped; false if one would not (reported in one line): the
     * caller must then keep guest RAM and the VM descriptor alive. Idempotent.
     */
    public synchronized boolean stop() {
        if (stopped == null) {
            boolean all = true;
            for (PvBackend b : backends) all &= b.stop();
            stopped = all & devices.stop() & timers.stop(ThreadStop.JOIN_MILLIS);
            offload.close(); // a backend that did not stop then notifies through the engine
        }
        return stopped;
    }

    @Override
    public void close() {
        stop();
    }
}
