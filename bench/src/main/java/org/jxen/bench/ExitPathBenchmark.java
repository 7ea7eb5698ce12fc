package org.jxen.bench;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.io.ByteArrayInputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.HoleFrames;
import org.jxen.engine.platform.VcpuControl;
import org.jxen.engine.platform.VcpuHvmContext;
import org.jxen.engine.platform.VcpuLifecycle;
import org.jxen.engine.pvclock.ClockSample;
import org.jxen.engine.pvclock.MasterClock;
import org.jxen.engine.pvclock.TscScale;
import org.jxen.sys.kvm.KvmRun;
import org.jxen.vmm.backend.XenEvtchnHandle;
import org.jxen.vmm.boot.GuestLayout;
import org.jxen.vmm.cpu.HypercallPage;
import org.jxen.vmm.kvm.ExitHandler;
import org.jxen.vmm.kvm.GuestPlatform;
import org.jxen.vmm.kvm.PlatformSpec;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * jxen's own share of the KVM rows, measured natively where there is no /dev/kvm: what a vCPU thread does in user
 * space between KVM_RUN returning and KVM_RUN being called again, on the exits the rows make. The exit is filled into
 * a kvm_run area as KVM fills it (a 4-byte OUT to the hypercall port, registers synced) and handed to the same
 * {@link ExitHandler} {@code jxen run} uses, over the same {@link GuestPlatform} (its MSI sink is a no-op here: the
 * KVM_SIGNAL_MSI ioctl is the C VMM's cost too).
 * <ul>
 * <li>{@code sendMaskedIpiExit}: hypercall-rtt's exit — EVTCHNOP_send on a masked IPI port (the guest clears the
 * pending bit first, as the row's guest does).
 * <li>{@code sendToBackendExit}: send-to-backend's exit — EVTCHNOP_send on an interdomain port routed to a backend's
 * eventfd (the eventfd write included; the backend drains it in the same loop).
 * <li>{@code backendAnswer}: send-to-backend's other side — a guest send signals the backend's eventfd, then what the
 * woken backend does with its handle: take the port (a non-blocking epoll_wait), unmask it, notify the guest's end up
 * to the upcall sink (the guest's undo first).
 * <li>{@code raiseToUpcallSink}: raise-to-upcall's host side — PortManager.raise of an unmasked IPI port up to the
 * upcall sink (the guest's undo first).
 * </ul>
 *
 * <p>Run: {@code java --enable-native-access=ALL-UNNAMED -cp cli/target/jxen.jar org.openjdk.jmh.Main ExitPathBenchmark}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class ExitPathBenchmark {
    private static final long RAM = 16L << 20, ARG = 0x8000, DATA = 4096;
    private GuestMemory ram;
    private GuestPlatform platform;
    private ExitHandler exits;
    private KvmRun run;
    private MemorySegment area;
    private int maskedPort, backendPort, guestBackendPort, raisePort;
    private XenEvtchnHandle backend;
    private long pendingAt, maskAt, selAt;

    @Setup(Level.Trial)
    public void setup() {
        ram = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
        VcpuLifecycle none = new VcpuLifecycle() {
            @Override
            public void start(int vcpu, VcpuHvmContext context) {}

            @Override
            public void stop(int vcpu) {}
        };
        VcpuControl self = new VcpuControl() {
            @Override
            public int vcpu() {
                return 0;
            }

            @Override
            public void prepareBlock() {}

            @Override
            public void block(long deadlineNanos) {}

            @Override
            public void wake() {}

            @Override
            public void yield() {}

            @Override
            public void shutdown(int reason) {}
        };
        platform = new GuestPlatform(new PlatformSpec(ram, GuestLayout.standard(RAM), 2, v -> self, v -> v, none, (apic, vector) -> 1,
                new MasterClock(TscScale.forKhz(2_000_000), new ClockSample(0, 0)), System::nanoTime, g -> {},
                OutputStream.nullOutputStream(), new ByteArrayInputStream(new byte[0]), HoleFrames.NONE));
        exits = platform.exitHandler(ram, self);
        area = Arena.ofAuto().allocate(2 * 4096, 4096);
        run = new KvmRun(area);
        platform.guest().shared().latch(GuestWidth.BITS_32);
        var si = platform.guest().shared().sharedInfo();
        pendingAt = GuestWidth.BITS_32.pendingOffset;
        maskAt = GuestWidth.BITS_32.maskOffset;
        selAt = GuestWidth.BITS_32.pendingSelOffset;
        maskedPort = platform.ports().bindIpi(0);
        si.setBit(maskAt, maskedPort);
        raisePort = platform.ports().bindIpi(0);
        guestBackendPort = platform.ports().allocUnbound(DomId.DOMID_SELF, DomId.DOM0);
        backend = new XenEvtchnHandle(platform.ports(), platform.signals());
        backendPort = backend.bindInterdomain(platform.guest().domid(), guestBackendPort);
        if (maskedPort <= 0 || raisePort <= 0 || backendPort < 0) throw new IllegalStateException("setup");
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        backend.close();
        platform.close();
    }

    /** A 32-bit EVTCHNOP_send exit on {@code port}, as KVM leaves it in kvm_run; returns the hypercall's result. */
    private long sendExit(int port) {
        ram.segment().set(ValueLayout.JAVA_INT, ARG, port);
        run.setReg(KvmRun.RAX, 32);
        run.setReg(KvmRun.RBX, 4);
        run.setReg(KvmRun.RCX, ARG);
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON, KVM_EXIT_IO);
        area.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_IO_DIRECTION, (byte) KVM_EXIT_IO_OUT);
        area.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_IO_SIZE, (byte) 4);
        area.set(ValueLayout.JAVA_SHORT, OFFSETOF_KVM_RUN_IO_PORT, (short) HypercallPage.PORT);
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_IO_COUNT, 1);
        area.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_IO_DATA_OFFSET, DATA);
        area.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_SREGS + OFFSETOF_KVM_SREGS_CR0, 1);
        exits.handle(run);
        return run.reg(KvmRun.RAX);
    }

    @Benchmark
    public long sendMaskedIpiExit() {
        platform.guest().shared().sharedInfo().clearBit(pendingAt, maskedPort);
        return sendExit(maskedPort);
    }

    @Benchmark
    public long sendToBackendExit() {
        platform.guest().shared().sharedInfo().clearBit(pendingAt, guestBackendPort);
        long rc = sendExit(guestBackendPort);
        backend.pending(); // drains the eventfd (epoll + read), as the woken backend would
        backend.unmask(backendPort);
        return rc;
    }

    @Benchmark
    public int backendAnswer() {
        var si = platform.guest().shared().sharedInfo();
        si.clearBit(pendingAt, guestBackendPort);
        si.putIntVolatile(selAt, 0);
        si.putByte(0, (byte) 0);
        sendExit(guestBackendPort); // the guest's send: the eventfd write
        int port = backend.pending();
        backend.unmask(port);
        return backend.notify(port);
    }

    @Benchmark
    public int raiseToUpcallSink() {
        var si = platform.guest().shared().sharedInfo();
        si.clearBit(pendingAt, raisePort);
        si.putIntVolatile(selAt, 0);
        si.putByte(0, (byte) 0); // vCPU 0's evtchn_upcall_pending
        return platform.ports().raise(raisePort);
    }
}
