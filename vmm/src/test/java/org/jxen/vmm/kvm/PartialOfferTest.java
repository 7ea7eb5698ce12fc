package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.*;
import static org.jxen.sys.kvm.KvmAbi.*;

import java.io.ByteArrayInputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Hypercall;
import org.jxen.engine.abi.Virq;
import org.jxen.engine.hvm.HvmParam;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.HoleFrames;
import org.jxen.engine.platform.VcpuHvmContext;
import org.jxen.engine.platform.VcpuLifecycle;
import org.jxen.engine.platform.VcpuOp;
import org.jxen.engine.pvclock.ClockSample;
import org.jxen.engine.pvclock.MasterClock;
import org.jxen.engine.pvclock.TscScale;
import org.jxen.sys.kvm.GsiRoute;
import org.jxen.sys.kvm.KvmException;
import org.jxen.vmm.accel.KvmXenAcceleration;
import org.jxen.vmm.accel.KvmXenCalls;
import org.jxen.vmm.accel.Offload;
import org.jxen.vmm.accel.UserSpaceAcceleration;
import org.jxen.vmm.accel.XenOffer;
import org.jxen.vmm.backend.XenEvtchnHandle;
import org.jxen.vmm.boot.GuestLayout;
import org.jxen.vmm.cpu.XenCpuid;

/**
 * What a domain does with each partial offer of KVM's Xen support, on any host: the platform as {@code jxen run}
 * builds it, accelerated by {@link KvmXenAcceleration} over a recorder of KVM's Xen ioctls instead of a VM, driven by a
 * 32-bit guest's hypercalls through the real exit handler. Per feature it checks who does the work: KVM (the ioctl
 * that hands it over is made) or jxen's engine (the event lands in guest memory, no ioctl).
 */
class PartialOfferTest {
    private static final long RAM = 16L << 20;
    private static final long ARG = 0x8000, SHARED_GFN = 0x20, HYPERCALL_PAGE = 0x9000, RUNSTATE_AREA = 0xA000, FIFO_CONTROL_GFN = 0x30;
    private static final int DOMID_SELF = 0x7FF0;
    /** What the emulated VM's Debian 6.12 KVM answers: every flag. */
    private static final int EVERYTHING = 0x1FF;

    private final GuestMemory ram = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
    private final FakeVcpu[] vcpus = {new FakeVcpu(0), new FakeVcpu(1)};
    private final List<Integer> msiVectors = new CopyOnWriteArrayList<>();
    private final RecordingKvm kvm = new RecordingKvm();
    private final long t0 = System.nanoTime();
    private GuestPlatform platform;
    private Offload offload;

