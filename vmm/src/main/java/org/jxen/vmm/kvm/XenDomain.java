package org.jxen.vmm.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

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
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.PagingState;
import org.jxen.engine.platform.ConsoleIo;
import org.jxen.engine.platform.MemoryOp;
import org.jxen.engine.platform.PlatformHypercalls;
import org.jxen.engine.platform.Runstates;
import org.jxen.engine.platform.SchedOp;
import org.jxen.engine.platform.TimerOp;
import org.jxen.engine.platform.VcpuHvmContext;
import org.jxen.engine.platform.VcpuLifecycle;
import org.jxen.engine.platform.VcpuOp;
import org.jxen.engine.platform.VcpuSet;
import org.jxen.engine.platform.VcpuTimers;
import org.jxen.engine.platform.VmAssist;
import org.jxen.engine.platform.XenVersion;
import org.jxen.engine.pvclock.ClockSample;
import org.jxen.engine.pvclock.MasterClock;
import org.jxen.engine.pvclock.TscScale;
import org.jxen.sys.Libc;
import org.jxen.sys.kvm.Kvm;
import org.jxen.sys.kvm.KvmException;
import org.jxen.sys.kvm.KvmUnavailableException;
import org.jxen.sys.kvm.KvmVcpu;
import org.jxen.sys.kvm.KvmVm;
import org.jxen.sys.kvm.Segments;
import org.jxen.vmm.backend.PvDevices;
import org.jxen.vmm.boot.GuestLayout;
import org.jxen.vmm.boot.ImageException;
import org.jxen.vmm.boot.PvhLoader;
import org.jxen.vmm.cpu.XenCpuid;
import org.jxen.vmm.cpu.XenMsrs;
import org.jxen.vmm.xenstore.XenStore;

/**
 * A Xen HVM (PVH) domain on /dev/kvm: guest RAM as one anonymous mapping shared by KVM and the engine, the in-kernel
 * irqchip, Xen's CPUID leaves and hypercall MSR, the PVH image loaded with its start info, the event-channel engine
 * with its fast path, the PV console and XenStore backends, timers, and one thread per vCPU. Upcalls are injected with
 * KVM_SIGNAL_MSI to the vCPU's APIC (APIC id = Xen vCPU id = KVM vCPU index here; they are kept apart in the code).
 */
public final class XenDomain implements AutoCloseable {
    private static final int DOMID = 1;
    private static final int[] REQUIRED_CAPS = {KVM_CAP_IRQCHIP, KVM_CAP_SIGNAL_MSI, KVM_CAP_SYNC_REGS,
            KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_X86_USER_SPACE_MSR, KVM_CAP_X86_MSR_FILTER, KVM_CAP_GET_TSC_KHZ};
    private static final String[] CAP_NAMES = {"IRQCHIP", "SIGNAL_MSI", "SYNC_REGS", "IMMEDIATE_EXIT",
            "X86_USER_SPACE_MSR", "X86_MSR_FILTER", "GET_TSC_KHZ"};

    private final RunConfig config;
    private final Kvm kvm;
    private final KvmVm vm;
    private final MemorySegment ramMapping;
    private final GuestMemory ram;
    private final DomainStop stop = new DomainStop();
    private final List<VcpuThread> vcpus = new ArrayList<>();
    private final VcpuTimers timers;
    private final PvDevices devices;

