package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Optional;
import java.util.Map;
import java.util.Random;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.jxen.engine.evtchn.DomainSnapshot;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.HoleFrames;
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
import org.jxen.vmm.snapshot.SnapshotException;

/**
 * The whole-domain save file: what is written reads back the same (RAM pages, vCPU blocks, interrupt controllers, the
 * platform, disk and NIC records), a save in format 1 (a fixture from the jxen of before the container) still reads
 * and, on KVM, restores and runs on; and a damaged file — cut short anywhere, or with random bytes changed — is refused
 * with an IOException (one line for the user), never another exception or an allocation driven by a bad count.
 */
class SaveFileTest {
    private static final long RAM = 4L << 20;

    @Test
    void whatIsWrittenReadsBackAndDamageIsRefusedInOneLine(@TempDir Path dir) throws Exception {
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
        try (GuestPlatform p = new GuestPlatform(new PlatformSpec(ram, layout, 2, v -> null, v -> v, none, (a, v) -> 1, clock, () -> 42, g -> {},
                new ByteArrayOutputStream(), new ByteArrayInputStream(new byte[0]), HoleFrames.NONE))) {
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
            GuestPlatform.Saved platform = p.save();
            // Two disk/NIC records as a backend writes them (their bytes are the backends' business: carried as they are).
            platform = new GuestPlatform.Saved(platform.snapshot(), platform.devices(), List.of(new byte[] {1, 2, 3}, new byte[] {4}));
            saved = new SaveFile(RAM, 2, 1_000_000_000L, platform, List.of(chip, chip, chip), Optional.of(PitSectionTest.sample()), vcpus);
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
            assertEquals(saved.pit(), s.pit(), "the PIT section");
            assertEquals(1, s.vcpuStates().get(1).mpState());
            assertArrayEquals(saved.vcpuStates().get(0).blocks().get(StateBlock.LAPIC), s.vcpuStates().get(0).blocks().get(StateBlock.LAPIC));
            assertEquals(123456789L, s.vcpuStates().get(0).msrs().getFirst()[1]);
            assertArrayEquals(saved.platform().devices(), s.platform().devices());
            assertEquals(2, s.platform().backends().size());
            assertArrayEquals(new byte[] {4}, s.platform().backends().get(1));
            assertEquals(tags(saved.platform().snapshot()), tags(s.platform().snapshot()), "the platform's extensions");
            assertEquals(saved.platform().snapshot().guestPorts(), s.platform().snapshot().guestPorts());
            reader.readRam(back);
        }
        assertEquals(-1L, back.segment().mismatch(ram.segment()), "RAM read back byte for byte");

        byte[] bytes = Files.readAllBytes(file);
        Path damaged = dir.resolve("damaged");
        List<Integer> cuts = new ArrayList<>();
        for (int at = 0; at < bytes.length; at += Math.max(1, bytes.length / 400)) cuts.add(at);
        for (int at : cuts) {
            Files.write(damaged, Arrays.copyOf(bytes, at));
            assertRefused(damaged, "cut at " + at);
        }
        Random r = new Random(11);
        for (int i = 0; i < 300; i++) {
            byte[] b = bytes.clone();
            for (int k = 0; k < 1 + r.nextInt(4); k++) b[r.nextInt(b.length)] ^= (byte) (1 + r.nextInt(255));
            Files.write(damaged, b);
            assertRefused(damaged, "flip " + i);
        }
    }

