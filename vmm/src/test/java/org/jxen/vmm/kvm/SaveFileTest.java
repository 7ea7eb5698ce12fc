package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
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

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.platform.VcpuHvmContext;
import org.jxen.engine.platform.VcpuLifecycle;
import org.jxen.engine.pvclock.ClockSample;
import org.jxen.engine.pvclock.MasterClock;
import org.jxen.engine.pvclock.TscScale;
import org.jxen.sys.kvm.KvmAbi;
import org.jxen.sys.kvm.KvmVcpu.StateBlock;
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
