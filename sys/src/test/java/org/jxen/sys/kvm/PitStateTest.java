package org.jxen.sys.kvm;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The PIT's layouts against the header's sizes and offsets (the KvmAbi constants KvmAbiTest checks), a state through
 * its struct and back, and KVM's own PIT on this host's /dev/kvm: created after the irqchip only, its reset state, and
 * a state set and read back.
 */
class PitStateTest {
    @Test
    void theLayoutsAreTheHeaders() {
        assertEquals(SIZEOF_KVM_PIT_CONFIG, PitState.CONFIG.byteSize());
        assertEquals(SIZEOF_KVM_PIT_CHANNEL_STATE, PitState.CHANNEL.byteSize());
        assertEquals(OFFSETOF_KVM_PIT_CHANNEL_STATE_LATCHED_COUNT, PitState.CHANNEL.byteOffset(groupElement("latched_count")));
        assertEquals(OFFSETOF_KVM_PIT_CHANNEL_STATE_GATE, PitState.CHANNEL.byteOffset(groupElement("gate")));
        assertEquals(OFFSETOF_KVM_PIT_CHANNEL_STATE_COUNT_LOAD_TIME, PitState.CHANNEL.byteOffset(groupElement("count_load_time")));
        assertEquals(SIZEOF_KVM_PIT_STATE2, PitState.STATE2.byteSize());
        assertEquals(OFFSETOF_KVM_PIT_STATE2_FLAGS, PitState.STATE2.byteOffset(groupElement("flags")));
        assertEquals(SIZEOF_KVM_REINJECT_CONTROL, PitState.REINJECT_CONTROL.byteSize());
        assertEquals(SIZEOF_KVM_PIT_CHANNEL_STATE, PitState.channelOffset(1));
    }

    @Test
    void aStateGoesThroughItsStructUnchanged() {
        PitState s = sample();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(PitState.STATE2);
            m.fill((byte) 0x5A);
            s.to(m);
            assertEquals(s, PitState.from(m));
            assertEquals(0, m.get(java.lang.foreign.ValueLayout.JAVA_INT, OFFSETOF_KVM_PIT_STATE2_FLAGS + 4), "reserved words are zero");
        }
        assertThrows(IllegalArgumentException.class, () -> new PitState(List.of(s.channels().getFirst()), 0));
    }

    @Test
    @Tag("kvm")
    void kvmKeepsTheStateItIsGiven() throws KvmUnavailableException {
        assumeTrue(Kvm.present(), "no /dev/kvm on this machine");
        try (Kvm kvm = Kvm.open(); KvmVm vm = kvm.createVm()) {
            assumeTrue(kvm.checkExtension(KVM_CAP_PIT2) > 0 && kvm.checkExtension(KVM_CAP_PIT_STATE2) > 0, "this KVM has no PIT2");
            KvmException noPic = assertThrows(KvmException.class, vm::createPit, "no in-kernel PIC yet");
            assertTrue(noPic.getMessage().contains("KVM_CREATE_PIT2"), noPic.getMessage());
            vm.createIrqchip();
            vm.createPit();
            assertEquals(0, vm.pitReinject(false));
            PitState reset = vm.getPit();
            for (int i = 0; i < PitState.CHANNELS; i++) {
                assertEquals(0xFF, reset.channels().get(i).mode(), "channel " + i + " unprogrammed (kvm_pit_reset)");
                assertEquals(0x10000, reset.channels().get(i).count(), "channel " + i + " count");
                assertEquals(i == 2 ? 0 : 1, reset.channels().get(i).gate(), "channel " + i + " gate");
            }
            PitState s = sample();
            vm.setPit(s);
            PitState back = vm.getPit();
            assertEquals(s.flags(), back.flags());
            for (int i = 0; i < PitState.CHANNELS; i++)
                assertEquals(withoutLoadTime(s.channels().get(i)), withoutLoadTime(back.channels().get(i)), "channel " + i);
            assertTrue(back.channels().get(2).countLoadTime() > 0, "KVM stamps the load time with its monotonic clock");
        }
    }

    private static PitState.Channel withoutLoadTime(PitState.Channel c) {
        return new PitState.Channel(c.count(), c.latchedCount(), c.countLatched(), c.statusLatched(), c.status(), c.readState(), c.writeState(),
                c.writeLatch(), c.rwMode(), c.mode(), c.bcd(), c.gate(), 0);
    }

    /** Channel 0 unprogrammed, 1 in mode 2, 2 in mode 0 counting down from 0xFFFF with its gate high and an MSB latched. */
    private static PitState sample() {
        return new PitState(List.of(
                new PitState.Channel(0x10000, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0, 1, 11),
                new PitState.Channel(18, 0, 0, 0, 0, 3, 3, 0, 3, 2, 0, 1, 22),
                new PitState.Channel(0xFFFF, 0xABCD, 2, 1, 0xB0, 3, 4, 0xFF, 3, 0, 0, 1, 33)), KVM_PIT_FLAGS_SPEAKER_DATA_ON);
    }
}
