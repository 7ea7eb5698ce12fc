package org.jxen.vmm.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.LongSupplier;

import org.jxen.engine.memory.GuestMemory;
import org.jxen.sys.kvm.KvmUnavailableException;
import org.jxen.sys.kvm.KvmVcpu;
import org.jxen.sys.kvm.KvmVm;
import org.jxen.sys.kvm.PitState;
import org.jxen.vmm.accel.Acceleration;
import org.jxen.vmm.accel.Offload;
import org.jxen.vmm.backend.ThreadStop;
import org.jxen.vmm.boot.ImageException;

/**
 * A Xen HVM (PVH) domain on /dev/kvm: guest RAM as one anonymous mapping shared by KVM and the engine, the in-kernel
 * irqchip, Xen's CPUID leaves and hypercall MSR, the PVH image loaded with its start info, the event-channel engine
 * with its fast path, the PV console and XenStore backends, timers, and one thread per vCPU. Upcalls are injected with
 * KVM_SIGNAL_MSI to the vCPU's APIC (APIC id = Xen vCPU id = KVM vCPU index here; they are kept apart in the code).
 *
 * <p>{@link DomainBuilder} assembles it (boot or restore); the domain runs it, saves it and closes it by unwinding the
 * builder's {@link ResourceScope}. Its vCPU threads and the halt watchdog are the {@link VcpuManager}'s.
 */
public final class XenDomain implements AutoCloseable {
    private static final Logger LOG = System.getLogger(XenDomain.class.getName());

    /**
     * A domain as the builder hands it over: what it opened ({@code scope}, which the domain now owns), the run's stop,
     * the acceleration, the VM with its RAM, the platform, the vCPUs, and those {@link #run} starts (vCPU 0 at boot,
     * every vCPU that was up in a restored domain).
     */
    record Parts(RunConfig config, ResourceScope scope, DomainStop stop, RunConfig.Accel accel, Acceleration acceleration, KvmVm vm,
            GuestMemory ram, boolean xsave, LongSupplier systemTime, GuestPlatform platform, VcpuManager vcpus, List<Integer> firstToRun) {
        Parts {
            firstToRun = List.copyOf(firstToRun);
        }
    }

    private final RunConfig config;
    /** Everything the domain holds, released in reverse order of opening (see docs/ownership.md): threads first, RAM last. */
    private final ResourceScope scope;
    private final KvmVm vm;
    private final GuestMemory ram;
    private final DomainStop stop;
    private final VcpuManager vcpus;
    private final GuestPlatform platform;
    private final List<Integer> firstToRun;
    private final boolean xsave;
    /** What the run asked for, resolved against this host (KVM or USER): reported, never branched on. */
    private final RunConfig.Accel accelMode;
    /** How the Xen work is split between jxen and KVM, chosen once ({@link DomainBuilder#chooseAcceleration}). */
    private final Acceleration acceleration;
    private final LongSupplier systemTime;

    XenDomain(Parts p) {
        this.config = p.config();
        this.scope = p.scope();
        this.vm = p.vm();
        this.ram = p.ram();
        this.stop = p.stop();
        this.vcpus = p.vcpus();
        this.platform = p.platform();
        this.firstToRun = p.firstToRun();
        this.xsave = p.xsave();
        this.accelMode = p.accel();
        this.acceleration = p.acceleration();
        this.systemTime = p.systemTime();
    }

    /** Opens /dev/kvm and builds the domain; a one-line reason if either is impossible. */
    public static XenDomain create(RunConfig config) throws KvmUnavailableException, ImageException, IOException {
        return new DomainBuilder(config, DomainBuilder.Hook.NONE, new ResourceScope()).boot();
    }

    /**
     * Rebuilds a domain saved by {@link #save} (RAM size and vCPU count come from the file); it resumes where it stopped
     * when {@link #run} is called. IOException with a one-line reason for a file that is not a usable save.
     */
    public static XenDomain restore(Path saveFile, Duration timeout, OutputStream console, InputStream consoleInput)
            throws KvmUnavailableException, IOException {
        return restore(saveFile, timeout, console, consoleInput, console, RunConfig.Accel.USER);
    }

    /** {@link #restore(Path, Duration, OutputStream, InputStream)} with the hypervisor console on its own stream (a save restores in either mode). */
    public static XenDomain restore(Path saveFile, Duration timeout, OutputStream console, InputStream consoleInput, OutputStream hypervisorConsole,
            RunConfig.Accel accel) throws KvmUnavailableException, IOException {
        return restore(new SaveFile.Reader(saveFile), timeout, console, consoleInput, hypervisorConsole, accel);
    }

    /**
     * Resumes a domain from a stream ({@code source} names it in messages: "migration stream"): a save, or a live
     * migration's RAM rounds before its state (org.jxen.vmm.migrate). Closes {@code stream}.
     */
    public static XenDomain restore(InputStream stream, String source, Duration timeout, OutputStream console, InputStream consoleInput,
            OutputStream hypervisorConsole, RunConfig.Accel accel) throws KvmUnavailableException, IOException {
        return restore(new SaveFile.Reader(stream, -1, source), timeout, console, consoleInput, hypervisorConsole, accel);
    }