    private XenDomain(RunConfig config, Kvm kvm) throws ImageException, IOException {
        this.config = config;
        this.kvm = kvm;
        for (int i = 0; i < REQUIRED_CAPS.length; i++)
            if (kvm.checkExtension(REQUIRED_CAPS[i]) == 0) throw new KvmException("this KVM lacks KVM_CAP_" + CAP_NAMES[i] + ", which jxen needs");
        if ((kvm.checkExtension(KVM_CAP_SYNC_REGS) & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) != (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS))
            throw new KvmException("this KVM cannot sync regs and sregs through kvm_run");
        byte[] image = Files.readAllBytes(config.image());
        vm = kvm.createVm();
        ramMapping = Libc.mmap(config.memoryBytes(), Libc.PROT_READ | Libc.PROT_WRITE,
                Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0);
        ram = new GuestMemory(ramMapping);
        GuestLayout layout = GuestLayout.standard(config.memoryBytes());
        PvhLoader.Boot boot = PvhLoader.load(image, ram, layout, config.cmdline());
        vm.setMemory(0, 0, ramMapping);
        vm.createIrqchip();
        vm.enableCap(KVM_CAP_X86_USER_SPACE_MSR, KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_INVAL);
        vm.denyMsrs(XenCpuid.HYPERCALL_MSR);

        // The engine: ports, fast path, hypercall table.
        int n = config.vcpus();
        GuestDomain guest = new GuestDomain(DomainConfig.of(n));
        PortManager ports = new PortManager(guest, new BackendDomain(DomId.DOM0));
        EventChannelOp evtchn = new EventChannelOp(ports, new FifoControl(ports, ram));
        RouteTable routes = new RouteTable(() -> guest.abi().portLimit(), n, ReaderSlots.global());
        BackendSignals signals = new BackendSignals();
        RouteSync.install(ports, routes, signals);
        evtchn.setFastPath(new FastPath(guest, routes));
        HvmParams params = new HvmParams(n);
        long t0 = System.nanoTime();
        java.util.function.LongSupplier systemTime = () -> System.nanoTime() - t0;
        timers = new VcpuTimers(n, systemTime, v -> ports.raiseVirq(v, Virq.TIMER));
        Runstates runstates = new Runstates(ram, n, 0);
        VcpuSet lifecycle = new VcpuSet(n, new VcpuLifecycle() {
            @Override
            public void start(int vcpu, VcpuHvmContext context) {
                vcpus.get(vcpu).start(v -> {
                    if (context != null) loadContext(v, context);
                    v.setMpState(KVM_MP_STATE_RUNNABLE);
                });
            }

            @Override
            public void stop(int vcpu) {
                vcpus.get(vcpu).takeDown();
            }
        });
        GrantTable grants = new GrantTable(32);
        MemoryOp memoryOp = new MemoryOp(ports, ram, grants, layout.memoryMap());
        memoryOp.onRelease(gfn -> Libc.madvise(ramMapping.asSlice(gfn << GuestMemory.PAGE_SHIFT, GuestMemory.PAGE_SIZE), Libc.MADV_DONTNEED));
        PlatformHypercalls platform = new PlatformHypercalls(evtchn, new HvmOp(guest, params),
                new SchedOp(guest, vcpus::get, systemTime), new VcpuOp(ports, ram, timers, systemTime).withVcpus(lifecycle, runstates),
                memoryOp, new ConsoleIo(config.console()), new XenVersion(new byte[16]), new GrantTableOp(grants, guest.domid()),
                new VmAssist(runstates), new TimerOp(timers));
        XenMsrs msrs = new XenMsrs(ram, guest);

        List<org.jxen.sys.kvm.CpuidEntry> hostCpuid = kvm.supportedCpuid();
        PvClockPublisher pvclock = null;
        for (int v = 0; v < n; v++) {
            KvmVcpu kv = vm.createVcpu(v);
            int khz = kv.tscKhz();
            if (khz <= 0) throw new KvmException("KVM_GET_TSC_KHZ", -khz);
            kv.setCpuid(XenCpuid.forVcpu(hostCpuid, v, apicIdOf(v), DOMID, khz, true));
            if (pvclock == null) {
                // One anchor for every vCPU: the boot vCPU's TSC now, at system time now.
                MasterClock master = new MasterClock(TscScale.forKhz(khz), new ClockSample(kv.readTsc(), systemTime.getAsLong()));
                pvclock = new PvClockPublisher(guest, master, System.currentTimeMillis() * 1_000_000L - systemTime.getAsLong());
            }
            VcpuThread t = new VcpuThread(v, kv, stop);
            ExitHandler exits = new ExitHandler(ram, platform.dispatcher(t, false), msrs, config.console());
            exits.afterPlacement(pvclock::publishAll);
            t.setExitHandler(exits);
            vcpus.add(t);
        }
        pvclock.publishAll();
        guest.setUpcallSink(v -> {
            int vector = params.upcallVector(v);
            if (vector != 0) vm.signalMsi(apicIdOf(v), vector);
            vcpus.get(v).wake();
        });
        devices = new PvDevices(ports, signals, ram, params, new XenStore(XenStore.Quota.DEFAULT), "jxen-guest",
                layout.consoleGfn(), layout.storeGfn(), config.console(), config.consoleInput());
        setPvhEntry(vcpus.getFirst().kvmVcpu(), boot);
        stop.onStop(() -> vcpus.forEach(VcpuThread::kick));
    }

