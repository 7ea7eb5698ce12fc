package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Optional;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.HoleFrames;
import org.jxen.engine.platform.VcpuHvmContext;
import org.jxen.engine.platform.VcpuLifecycle;
import org.jxen.engine.pvclock.ClockSample;
import org.jxen.engine.pvclock.MasterClock;
import org.jxen.engine.pvclock.TscScale;
import org.jxen.sys.kvm.KvmAbi;
import org.jxen.sys.kvm.KvmVcpu.StateBlock;
import org.jxen.vmm.boot.GuestLayout;
import org.jxen.vmm.snapshot.RamSections;
import org.jxen.vmm.snapshot.SnapshotWriter;

/**
 * A live migration's stream as SaveFile.Reader takes it (no KVM needed): the domain section, RAM rounds before the
 * state (kept until the domain's memory exists), {@code clock} replacing the domain section's time, the state, the last
 * pages (each replacing an earlier round's), end. A RAM section after the last pages' state part, or a clock twice, is
 * refused in one line.
 */
class MigrationStreamTest {
    private static final long RAM = 4L << 20;

    @Test
    void roundsBeforeTheStateAreAppliedAndLaterPagesWin() throws IOException {
        SaveFile state = stoppedDomain();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        SnapshotWriter w = new SnapshotWriter(bytes);
        w.write(SaveFile.DOMAIN, new SaveFile.Domain(RAM, 2, 5L));
        page(w, 3, (byte) 1); // round 1
        page(w, 7, (byte) 1);
        page(w, 3, (byte) 2); // round 2: page 3 again
        w.write(SaveFile.CLOCK, 9_000_000_000L);
        state.writeState(w);
        page(w, 7, (byte) 3); // the last pages
        w.finish();
        try (SaveFile.Reader reader = new SaveFile.Reader(new ByteArrayInputStream(bytes.toByteArray()), -1, "migration stream")) {
            assertEquals(9_000_000_000L, reader.saved.systemTimeNs(), "the clock at the stop, not the domain section's");
            assertEquals(2, reader.saved.vcpus());
            GuestMemory ram = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
            reader.readRam(ram);
            assertEquals(2, ram.segment().get(ValueLayout.JAVA_BYTE, 3L << 12));
            assertEquals(3, ram.segment().get(ValueLayout.JAVA_BYTE, (7L << 12) + 4095));
            assertEquals(0, ram.segment().get(ValueLayout.JAVA_BYTE, 4L << 12));
        }
    }

    @Test
    void aClockGivenTwiceIsRefusedInOneLine() throws IOException {
        SaveFile state = stoppedDomain();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        SnapshotWriter w = new SnapshotWriter(bytes);
        w.write(SaveFile.DOMAIN, new SaveFile.Domain(RAM, 2, 5L));
        w.write(SaveFile.CLOCK, 1L);
        state.writeState(w);
        w.write(SaveFile.CLOCK, 2L);
        w.finish();
        IOException e = assertThrows(IOException.class,
                () -> new SaveFile.Reader(new ByteArrayInputStream(bytes.toByteArray()), -1, "migration stream").close());
        assertTrue(!e.getMessage().contains("\n") && e.getMessage().contains("clock"), e.getMessage());
    }

    @Test
    void aPageBeyondRamInAnEarlyRoundIsRefused() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        SnapshotWriter w = new SnapshotWriter(bytes);
        w.write(SaveFile.DOMAIN, new SaveFile.Domain(RAM, 2, 5L));
        page(w, RAM >> 12, (byte) 1);
        w.finish();
        IOException e = assertThrows(IOException.class,
                () -> new SaveFile.Reader(new ByteArrayInputStream(bytes.toByteArray()), -1, "migration stream").close());
        assertTrue(e.getMessage().contains("beyond"), e.getMessage());
    }

    private static void page(SnapshotWriter w, long gfn, byte fill) throws IOException {
        byte[] record = new byte[RamSections.RECORD];
        RamSections.putLong(record, gfn);
        Arrays.fill(record, 8, record.length, fill);
        try (OutputStream out = w.open(RamSections.KIND, RamSections.VERSION, record.length)) {
            out.write(record);
        }
    }

    /** A domain's state as a save captures it: a platform with one IPI, two vCPUs, the interrupt controllers. */
    private static SaveFile stoppedDomain() {
        GuestMemory ram = new GuestMemory(Arena.ofAuto().allocate(RAM, 4096));
        VcpuLifecycle none = new VcpuLifecycle() {
            @Override
            public void start(int vcpu, VcpuHvmContext context) {}

            @Override
            public void stop(int vcpu) {}
        };
        MasterClock clock = new MasterClock(TscScale.forKhz(2_000_000), new ClockSample(0, 0));
        try (GuestPlatform p = new GuestPlatform(new PlatformSpec(ram, GuestLayout.standard(RAM), 2, v -> null, v -> v, none, (a, v) -> 1, clock, () -> 42,
                g -> {}, new ByteArrayOutputStream(), new ByteArrayInputStream(new byte[0]), HoleFrames.NONE))) {
            p.ports().bindIpi(1);
            Map<StateBlock, byte[]> blocks = new EnumMap<>(StateBlock.class);
            for (StateBlock b : new StateBlock[] {StateBlock.REGS, StateBlock.SREGS, StateBlock.FPU, StateBlock.LAPIC, StateBlock.EVENTS})
                blocks.put(b, new byte[b.size]);
            List<VcpuState> vcpus = List.of(new VcpuState(0, blocks, List.of()), new VcpuState(1, blocks, List.of()));
            byte[] chip = new byte[KvmAbi.SIZEOF_KVM_IRQCHIP];
            return new SaveFile(RAM, 2, 5L, p.save(), List.of(chip, chip, chip), Optional.empty(), vcpus);
        }
    }
}