    /** The platform over a KVM offering {@code flags}, booted as a 2-level guest (hypercall page, shared_info, callback vector). */
    private void bootWith(int flags) {
        VcpuLifecycle lc = new VcpuLifecycle() {
            @Override
            public void start(int vcpu, VcpuHvmContext context) {}

            @Override
            public void stop(int vcpu) {}
        };
        platform = new GuestPlatform(new PlatformSpec(ram, GuestLayout.standard(RAM), 2, v -> vcpus[v], v -> v, lc, (apic, vector) -> {
            msiVectors.add(vector);
            return 1;
        }, new MasterClock(TscScale.forKhz(2_445_000), new ClockSample(1_000_000, 0)), () -> System.nanoTime() - t0, gfn -> {},
                OutputStream.nullOutputStream(), new ByteArrayInputStream(new byte[0]), HoleFrames.NONE));
        offload = platform.accelerate(new KvmXenAcceleration(new XenOffer(flags), XenCpuid.HYPERCALL_MSR), kvm, v -> vcpus[v], v -> v);
        for (FakeVcpu v : vcpus) v.exits = platform.exitHandler(ram, v);
        enterAll();
        assertFalse(vcpus[0].wrmsr(XenCpuid.HYPERCALL_MSR, HYPERCALL_PAGE), "hypercall page");
        mem().set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) DOMID_SELF); // XENMEM_add_to_physmap(shared_info, 0, gfn)
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, 0);
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, 0);
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 12, (int) SHARED_GFN);
        assertEquals(0, vcpus[0].hypercall32(Hypercall.MEMORY_OP, 7, ARG, 0));
        mem().set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) DOMID_SELF); // HVMOP_set_param(CALLBACK_IRQ, vector 0xF3)
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, HvmParam.CALLBACK_IRQ);
        mem().set(ValueLayout.JAVA_LONG_UNALIGNED, ARG + 8, (2L << 56) | 0xF3);
        assertEquals(0, vcpus[0].hypercall32(Hypercall.HVM_OP, 0, ARG, 0));
        enterAll();
        assertEquals(SHARED_GFN, kvm.vmAttrs.get(KVM_XEN_ATTR_TYPE_SHARED_INFO), "KVM knows shared_info in every mode");
        assertEquals(0xF3L, kvm.vmAttrs.get(KVM_XEN_ATTR_TYPE_UPCALL_VECTOR), "and injects the callback vector");
    }

    @AfterEach
    void close() {
        if (platform != null) platform.close();
    }

    private MemorySegment mem() {
        return ram.segment();
    }

    private void enterAll() {
        for (FakeVcpu v : vcpus) v.enter(offload);
    }

    private long evtchn(int cmd, int... words) {
        for (int i = 0; i < words.length; i++) mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4L * i, words[i]);
        return vcpus[0].hypercall32(Hypercall.EVENT_CHANNEL_OP, cmd, ARG, 0);
    }

    /** EVTCHNOP_bind_*: the new port (the struct's OUT word at {@code outWord}). */
    private int bind(int cmd, int outWord, int... words) {
        assertEquals(0, evtchn(cmd, words));
        return mem().get(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4L * outWord);
    }

    private boolean pendingInGuestMemory(int port) {
        return (mem().get(ValueLayout.JAVA_INT, (SHARED_GFN << 12) + GuestWidth.BITS_32.pendingOffset + 4L * (port / 32)) & (1 << (port % 32))) != 0;
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) fail(what);
            Thread.sleep(1);
        }
    }

    private int bindTimerVirq() {
        int port = bind(EvtchnOp.BIND_VIRQ, 2, Virq.TIMER, 0, 0);
        enterAll();
        return port;
    }

    /** set_timer_op(deadline) from vCPU 0 (32-bit: the deadline in two halves). */
    private void setTimer(long deadline) {
        assertEquals(0, vcpus[0].hypercall32(Hypercall.SET_TIMER_OP, deadline & 0xFFFF_FFFFL, deadline >>> 32, 0));
        enterAll();
    }

    private void registerRunstateArea() {
        mem().set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, RUNSTATE_AREA);
        assertEquals(0, vcpus[0].hypercall32(Hypercall.VCPU_OP, VcpuOp.REGISTER_RUNSTATE_MEMORY_AREA, 0, ARG));
        enterAll();
    }

    @Test
    void everythingOfferedKvmTakesTimersRunstatesSendsAndBackendNotifies() throws Exception {
        bootWith(EVERYTHING);
        int inKvm = offload.figures().portsDeliveredByKvm(); // the console's and XenStore's ports (eventfd routes)
        assertEquals(kvm.assignedPorts.size(), inKvm);
        int timerPort = bindTimerVirq();
        assertEquals(List.of((long) timerPort, 0L), kvm.timer(0), "vCPU 0's timer went to KVM with its VIRQ_TIMER port");
        setTimer(System.nanoTime() - t0 + 3_600_000_000_000L);
        assertEquals(System.nanoTime() - t0 + 3_600_000_000_000L, kvm.timer(0).get(1), 1_000_000_000L, "set_timer_op armed KVM's timer");
        registerRunstateArea();
        assertEquals(RUNSTATE_AREA, kvm.vcpuAttr(0, KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR).getFirst(), "KVM writes the runstate area");

        int ipi = bind(EvtchnOp.BIND_IPI, 1, 0);
        assertTrue(kvm.assignedPorts.contains(ipi), "the IPI port is in KVM's send table");
        assertEquals(0, evtchn(EvtchnOp.SEND, ipi));
        assertEquals(List.of(ipi), kvm.sends, "jxen raised the send through KVM_XEN_HVM_EVTCHN_SEND");
        assertFalse(pendingInGuestMemory(ipi), "not in guest memory itself");
        assertTrue(offload.figures().eventSendPromised());

        notifyFromBackend(true);
        Offload.Figures f = offload.figures();
        assertEquals(new Offload.Figures(inKvm + 1, 1, 1, 1, true), f,
                "the IPI port stays in KVM's table; the guest's port left it when the backend closed its end (unbound again)");
        assertTrue(offload.deliverUpcall(0), "KVM injects the domain's callback vector");
        assertEquals(List.of(), msiVectors, "so jxen sends no MSI");
    }

    /**
     * A guest port bound by a backend, then a notify from the backend: through an irqfd, or raised by the engine (in
     * guest memory, or through KVM_XEN_HVM_EVTCHN_SEND where that is offered). The guest port.
     */
    private int notifyFromBackend(boolean throughIrqfd) throws Exception {
        int guestPort = bind(EvtchnOp.ALLOC_UNBOUND, 1, DOMID_SELF); // dom self, remote_dom 0 (dom0) in the high half
        try (XenEvtchnHandle backend = new XenEvtchnHandle(platform.ports(), platform.signals())) {
            int backendPort = backend.bindInterdomain(platform.guest().domid(), guestPort);
            assertTrue(backendPort > 0, "backend bound: " + backendPort);
            assertTrue(kvm.assignedPorts.contains(guestPort), "the bound guest port is in KVM's send table");
            assertEquals(0, backend.notify(backendPort));
            if (throughIrqfd) {
                assertEquals(1, offload.figures().backendNotifiesByIrqfd(), "the notify went through an irqfd");
                assertTrue(kvm.irqfds > 0, "an irqfd was assigned");
                assertFalse(pendingInGuestMemory(guestPort), "KVM, not jxen, raises it");
            } else {
                assertEquals(0, offload.figures().backendNotifiesByIrqfd());
                assertEquals(0, kvm.irqfds, "no irqfd");
                assertTrue(pendingInGuestMemory(guestPort) != kvm.sends.contains(guestPort), "jxen's engine raised it, one way");
            }
        }
        assertFalse(kvm.assignedPorts.contains(guestPort), "closed by the backend: unbound, out of KVM's table");
        return guestPort;
    }

    @Test
    void withoutEvtchnSendTimersStayWithTheEngineAndJxenRaisesInGuestMemory() throws Exception {
        bootWith(EVERYTHING & ~KVM_XEN_HVM_CONFIG_EVTCHN_SEND);
        int timerPort = bindTimerVirq();
        assertNull(kvm.timer(0), "no TIMER attribute on this KVM: the engine keeps the timer");
        setTimer(1); // in the past: fires at once, on the engine's timer thread
        await(() -> pendingInGuestMemory(timerPort), "the engine's timer raised VIRQ_TIMER in guest memory");
        assertNull(kvm.timer(0));

        int ipi = bind(EvtchnOp.BIND_IPI, 1, 0);
        assertTrue(kvm.assignedPorts.contains(ipi), "guest sends on the IPI port still stay in KVM");
        assertEquals(0, evtchn(EvtchnOp.SEND, ipi));
        assertEquals(List.of(), kvm.sends, "no KVM_XEN_HVM_EVTCHN_SEND");
        assertTrue(pendingInGuestMemory(ipi), "jxen set the pending bit itself");
        assertFalse(offload.figures().eventSendPromised());
        assertTrue(kvm.configs.stream().noneMatch(c -> (c & KVM_XEN_HVM_CONFIG_EVTCHN_SEND) != 0), "never promised");
        registerRunstateArea();
        assertEquals(1, offload.figures().runstatesHandedToKvm(), "runstates are offered apart from EVTCHN_SEND");
    }

    @Test
    void withoutRunstateTheEngineWritesTheRunstateArea() throws Exception {
        bootWith(EVERYTHING & ~KVM_XEN_HVM_CONFIG_RUNSTATE);
        registerRunstateArea();
        assertNull(kvm.vcpuAttr(0, KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR), "KVM is not told of the area");
        assertEquals(0, offload.figures().runstatesHandedToKvm());
        assertEquals(0, mem().get(ValueLayout.JAVA_INT_UNALIGNED, RUNSTATE_AREA), "the engine wrote state RUNNING (0) there");
        assertTrue(mem().get(ValueLayout.JAVA_LONG_UNALIGNED, RUNSTATE_AREA + 4) > 0, "with its entry time (32-bit layout: at 4)");
        int timerPort = bindTimerVirq();
        assertEquals(List.of((long) timerPort, 0L), kvm.timer(0), "timers are offered apart from RUNSTATE");
    }

    @Test
    void withRunstateButNoUpdateFlagAGuestAskingForTheFlagKeepsItsAreaWithJxen() throws Exception {
        bootWith(EVERYTHING & ~KVM_XEN_HVM_CONFIG_RUNSTATE_UPDATE_FLAG);
        // VMASST_CMD_enable(VMASST_TYPE_runstate_update_flag = 5)
        assertEquals(0, vcpus[0].hypercall32(Hypercall.VM_ASSIST, 0, 5, 0));
        registerRunstateArea();
        assertNull(kvm.vcpuAttr(0, KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR), "this KVM cannot bracket its writes with the flag");
        assertFalse(kvm.vmAttrs.containsKey(KVM_XEN_ATTR_TYPE_RUNSTATE_UPDATE_FLAG));
    }

    @Test
    void withoutEvtchn2LevelBackendNotifiesAreRaisedByTheEngine() throws Exception {
        bootWith(EVERYTHING & ~KVM_XEN_HVM_CONFIG_EVTCHN_2LEVEL);
        int guestPort = notifyFromBackend(false);
        assertTrue(kvm.sends.contains(guestPort), "the engine raised it through KVM_XEN_HVM_EVTCHN_SEND (still offered)");
        assertEquals(List.of(), kvm.gsiTables, "KVM's GSI routing untouched");
    }

    @Test
    void hypercallInterceptionAloneLeavesEveryOptionalFeatureToJxen() throws Exception {
        bootWith(KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL);
        int inKvm = offload.figures().portsDeliveredByKvm();
        int timerPort = bindTimerVirq();
        registerRunstateArea();
        int ipi = bind(EvtchnOp.BIND_IPI, 1, 0);
        assertEquals(0, evtchn(EvtchnOp.SEND, ipi));
        assertTrue(pendingInGuestMemory(ipi));
        int guestPort = notifyFromBackend(false);
        assertTrue(pendingInGuestMemory(guestPort), "jxen raised the backend's notify in guest memory");
        assertNull(kvm.timer(0));
        assertTrue(kvm.assignedPorts.contains(ipi), "only the send table and shared_info go to KVM");
        assertFalse(kvm.assignedPorts.contains(timerPort), "a VIRQ never goes to the send table");
        assertEquals(new Offload.Figures(inKvm + 1, 0, 0, 0, false), offload.figures(),
                "the IPI port; the guest's port left with the backend's close");
    }

    @Test
    void fifoAfterTwoLevelGivesEverythingBackToTheEngine() throws Exception {
        bootWith(EVERYTHING);
        int timerPort = bindTimerVirq();
        int ipi = bind(EvtchnOp.BIND_IPI, 1, 0);
        notifyFromBackend(true);
        assertEquals(List.of((long) timerPort, 0L), kvm.timer(0));
        assertTrue(offload.figures().eventSendPromised());
        int resetsBefore = kvm.resets;
        // EVTCHNOP_init_control(control_gfn, offset 0, vCPU 0): the switch to FIFO
        mem().set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, FIFO_CONTROL_GFN);
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, 0);
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 12, 0);
        assertEquals(0, vcpus[0].hypercall32(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.INIT_CONTROL, ARG, 0));
        assertTrue(kvm.resets > resetsBefore, "KVM's send table emptied in the switch's grace period");
        assertEquals(0, offload.figures().portsDeliveredByKvm());
        assertFalse(kvm.assignedPorts.contains(ipi));
        assertFalse(offload.figures().eventSendPromised(), "the EVTCHN_SEND promise withdrawn");
        assertEquals(KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL, (int) kvm.configs.getLast(), "hypercalls still intercepted");
        assertTrue(kvm.irqfdsAssigned.isEmpty(), "backends' irqfds deassigned");
        enterAll();
        assertEquals(List.of(0L, 0L), kvm.timer(0), "vCPU 0's timer taken back from KVM");
        await(() -> platform.guest().abi().portLimit() > 4096, "FIFO in force");
        int sendsBefore = kvm.sends.size();
        evtchn(EvtchnOp.SEND, ipi);
        assertEquals(sendsBefore, kvm.sends.size(), "no raise through KVM on FIFO");
    }

    @Test
    void theChoiceFollowsHypercallInterception() {
        assertInstanceOf(UserSpaceAcceleration.class, DomainBuilder.chooseAcceleration(RunConfig.Accel.AUTO, XenOffer.NONE));
        assertInstanceOf(UserSpaceAcceleration.class, DomainBuilder.chooseAcceleration(RunConfig.Accel.USER, new XenOffer(EVERYTHING)));
        assertNotNull(DomainBuilder.chooseAcceleration(RunConfig.Accel.USER, new XenOffer(EVERYTHING)).vmcallRefusal());
        assertInstanceOf(KvmXenAcceleration.class, DomainBuilder.chooseAcceleration(RunConfig.Accel.AUTO, new XenOffer(KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL)));
        assertNull(DomainBuilder.chooseAcceleration(RunConfig.Accel.KVM, new XenOffer(EVERYTHING)).vmcallRefusal());
        // Every flag but interception: no kvm mode at all.
        int noIntercept = EVERYTHING & ~KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL;
        assertInstanceOf(UserSpaceAcceleration.class, DomainBuilder.chooseAcceleration(RunConfig.Accel.AUTO, new XenOffer(noIntercept)));
        KvmException e = assertThrows(KvmException.class, () -> DomainBuilder.chooseAcceleration(RunConfig.Accel.KVM, new XenOffer(noIntercept)));
        assertTrue(e.getMessage().contains("KVM_CAP_XEN_HVM") && !e.getMessage().contains("\n"), e.getMessage());
    }

    /** KVM's Xen ioctls as a recorder: each succeeds, and what was set can be read back. */
    private static final class RecordingKvm implements KvmXenCalls {
        final Map<Integer, Long> vmAttrs = Collections.synchronizedMap(new HashMap<>());
        final Map<String, long[]> vcpuAttrs = Collections.synchronizedMap(new HashMap<>());
        final List<Integer> configs = new CopyOnWriteArrayList<>();
        final List<Integer> assignedPorts = new CopyOnWriteArrayList<>();
        final List<Integer> sends = new CopyOnWriteArrayList<>();
        final List<List<GsiRoute>> gsiTables = new CopyOnWriteArrayList<>();
        final List<Integer> irqfdsAssigned = new CopyOnWriteArrayList<>();
        volatile int resets, irqfds;

        List<Long> timer(int vcpu) {
            List<Long> words = vcpuAttr(vcpu, KVM_XEN_VCPU_ATTR_TYPE_TIMER);
            return words == null ? null : List.of(words.get(0) & 0xFFFF_FFFFL, words.get(1));
        }

        List<Long> vcpuAttr(int vcpu, int type) {
            long[] w = vcpuAttrs.get(vcpu + "/" + type);
            if (w == null) return null;
            List<Long> out = new ArrayList<>();
            for (long x : w) out.add(x);
            return out;
        }

        @Override
        public void hvmConfig(int flags, int msr) {
            configs.add(flags);
        }

        @Override
        public int setAttr(int type, long value) {
            vmAttrs.put(type, value);
            return 0;
        }

        @Override
        public int setVcpuAttr(int vcpu, int type, long... words) {
            vcpuAttrs.put(vcpu + "/" + type, words.clone());
            return 0;
        }

        @Override
        public long[] vcpuAttr(int vcpu, int type, int words) {
            long[] w = vcpuAttrs.get(vcpu + "/" + type);
            if (w == null) throw new KvmException("KVM_XEN_VCPU_GET_ATTR(" + type + ")", 22);
            long[] out = new long[words];
            System.arraycopy(w, 0, out, 0, Math.min(words, w.length));
            return out;
        }

        @Override
        public int assignPort(int sendPort, int type, int port, int vcpu) {
            assignedPorts.add(sendPort);
            return 0;
        }

        @Override
        public int assignEventFd(int sendPort, int type, int fd) {
            assignedPorts.add(sendPort);
            return 0;
        }

        @Override
        public int updatePort(int sendPort, int type, int port, int vcpu) {
            return 0;
        }

        @Override
        public int deassignPort(int sendPort) {
            assignedPorts.remove((Integer) sendPort);
            return 0;
        }

        @Override
        public int resetPorts() {
            assignedPorts.clear();
            resets++;
            return 0;
        }

        @Override
        public int send(int port, int vcpu) {
            sends.add(port);
            return 0;
        }

        @Override
        public int setGsiRouting(List<GsiRoute> routes) {
            gsiTables.add(List.copyOf(routes));
            return 0;
        }

        @Override
        public int irqfd(int eventFd, int gsi, boolean assign) {
            if (assign) {
                irqfds++;
                irqfdsAssigned.add(gsi);
            } else {
                irqfdsAssigned.remove((Integer) gsi);
            }
            return 0;
        }
    }
}
