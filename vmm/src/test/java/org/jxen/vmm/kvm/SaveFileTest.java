package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.platform.VcpuHvmContext;
import org.jxen.engine.platform.VcpuLifecycle;
import org.jxen.engine.pvclock.ClockSample;
import org.jxen.engine.pvclock.MasterClock;
import org.jxen.engine.pvclock.TscScale;
import org.jxen.sys.kvm.Kvm;
import org.jxen.sys.kvm.KvmAbi;
import org.jxen.sys.kvm.KvmVcpu.StateBlock;
import org.jxen.vmm.backend.XenEvtchnHandle;
import org.jxen.vmm.boot.GuestLayout;

/**
 * The whole-domain save file without KVM: what is written reads back the same (RAM pages, vCPU blocks, interrupt
 * controllers, the platform), and a damaged file — cut short anywhere, or with random bytes changed — is refused with
 * an IOException (one line for the user), never another exception or an allocation driven by a bad count.
 */
class SaveFileTest {
    private static final long RAM = 4L << 20;

    @Test
    void whatIsWrittenReadsBackAndDamageIsAnIoException(@TempDir Path dir) throws Exception {
        GuestMemory ram = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
        ram.segment().set(ValueLayout.JAVA_LONG, 0x5000, 0x1122334455667788L);
        ram.segment().set(ValueLayout.JAVA_BYTE, RAM - 1, (byte) 0x7E);
        GuestLayout layout = GuestLayout.standard(RAM);
        VcpuLifecycle none = new VcpuLifecycle() {
            @Override
            public void start(int vcpu, VcpuHvmContext context) {}

            @Override
            public void stop(int vcpu) {}
        };
        MasterClock clock = new MasterClock(TscScale.forKhz(2_000_000), new ClockSample(0, 0));
        SaveFile saved;
        try (GuestPlatform p = new GuestPlatform(ram, layout, 2, v -> null, v -> v, none, (a, v) -> 1, clock, () -> 42, g -> {},
                new ByteArrayOutputStream(), new ByteArrayInputStream(new byte[0]))) {
            assertEquals(0, p.ports().bindIpi(1) > 0 ? 0 : -1);
            Map<StateBlock, byte[]> blocks = new EnumMap<>(StateBlock.class);
            Random r = new Random(7);
            for (StateBlock b : new StateBlock[] {StateBlock.REGS, StateBlock.SREGS, StateBlock.FPU, StateBlock.LAPIC, StateBlock.EVENTS}) {
                byte[] data = new byte[b.size];
                r.nextBytes(data);
                blocks.put(b, data);
            }
            List<VcpuState> vcpus = List.of(new VcpuState(0, blocks, List.of(new long[] {0x10, 123456789L})),
                    new VcpuState(1, blocks, List.of()));
            byte[] chip = new byte[KvmAbi.SIZEOF_KVM_IRQCHIP];
            r.nextBytes(chip);
            saved = new SaveFile(RAM, 2, 1_000_000_000L, p.save(), List.of(chip, chip, chip), vcpus);
        }
        Path file = dir.resolve("d.jxensave");
        saved.write(file, ram);
        assertFalse(Files.exists(dir.resolve("d.jxensave.partial")));

        GuestMemory back = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
        try (SaveFile.Reader reader = new SaveFile.Reader(file)) {
            SaveFile s = reader.saved;
            assertEquals(RAM, s.memoryBytes());
            assertEquals(2, s.vcpus());
            assertEquals(1_000_000_000L, s.systemTimeNs());
            assertArrayEquals(saved.irqchips().get(2), s.irqchips().get(2));
            assertEquals(1, s.vcpuStates().get(1).mpState());
            assertArrayEquals(saved.vcpuStates().get(0).blocks().get(StateBlock.LAPIC), s.vcpuStates().get(0).blocks().get(StateBlock.LAPIC));
            assertEquals(123456789L, s.vcpuStates().get(0).msrs().getFirst()[1]);
            assertArrayEquals(saved.platform().devices(), s.platform().devices());
            reader.readRam(back);
        }
        assertEquals(-1L, back.segment().mismatch(ram.segment()), "RAM read back byte for byte");

        byte[] bytes = Files.readAllBytes(file);
        Path damaged = dir.resolve("damaged");
        List<Integer> cuts = new ArrayList<>();
        for (int at = 0; at < bytes.length; at += Math.max(1, bytes.length / 400)) cuts.add(at);
        for (int at : cuts) {
            Files.write(damaged, Arrays.copyOf(bytes, at));
            assertRefusedOrRead(damaged, "cut at " + at);
        }
        Random r = new Random(11);
        for (int i = 0; i < 300; i++) {
            byte[] b = bytes.clone();
            for (int k = 0; k < 1 + r.nextInt(4); k++) b[r.nextInt(Math.min(b.length, 200_000))] ^= (byte) (1 + r.nextInt(255));
            Files.write(damaged, b);
            assertRefusedOrRead(damaged, "flip " + i);
        }
    }

