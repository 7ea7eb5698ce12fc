package org.jxen.engine.platform;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Virq;
import org.jxen.engine.evtchn.DomainSnapshot;
import org.jxen.engine.evtchn.SnapshotCodec;
import org.jxen.engine.evtchn.Snapshots;
import org.jxen.engine.hvm.HvmParam;
import org.jxen.engine.hvm.HvmParams;
import org.jxen.engine.testing.EventFixture;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.grant.GrantTable;
import org.jxen.engine.grant.GrantTableAccess;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.memory.HoleFrames;

/** Callback parameters and pending timers travel with a saved domain, and a restored timer still fires. */
class PlatformStateTest {
    @Test
    void paramsAndTimersSurviveSaveAndRestore() throws Exception {
        byte[] saved;
        long deadline = System.nanoTime() + 1_500_000_000L; // far enough to compare before it fires
        try (var f = EventFixture.of(GuestWidth.BITS_64); var timers = new VcpuTimers(4, System::nanoTime, v -> {})) {
            HvmParams params = new HvmParams(4);
            params.set(HvmParam.CALLBACK_IRQ, (2L << 56) | 0xF3);
            params.set(HvmParam.STORE_PFN, 0x21);
            params.setVcpuUpcallVector(2, 0xE0);
            timers.setSingleshot(1, deadline);
            timers.setPeriodic(3, 7_000_000L);
            f.ports.bindVirq(Virq.TIMER, 1);
            DomainSnapshot snap = Snapshots.capture(f.ports, f.ram).withExtensions(PlatformState.capture(params, timers, 4));
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            SnapshotCodec.write(snap, new DataOutputStream(b));
            saved = b.toByteArray();
        }
        try (var f = EventFixture.of(GuestWidth.BITS_64)) {
            DomainSnapshot snap = SnapshotCodec.read(new DataInputStream(new ByteArrayInputStream(saved)));
            var ports = Snapshots.restore(snap, f.ram, p -> true);
            HvmParams params = new HvmParams(4);
            try (var timers = new VcpuTimers(4, System::nanoTime, v -> ports.raiseVirq(v, Virq.TIMER))) {
                PlatformState.restore(snap, params, timers);
                assertEquals(0xF3, params.upcallVector(0));
                assertEquals(0xE0, params.upcallVector(2));
                assertEquals(0x21, params.get(HvmParam.STORE_PFN));
                assertEquals(deadline, timers.singleshotDeadline(1));
                assertEquals(7_000_000L, timers.period(3));
                int timerPort = ports.guest().boundVirqPort(1, Virq.TIMER);
                long until = System.nanoTime() + 60_000_000_000L;
                while (!ports.guest().abi().isPending(timerPort) && System.nanoTime() < until) Thread.sleep(1);
                assertTrue(ports.guest().abi().isPending(timerPort), "the restored singleshot timer fired VIRQ_TIMER");
            }
        }
    }

