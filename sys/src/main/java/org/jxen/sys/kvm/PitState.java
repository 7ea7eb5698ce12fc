package org.jxen.sys.kvm;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.MemoryLayout.PathElement.sequenceElement;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The in-kernel i8254's state as KVM_GET_PIT2 gives it and KVM_SET_PIT2 takes it ({@code struct kvm_pit_state2}, {@code
 * <asm/kvm.h>}): three channels and the flags ({@link KvmAbi#KVM_PIT_FLAGS_HPET_LEGACY}, {@link
 * KvmAbi#KVM_PIT_FLAGS_SPEAKER_DATA_ON}). The u8 fields are held as ints 0..255. KvmAbiTest checks the layouts' sizes
 * and offsets against the system header through the KvmAbi constants.
 */
public record PitState(List<Channel> channels, int flags) {
    public static final int CHANNELS = 3;

    /**
     * One channel ({@code struct kvm_pit_channel_state}): the count loaded (1..0x10000), the latches, the read/write
     * byte state machine, mode (0..5; 0xFF before a guest programs it), BCD, the gate input, and when the count was
     * loaded ({@code count_load_time}: the host's CLOCK_MONOTONIC in ns, KVM's ktime_get()).
     */
    public record Channel(int count, int latchedCount, int countLatched, int statusLatched, int status, int readState, int writeState,
            int writeLatch, int rwMode, int mode, int bcd, int gate, long countLoadTime) {}

    public static final StructLayout CHANNEL = MemoryLayout.structLayout(
            JAVA_INT.withName("count"), JAVA_SHORT.withName("latched_count"), JAVA_BYTE.withName("count_latched"),
            JAVA_BYTE.withName("status_latched"), JAVA_BYTE.withName("status"), JAVA_BYTE.withName("read_state"),
            JAVA_BYTE.withName("write_state"), JAVA_BYTE.withName("write_latch"), JAVA_BYTE.withName("rw_mode"),
            JAVA_BYTE.withName("mode"), JAVA_BYTE.withName("bcd"), JAVA_BYTE.withName("gate"), JAVA_LONG.withName("count_load_time"));
    public static final StructLayout STATE2 = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(CHANNELS, CHANNEL).withName("channels"), JAVA_INT.withName("flags"),
            MemoryLayout.sequenceLayout(9, JAVA_INT).withName("reserved"));
    /** {@code struct kvm_pit_config} for KVM_CREATE_PIT2. */
    public static final StructLayout CONFIG = MemoryLayout.structLayout(JAVA_INT.withName("flags"), MemoryLayout.sequenceLayout(15, JAVA_INT).withName("pad"));
    /** {@code struct kvm_reinject_control} for KVM_REINJECT_CONTROL. */
    public static final StructLayout REINJECT_CONTROL = MemoryLayout.structLayout(JAVA_BYTE.withName("pit_reinject"),
            MemoryLayout.sequenceLayout(31, JAVA_BYTE).withName("reserved"));

    private static final long FLAGS = STATE2.byteOffset(groupElement("flags"));
    private static final long COUNT = CHANNEL.byteOffset(groupElement("count")), LATCHED_COUNT = CHANNEL.byteOffset(groupElement("latched_count")),
            COUNT_LATCHED = CHANNEL.byteOffset(groupElement("count_latched")), COUNT_LOAD_TIME = CHANNEL.byteOffset(groupElement("count_load_time"));

    public PitState {
        channels = List.copyOf(channels);
        if (channels.size() != CHANNELS) throw new IllegalArgumentException(channels.size() + " PIT channels");
    }

    /** Offset of channel {@code i} in {@link #STATE2}. */
    static long channelOffset(int i) {
        return STATE2.byteOffset(groupElement("channels"), sequenceElement(i));
    }

    /** Reads a {@code struct kvm_pit_state2} ({@link #STATE2}'s size). */
    public static PitState from(MemorySegment s) {
        List<Channel> channels = new ArrayList<>();
        for (int i = 0; i < CHANNELS; i++) {
            MemorySegment c = s.asSlice(channelOffset(i), CHANNEL.byteSize());
            int[] b = new int[10]; // count_latched .. gate: ten u8 in order
            for (int k = 0; k < b.length; k++) b[k] = Byte.toUnsignedInt(c.get(JAVA_BYTE, COUNT_LATCHED + k));
            channels.add(new Channel(c.get(JAVA_INT, COUNT), Short.toUnsignedInt(c.get(JAVA_SHORT, LATCHED_COUNT)), b[0], b[1], b[2], b[3], b[4], b[5],
                    b[6], b[7], b[8], b[9], c.get(JAVA_LONG, COUNT_LOAD_TIME)));
        }
        return new PitState(channels, s.get(JAVA_INT, FLAGS));
    }

    /** Writes this state as a {@code struct kvm_pit_state2} into {@code s} (reserved words zero). */
    public void to(MemorySegment s) {
        s.asSlice(0, STATE2.byteSize()).fill((byte) 0);
        for (int i = 0; i < CHANNELS; i++) {
            MemorySegment c = s.asSlice(channelOffset(i), CHANNEL.byteSize());
            Channel ch = channels.get(i);
            c.set(JAVA_INT, COUNT, ch.count());
            c.set(JAVA_SHORT, LATCHED_COUNT, (short) ch.latchedCount());
            int[] b = {ch.countLatched(), ch.statusLatched(), ch.status(), ch.readState(), ch.writeState(), ch.writeLatch(), ch.rwMode(), ch.mode(),
                    ch.bcd(), ch.gate()};
            for (int k = 0; k < b.length; k++) c.set(JAVA_BYTE, COUNT_LATCHED + k, (byte) b[k]);
            c.set(JAVA_LONG, COUNT_LOAD_TIME, ch.countLoadTime());
        }
        s.set(JAVA_INT, FLAGS, flags);
    }
}