    private static XenDomain restore(SaveFile.Reader opened, Duration timeout, OutputStream console, InputStream consoleInput,
            OutputStream hypervisorConsole, RunConfig.Accel accel) throws KvmUnavailableException, IOException {
        try (SaveFile.Reader reader = opened) {
            RunConfig config = new RunConfig(null, reader.saved.memoryBytes(), reader.saved.vcpus(), "", timeout, console, consoleInput,
                    hypervisorConsole, accel, null).withPit(reader.saved.pit().isPresent());
            return new DomainBuilder(config, DomainBuilder.Hook.NONE, new ResourceScope()).restore(reader);
        }
    }

    /**
     * After the run ended: each vCPU's MP state, RIP, RFLAGS and the vectors pending (IRR) and in service (ISR) at its
     * local APIC, one line each, for reports on a guest that stopped answering.
     */
    public String describeVcpus() {
        if (vcpus.firstAlive() >= 0) return "vCPUs still running";
        return vcpus.describe(ram);
    }

    /** What {@link #describeVcpus} says of a stack that shows an interrupt taken with IF clear (see {@link StallReport}). */
    public static final String INTERRUPT_WITH_IF_CLEAR = StallReport.INTERRUPT_WITH_IF_CLEAR;

    /** The guest TSC frequency KVM reports (kHz): guest-side TSC readings to nanoseconds. */
    public int tscKhz() {
        return vcpus.tscKhz();
    }

    /** KVM (VMCALL/VMMCALL intercepted by KVM's Xen support and handed to jxen) or USER (jxen's hypercall page only). */
    public RunConfig.Accel accel() {
        return accelMode;
    }

    /** Whether the guest has KVM's in-kernel PIT: asked for with --pit, or restored from a save that has one. */
    public boolean hasPit() {
        return config.pit();
    }

    /** The domain's acceleration (what {@code jxen run} reports; what the platform's {@link Offload} came from). */
    public Acceleration acceleration() {
        return acceleration;
    }

    /** Guest RAM, as the engine and backends see it. */
    public GuestMemory ram() {
        return ram;
    }

    /** The domain's devices, grant table and event channels (for backends beside the built-in ones). */
    public GuestPlatform platform() {
        return platform;
    }

    /** The local APIC id KVM gives vCPU index {@code vcpu} (its index); kept as a function so the two stay apart. */
    static int apicIdOf(int vcpu) {
        return vcpu;
    }

    /**
     * Asks the guest to shut down as a toolstack does ({@code xl shutdown}): writes {@code action} ("poweroff",
     * "reboot") to its XenStore {@code control/shutdown}, which a Linux guest watches. The run ends when the guest
     * does (with its shutdown reason); a guest that ignores it must be stopped with {@link #requestStop}.
     */
    public void requestGuestShutdown(String action) {
        platform.devices().store().hostWrite("/local/domain/" + platform.guest().domid() + "/control/shutdown", action);
    }

    /** Stops the run from outside (a signal, a test): {@link #run} returns {@link RunOutcome#STOPPED} and the guest can be saved. */
    public void requestStop(String why) {
        stop.request(new RunOutcome(RunOutcome.STOPPED, why));
    }

    /** Ends the run with {@code outcome} (a host-side decision, e.g. a bootloader that stopped at its prompt with nobody to type). */
    public void end(RunOutcome outcome) {
        stop.request(outcome);
    }

    /**
     * After the run: whether vCPU 0 had paging on (CR0.PG) when it stopped. PVH GRUB runs its whole life with paging
     * off (GRUB's {@code kern/i386/xen/startup_pvh.S}); any kernel it starts turns paging on, so this tells a stopped
     * GRUB from a kernel that stopped.
     */
    public boolean bootVcpuPaging() {
        if (vcpus.firstAlive() >= 0) throw new IllegalStateException("a vCPU is still running");
        byte[] sregs = vcpus.vcpuOrNull(0).ask(v -> v.getState(KvmVcpu.StateBlock.SREGS));
        return (ByteBuffer.wrap(sregs).order(ByteOrder.LITTLE_ENDIAN).getLong(OFFSETOF_KVM_SREGS_CR0) & 0x8000_0000L) != 0;
    }

    /**
     * Saves the stopped domain to {@code file} (after {@link #run} returned with the guest still alive: the time limit
     * or {@link #requestStop}). The backends are paused first, the vCPUs' state and the interrupt controllers read,
     * RAM written last. The domain cannot run again: close it; {@link #restore} resumes it.
     */
    public void save(Path file) throws IOException {
        RunOutcome o = stop.outcome();
        if (o == null || !o.guestAlive()) throw new IllegalStateException("only a stopped, live domain can be saved");
        int running = vcpus.firstAlive();
        if (running >= 0) throw new IOException("vCPU " + running + " did not stop; nothing saved");
        captureStopped().write(file, ram);
    }

