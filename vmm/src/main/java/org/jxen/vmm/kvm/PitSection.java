package org.jxen.vmm.kvm;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.jxen.sys.kvm.PitState;
import org.jxen.vmm.snapshot.SectionCodec;

/**
 * The save section {@code pit}, version 1 (docs/save-format.md): KVM's i8254 as KVM_GET_PIT2 gave it, field by field,
 * big-endian, per channel i32 count, u16 latched count, the ten u8 fields of {@code struct kvm_pit_channel_state} in
 * its order (count_latched, status_latched, status, read_state, write_state, write_latch, rw_mode, mode, bcd, gate),
 * i64 count_load_time; then i32 flags. A reader takes only what KVM's own emulation can produce (a count 1..0x10000, a
 * mode 0..5 or 0xFF, byte states 0..4, bits 0..1), so a damaged save fails here, not in the guest.
 *
 * <p>{@code count_load_time} is the host's CLOCK_MONOTONIC (KVM's ktime_get()) when a channel's count was loaded. On
 * one host that clock runs on across a save, so the value stays meaningful; a restore on another host (a live
 * migration) would need it re-based from the source's clock to the destination's, as QEMU's hw/i386/kvm/i8254.c does
 * (kvm_pit_update_clock_offset: it keeps the time on its own virtual clock and converts at get and put). jxen carries
 * it as it is because KVM does not use it: KVM_SET_PIT2 reloads every channel's count (kvm_vm_ioctl_set_pit2 calls
 * kvm_pit_load_count), stamping count_load_time with the destination's now and restarting channel 0's timer, so a
 * restored channel counts down again from its loaded count on any host; mode, latches, gate and flags carry over.
 */
final class PitSection {
    private PitSection() {}

    /** Bytes per channel (4 + 2 + 10 + 8) and in the payload. */
    static final int CHANNEL_LENGTH = 24, LENGTH = PitState.CHANNELS * CHANNEL_LENGTH + 4;
    private static final int UNPROGRAMMED = 0xFF, MAX_RW_STATE = 4;

    static final SectionCodec<PitState> CODEC = SectionCodec.of("pit", 1, LENGTH, PitSection::write, (v, in) -> read(in));

    static void write(PitState s, DataOutputStream out) throws IOException {
        for (PitState.Channel c : s.channels()) {
            out.writeInt(c.count());
            out.writeShort(c.latchedCount());
            for (int b : new int[] {c.countLatched(), c.statusLatched(), c.status(), c.readState(), c.writeState(), c.writeLatch(), c.rwMode(),
                    c.mode(), c.bcd(), c.gate()})
                out.writeByte(b);
            out.writeLong(c.countLoadTime());
        }
        out.writeInt(s.flags());
    }

    static PitState read(DataInputStream in) throws IOException {
        List<PitState.Channel> channels = new ArrayList<>();
        for (int i = 0; i < PitState.CHANNELS; i++) {
            int count = in.readInt();
            int latched = in.readUnsignedShort();
            int[] b = new int[10];
            for (int k = 0; k < b.length; k++) b[k] = in.readUnsignedByte();
            PitState.Channel c = new PitState.Channel(count, latched, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], in.readLong());
            check(i, c);
            channels.add(c);
        }
        return new PitState(channels, in.readInt());
    }

    /** What KVM's i8254.c can leave in a channel: anything else is a damaged save. */
    private static void check(int i, PitState.Channel c) throws IOException {
        if (c.count() < 1 || c.count() > 0x10000) throw new IOException("PIT channel " + i + ": count " + c.count());
        if (c.mode() > 5 && c.mode() != UNPROGRAMMED) throw new IOException("PIT channel " + i + ": mode " + c.mode());
        for (int state : new int[] {c.countLatched(), c.readState(), c.writeState(), c.rwMode()})
            if (state > MAX_RW_STATE) throw new IOException("PIT channel " + i + ": read/write state " + state);
        for (int bit : new int[] {c.statusLatched(), c.bcd(), c.gate()})
            if (bit > 1) throw new IOException("PIT channel " + i + ": a flag of " + bit);
    }
}
