package org.jxen.vmm.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.function.LongSupplier;

import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.pvclock.ClockSample;
import org.jxen.engine.pvclock.MasterClock;
import org.jxen.engine.pvclock.TscScale;
import org.jxen.sys.Libc;
import org.jxen.sys.kvm.CpuidEntry;
import org.jxen.sys.kvm.Kvm;
import org.jxen.sys.kvm.KvmException;
import org.jxen.sys.kvm.KvmUnavailableException;
import org.jxen.sys.kvm.KvmVcpu;
import org.jxen.sys.kvm.KvmVm;
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
 * Builds a {@link XenDomain}, at boot ({@link #boot}) or from a save ({@link #restore}), in straight-line steps that
 * push what they open into one {@link ResourceScope}: host files first (/dev/kvm, disk images, TAPs), then guest RAM,
 * the VM, its vCPUs, the platform's threads and the vCPU threads. A step that fails unwinds the scope (the newest
 * first) and the failure goes on; a build that succeeds hands the scope to the domain, whose close unwinds it the
 * same way. The two paths share every step but what fills RAM and the vCPUs: the PVH loader at boot, the save's pages
 * and CPU state at restore. After Firecracker's {@code builder.rs} (build_microvm_for_boot / _from_snapshot).
 */
final class DomainBuilder {
    private static final int[] REQUIRED_CAPS = {KVM_CAP_IRQCHIP, KVM_CAP_SIGNAL_MSI, KVM_CAP_SYNC_REGS,
            KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_X86_USER_SPACE_MSR, KVM_CAP_X86_MSR_FILTER, KVM_CAP_GET_TSC_KHZ};
    private static final String[] CAP_NAMES = {"IRQCHIP", "SIGNAL_MSI", "SYNC_REGS", "IMMEDIATE_EXIT",
            "X86_USER_SPACE_MSR", "X86_MSR_FILTER", "GET_TSC_KHZ"};

    /** The steps, in order, after each of which {@link Hook#after} is told (tests inject a failure there). */
    static final List<String> STEPS = List.of("host", "devices", "ram", "vm", "vcpus", "platform", "backends", "vcpu-threads");

    /** Told after each step of a build (tests: a failure half-way); throwing ends the build there. */
    @FunctionalInterface
    interface Hook {
        void after(String step, ResourceScope scope) throws IOException;

        Hook NONE = (step, scope) -> {};
    }

    private final RunConfig config;
    private final Hook hook;
    private final ResourceScope scope;
    private final DomainStop stop = new DomainStop();
    /** Guest RAM's owner, once mapped (the platform maps grant frames above RAM into it too). */
    private Arena ramArena;

    DomainBuilder(RunConfig config, Hook hook, ResourceScope scope) {
        this.config = config;
        this.hook = hook;
        this.scope = scope;
    }

    /** What every step after the host's reads: /dev/kvm, and how the Xen work is split with it. */
    private record Host(Kvm kvm, RunConfig.Accel accel, Acceleration acceleration) {}

    /** The VM with its vCPUs and clock, before the platform exists. */
    private record Machine(KvmVm vm, List<KvmVcpu> vcpus, boolean xsave, int tscKhz, LongSupplier systemTime, MasterClock clock) {}

    /**
     * Whether a new guest is offered the FIFO ABI: as asked, or by default wherever KVM would not deliver its 2-level
     * events in the kernel (with FIFO every send, backend notify and upcall of a kvm-mode guest goes through jxen:
     * docs/peer.md measures what that costs a Linux boot). A restored guest keeps the ABI it was saved with.
     */
    static boolean offersFifo(RunConfig.EventChannels choice, Acceleration acceleration) {
        return switch (choice) {
            case FIFO -> true;
            case TWO_LEVEL -> false;
            case AUTO -> !acceleration.kernelDeliversTwoLevel();
        };
    }

    /** What the boot's first steps leave: the host side of the devices, and guest RAM with the kernel in it. */
    private record Loaded(List<DeviceFiles.Attach> devices, GuestMemory ram, GuestLayout layout, PvhLoader.Boot boot) {}

    /** The devices' files, then guest RAM with the kernel (a bzImage unpacked once per kernel: KernelCache), initrd and start info. */
    private Loaded load(Host host, KernelCache.Kernel image) throws ImageException, IOException {
        String noVmcall = host.acceleration().vmcallRefusal();
        if (noVmcall != null && ElfImage.parse(image.elf()).callsXenByVmcall())
            throw new ImageException("this Linux calls Xen by VMCALL/VMMCALL (it has no hypercall page), which only KVM's Xen support "
                    + "(KVM_CAP_XEN_HVM) hands to jxen; " + noVmcall);
        byte[] initrd = config.initrd() != null ? Files.readAllBytes(config.initrd()) : null;
        List<DeviceFiles.Attach> devices = step("devices", DeviceFiles.open(config, List.of(), scope));
        GuestMemory ram = mapRam();
        GuestLayout layout = GuestLayout.standard(config.memoryBytes());
        PvhLoader.Boot boot = PvhLoader.load(image.elf(), initrd, ram, layout, config.cmdline(), apicIds(config.vcpus()));
        step("ram", ram);
        return new Loaded(devices, ram, layout, boot);
    }

    /** Boots {@code config.image()} (an ELF or a bzImage) with its initrd, disks and NICs. */
    XenDomain boot() throws KvmUnavailableException, ImageException, IOException {
        try {
            Host host = openHost();
            Loaded loaded;
            try (KernelCache.Kernel image = KernelCache.shared().open(config.image())) { // mapped until it is in guest RAM
                loaded = load(host, image);
            }
            List<DeviceFiles.Attach> devices = loaded.devices();
            GuestMemory ram = loaded.ram();
            GuestLayout layout = loaded.layout();
            PvhLoader.Boot boot = loaded.boot();
            int domid = DomainConfig.of(config.vcpus()).domid();
            Machine m = createMachine(host, ram, domid, OptionalLong.empty(), null);
            VcpuManager vcpus = new VcpuManager(stop, m.tscKhz());
            GuestPlatform platform = step("platform", pushPlatform(new GuestPlatform(spec(ram, layout, m, vcpus))));
            platform.offerFifo(offersFifo(config.eventChannels(), host.acceleration()));
            finishWiring(host, m, ram, platform, devices, vcpus);
            VcpuRegisters.loadPvhEntry(m.vcpus().getFirst(), boot);
            return new XenDomain(new XenDomain.Parts(config, scope, stop, host.accel(), host.acceleration(), m.vm(), ram, m.xsave(),
                    m.systemTime(), platform, vcpus, List.of(0)));
        } catch (ImageException | IOException | RuntimeException e) {
            scope.unwind(e);
            throw e;
        }
    }

    /**
     * Rebuilds the domain {@code saved} holds (its RAM size and vCPU count are the config's); it resumes where it
     * stopped: the vCPUs that were up, and an upcall for each vCPU whose vcpu_info says one is pending.
     */
    XenDomain restore(SaveFile.Reader saved) throws KvmUnavailableException, IOException {
        SaveFile save = saved.saved;
        try {
            Host host = openHost();
            List<DeviceFiles.Attach> devices = step("devices", DeviceFiles.open(config, save.platform().backends(), scope));
            GuestMemory ram = mapRam();
            saved.readRam(ram);
            step("ram", ram);
            GuestLayout layout = GuestLayout.standard(config.memoryBytes());
            Machine m = createMachine(host, ram, save.platform().snapshot().domid(), OptionalLong.of(save.systemTimeNs()), save);
            VcpuManager vcpus = new VcpuManager(stop, m.tscKhz());
            GuestPlatform platform = step("platform", pushPlatform(GuestPlatform.restore(spec(ram, layout, m, vcpus), save.platform())));
            finishWiring(host, m, ram, platform, devices, vcpus);
            List<Integer> up = new ArrayList<>();
            for (int v = 0; v < config.vcpus(); v++) if (platform.isUp(v)) up.add(v);
            platform.redeliverPendingUpcalls();
            return new XenDomain(new XenDomain.Parts(config, scope, stop, host.accel(), host.acceleration(), m.vm(), ram, m.xsave(),
                    m.systemTime(), platform, vcpus, up));
        } catch (IOException | RuntimeException e) {
            scope.unwind(e);
            throw e;
        }
    }

    private <T> T step(String name, T result) throws IOException {
        hook.after(name, scope);
        return result;
    }

    /** /dev/kvm with what jxen needs of it, and the acceleration this run gets. */
    private Host openHost() throws KvmUnavailableException, IOException {
        Kvm kvm = scope.push("/dev/kvm", Kvm.open());
        for (int i = 0; i < REQUIRED_CAPS.length; i++)
            if (kvm.checkExtension(REQUIRED_CAPS[i]) == 0) throw new KvmException("this KVM lacks KVM_CAP_" + CAP_NAMES[i] + ", which jxen needs");
        if ((kvm.checkExtension(KVM_CAP_SYNC_REGS) & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) != (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS))
            throw new KvmException("this KVM cannot sync regs and sregs through kvm_run");
        XenOffer offer = XenOffer.probe(kvm);
        return step("host", new Host(kvm, chooseAccel(config.accel(), offer), chooseAcceleration(config.accel(), offer)));
    }

    /**
     * Guest RAM: one anonymous mapping, owned by its arena (see docs/ownership.md), released after every thread that can
     * reach it and the VM whose memslot points into it. Every GuestMemory view is a slice: a late access throws.
     */
    private GuestMemory mapRam() {
        ramArena = scope.push("guest RAM", Arena.ofShared());
        return new GuestMemory(Libc.mmap(ramArena, config.memoryBytes(), Libc.PROT_READ | Libc.PROT_WRITE,
                Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0));
    }

    /** The VM over {@code ram}, its irqchip and MSR filter, the vCPUs with Xen's CPUID (a save's state loaded), the clock. */
    private Machine createMachine(Host host, GuestMemory ram, int domid, OptionalLong savedTime, SaveFile save) throws IOException {
        KvmVm vm = scope.push("VM", host.kvm().createVm());
        vm.setMemory(0, 0, ram.segment());
        vm.createIrqchip();
        if (config.pit()) createPit(host.kvm(), vm);
        vm.enableCap(KVM_CAP_X86_USER_SPACE_MSR, KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_INVAL);
        vm.denyMsrs(XenCpuid.HYPERCALL_MSR); // jxen writes the hypercall page in both modes
        host.acceleration().configureVm(vm);
        boolean xsave = VcpuState.hasXsave(vm);
        LongSupplier systemTime = host.acceleration().systemTime(vm, savedTime);
        step("vm", vm);
        int n = config.vcpus();
        List<CpuidEntry> hostCpuid = host.kvm().supportedCpuid();
        List<KvmVcpu> vcpus = new ArrayList<>();
        for (int v = 0; v < n; v++) vcpus.add(scope.push("vCPU " + v, vm.createVcpu(v)));
        // No vCPU thread exists yet: this thread may make the vCPUs' ioctls; later only their own threads do.
        int khz = vcpus.getFirst().tscKhz();
        if (khz <= 0) throw new KvmException("KVM_GET_TSC_KHZ", -khz);
        boolean tscStable = vm.tscStable(); // asked once the vCPUs exist: KVM matches their TSCs at creation
        for (int v = 0; v < n; v++) vcpus.get(v).setCpuid(XenCpuid.forVcpu(hostCpuid, v, XenDomain.apicIdOf(v), domid, khz, tscStable));
        if (save != null) {
            try {
                for (byte[] chip : save.irqchips()) vm.setIrqchip(chip);
                save.pit().ifPresent(vm::setPit);
                for (int v = 0; v < n; v++) save.vcpuStates().get(v).apply(vcpus.get(v)); // TSCs included
            } catch (KvmException e) {
                throw new IOException("KVM refuses the saved CPU state: " + e.getMessage());
            }
        }
        // One pvclock anchor for every vCPU: the boot vCPU's TSC now, at system time now.
        MasterClock clock = new MasterClock(TscScale.forKhz(khz), new ClockSample(vcpus.getFirst().readTsc(), systemTime.getAsLong()), tscStable);
        return step("vcpus", new Machine(vm, vcpus, xsave, khz, systemTime, clock));
    }

    /**
     * KVM's i8254 ({@code --pit}), with port 0x61 in the kernel too (KvmVm.createPit): Linux's quick_pit_calibrate
     * (arch/x86/kernel/tsc.c) then polls channel 2 with no exit to jxen. IRQ0: Linux expects none. jxen's FADT is
     * hardware-reduced, so Linux leaves its timer_init a no-op and uses no 8259 (arch/x86/kernel/acpi/boot.c,
     * acpi_generic_reduced_hw_init): it never programs channel 0. A guest that does (acpi=off, another OS) raises GSI 0,
     * which the VM's routing (KVM's default, and jxen's copy of it in kvm mode: KvmBackendIrqfds) takes to pin 0 of the
     * PIC and of the IOAPIC; as the MADT lists no IOAPIC, such a guest runs in virtual-wire mode (apic.c:
     * __apic_intr_mode_select; check_timer never runs) and takes IRQ0 from the PIC through LINT0, so no interrupt
     * source override is needed. Ticks the guest has not taken are dropped, as QEMU's lost_tick_policy=discard: a guest
     * that reads a clocksource does not count them, and reinjection would cost the VM AVIC on AMD (kvm_pit_set_reinject).
     */
    private static void createPit(Kvm kvm, KvmVm vm) {
        if (kvm.checkExtension(KVM_CAP_PIT2) == 0 || kvm.checkExtension(KVM_CAP_PIT_STATE2) == 0)
            throw new KvmException("the guest's PIT (--pit): this KVM has no in-kernel PIT (KVM_CAP_PIT2 and KVM_CAP_PIT_STATE2)");
        vm.createPit();
        if (kvm.checkExtension(KVM_CAP_REINJECT_CONTROL) > 0) {
            int rc = vm.pitReinject(false);
            if (rc != 0) throw new KvmException("KVM_REINJECT_CONTROL", -rc);
        }
    }

    /** What the platform is built from: RAM, the vCPUs (through the manager: absent until added), KVM's MSI and the clock. */
    private PlatformSpec spec(GuestMemory ram, GuestLayout layout, Machine m, VcpuManager vcpus) {
        MemorySegment mapping = ram.segment();
        return new PlatformSpec(ram, layout, config.vcpus(), vcpus::vcpuOrNull, XenDomain::apicIdOf, vcpus.lifecycle(), m.vm()::signalMsi,
                m.clock(), m.systemTime(), gfn -> Libc.madvise(mapping.asSlice(gfn << GuestMemory.PAGE_SHIFT, GuestMemory.PAGE_SIZE), Libc.MADV_DONTNEED),
                config.console(), config.consoleInput(), new HoleMappings(m.vm(), ramArena, ram.frames())); // grant frames placed above RAM
    }

    /** The platform's threads (timers, console, XenStore, then the backends attached to it) stop before the vCPUs close. */
    private GuestPlatform pushPlatform(GuestPlatform platform) {
        scope.pushThreads("the platform's threads", platform::stop);
        return platform;
    }

    /** The acceleration, the hypervisor console, the PV backends over their files, and one thread per vCPU. */
    private void finishWiring(Host host, Machine m, GuestMemory ram, GuestPlatform platform, List<DeviceFiles.Attach> devices, VcpuManager vcpus) throws IOException {
        Offload offload = platform.accelerate(host.acceleration(), KvmXenCalls.of(m.vm(), m.vcpus()::get), vcpus::vcpuOrNull, XenDomain::apicIdOf);
        platform.routeHypervisorConsole(config.hypervisorConsole());
        for (DeviceFiles.Attach a : devices) platform.attach(a);
        step("backends", platform);
        scope.pushThreads("the vCPU threads", vcpus::stopAll);
        for (int v = 0; v < config.vcpus(); v++) {
            VcpuThread t = new VcpuThread(v, m.vcpus().get(v), stop, offload);
            t.setExitHandler(platform.exitHandler(ram, t));
            vcpus.add(t);
        }
        step("vcpu-threads", vcpus);
    }

    private static int[] apicIds(int n) {
        int[] ids = new int[n];
        for (int v = 0; v < n; v++) ids[v] = XenDomain.apicIdOf(v);
        return ids;
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
}
