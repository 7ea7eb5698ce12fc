package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Hypercall;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.hvm.HvmParam;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.HoleFrames;
import org.jxen.engine.platform.VcpuLifecycle;
import org.jxen.engine.pvclock.ClockSample;
import org.jxen.engine.pvclock.MasterClock;
import org.jxen.engine.pvclock.PvClock;
import org.jxen.engine.pvclock.TscScale;
import org.jxen.vmm.backend.ConsoleBackend;
import org.jxen.vmm.boot.GuestLayout;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.Random;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.platform.VcpuHvmContext;

/**
 * The whole domain without KVM: {@link GuestPlatform} as {@code jxen run} builds it, driven through each vCPU's real
 * {@link ExitHandler} by exits filled as KVM fills them. Covers what a guest does first (hypercall MSR, CALLBACK_IRQ,
 * shared_info placement with pvclock), event delivery as MSIs (vector per domain and per vCPU, masking), the PV
 * console ring reaching standard output through its backend thread, and shutdown.
 */
class GuestPlatformTest {
    private static final long RAM = 16L << 20;
    private static final long ARG = 0x8000, SHARED_GFN = 0x20, HYPERCALL_PAGE = 0x9000;
    private static final int DOMID_SELF = 0x7FF0;

    record Msi(int apicId, int vector) {}

    private final GuestMemory ram = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
    private final GuestLayout layout = GuestLayout.standard(RAM);
    private final List<Msi> msis = new CopyOnWriteArrayList<>();
    private final ByteArrayOutputStream console = new ByteArrayOutputStream();
    private final FakeVcpu[] vcpus = {new FakeVcpu(0), new FakeVcpu(1)};
    private final long t0 = System.nanoTime();
    private final MasterClock clock = new MasterClock(TscScale.forKhz(2_445_000), new ClockSample(1_000_000, 0));
    private final List<String> lifecycle = new CopyOnWriteArrayList<>();
    private final GuestPlatform platform = platformOver(ram, null);

    {
        for (FakeVcpu v : vcpus) v.exits = platform.exitHandler(ram, v);
    }