    /** The local APIC id KVM gives vCPU index {@code vcpu} (its index); kept as a function so the two stay apart. */
    static int apicIdOf(int vcpu) {
        return vcpu;
    }

    /** Opens /dev/kvm and builds the domain; a one-line reason if either is impossible. */
    public static XenDomain create(RunConfig config) throws KvmUnavailableException, ImageException, IOException {
        Kvm kvm = Kvm.open();
        try {
            return new XenDomain(config, kvm);
        } catch (RuntimeException | ImageException | IOException e) {
            kvm.close();
            throw e;
        }
    }

    /** How long a vCPU may stay in the guest before the watchdog looks whether it is halted for good. */
    private static final long QUIET_NANOS = 300_000_000L;

    /**
     * Runs vCPU 0 until the guest stops or the time limit passes. Every 200 ms the watchdog looks at vCPUs that have
     * not exited for a while; when every running vCPU is halted with interrupts disabled, nothing can wake the guest
     * and the run ends at once with that reason instead of at the time limit.
     */
    public RunOutcome run() throws InterruptedException {
        vcpus.getFirst().start(v -> {});
        long deadline = System.nanoTime() + config.timeout().toNanos();
        RunOutcome o = null;
        while (o == null && System.nanoTime() < deadline) {
            o = stop.await(Math.max(1, Math.min(200, (deadline - System.nanoTime()) / 1_000_000)));
            if (o != null) break;
            boolean allDead = true;
            int running = 0;
            for (VcpuThread t : vcpus) {
                if (!t.started()) continue;
                running++;
                allDead &= t.checkDeadHalt(QUIET_NANOS);
            }
            if (running > 0 && allDead)
                stop.request(new RunOutcome(RunOutcome.GUEST_FAULT, "every vCPU halted with interrupts disabled: nothing can wake the guest"));
        }
        if (o == null) o = stop.outcome();
        if (o == null) {
            stop.request(new RunOutcome(RunOutcome.TIMEOUT, "guest still running after " + config.timeout().toSeconds() + " s (--timeout)"));
            o = stop.outcome();
        }
        for (VcpuThread t : vcpus) t.join(2000);
        return o;
    }