    /** The stopped domain's state (its vCPU threads ended; the backends are paused here): what a save and a migration send. */
    private SaveFile captureStopped() {
        long now = systemTime.getAsLong();
        GuestPlatform.Saved p = platform.save();
        List<byte[]> chips = List.of(vm.getIrqchip(KVM_IRQCHIP_PIC_MASTER), vm.getIrqchip(KVM_IRQCHIP_PIC_SLAVE), vm.getIrqchip(KVM_IRQCHIP_IOAPIC));
        List<VcpuState> states = vcpus.askEach(v -> VcpuState.capture(v, xsave));
        Optional<PitState> pit = config.pit() ? Optional.of(vm.getPit()) : Optional.empty();
        return new SaveFile(config.memoryBytes(), config.vcpus(), now, p, chips, pit, states);
    }

    /** The live migration under way, if any: close() lets it end first (it reads RAM, stops and captures the domain). */
    private volatile LiveSource live;

    /**
     * What a live migration of this running domain needs (org.jxen.vmm.migrate); one at a time. IllegalStateException
     * if the domain is not running or a migration is under way.
     */
    public synchronized LiveSource liveSource() {
        if (closed || stop.requested()) throw new IllegalStateException("the domain is not running");
        if (live != null && !live.finished()) throw new IllegalStateException("a migration is already under way");
        if (live != null && live.inDoubt()) throw new IllegalStateException("a migration is in doubt: resolve it first (--resolve here|there)");
        live = new LiveSource(vm, ram.segment(), ram, stop, vcpus.threads(), () -> {
            SaveFile state = captureStopped();
            platform.releaseHostFiles(); // the destination on this host opens the images next
            return state;
        }, platform::unpause, systemTime, config.memoryBytes(), config.vcpus());
        return live;
    }

    /**
     * Resolves a migration left in doubt ({@link LiveSource#holdInDoubt}): {@code here} resumes the guest in this
     * domain, otherwise the run ends as migrated. False if a backend did not restart on resuming. IllegalStateException
     * if no migration is in doubt.
     */
    public boolean resolveMigration(boolean here) {
        LiveSource migration = live;
        if (migration == null) throw new IllegalStateException("no migration is in doubt");
        return migration.resolve(here);
    }

    /** Another limit than 60 s for the watchdog's stuck-guest case (tests: a quicker look). */
    void interruptsOffLimit(Duration limit) {
        vcpus.interruptsOffLimit(limit);
    }

    /**
     * Runs vCPU 0 (a restored domain: the vCPUs that were up) until the guest stops or the time limit passes, with the
     * halt watchdog looking meanwhile ({@link VcpuManager#watch}): a guest that nothing can wake or interrupt ends the
     * run at once with that reason instead of at the time limit; one stuck with interrupts off, and a timeout, end with
     * what jxen saw ({@link #stallReport}).
     */
    public RunOutcome run() throws InterruptedException {
        if (closed) throw new IllegalStateException("the domain is closed");
        vcpus.start(firstToRun);
        RunOutcome watched = vcpus.watch(System.nanoTime() + config.timeout().toNanos());
        RunOutcome o = stop.outcome(), stuck = null;
        StallReport.Snapshot report = null;
        if (o == null) {
            stuck = watched; // the watchdog's verdict on a guest stuck with interrupts off; null at the time limit
            report = platform.stallReport(); // before the stop: where the threads are while the guest is stuck
            stop.request(stuck != null ? stuck
                    : new RunOutcome(RunOutcome.TIMEOUT, "guest still running after " + config.timeout().toSeconds() + " s (--timeout)"));
            o = stop.outcome();
        }
        vcpus.join(ThreadStop.JOIN_MILLIS);
        if (report != null && (o.status() == RunOutcome.TIMEOUT || o == stuck)) {
            stallReport = report.events() + "\n" + describeVcpus() + "\n" + report.threads();
            LOG.log(Level.WARNING, (o == stuck ? "the guest is stuck" : "the guest made no end before --timeout") + "; what jxen saw:\n" + stallReport);
        }
        return o;
    }

    private volatile boolean closed;
    private volatile String stallReport;

    /**
     * After a run that reached --timeout, or ended because the guest was stuck with interrupts disabled: jxen's threads,
     * the guest's event state and its rings then; else null.
     */
    public String stallReport() {
        return stallReport;
    }

    /**
     * Stops the domain and releases it in the order docs/ownership.md gives, the builder's scope unwound: the vCPU
     * threads stop (each leaves KVM_RUN), then the platform's threads (backends, timers); only when all of them have
     * ended are the vCPUs' kvm_run mappings, the VM descriptor, guest RAM and the host files released. A thread that
     * will not stop is reported in one line and what it can reach stays mapped: a leak, never a crash. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        stop.request(new RunOutcome(RunOutcome.JXEN_ERROR, "closed"));
        LiveSource migration = live;
        if (migration != null) migration.awaitFinished(); // before a backend or RAM goes away under it
        try {
            scope.close();
        } catch (IllegalStateException e) {
            LOG.log(Level.ERROR, "closing the domain", e);
        }
    }
}