    /** The platform as jxen run builds it, new or resumed from {@code saved}, over {@code memory}. */
    private GuestPlatform platformOver(GuestMemory memory, GuestPlatform.Saved saved) {
        VcpuLifecycle lc = new VcpuLifecycle() {
            @Override
            public void start(int vcpu, VcpuHvmContext context) {
                lifecycle.add("start " + vcpu + " at 0x" + Long.toHexString(context.rip()) + (context.longMode() ? " 64-bit" : " 32-bit"));
            }

            @Override
            public void stop(int vcpu) {
                lifecycle.add("stop " + vcpu);
            }
        };
        GuestPlatform.MsiSink sink = (apic, vector) -> {
            msis.add(new Msi(apic, vector));
            return 1;
        };
        try {
            return saved == null
                    ? new GuestPlatform(new PlatformSpec(memory, layout, 2, v -> vcpus[v], v -> v + 4, lc, sink, clock, () -> System.nanoTime() - t0, gfn -> {},
                            syncedConsole(), new ByteArrayInputStream(new byte[0]), HoleFrames.NONE))
                    : GuestPlatform.restore(new PlatformSpec(memory, layout, 2, v -> vcpus[v], v -> v + 4, lc, sink, clock, () -> System.nanoTime() - t0,
                            gfn -> {}, syncedConsole(), new ByteArrayInputStream(new byte[0]), HoleFrames.NONE), saved);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private OutputStream syncedConsole() {
        return new OutputStream() {
            @Override
            public void write(int b) {
                synchronized (console) {
                    console.write(b);
                }
            }
        };
    }

    private String consoleText() {
        synchronized (console) {
            return console.toString(StandardCharsets.UTF_8);
        }
    }

    @AfterEach
    void close() {
        platform.close();
    }

    private MemorySegment mem() {
        return ram.segment();
    }

    /** HVMOP_set_param(index, value) from vCPU 0, 32-bit. */
    private long setParam(int index, long value) {
        mem().set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) DOMID_SELF);
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, index);
        mem().set(ValueLayout.JAVA_LONG_UNALIGNED, ARG + 8, value);
        return vcpus[0].hypercall32(Hypercall.HVM_OP, 0 /* HVMOP_set_param */, ARG, 0);
    }

    private long getParam(int index) {
        mem().set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) DOMID_SELF);
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, index);
        assertEquals(0, vcpus[0].hypercall32(Hypercall.HVM_OP, 1 /* HVMOP_get_param */, ARG, 0));
        return mem().get(ValueLayout.JAVA_LONG_UNALIGNED, ARG + 8);
    }

    private long evtchn(FakeVcpu v, int cmd, int... words) {
        for (int i = 0; i < words.length; i++) mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4L * i, words[i]);
        return v.hypercall32(Hypercall.EVENT_CHANNEL_OP, cmd, ARG, 0);
    }

    private void boot() {
        assertFalse(vcpus[0].wrmsr(0x4000_0000, HYPERCALL_PAGE), "hypercall page");
        assertEquals((byte) 0xB8, mem().get(ValueLayout.JAVA_BYTE, HYPERCALL_PAGE));
        assertEquals(GuestWidth.BITS_32, platform.guest().shared().width(), "latched by a 32-bit MSR write");
        // XENMEM_add_to_physmap(shared_info, idx 0, gfn SHARED_GFN): struct is 16 bytes in the 32-bit ABI.
        mem().set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) DOMID_SELF);
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, 0);
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, 0);
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 12, (int) SHARED_GFN);
        assertEquals(0, vcpus[0].hypercall32(Hypercall.MEMORY_OP, 7, ARG, 0));
        assertEquals(0, setParam(HvmParam.CALLBACK_IRQ, (2L << 56) | 0xF3), "vector-type callback 0xF3");
    }

    @Test
    void sharedInfoPlacedByTheGuestCarriesPvclockAndWallclock() {
        boot();
        var vcpuInfo1 = ram.region((SHARED_GFN << 12) + SharedInfoLayout.vcpuInfoOffset(1), 64).orElseThrow();
        int version = vcpuInfo1.getIntVolatile(SharedInfoLayout.VCPU_TIME);
        assertTrue(version > 0 && (version & 1) == 0, "pvclock published into the new page, version " + version);
        assertEquals(clock.systemTimeAt(5_000_000), PvClock.guestRead(vcpuInfo1, 5_000_000));
        int wcSec = mem().get(ValueLayout.JAVA_INT, (SHARED_GFN << 12) + GuestWidth.BITS_32.wallclockOffset + 4);
        assertTrue(Math.abs(wcSec - System.currentTimeMillis() / 1000) < 60, "wallclock near now: " + wcSec);
    }

    @Test
    void eventsBecomeMsisToTheTargetVcpusApicWithItsVector() throws Exception {
        boot();
        msis.clear();
        long port = evtchn(vcpus[0], 7 /* bind_ipi */, 1);
        assertEquals(0, port);
        int ipi = mem().get(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4);
        assertEquals(0, evtchn(vcpus[0], 4 /* send */, ipi));
        assertEquals(List.of(new Msi(5, 0xF3)), msis, "vCPU 1 is APIC 5; the domain's CALLBACK_IRQ vector");
        assertTrue(vcpus[1].awaitWake(1000), "a vCPU blocked in SCHEDOP_block is woken too");
        long pendingWord = mem().get(ValueLayout.JAVA_INT, (SHARED_GFN << 12) + GuestWidth.BITS_32.pendingOffset);
        assertEquals(1L << ipi, pendingWord & (1L << ipi), "pending bit in the guest-placed shared_info");
        // Masked: no upcall; unmasked while pending: the upcall comes then.
        var si = ram.region(SHARED_GFN << 12, 4096).orElseThrow();
        si.clearBit(GuestWidth.BITS_32.pendingOffset, ipi);
        si.putByte(SharedInfoLayout.vcpuInfoOffset(1) + SharedInfoLayout.UPCALL_PENDING, (byte) 0);
        si.putIntVolatile(SharedInfoLayout.vcpuInfoOffset(1) + GuestWidth.BITS_32.pendingSelOffset, 0);
        si.setBit(GuestWidth.BITS_32.maskOffset, ipi);
        msis.clear();
        assertEquals(0, evtchn(vcpus[0], 4, ipi));
        assertEquals(List.of(), msis, "masked");
        assertEquals(0, evtchn(vcpus[1], 9 /* unmask */, ipi));
        assertEquals(List.of(new Msi(5, 0xF3)), msis, "unmasked while pending");
        // HVMOP_set_evtchn_upcall_vector: vCPU 1's own vector from now on; below 0x10 is refused.
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG, 1);
        mem().set(ValueLayout.JAVA_BYTE, ARG + 4, (byte) 0x0F);
        assertEquals(-Errno.EINVAL, vcpus[0].hypercall32(Hypercall.HVM_OP, 23, ARG, 0));
        mem().set(ValueLayout.JAVA_BYTE, ARG + 4, (byte) 0x40);
        assertEquals(0, vcpus[0].hypercall32(Hypercall.HVM_OP, 23, ARG, 0));
        si.clearBit(GuestWidth.BITS_32.pendingOffset, ipi);
        si.putByte(SharedInfoLayout.vcpuInfoOffset(1) + SharedInfoLayout.UPCALL_PENDING, (byte) 0);
        si.putIntVolatile(SharedInfoLayout.vcpuInfoOffset(1) + GuestWidth.BITS_32.pendingSelOffset, 0);
        msis.clear();
        assertEquals(0, evtchn(vcpus[0], 4, ipi));
        assertEquals(List.of(new Msi(5, 0x40)), msis);
    }

    @Test
    void consoleRingOutputReachesStandardOutputThroughTheBackend() throws Exception {
        boot();
        long ringGfn = getParam(HvmParam.CONSOLE_PFN);
        int port = (int) getParam(HvmParam.CONSOLE_EVTCHN);
        assertEquals(layout.consoleGfn(), ringGfn);
        var ring = ram.page(ringGfn).orElseThrow();
        String line = "hello through the PV console ring\n";
        int prod = ring.getIntVolatile(ConsoleBackend.OUT_PROD);
        putConsoleOutput(ring, line);
        assertEquals(0, evtchn(vcpus[0], 4, port), "EVTCHNOP_send on the console port: the backend's eventfd");
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (!consoleText().contains("hello through the PV console ring") && System.nanoTime() < deadline) Thread.sleep(5);
        assertTrue(consoleText().contains("hello through the PV console ring\n"), consoleText());
        assertEquals(prod + line.length(), ring.getIntVolatile(ConsoleBackend.OUT_CONS), "the backend consumed the ring");
    }

    @Test
    void singleshotTimerRaisesVirqTimerAsAnMsiAndAPastDeadlineFiresAtOnce() throws Exception {
        boot();
        assertEquals(0, evtchn(vcpus[1], 1 /* bind_virq */, 0 /* VIRQ_TIMER */, 1));
        msis.clear();
        // VCPUOP_set_singleshot_timer on vCPU 1 from vCPU 1: 30 ms from now (Xen system time = ns since start).
        long now = System.nanoTime() - t0;
        mem().set(ValueLayout.JAVA_LONG_UNALIGNED, ARG + 64, now + 30_000_000L);
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 72, 0);
        assertEquals(0, vcpus[1].hypercall32(Hypercall.VCPU_OP, 8, 1, ARG + 64));
        // "Not before its deadline" is the lower bound below: an early MSI ends the wait early.
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (msis.isEmpty() && System.nanoTime() < deadline) Thread.sleep(1);
        long firedAfter = System.nanoTime() - t0 - now;
        assertEquals(List.of(new Msi(5, 0xF3)), msis);
        assertTrue(firedAfter >= 30_000_000L, "fired after " + firedAfter + " ns");
        // A deadline in the past fires at once; with VCPU_SSHOTTMR_future it is -ETIME instead.
        var si = ram.region(SHARED_GFN << 12, 4096).orElseThrow();
        si.putByte(SharedInfoLayout.vcpuInfoOffset(1) + SharedInfoLayout.UPCALL_PENDING, (byte) 0);
        si.putIntVolatile(SharedInfoLayout.vcpuInfoOffset(1) + GuestWidth.BITS_32.pendingSelOffset, 0);
        si.putIntVolatile(GuestWidth.BITS_32.pendingOffset, 0);
        msis.clear();
        mem().set(ValueLayout.JAVA_LONG_UNALIGNED, ARG + 64, 1);
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 72, 1);
        assertEquals(-62, vcpus[1].hypercall32(Hypercall.VCPU_OP, 8, 1, ARG + 64), "-ETIME");
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 72, 0);
        assertEquals(0, vcpus[1].hypercall32(Hypercall.VCPU_OP, 8, 1, ARG + 64));
        deadline = System.nanoTime() + 60_000_000_000L;
        while (msis.isEmpty() && System.nanoTime() < deadline) Thread.sleep(1);
        assertEquals(List.of(new Msi(5, 0xF3)), msis);
    }

    @Test
    void secondVcpuIsStartedFromItsHvmContext() {
        boot();
        // struct vcpu_hvm_context, 64-bit mode: rip 0x200000, CR0 PE|PG, CR3 0x10000, CR4 PAE, EFER LME.
        long ctx = 0xB000;
        mem().asSlice(ctx, 128).fill((byte) 0);
        mem().set(ValueLayout.JAVA_INT, ctx, 1);
        mem().set(ValueLayout.JAVA_LONG, ctx + 8 + 8 * 8, 0x20_0000);
        mem().set(ValueLayout.JAVA_LONG, ctx + 8 + 8 * 10, 0x8000_0001L);
        mem().set(ValueLayout.JAVA_LONG, ctx + 8 + 8 * 11, 0x10000);
        mem().set(ValueLayout.JAVA_LONG, ctx + 8 + 8 * 12, 0x20);
        mem().set(ValueLayout.JAVA_LONG, ctx + 8 + 8 * 13, 0x100);
        assertEquals(0, vcpus[0].hypercall32(Hypercall.VCPU_OP, 3 /* is_up */, 1, 0));
        assertEquals(-Errno.EINVAL, vcpus[0].hypercall32(Hypercall.VCPU_OP, 1 /* up */, 1, 0), "not initialised");
        assertEquals(0, vcpus[0].hypercall32(Hypercall.VCPU_OP, 0 /* initialise */, 1, ctx));
        assertEquals(0, vcpus[0].hypercall32(Hypercall.VCPU_OP, 1, 1, 0));
        assertEquals(1, vcpus[0].hypercall32(Hypercall.VCPU_OP, 3, 1, 0));
        assertEquals(List.of("start 1 at 0x200000 64-bit"), lifecycle);
    }

    @Test
    void xenstoreRequestThroughTheRingIsAnsweredAndRaisesTheGuestPort() throws Exception {
        boot();
        var ring = ram.page(getParam(HvmParam.STORE_PFN)).orElseThrow();
        int port = (int) getParam(HvmParam.STORE_EVTCHN);
        putXenstoreRequest(ring, 2 /* XS_READ */, 7, "domid\0");
        msis.clear();
        assertEquals(0, evtchn(vcpus[0], 4, port));
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (ring.getIntVolatile(2060) - ring.getIntVolatile(2056) < 17 && System.nanoTime() < deadline) Thread.sleep(1);
        int cons = ring.getIntVolatile(2056);
        assertEquals(2, ring.getByte(1024 + (cons & 1023)), "XS_READ reply");
        assertEquals('1', ring.getByte(1024 + ((cons + 16) & 1023)), "domid 1");
        while (msis.isEmpty() && System.nanoTime() < deadline) Thread.sleep(1);
        assertEquals(List.of(new Msi(4, 0xF3)), msis, "the reply raised vCPU 0's store port");
    }

    @Test
    void consoleIoAndShutdownFromTheGuest() {
        boot();
        // The hypervisor console is Xen's log, not the guest's console: its own stream, "(d1) " before each line.
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        platform.routeHypervisorConsole(log);
        byte[] msg = "via console_io\nand a sec".getBytes(StandardCharsets.US_ASCII);
        MemorySegment.copy(MemorySegment.ofArray(msg), 0, mem(), 0xA000, msg.length);
        assertEquals(0, vcpus[1].hypercall32(Hypercall.CONSOLE_IO, 0, msg.length, 0xA000));
        byte[] rest = "ond line\n".getBytes(StandardCharsets.US_ASCII);
        MemorySegment.copy(MemorySegment.ofArray(rest), 0, mem(), 0xA000, rest.length);
        assertEquals(0, vcpus[0].hypercall32(Hypercall.CONSOLE_IO, 0, rest.length, 0xA000));
        assertEquals("(d1) via console_io\n(d1) and a second line\n", log.toString(StandardCharsets.US_ASCII));
        assertFalse(consoleText().contains("console_io"), "not on the guest's console: " + consoleText());
        mem().set(ValueLayout.JAVA_INT, ARG, 3); // SHUTDOWN_crash
        assertEquals(0, vcpus[1].hypercall32(Hypercall.SCHED_OP, 2, ARG, 0));
        assertEquals(3, vcpus[1].shutdownReason.get());
        assertEquals(RunOutcome.CRASH, RunOutcome.forShutdown(3).status());
    }

    /** Writes one request (header and payload) into a XenStore ring as a guest does, and publishes it (req_prod). */
    private static void putXenstoreRequest(GuestRegion ring, int type, int reqId, String payload) {
        byte[] body = payload.getBytes(StandardCharsets.US_ASCII);
        int prod = ring.getIntVolatile(2052);
        int[] hdr = {type, reqId, 0, body.length};
        for (int i = 0; i < 4; i++)
            for (int b = 0; b < 4; b++) ring.putByte((prod + 4 * i + b) & 1023, (byte) (hdr[i] >>> (8 * b)));
        for (int i = 0; i < body.length; i++) ring.putByte((prod + 16 + i) & 1023, body[i]);
        ring.putIntRelease(2052, prod + 16 + body.length);
    }

    /** Writes one XenStore request into the ring at {@code ring} and notifies; returns the reply's payload. */
    private String xenstore(GuestMemory memory, GuestPlatform p, int type, int reqId, String payload) throws Exception {
        var ring = memory.page(p.params().get(HvmParam.STORE_PFN)).orElseThrow();
        putXenstoreRequest(ring, type, reqId, payload);
        assertEquals(0, p.ports().send((int) p.params().get(HvmParam.STORE_EVTCHN)));
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (ring.getIntVolatile(2060) - ring.getIntVolatile(2056) < 16 && System.nanoTime() < deadline) Thread.sleep(1);
        int cons = ring.getIntVolatile(2056);
        int len = 0;
        for (int b = 0; b < 4; b++) len |= (ring.getByte(1024 + ((cons + 12 + b) & 1023)) & 0xFF) << (8 * b);
        while (ring.getIntVolatile(2060) - cons < 16 + len && System.nanoTime() < deadline) Thread.sleep(1);
        assertEquals(reqId, ring.getByte(1024 + ((cons + 4) & 1023)), "reply to request " + reqId);
        byte[] reply = new byte[len];
        for (int i = 0; i < len; i++) reply[i] = ring.getByte(1024 + ((cons + 16 + i) & 1023));
        ring.putIntRelease(2056, cons + 16 + len);
        return new String(reply, StandardCharsets.US_ASCII);
    }

    @Test
    void aSavedPlatformResumesWithPortsTimersXenstoreAndBackendEventfds() throws Exception {
        boot();
        assertEquals(0, evtchn(vcpus[0], 7 /* bind_ipi */, 1));
        int ipi = mem().get(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4);
        assertTrue(ipi > 0);
        assertEquals(0, evtchn(vcpus[1], 1 /* bind_virq */, 0 /* VIRQ_TIMER */, 1));
        assertEquals("OK\0", xenstore(ram, platform, 11 /* XS_WRITE */, 1, "data/kept\0before the save"));
        assertEquals("OK\0", xenstore(ram, platform, 4 /* XS_WATCH */, 2, "data/watched\0tok\0"));
        xenstoreDrainWatchEvent(ram);
        long now = System.nanoTime() - t0;
        mem().set(ValueLayout.JAVA_LONG_UNALIGNED, ARG + 64, now + 400_000_000L);
        mem().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 72, 0);
        assertEquals(0, vcpus[1].hypercall32(Hypercall.VCPU_OP, 8, 1, ARG + 64), "singleshot timer 400 ms ahead");

        GuestPlatform.Saved saved = platform.save();
        GuestMemory copy = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
        MemorySegment.copy(ram.segment(), 0, copy.segment(), 0, RAM);
        platform.close();
        msis.clear();
        GuestPlatform resumed = platformOver(copy, saved);
        try {
            for (FakeVcpu v : vcpus) v.exits = resumed.exitHandler(copy, v);
            var st = resumed.ports().status(DOMID_SELF, ipi);
            assertEquals(5 /* EVTCHNSTAT_ipi */, st.status());
            assertEquals(1, st.vcpu());
            assertEquals(0xF3, resumed.params().upcallVector(0), "the callback vector came back");
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (msis.isEmpty() && System.nanoTime() < deadline) Thread.sleep(1);
            assertEquals(List.of(new Msi(5, 0xF3)), msis, "the pending timer fired on vCPU 1 after the restore");
            assertEquals("before the save\0".substring(0, 15), xenstore(copy, resumed, 2 /* XS_READ */, 3, "data/kept\0"));
            resumed.devices().store().hostWrite("/local/domain/1/data/watched", "changed");
            var ring = copy.page(resumed.params().get(HvmParam.STORE_PFN)).orElseThrow();
            deadline = System.nanoTime() + 60_000_000_000L;
            while (ring.getIntVolatile(2060) == ring.getIntVolatile(2056) && System.nanoTime() < deadline) Thread.sleep(1);
            assertEquals(15 /* XS_WATCH_EVENT */, ring.getByte(1024 + (ring.getIntVolatile(2056) & 1023)), "the watch survived the save");
            ring.putIntRelease(2056, ring.getIntVolatile(2060));
            consoleWrite(copy, resumed, "after the restore\n");
            deadline = System.nanoTime() + 60_000_000_000L;
            while (!consoleText().contains("after the restore") && System.nanoTime() < deadline) Thread.sleep(5);
            assertTrue(consoleText().contains("after the restore\n"), consoleText());
        } finally {
            resumed.close();
        }
    }

    @Test
    void aDamagedSaveIsRefusedWithAnIoException() throws Exception {
        boot();
        GuestPlatform.Saved saved = platform.save();
        GuestMemory copy = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
        MemorySegment.copy(ram.segment(), 0, copy.segment(), 0, RAM);
        Random r = new Random(5);
        for (int cut = 0; cut < saved.devices().length; cut += 1 + saved.devices().length / 60) {
            var damaged = new GuestPlatform.Saved(saved.snapshot(), Arrays.copyOf(saved.devices(), cut));
            assertThrows(IOException.class, () -> restoreOver(copy, damaged), "devices cut at " + cut);
        }
        for (int i = 0; i < 100; i++) {
            byte[] d = saved.devices().clone();
            d[r.nextInt(d.length)] ^= (byte) (1 + r.nextInt(255));
            try {
                restoreOver(copy, new GuestPlatform.Saved(saved.snapshot(), d)).close();
            } catch (IOException refused) {
                assertFalse(refused.getMessage() == null || refused.getMessage().contains("\n"), "case " + i + ": " + refused);
            }
        }
    }

    private GuestPlatform restoreOver(GuestMemory memory, GuestPlatform.Saved saved) throws IOException {
        try {
            return platformOver(memory, saved);
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    private void xenstoreDrainWatchEvent(GuestMemory memory) throws Exception {
        var ring = memory.page(platform.params().get(HvmParam.STORE_PFN)).orElseThrow();
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (ring.getIntVolatile(2060) == ring.getIntVolatile(2056) && System.nanoTime() < deadline) Thread.sleep(1);
        assertEquals(15 /* XS_WATCH_EVENT */, ring.getByte(1024 + (ring.getIntVolatile(2056) & 1023)));
        ring.putIntRelease(2056, ring.getIntVolatile(2060));
    }

    private void consoleWrite(GuestMemory memory, GuestPlatform p, String text) {
        putConsoleOutput(memory.page(p.params().get(HvmParam.CONSOLE_PFN)).orElseThrow(), text);
        assertEquals(0, p.ports().send((int) p.params().get(HvmParam.CONSOLE_EVTCHN)));
    }

    /** Writes {@code text} into a console ring's output as a guest does, and publishes it (out_prod). */
    private static void putConsoleOutput(GuestRegion ring, String text) {
        byte[] b = text.getBytes(StandardCharsets.US_ASCII);
        int prod = ring.getIntVolatile(ConsoleBackend.OUT_PROD);
        for (int i = 0; i < b.length; i++) ring.putByte(ConsoleBackend.OUT + ((prod + i) & (ConsoleBackend.OUT_SIZE - 1)), b[i]);
        ring.putIntRelease(ConsoleBackend.OUT_PROD, prod + b.length);
    }
}