    /** The PVH entry state (arch-x86/hvm/start_info.h): 32-bit protected mode, paging off, flat segments. */
    private static void setPvhEntry(KvmVcpu v, PvhLoader.Boot boot) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sregs = a.allocate(SIZEOF_KVM_SREGS, 8);
            v.getSregs(sregs);
            Segments.set(sregs, OFFSETOF_KVM_SREGS_CS, 0, 0xFFFF_FFFF, 0x10, 0xB, true, 0, true, false, true);
            for (long seg : new long[] {OFFSETOF_KVM_SREGS_DS, OFFSETOF_KVM_SREGS_ES, OFFSETOF_KVM_SREGS_FS,
                    OFFSETOF_KVM_SREGS_GS, OFFSETOF_KVM_SREGS_SS})
                Segments.set(sregs, seg, 0, 0xFFFF_FFFF, 0x18, 0x3, true, 0, true, false, true);
            Segments.set(sregs, OFFSETOF_KVM_SREGS_TR, 0, 0x67, 0x20, 0xB, false, 0, false, false, false);
            Segments.unusable(sregs, OFFSETOF_KVM_SREGS_LDT);
            Segments.controlRegisters(sregs, PagingState.CR0_PE | 0x10 /* ET */, 0, 0, 0);
            v.setSregs(sregs);
            v.getSregs(sregs);
            if ((Segments.cr0(sregs) & PagingState.CR0_PE) == 0) throw new KvmException("KVM dropped CR0.PE from the PVH entry state");
            MemorySegment regs = a.allocate(SIZEOF_KVM_REGS, 8);
            regs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_REGS_RIP, boot.entryEip());
            regs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_REGS_RBX, boot.startInfoEbx());
            regs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_REGS_RFLAGS, 2);
            v.setRegs(regs);
        }
    }

    /** An AP's registers from VCPUOP_initialise's vcpu_hvm_context. */
    private static void loadContext(KvmVcpu v, VcpuHvmContext c) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sregs = a.allocate(SIZEOF_KVM_SREGS, 8);
            v.getSregs(sregs);
            if (c.longMode()) {
                Segments.set(sregs, OFFSETOF_KVM_SREGS_CS, 0, 0xFFFF_FFFF, 0x10, 0xB, true, 0, false, true, true);
                for (long seg : new long[] {OFFSETOF_KVM_SREGS_DS, OFFSETOF_KVM_SREGS_ES, OFFSETOF_KVM_SREGS_FS,
                        OFFSETOF_KVM_SREGS_GS, OFFSETOF_KVM_SREGS_SS})
                    Segments.set(sregs, seg, 0, 0xFFFF_FFFF, 0x18, 0x3, true, 0, true, false, true);
                Segments.set(sregs, OFFSETOF_KVM_SREGS_TR, 0, 0x67, 0x20, 0xB, false, 0, false, false, false);
            } else {
                segment(sregs, OFFSETOF_KVM_SREGS_CS, c.cs(), 0x10);
                segment(sregs, OFFSETOF_KVM_SREGS_DS, c.ds(), 0x18);
                segment(sregs, OFFSETOF_KVM_SREGS_ES, c.es(), 0x18);
                segment(sregs, OFFSETOF_KVM_SREGS_SS, c.ss(), 0x18);
                segment(sregs, OFFSETOF_KVM_SREGS_FS, c.ds(), 0x18);
                segment(sregs, OFFSETOF_KVM_SREGS_GS, c.ds(), 0x18);
                if (c.tr().attributes() != 0) segment(sregs, OFFSETOF_KVM_SREGS_TR, c.tr(), 0x20);
                else Segments.set(sregs, OFFSETOF_KVM_SREGS_TR, 0, 0x67, 0x20, 0xB, false, 0, false, false, false);
            }
            Segments.unusable(sregs, OFFSETOF_KVM_SREGS_LDT);
            PagingState p = c.paging();
            Segments.controlRegisters(sregs, p.cr0(), p.cr3(), p.cr4(), p.efer());
            v.setSregs(sregs);
            MemorySegment regs = a.allocate(SIZEOF_KVM_REGS, 8);
            long[] values = {c.rax(), c.rbx(), c.rcx(), c.rdx(), c.rsi(), c.rdi(), c.rsp(), c.rbp()};
            for (int i = 0; i < values.length; i++) regs.set(ValueLayout.JAVA_LONG, 8L * i, values[i]);
            regs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_REGS_RIP, c.rip());
            regs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_REGS_RFLAGS, c.rflags() | 2);
            v.setRegs(regs);
        }
    }

    private static void segment(MemorySegment sregs, long at, VcpuHvmContext.Segment s, int selector) {
        int ar = s.attributes();
        if (ar == 0) {
            Segments.unusable(sregs, at);
            return;
        }
        Segments.set(sregs, at, s.base(), (int) s.limit(), selector, ar & 0xF, (ar & 0x10) != 0, (ar >>> 5) & 3,
                (ar & 0x400) != 0, (ar & 0x200) != 0, (ar & 0x800) != 0);
    }

    @Override
    public void close() {
        stop.request(new RunOutcome(RunOutcome.JXEN_ERROR, "closed"));
        for (VcpuThread t : vcpus) {
            try {
                t.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        devices.close();
        timers.close();
        for (VcpuThread t : vcpus) t.kvmVcpu().close();
        vm.close();
        Libc.munmap(ramMapping);
        kvm.close();
    }
}