    /**
     * A save in format 1, written by the jxen of before the section container (by LegacySaveFixtureMaker, in the commit
     * that added the fixture; see saves/pvh-resume-format1.txt: the
     * guest's console then, and the dom0 port its backend had bound), restores and runs on to its end: the backend's
     * event reaches it, its timer is still pending, it answers on the same port and powers off.
     */
    @Test
    void aFormatOneSaveStillRestores(@TempDir Path dir) throws Exception {
        assumeTrue(Kvm.present(), "no /dev/kvm on this machine: the restore is skipped");
        Path file = legacyFixture(dir);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        RunOutcome o;
        int answered;
        try (XenDomain d = XenDomain.restore(file, Duration.ofSeconds(1200), console, new ByteArrayInputStream(new byte[0]))) {
            var handle = new XenEvtchnHandle(d.platform().ports(), d.platform().signals());
            assertEquals(LEGACY_BACKEND_PORT, handle.reattach(LEGACY_BACKEND_PORT), "the saved binding is taken over");
            var run = CompletableFuture.supplyAsync(() -> {
                try {
                    return d.run();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            assertEquals(0, handle.notify(LEGACY_BACKEND_PORT));
            answered = handle.awaitPending(600_000);
            o = run.get(1200, TimeUnit.SECONDS);
            handle.close();
        }
        String out = console.toString();
        System.out.println("format-1 fixture after the restore:\n" + out.strip());
        assertEquals(RunOutcome.POWEROFF, o.status(), o.reason() + "; console:\n" + out);
        assertTrue(out.contains("resumed: the timer is still pending"), out);
        assertTrue(out.contains("ALL PASSED") && !out.contains("FAIL"), out);
        assertEquals(LEGACY_BACKEND_PORT, answered, "the guest's answer reached the backend's eventfd");
    }

    /** The dom0 port bound to the fixture guest's port when it was saved (saves/pvh-resume-format1.txt). */
    private static final int LEGACY_BACKEND_PORT = 3;

    /** The format-1 fixture, unpacked into {@code dir}. */
    static Path legacyFixture(Path dir) throws IOException {
        Path file = dir.resolve("pvh-resume-format1.jxensave");
        try (InputStream in = new GZIPInputStream(SaveFileTest.class.getResourceAsStream("/saves/pvh-resume-format1.jxensave.gz"))) {
            Files.copy(in, file);
        }
        return file;
    }

    /** Reading either works or fails with an IOException; nothing else may escape. */
    private static void assertRefusedOrRead(Path file, String what) {
        GuestMemory into = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
        try (SaveFile.Reader reader = new SaveFile.Reader(file)) {
            if (reader.saved.memoryBytes() == RAM) reader.readRam(into);
        } catch (IOException expected) {
            assertNotNull(expected.getMessage(), what);
            assertFalse(expected.getMessage().contains("\n"), what);
        } catch (RuntimeException e) {
            fail(what + ": " + e, e);
        }
    }
}
