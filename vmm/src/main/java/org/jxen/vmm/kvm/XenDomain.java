package org.jxen.vmm.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.OptionalLong;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.IntFunction;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;

import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.PagingState;
import org.jxen.engine.platform.VcpuControl;
import org.jxen.engine.platform.VcpuHvmContext;
import org.jxen.engine.platform.VcpuLifecycle;
import org.jxen.engine.pvclock.ClockSample;
import org.jxen.engine.pvclock.MasterClock;
import org.jxen.engine.pvclock.TscScale;
import org.jxen.sys.BlockFile;
import org.jxen.sys.TapDevice;
import org.jxen.sys.Errno;
import org.jxen.sys.Libc;
import org.jxen.sys.SyscallException;
import org.jxen.sys.kvm.CpuidEntry;
import org.jxen.sys.kvm.Kvm;
import org.jxen.sys.kvm.KvmException;
import org.jxen.sys.kvm.KvmUnavailableException;
import org.jxen.sys.kvm.KvmVcpu;
import org.jxen.sys.kvm.KvmVm;
import org.jxen.vmm.backend.ThreadStop;
import org.jxen.vmm.backend.xenbus.BackendContext;
import org.jxen.vmm.backend.xenbus.PvBackend;
import org.jxen.vmm.backend.block.BlockBackend;
import org.jxen.vmm.backend.block.DiskSpec;
import org.jxen.vmm.backend.net.NetBackend;
import org.jxen.vmm.backend.net.NetSpec;
import org.jxen.vmm.accel.Acceleration;
import org.jxen.vmm.accel.KvmXenAcceleration;
import org.jxen.vmm.accel.KvmXenCalls;
import org.jxen.vmm.accel.Offload;
import org.jxen.vmm.accel.UserSpaceAcceleration;
import org.jxen.vmm.accel.XenOffer;
import org.jxen.vmm.boot.ElfImage;
import org.jxen.vmm.boot.GuestLayout;
import org.jxen.vmm.boot.ImageException;
import org.jxen.vmm.boot.KernelCache;
import org.jxen.vmm.boot.PvhLoader;
import org.jxen.vmm.cpu.XenCpuid;

/**
 * A Xen HVM (PVH) domain on /dev/kvm: guest RAM as one anonymous mapping shared by KVM and the engine, the in-kernel
 * irqchip, Xen's CPUID leaves and hypercall MSR, the PVH image loaded with its start info, the event-channel engine
 * with its fast path, the PV console and XenStore backends, timers, and one thread per vCPU. Upcalls are injected with
 * KVM_SIGNAL_MSI to the vCPU's APIC (APIC id = Xen vCPU id = KVM vCPU index here; they are kept apart in the code).
 */
public final class XenDomain implements AutoCloseable {
    private static final Logger LOG = System.getLogger(XenDomain.class.getName());
    private static final int[] REQUIRED_CAPS = {KVM_CAP_IRQCHIP, KVM_CAP_SIGNAL_MSI, KVM_CAP_SYNC_REGS,
            KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_X86_USER_SPACE_MSR, KVM_CAP_X86_MSR_FILTER, KVM_CAP_GET_TSC_KHZ};
    private static final String[] CAP_NAMES = {"IRQCHIP", "SIGNAL_MSI", "SYNC_REGS", "IMMEDIATE_EXIT",
            "X86_USER_SPACE_MSR", "X86_MSR_FILTER", "GET_TSC_KHZ"};

    private final RunConfig config;
    private final Kvm kvm;
    private final KvmVm vm;
    /**
     * Owns guest RAM (see docs/ownership.md): closed last, after every vCPU thread, backend and timer has stopped and
     * the VM (whose memslot points into it) is gone. Every GuestMemory/GuestRegion view is a slice of it, so a late
     * access throws instead of touching unmapped memory.
     */
    private final Arena ramArena = Arena.ofShared();
    private final MemorySegment ramMapping;
    private final GuestMemory ram;
    private final DomainStop stop = new DomainStop();
    /**
     * The vCPU threads by KVM vCPU index, appended while the domain is built. Other threads read it meanwhile (the
     * engine's timer thread: a restored timer that has expired fires during construction; backends' upcalls), so the
     * list publishes each append safely; a vCPU not appended yet reads as absent.
     */
    private final List<VcpuThread> vcpus = new CopyOnWriteArrayList<>();
    /** KVM_GET_TSC_KHZ, asked once while building: other threads (benchmarks) must not make the vCPU's ioctls. */
    private final int tscKhz;
    private final GuestPlatform platform;