    @Test
    void runstatesLifecycleGrantsAndHolesSurviveSaveAndRestore() throws Exception {
        byte[] saved;
        byte[] privateFrame = new byte[4096];
        for (int i = 0; i < privateFrame.length; i++) privateFrame[i] = (byte) (i * 7);
        VcpuHvmContext pending = new VcpuHvmContext(true, 1, 2, 3, 4, 0x8000, 6, 7, 8, 0x10_0000, 2, 0x8000_0011L, 0x9000, 0x20, 0x500,
                new VcpuHvmContext.Segment(0, 0xFFFF_FFFFL, 0xA9B), null, null, null, new VcpuHvmContext.Segment(0, 0x67, 0x8B));
        try (var f = EventFixture.of(GuestWidth.BITS_64); var timers = new VcpuTimers(4, System::nanoTime, v -> {})) {
            Runstates runstates = new Runstates(f.ram, 4, 100);
            runstates.setUpdateFlag(true);
            runstates.register(1, new Runstates.Area(0x3000, 20, 0x5000, GuestWidth.BITS_32));
            runstates.transition(0, Runstates.BLOCKED, 700);
            VcpuSet vcpus = new VcpuSet(4, new RecordingLifecycle());
            vcpus.initialise(1, null);
            vcpus.up(1);
            vcpus.initialise(3, pending);
            var grants = new GrantTable(32);
            grants.grow(3);
            grants.place(1, 0x7, f.ram.page(0x7).orElseThrow());
            MemorySegment.copy(MemorySegment.ofArray(privateFrame), 0, grantFrame(grants, 2), 0, 4096);
            f.ram.depopulate(0x9);
            f.ram.depopulate(0xB);
            var parts = new PlatformState.Parts(runstates, vcpus, grants, f.ram);
            DomainSnapshot snap = Snapshots.capture(f.ports, f.ram).withExtensions(PlatformState.capture(new HvmParams(4), timers, 4, parts));
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            SnapshotCodec.write(snap, new DataOutputStream(b));
            saved = b.toByteArray();
        }
        try (var f = EventFixture.of(GuestWidth.BITS_64)) {
            DomainSnapshot snap = SnapshotCodec.read(new DataInputStream(new ByteArrayInputStream(saved)));
            PlatformState.restoreHoles(snap, f.ram);
            Runstates runstates = new Runstates(f.ram, 4, 0);
            RecordingLifecycle lifecycle = new RecordingLifecycle();
            VcpuSet vcpus = new VcpuSet(4, lifecycle);
            var grants = new GrantTable(32);
            PlatformState.restore(snap, new PlatformState.Parts(runstates, vcpus, grants, f.ram));

            assertArrayEquals(new long[] {0x9, 0xB}, f.ram.holes());
            assertEquals(Runstates.BLOCKED, runstates.state(0));
            assertEquals(600, runstates.timeIn(0, Runstates.RUNNING));
            Runstates.Saved r = runstates.save();
            assertTrue(r.updateFlag());
            assertEquals(new Runstates.Area(0x3000, 20, 0x5000, GuestWidth.BITS_32), r.areas()[1]);
            assertTrue(vcpus.isUp(0) && vcpus.isUp(1) && !vcpus.isUp(2) && !vcpus.isUp(3));
            assertEquals(-Errno.EEXIST, vcpus.initialise(3, null), "vCPU 3 stays initialised");
            assertEquals(0, vcpus.up(3));
            assertEquals(pending, lifecycle.started.get(3), "the pending context is the one VCPUOP_initialise gave");
            assertEquals(-Errno.EINVAL, vcpus.up(2), "vCPU 2 stays uninitialised");
            assertEquals(3, grants.frames());
            assertEquals(0x7, grants.gfn(1));
            assertEquals(GrantTable.INVALID_GFN, grants.gfn(2));
            assertArrayEquals(privateFrame, grantFrame(grants, 2).toArray(ValueLayout.JAVA_BYTE));
        }
    }

    /** Host pages at gfns above RAM, as the VMM gives them (one per gfn, the same one if mapped again). */
    private static final class TestHoles implements HoleFrames {
        final Map<Long, GuestRegion> pages = new HashMap<>();

        @Override
        public Optional<GuestRegion> map(long gfn) {
            return Optional.of(pages.computeIfAbsent(gfn,
                    g -> GuestRegion.of(Arena.ofAuto().allocate(4096, 4096), 0, 4096)));
        }

        @Override
        public void unmap(long gfn) {
            pages.remove(gfn);
        }
    }