    /**
     * A save in format 1, written by the jxen of before the section container (by LegacySaveFixtureMaker, in the commit
     * that added the fixture; see saves/pvh-resume-format1.txt: the
     * guest's console then, and the dom0 port its backend had bound), restores and runs on to its end: the backend's
     * event reaches it, its timer is still pending, it answers on the same port and powers off.
     */
    @ParameterizedTest(name = "in format {0}")
    @ValueSource(ints = {1, 2})
    void theFormatOneFixtureRestoresAndRunsOn(int format, @TempDir Path dir) throws Exception {
        assumeTrue(Kvm.present(), "no /dev/kvm on this machine: the restore is skipped");
        Path file = format == 1 ? legacyFixture(dir) : dir.resolve("container.jxensave");
        if (format == 2) Files.write(file, asContainer(legacyFixture(dir))); // the same domain, saved again in today's format
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
        System.out.println("format-1 fixture (read in format " + format + ") after the restore:\n" + out.strip());
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

    /** The format-1 fixture in today's format: read (every part, RAM too) and written again as a container. */
    private static byte[] asContainer(Path legacy) throws IOException {
        try (SaveFile.Reader reader = new SaveFile.Reader(legacy)) {
            GuestMemory ram = new GuestMemory(Arena.ofAuto().allocate(reader.saved.memoryBytes(), 4096));
            reader.readRam(ram);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            reader.saved.write(out, ram);
            return out.toByteArray();
        }
    }

    /**
     * Every part of the format-1 fixture reads as what the guest had (two vCPUs, 4 MiB, its ports and platform parts,
     * the three interrupt controllers, each vCPU's KVM state), and the same domain written as a container reads back
     * equal, part for part and page for page.
     */
    @Test
    void aFormatOneSaveReadsEveryPartAndConvertsToTheContainer(@TempDir Path dir) throws Exception {
        Path legacy = legacyFixture(dir);
        GuestMemory ram = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
        SaveFile old;
        try (SaveFile.Reader reader = new SaveFile.Reader(legacy)) {
            old = reader.saved;
            reader.readRam(ram);
        }
        assertEquals(RAM, old.memoryBytes());
        assertEquals(2, old.vcpus());
        assertTrue(old.systemTimeNs() > 0);
        assertEquals(2, old.platform().snapshot().vcpus());
        assertEquals(1, old.platform().snapshot().domid(), "the guest's domain id");
        assertTrue(old.platform().snapshot().guestPorts().size() >= 4, "IPIs both ways, the masked port, dom0's: " + old.platform().snapshot().guestPorts());
        assertTrue(tags(old.platform().snapshot()).containsAll(List.of("vcpu.timers", "vcpu.lifecycle", "hvm.params")), tags(old.platform().snapshot()).toString());
        assertTrue(old.platform().backends().isEmpty(), "no disks or NICs");
        assertEquals(3, old.irqchips().size());
        assertTrue(old.pit().isEmpty(), "a save from before the PIT section: a domain without a PIT");
        for (VcpuState v : old.vcpuStates())
            assertTrue(v.blocks().keySet().containsAll(List.of(StateBlock.REGS, StateBlock.SREGS, StateBlock.FPU, StateBlock.LAPIC, StateBlock.EVENTS)));
        long pages = 0;
        for (long gfn = 0; gfn < ram.frames(); gfn++) if (nonZero(ram, gfn)) pages++;
        assertTrue(pages > 4, "the guest's image and data: " + pages + " pages");

        byte[] container = asContainer(legacy);
        GuestMemory back = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
        try (SaveFile.Reader reader = new SaveFile.Reader(new ByteArrayInputStream(container), -1, "migration stream")) {
            SaveFile now = reader.saved;
            reader.readRam(back);
            assertEquals(old.systemTimeNs(), now.systemTimeNs());
            assertArrayEquals(old.platform().devices(), now.platform().devices());
            assertEquals(tags(old.platform().snapshot()), tags(now.platform().snapshot()));
            for (int i = 0; i < old.platform().snapshot().extensions().size(); i++)
                assertArrayEquals(old.platform().snapshot().extensions().get(i).data(), now.platform().snapshot().extensions().get(i).data());
            assertEquals(old.platform().snapshot().guestPorts(), now.platform().snapshot().guestPorts());
            for (int i = 0; i < 3; i++) assertArrayEquals(old.irqchips().get(i), now.irqchips().get(i));
            assertTrue(now.pit().isEmpty(), "no pit section written for a domain without one");
            for (int v = 0; v < 2; v++) {
                assertEquals(old.vcpuStates().get(v).mpState(), now.vcpuStates().get(v).mpState());
                for (StateBlock b : old.vcpuStates().get(v).blocks().keySet())
                    assertArrayEquals(old.vcpuStates().get(v).blocks().get(b), now.vcpuStates().get(v).blocks().get(b), b.name());
            }
        }
        assertEquals(-1L, back.segment().mismatch(ram.segment()), "RAM read back byte for byte");
    }

    /**
     * Format 1 from before disks and NICs were saved ends its devices' bytes with the XenStore connection: read as a
     * save without disks and NICs. A damaged list of them after it is refused.
     */
    @Test
    void aFormatOneSaveFromBeforeDisksAndNicsReads(@TempDir Path dir) throws Exception {
        byte[] file = Files.readAllBytes(legacyFixture(dir));
        ByteBuffer b = ByteBuffer.wrap(file);
        int devicesAt = 30 + 4 + b.getInt(30); // magic, version, RAM, vCPUs, time; the event channels' length and bytes
        int devicesLength = b.getInt(devicesAt);
        assertEquals(0, b.getInt(devicesAt + devicesLength), "the fixture lists no disks or NICs");
        byte[] older = new byte[file.length - 4];
        System.arraycopy(file, 0, older, 0, devicesAt + devicesLength);
        System.arraycopy(file, devicesAt + 4 + devicesLength, older, devicesAt + devicesLength, file.length - devicesAt - 4 - devicesLength);
        ByteBuffer.wrap(older).putInt(devicesAt, devicesLength - 4);
        byte[] devices;
        try (SaveFile.Reader reader = new SaveFile.Reader(new ByteArrayInputStream(file), file.length, "save file")) {
            devices = reader.saved.platform().devices();
        }
        try (SaveFile.Reader reader = new SaveFile.Reader(new ByteArrayInputStream(older), older.length, "save file")) {
            assertArrayEquals(devices, reader.saved.platform().devices());
            assertTrue(reader.saved.platform().backends().isEmpty());
        }
        byte[] damaged = file.clone();
        ByteBuffer.wrap(damaged).putInt(devicesAt + devicesLength, 1); // one record, and no bytes of it
        IOException e = assertThrows(IOException.class, () -> new SaveFile.Reader(new ByteArrayInputStream(damaged), damaged.length, "save file").close());
        assertEquals("the saved devices end early", e.getMessage());
    }

    /**
     * A real domain's container (the fixture's, in today's format), damaged 3000 times with a seed: bytes flipped, cut
     * short, a range dropped or repeated; read from a stream of known and of unknown size. Each is refused with a
     * SnapshotException line (the header's magic and format stay untouched, so the container's reader is the one
     * judged); nothing else escapes, nothing is accepted.
     */
    @Test
    void aDamagedRealContainerIsAlwaysOneCheckedLine(@TempDir Path dir) throws Exception {
        byte[] container = asContainer(legacyFixture(dir));
        Random r = new Random(20261207);
        GuestMemory into = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
        for (int i = 0; i < 3000; i++) {
            byte[] b = container.clone();
            int body = 10; // magic and format
            switch (i % 4) {
                case 0 -> {
                    for (int k = 0; k < 1 + r.nextInt(4); k++) b[body + r.nextInt(b.length - body)] ^= (byte) (1 + r.nextInt(255));
                }
                case 1 -> b = Arrays.copyOf(b, body + r.nextInt(b.length - body));
                case 2 -> {
                    int from = body + r.nextInt(b.length - body), to = from + 1 + r.nextInt(Math.min(5000, b.length - from));
                    byte[] cut = new byte[b.length - (to - from)];
                    System.arraycopy(b, 0, cut, 0, from);
                    System.arraycopy(b, to, cut, from, b.length - to);
                    b = cut;
                }
                default -> {
                    int from = body + r.nextInt(b.length - body), n = 1 + r.nextInt(Math.min(5000, b.length - from));
                    byte[] longer = new byte[b.length + n];
                    System.arraycopy(b, 0, longer, 0, from + n);
                    System.arraycopy(b, from, longer, from + n, b.length - from);
                    b = longer;
                }
            }
            byte[] damaged = b;
            boolean sized = r.nextBoolean();
            String what = "case " + i + (sized ? " (sized)" : " (stream)");
            try (SaveFile.Reader reader = new SaveFile.Reader(new ByteArrayInputStream(damaged), sized ? damaged.length : -1, "save file")) {
                reader.readRam(into);
                // Only bytes after the end section go unseen, and only where the stream's size is unknown (a socket).
                assertTrue(!sized && Arrays.equals(container, Arrays.copyOf(damaged, container.length)), what + ": a damaged container was read");
            } catch (SnapshotException expected) {
                assertFalse(expected.getMessage().contains("\n"), what);
            } catch (IOException | RuntimeException e) {
                fail(what + ": " + e, e);
            }
        }
    }

    private static List<String> tags(DomainSnapshot s) {
        return s.extensions().stream().map(DomainSnapshot.Extension::tag).toList();
    }

    private static boolean nonZero(GuestMemory ram, long gfn) {
        for (long o = 0; o < 4096; o += 8) if (ram.segment().get(ValueLayout.JAVA_LONG, (gfn << 12) + o) != 0) return true;
        return false;
    }

    /** Reading fails with an IOException of one line; nothing else may escape, and nothing damaged is accepted. */
    private static void assertRefused(Path file, String what) {
        GuestMemory into = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
        try (SaveFile.Reader reader = new SaveFile.Reader(file)) {
            if (reader.saved.memoryBytes() == RAM) reader.readRam(into);
            fail(what + ": a damaged save was read");
        } catch (IOException expected) {
            assertNotNull(expected.getMessage(), what);
            assertFalse(expected.getMessage().contains("\n"), what);
        } catch (RuntimeException e) {
            fail(what + ": " + e, e);
        }
    }
}