    /** The vCPUs {@link #run} starts: vCPU 0 at boot, every vCPU that was up in a restored domain. */
    private final List<Integer> firstToRun = new ArrayList<>();
    private final boolean xsave;
    /** What the run asked for, resolved against this host (KVM or USER): reported, never branched on. */
    private final RunConfig.Accel accelMode;
    /** How the Xen work is split between jxen and KVM, chosen once ({@link #chooseAcceleration}). */
    private final Acceleration acceleration;
    private final LongSupplier systemTime;

    private XenDomain(RunConfig config, Kvm kvm, SaveFile.Reader restore) throws ImageException, IOException {
        this.config = config;
        this.kvm = kvm;
        for (int i = 0; i < REQUIRED_CAPS.length; i++)
            if (kvm.checkExtension(REQUIRED_CAPS[i]) == 0) throw new KvmException("this KVM lacks KVM_CAP_" + CAP_NAMES[i] + ", which jxen needs");
        if ((kvm.checkExtension(KVM_CAP_SYNC_REGS) & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) != (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS))
            throw new KvmException("this KVM cannot sync regs and sregs through kvm_run");
        XenOffer offer = XenOffer.probe(kvm);
        this.accelMode = chooseAccel(config.accel(), offer);
        this.acceleration = chooseAcceleration(config.accel(), offer);
        SaveFile saved = restore == null ? null : restore.saved;
        byte[] image = saved == null ? KernelCache.shared().elfOf(Files.readAllBytes(config.image())) : null; // a bzImage unpacked once per kernel
        String noVmcall = acceleration.vmcallRefusal();
        if (image != null && noVmcall != null && ElfImage.parse(image).callsXenByVmcall())
            throw new ImageException("this Linux calls Xen by VMCALL/VMMCALL (it has no hypercall page), which only KVM's Xen support "
                    + "(KVM_CAP_XEN_HVM) hands to jxen; " + noVmcall);
        byte[] initrd = saved == null && config.initrd() != null ? Files.readAllBytes(config.initrd()) : null;
        List<BlockFile> disks = openDisks(config.disks()); // a missing image is reported before anything is built
        List<TapDevice> taps;
        try {
            taps = openTaps(config.nets());
        } catch (IOException e) {
            disks.forEach(BlockFile::close);
            throw e;
        }
        ramMapping = Libc.mmap(ramArena, config.memoryBytes(), Libc.PROT_READ | Libc.PROT_WRITE,
                Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0);
        ram = new GuestMemory(ramMapping);
        GuestLayout layout = GuestLayout.standard(config.memoryBytes());
        PvhLoader.Boot boot = null;
        try {
            // Before the VM: a bad image or save file leaves nothing behind.
            int[] apicIds = new int[config.vcpus()];
            for (int v = 0; v < apicIds.length; v++) apicIds[v] = apicIdOf(v);
            if (saved == null) boot = PvhLoader.load(image, initrd, ram, layout, config.cmdline(), apicIds);
            else restore.readRam(ram);
        } catch (ImageException | IOException | RuntimeException e) {
            ramArena.close();
            disks.forEach(BlockFile::close);
            taps.forEach(TapDevice::close);
            throw e;
        }
        vm = kvm.createVm();
        List<KvmVcpu> kvmVcpus = new ArrayList<>();
        GuestPlatform built = null;
        try {
            vm.setMemory(0, 0, ramMapping);
            vm.createIrqchip();
            vm.enableCap(KVM_CAP_X86_USER_SPACE_MSR, KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_INVAL);
            vm.denyMsrs(XenCpuid.HYPERCALL_MSR); // jxen writes the hypercall page in both modes
            acceleration.configureVm(vm);
            xsave = VcpuState.hasXsave(vm);

            int n = config.vcpus();
            systemTime = acceleration.systemTime(vm, saved == null ? OptionalLong.empty() : OptionalLong.of(saved.systemTimeNs()));
            VcpuLifecycle lifecycle = new VcpuLifecycle() {
                @Override
                public void start(int vcpu, VcpuHvmContext context) {
                    vcpus.get(vcpu).start(v -> {
                        if (context != null) VcpuRegisters.loadContext(v, context);
                        v.setMpState(KVM_MP_STATE_RUNNABLE);
                    });
                }

                @Override
                public void stop(int vcpu) {
                    vcpus.get(vcpu).takeDown();
                }
            };
            List<CpuidEntry> hostCpuid = kvm.supportedCpuid();
            for (int v = 0; v < n; v++) kvmVcpus.add(vm.createVcpu(v));
            int khz = kvmVcpus.getFirst().tscKhz();
            if (khz <= 0) throw new KvmException("KVM_GET_TSC_KHZ", -khz);
            tscKhz = khz;
            boolean tscStable = vm.tscStable(); // asked once the vCPUs exist: KVM matches their TSCs at creation
            int domid = saved == null ? DomainConfig.of(n).domid() : saved.platform().snapshot().domid();
            for (int v = 0; v < n; v++) kvmVcpus.get(v).setCpuid(XenCpuid.forVcpu(hostCpuid, v, apicIdOf(v), domid, khz, tscStable));
            if (saved != null) {
                try {
                    for (byte[] chip : saved.irqchips()) vm.setIrqchip(chip);
                    for (int v = 0; v < n; v++) saved.vcpuStates().get(v).apply(kvmVcpus.get(v)); // TSCs included
                } catch (KvmException e) {
                    throw new IOException("KVM refuses the saved CPU state: " + e.getMessage());
                }
            }
            // One pvclock anchor for every vCPU: the boot vCPU's TSC now, at system time now.
            MasterClock clock = new MasterClock(TscScale.forKhz(khz), new ClockSample(kvmVcpus.getFirst().readTsc(), systemTime.getAsLong()), tscStable);
            IntFunction<VcpuControl> controls = this::vcpuOrNull;
            LongConsumer released = gfn -> Libc.madvise(ramMapping.asSlice(gfn << GuestMemory.PAGE_SHIFT, GuestMemory.PAGE_SIZE), Libc.MADV_DONTNEED);
            HoleMappings holes = new HoleMappings(vm, ramArena, ram.frames()); // grant frames the guest places above RAM
            platform = built = saved == null
                    ? new GuestPlatform(ram, layout, n, controls, XenDomain::apicIdOf, lifecycle, vm::signalMsi, clock, systemTime, released,
                            config.console(), config.consoleInput(), holes)
                    : GuestPlatform.restore(saved.platform(), ram, layout, n, controls, XenDomain::apicIdOf, lifecycle, vm::signalMsi, clock,
                            systemTime, released, config.console(), config.consoleInput(), holes);
            Offload offload = platform.accelerate(acceleration, KvmXenCalls.of(vm, kvmVcpus::get), this::vcpuOrNull, XenDomain::apicIdOf);
            platform.routeHypervisorConsole(config.hypervisorConsole());
            for (int i = 0; i < disks.size(); i++) {
                int index = i;
                platform.attach(context -> new BlockBackend(context, index, config.disks().get(index), disks.get(index)));
            }
            restoreBackends(platform); // a restored domain's disks and NICs, from its save
            for (int i = 0; i < taps.size(); i++) {
                int index = i;
                platform.attach(context -> new NetBackend(context, index, config.nets().get(index), taps.get(index)));
            }
            for (int v = 0; v < n; v++) {
                VcpuThread t = new VcpuThread(v, kvmVcpus.get(v), stop, offload);
                t.setExitHandler(platform.exitHandler(ram, t));
                vcpus.add(t);
            }
            if (saved == null) {
                VcpuRegisters.loadPvhEntry(kvmVcpus.getFirst(), boot);
                firstToRun.add(0);
            } else {
                for (int v = 0; v < n; v++) if (platform.isUp(v)) firstToRun.add(v);
                platform.redeliverPendingUpcalls();
            }
        } catch (IOException | RuntimeException e) {
            // Nothing runs yet: undo what was built, so a failed restore (or build) leaves no VM or mapping behind.
            if (built != null) built.close();
            disks.forEach(BlockFile::close); // those not attached yet (closing twice is harmless)
            taps.forEach(TapDevice::close);
            for (KvmVcpu v : kvmVcpus) v.close();
            vm.close();
            ramArena.close();
            throw e;
        }
        stop.onStop(() -> vcpus.forEach(VcpuThread::kick));
    }