    /** Linux places its grant frames in unpopulated space above RAM: their contents travel in the save, and map again. */
    @Test
    void aGrantFramePlacedAboveRamSurvivesSaveAndRestore() throws Exception {
        long holeGfn = 0x80000; // far above the fixture's RAM
        byte[] entries = new byte[4096];
        for (int i = 0; i < entries.length; i++) entries[i] = (byte) (i * 13 + 1);
        byte[] saved;
        try (var f = EventFixture.of(GuestWidth.BITS_64); var timers = new VcpuTimers(4, System::nanoTime, v -> {})) {
            TestHoles holes = new TestHoles();
            var grants = new GrantTable(32);
            GuestRegion page = holes.map(holeGfn).orElseThrow();
            assertEquals(0, grants.place(0, holeGfn, page));
            MemorySegment.copy(MemorySegment.ofArray(entries), 0, page.asSegment(), 0, 4096);
            var parts = new PlatformState.Parts(new Runstates(f.ram, 4, 0), new VcpuSet(4, new RecordingLifecycle()), grants, f.ram, holes);
            DomainSnapshot snap = Snapshots.capture(f.ports, f.ram).withExtensions(PlatformState.capture(new HvmParams(4), timers, 4, parts));
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            SnapshotCodec.write(snap, new DataOutputStream(b));
            saved = b.toByteArray();
        }
        try (var f = EventFixture.of(GuestWidth.BITS_64)) {
            DomainSnapshot snap = SnapshotCodec.read(new DataInputStream(new ByteArrayInputStream(saved)));
            TestHoles holes = new TestHoles();
            var grants = new GrantTable(32);
            PlatformState.restore(snap, new PlatformState.Parts(new Runstates(f.ram, 4, 0), new VcpuSet(4, new RecordingLifecycle()), grants, f.ram, holes));
            assertEquals(holeGfn, grants.gfn(0));
            assertArrayEquals(entries, holes.pages.get(holeGfn).asSegment().toArray(ValueLayout.JAVA_BYTE), "mapped again, contents back");
            assertArrayEquals(entries, grantFrame(grants, 0).toArray(ValueLayout.JAVA_BYTE));
            // Without the VMM's backing the frame cannot come back: refused in one line.
            IOException e = assertThrows(IOException.class, () -> PlatformState.restore(snap,
                    new PlatformState.Parts(new Runstates(f.ram, 4, 0), new VcpuSet(4, new RecordingLifecycle()), new GrantTable(32), f.ram)));
            assertTrue(e.getMessage().contains("cannot be mapped again"), e.getMessage());
        }
    }

    @Test
    void aSaveThatDoesNotFitThisRamIsRefused() throws Exception {
        DomainSnapshot snap;
        try (var big = new EventFixture(GuestWidth.BITS_64, DomainConfig.of(4), 2 * EventFixture.RAM_SIZE);
                var timers = new VcpuTimers(4, System::nanoTime, v -> {})) {
            Runstates runstates = new Runstates(big.ram, 4, 0);
            runstates.register(0, new Runstates.Area(2 * EventFixture.RAM_SIZE - 4096, 48, 0, GuestWidth.BITS_64));
            var parts = new PlatformState.Parts(runstates, new VcpuSet(4, new RecordingLifecycle()), new GrantTable(32), big.ram);
            snap = Snapshots.capture(big.ports, big.ram).withExtensions(PlatformState.capture(new HvmParams(4), timers, 4, parts));
        }
        try (var f = EventFixture.of(GuestWidth.BITS_64)) {
            var e = assertThrows(IOException.class, () -> PlatformState.restore(snap,
                    new PlatformState.Parts(new Runstates(f.ram, 4, 0), new VcpuSet(4, new RecordingLifecycle()), new GrantTable(32), f.ram)));
            assertTrue(e.getMessage().contains("outside guest RAM"), e.getMessage());
        }
    }

    private static MemorySegment grantFrame(GrantTable grants, int frame) {
        return GrantTableAccess.frame(grants, frame);
    }

    private static final class RecordingLifecycle implements VcpuLifecycle {
        final Map<Integer, VcpuHvmContext> started = new HashMap<>();

        @Override
        public void start(int vcpu, VcpuHvmContext context) {
            started.put(vcpu, context);
        }

        @Override
        public void stop(int vcpu) {}
    }
}