    /**
     * A restored domain's disks and NICs: each saved record names its image or TAP, which is opened again, and its
     * connection, which the new backend takes over (the guest's frontends never notice the move). IOException naming
     * the first device that cannot be had; those attached before it are closed with the platform.
     */
    private static void restoreBackends(GuestPlatform platform) throws IOException {
        for (byte[] record : platform.savedBackends()) {
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(record));
            String kind = in.readUTF();
            switch (kind) {
                case BlockBackend.KIND -> {
                    BlockBackend.SavedDisk d = BlockBackend.readDevice(in);
                    BlockFile file = openDisk(d.spec(), "the saved domain's disk " + d.spec().file());
                    attachRestored(platform, context -> new BlockBackend(context, d, file, in), file::close);
                }
                case NetBackend.KIND -> {
                    NetBackend.SavedNic nic = NetBackend.readDevice(in);
                    TapDevice tap = openTap(nic.spec(), "the saved domain's NIC on TAP " + nic.spec().tap());
                    attachRestored(platform, context -> new NetBackend(context, nic, tap, in), tap::close);
                }
                default -> throw new IOException("the save has a PV device of an unknown kind (" + kind + ")");
            }
        }
    }

    /** Attaches a restored backend; the device it was to own is closed if it cannot be built. */
    private static void attachRestored(GuestPlatform platform, Function<BackendContext, PvBackend> make, Runnable closeDevice) {
        try {
            platform.attach(make);
        } catch (RuntimeException e) {
            closeDevice.run();
            throw e;
        }
    }

    /** Opens every --disk image (read-only ones read-only); IOException naming the first that cannot be opened. */
    private static List<BlockFile> openDisks(List<DiskSpec> specs) throws IOException {
        return openAll(specs, d -> openDisk(d, "--disk " + d.file()), BlockFile::close);
    }

    /** Opens one image; {@code origin} names it in a failure (the option, or the saved device a restore reopens). */
    private static BlockFile openDisk(DiskSpec d, String origin) throws IOException {
        BlockFile f;
        try {
            f = BlockFile.open(d.file(), d.readOnly());
        } catch (SyscallException e) {
            throw new IOException(origin + ": cannot open it " + (d.readOnly() ? "read-only" : "read-write") + " ("
                    + Errno.describe(e.errno()) + ")");
        }
        if (f.size() < 512) {
            f.close();
            throw new IOException(origin + ": a disk image needs at least one 512-byte sector");
        }
        if (f.size() % 512 != 0) LOG.log(Level.WARNING, d.file() + ": the last " + (f.size() % 512) + " bytes (less than a sector) are not part of the disk");
        return f;
    }

    /** Attaches to every --net TAP; IOException naming the first that cannot be had (and why). */
    private static List<TapDevice> openTaps(List<NetSpec> specs) throws IOException {
        return openAll(specs, n -> openTap(n, "--net tap=" + n.tap()), TapDevice::close);
    }

    /** Attaches to one TAP; {@code origin} names it in a failure (the option, or the saved device a restore reattaches). */
    private static TapDevice openTap(NetSpec n, String origin) throws IOException {
        try {
            return TapDevice.open(n.tap());
        } catch (SyscallException e) {
            throw new IOException(origin + ": cannot attach to the TAP interface (" + Errno.describe(e.errno())
                    + (e.errno() == Errno.EPERM ? "; creating one needs CAP_NET_ADMIN: make it first with 'ip tuntap add " + n.tap()
                            + " mode tap user $USER'" : "") + ")");
        }
    }

    private interface Opener<S, D> {
        D open(S spec) throws IOException;
    }

    /** Opens a device per spec, all or none: on the first failure the ones opened are closed and the failure goes on. */
    private static <S, D> List<D> openAll(List<S> specs, Opener<S, D> open, Consumer<D> close) throws IOException {
        List<D> opened = new ArrayList<>();
        try {
            for (S spec : specs) opened.add(open.open(spec));
            return opened;
        } catch (IOException | RuntimeException e) {
            opened.forEach(close);
            throw e;
        }
    }

    /**
     * After the run ended: each vCPU's MP state, RIP, RFLAGS and the vectors pending (IRR) and in service (ISR) at its
     * local APIC, one line each, for reports on a guest that stopped answering.
     */
    public String describeVcpus() {
        if (vcpus.stream().anyMatch(VcpuThread::alive)) return "vCPUs still running";
        StringBuilder sb = new StringBuilder();
        for (VcpuThread t : vcpus) {
            var v = t.kvmVcpu();
            var regs = ByteBuffer.wrap(v.getState(KvmVcpu.StateBlock.REGS)).order(ByteOrder.LITTLE_ENDIAN);
            var apic = ByteBuffer.wrap(v.getState(KvmVcpu.StateBlock.LAPIC)).order(ByteOrder.LITTLE_ENDIAN);
            var sregs = ByteBuffer.wrap(v.getState(KvmVcpu.StateBlock.SREGS)).order(ByteOrder.LITTLE_ENDIAN);
            long rsp = regs.getLong(OFFSETOF_KVM_REGS_RSP);
            sb.append(String.format("vCPU %d: mp_state %d rip 0x%x rflags 0x%x rsp 0x%x irr %s isr %s%n  stack:%s%n", t.vcpu(), v.mpState(),
                    regs.getLong(OFFSETOF_KVM_REGS_RIP), regs.getLong(OFFSETOF_KVM_REGS_RFLAGS), rsp, vectors(apic, 0x200), vectors(apic, 0x100),
                    StallReport.stack(ram, new PagingState(sregs.getLong(OFFSETOF_KVM_SREGS_CR0), sregs.getLong(OFFSETOF_KVM_SREGS_CR3),
                            sregs.getLong(OFFSETOF_KVM_SREGS_CR4), sregs.getLong(OFFSETOF_KVM_SREGS_EFER)), rsp)));
        }
        return sb.toString().strip();
    }

    /** What {@link #describeVcpus} says of a stack that shows an interrupt taken with IF clear (see {@link StallReport}). */
    public static final String INTERRUPT_WITH_IF_CLEAR = StallReport.INTERRUPT_WITH_IF_CLEAR;

    /** The vectors set in a 256-bit APIC register (eight 32-bit words, 16 bytes apart). */
    private static String vectors(ByteBuffer apic, int base) {
        StringBuilder sb = new StringBuilder("[");
        for (int w = 0; w < 8; w++) {
            int bits = apic.getInt(base + 16 * w);
            for (int b = 0; b < 32; b++) if ((bits & (1 << b)) != 0) sb.append(sb.length() > 1 ? " " : "").append(Integer.toHexString(32 * w + b));
        }
        return sb.append(']').toString();
    }

    /** The guest TSC frequency KVM reports (kHz): guest-side TSC readings to nanoseconds. */
    public int tscKhz() {
        return tscKhz;
    }

    /**
     * The acceleration a run asked for, resolved against what this KVM offers (KVM_CAP_XEN_HVM with INTERCEPT_HCALL):
     * KVM or USER; a one-line KvmException if KVM was asked for and the host has no Xen support.
     */
    static RunConfig.Accel chooseAccel(RunConfig.Accel wanted, XenOffer offer) {
        boolean offered = offer.interceptsHypercalls();
        return switch (wanted) {
            case USER -> RunConfig.Accel.USER;
            case AUTO -> offered ? RunConfig.Accel.KVM : RunConfig.Accel.USER;
            case KVM -> {
                if (!offered) throw new KvmException("--accel kvm: this host's KVM has no Xen support (KVM_CAP_XEN_HVM with "
                        + "INTERCEPT_HCALL; a kernel built with CONFIG_KVM_XEN has it), so VMCALL/VMMCALL cannot reach jxen");
                yield RunConfig.Accel.KVM;
            }
        };
    }

    /**
     * The one place that picks a domain's {@link Acceleration}: KVM's Xen support with what this host offers, or jxen's
     * hypercall page alone (saying why, for a guest that needs VMCALL/VMMCALL). Everything after asks the acceleration.
     */
    static Acceleration chooseAcceleration(RunConfig.Accel wanted, XenOffer offer) {
        return switch (chooseAccel(wanted, offer)) {
            case KVM -> new KvmXenAcceleration(offer, XenCpuid.HYPERCALL_MSR);
            case USER, AUTO -> wanted == RunConfig.Accel.USER
                    ? new UserSpaceAcceleration("--accel user has none", null)
                    : new UserSpaceAcceleration("this host's KVM has none: run it inside tools/kvm-vm (README)", "this KVM has no Xen support");
        };
    }

    /** KVM (VMCALL/VMMCALL intercepted by KVM's Xen support and handed to jxen) or USER (jxen's hypercall page only). */
    public RunConfig.Accel accel() {
        return accelMode;
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

    /** vCPU {@code v}'s thread, or null while the domain is built and it is not yet (the list only grows). */
    private VcpuThread vcpuOrNull(int v) {
        return v < vcpus.size() ? vcpus.get(v) : null;
    }

    /** The local APIC id KVM gives vCPU index {@code vcpu} (its index); kept as a function so the two stay apart. */
    static int apicIdOf(int vcpu) {
        return vcpu;
    }

    /** Opens /dev/kvm and builds the domain; a one-line reason if either is impossible. */
    public static XenDomain create(RunConfig config) throws KvmUnavailableException, ImageException, IOException {
        Kvm kvm = Kvm.open();
        try {
            return new XenDomain(config, kvm, null);
        } catch (RuntimeException | ImageException | IOException e) {
            kvm.close();
            throw e;
        }
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
                    hypervisorConsole, accel, null);
            Kvm kvm = Kvm.open();
            try {
                return new XenDomain(config, kvm, reader);
            } catch (ImageException e) {
                kvm.close();
                throw new IOException(e.getMessage());
            } catch (RuntimeException | IOException e) {
                kvm.close();
                throw e;
            }
        }
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

    /**
     * Saves the stopped domain to {@code file} (after {@link #run} returned with the guest still alive: the time limit
     * or {@link #requestStop}). The backends are paused first, the vCPUs' state and the interrupt controllers read,
     * RAM written last. The domain cannot run again: close it; {@link #restore} resumes it.
     */
    public void save(Path file) throws IOException {
        RunOutcome o = stop.outcome();
        if (o == null || !o.guestAlive()) throw new IllegalStateException("only a stopped, live domain can be saved");
        for (VcpuThread t : vcpus) {
            if (t.alive()) throw new IOException("vCPU " + vcpus.indexOf(t) + " did not stop; nothing saved");
        }
        captureStopped().write(file, ram);
    }

    /** The stopped domain's state (its vCPU threads ended; the backends are paused here): what a save and a migration send. */
    private SaveFile captureStopped() {
        long now = systemTime.getAsLong();
        GuestPlatform.Saved p = platform.save();
        List<byte[]> chips = List.of(vm.getIrqchip(KVM_IRQCHIP_PIC_MASTER), vm.getIrqchip(KVM_IRQCHIP_PIC_SLAVE), vm.getIrqchip(KVM_IRQCHIP_IOAPIC));
        List<VcpuState> states = new ArrayList<>();
        for (VcpuThread t : vcpus) states.add(VcpuState.capture(t.kvmVcpu(), xsave));
        return new SaveFile(config.memoryBytes(), config.vcpus(), now, p, chips, states);
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
        live = new LiveSource(vm, ramMapping, ram, stop, vcpus, this::captureStopped, systemTime, config.memoryBytes(), config.vcpus());
        return live;
    }

    /** How long a vCPU may stay in the guest before the watchdog looks whether it is halted for good. */
    private static final long QUIET_NANOS = 300_000_000L;
    /**
     * How long every vCPU may stay in the guest with interrupts disabled (halted or spinning, never exiting) before the
     * run ends: far beyond anything a working kernel does (Linux calls 10 s with interrupts off a hard lockup), even
     * under emulation.
     */
    private static final long INTERRUPTS_OFF_NANOS = 60_000_000_000L;
    private volatile long interruptsOffLimit = INTERRUPTS_OFF_NANOS;

    /** Another limit than {@link #INTERRUPTS_OFF_NANOS} for the watchdog's stuck-guest case (tests: a quicker look). */
    void interruptsOffLimit(Duration limit) {
        interruptsOffLimit = limit.toNanos();
    }

    /**
     * Runs vCPU 0 until the guest stops or the time limit passes. Every 200 ms the watchdog looks at vCPUs that have
     * not exited for a while; when every running vCPU is halted with interrupts disabled, nothing can wake the guest
     * and the run ends at once with that reason instead of at the time limit. So does a guest whose every vCPU has had
     * interrupts disabled, halted or spinning without a single exit, for {@link #INTERRUPTS_OFF_NANOS} (60 s): no interrupt can
     * reach it and no vCPU can release another, so it is stuck for good; the run ends with what jxen saw (as after a
     * timeout, {@link #stallReport}).
     */
    public RunOutcome run() throws InterruptedException {
        if (closed) throw new IllegalStateException("the domain is closed");
        for (int v : firstToRun) vcpus.get(v).start(k -> {});
        for (VcpuThread t : vcpus) t.startParked(); // the others wait in KVM for INIT-SIPI (or VCPUOP_up)
        long deadline = System.nanoTime() + config.timeout().toNanos();
        RunOutcome o = null, stuck = null;
        while (o == null && System.nanoTime() < deadline) {
            o = stop.await(Math.max(1, Math.min(200, (deadline - System.nanoTime()) / 1_000_000)));
            if (o != null) break;
            boolean allDead = true, allInterruptsOff = true;
            int running = 0;
            for (VcpuThread t : vcpus) {
                if (!t.started()) continue;
                running++;
                boolean dead = t.checkDeadHalt(QUIET_NANOS);
                allDead &= dead;
                allInterruptsOff &= dead || t.spinningWithInterruptsOff(interruptsOffLimit);
            }
            if (running > 0 && allDead)
                stop.request(new RunOutcome(RunOutcome.GUEST_FAULT, "every vCPU halted with interrupts disabled: nothing can wake the guest"));
            else if (running > 0 && allInterruptsOff) {
                stuck = new RunOutcome(RunOutcome.GUEST_FAULT, "every vCPU has run with interrupts disabled for "
                        + interruptsOffLimit / 1_000_000_000L + " s without leaving the guest: nothing can interrupt it");
                break; // the report is taken below, before the stop, as after a timeout
            }
        }
        if (o == null) o = stop.outcome();
        StallReport.Snapshot report = null;
        if (o == null) {
            report = platform.stallReport(); // before the stop: where the threads are while the guest is stuck
            stop.request(stuck != null ? stuck
                    : new RunOutcome(RunOutcome.TIMEOUT, "guest still running after " + config.timeout().toSeconds() + " s (--timeout)"));
            o = stop.outcome();
        }
        for (VcpuThread t : vcpus) t.join(ThreadStop.JOIN_MILLIS);
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
     * Stops the domain and releases it in the order docs/ownership.md gives: the vCPU threads stop (each leaves
     * KVM_RUN), then the platform's threads (backends, timers); only when all of them have ended are the vCPUs'
     * kvm_run mappings, the VM descriptor and guest RAM released. A thread that will not stop is reported in one line
     * and what it can reach stays mapped: a leak, never a crash. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        stop.request(new RunOutcome(RunOutcome.JXEN_ERROR, "closed"));
        LiveSource migration = live;
        if (migration != null) migration.awaitFinished(); // before a backend or RAM goes away under it
        boolean stopped = true;
        for (VcpuThread t : vcpus) stopped &= t.stopAndJoin();
        stopped &= platform.stop();
        if (!stopped) return; // reported by whoever did not stop; kvm_run, the VM and RAM stay mapped
        for (VcpuThread t : vcpus) t.kvmVcpu().close();
        vm.close();
        ramArena.close();
        kvm.close();
    }
}
