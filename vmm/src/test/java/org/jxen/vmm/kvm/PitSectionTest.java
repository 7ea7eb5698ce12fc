package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

import org.junit.jupiter.api.Test;
import org.jxen.sys.kvm.KvmAbi;
import org.jxen.sys.kvm.PitState;

/** The {@code pit} section: a state reads back equal, at its exact length; a field KVM could not have left is refused. */
class PitSectionTest {
    /** Channel 0 periodic (mode 2, Linux's HZ count), 1 unprogrammed, 2 in mode 0 with its gate high and an MSB latched. */
    static PitState sample() {
        return new PitState(List.of(
                new PitState.Channel(1193, 0, 0, 0, 0, 3, 3, 0, 3, 2, 0, 1, 1_000_000_007L),
                new PitState.Channel(0x10000, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0, 1, 42),
                new PitState.Channel(0xFFFF, 0xFE12, 2, 1, 0xB0, 3, 4, 0xFF, 3, 0, 0, 1, Long.MAX_VALUE)), KvmAbi.KVM_PIT_FLAGS_SPEAKER_DATA_ON);
    }

    @Test
    void aStateReadsBackEqualAtItsLength() throws IOException {
        byte[] b = bytes(sample());
        assertEquals(PitSection.LENGTH, b.length);
        assertEquals(PitSection.CODEC.maxLength(), b.length);
        assertEquals(sample(), PitSection.read(new DataInputStream(new ByteArrayInputStream(b))));
    }

    @Test
    void whatKvmCannotHaveLeftIsRefused() {
        List<UnaryOperator<PitState.Channel>> damages = List.of(
                c -> with(c, 0, 0), // count 0: KVM loads 0 as 0x10000
                c -> with(c, 0, 0x10001),
                c -> with(c, 9, 6), // mode
                c -> with(c, 5, 5), // write_state
                c -> with(c, 11, 2), // gate
                c -> with(c, 3, 7)); // status_latched
        for (int d = 0; d < damages.size(); d++) {
            for (int ch = 0; ch < PitState.CHANNELS; ch++) {
                List<PitState.Channel> channels = new ArrayList<>(sample().channels());
                channels.set(ch, damages.get(d).apply(channels.get(ch)));
                byte[] b = bytes(new PitState(channels, 0));
                IOException e = assertThrows(IOException.class, () -> PitSection.read(new DataInputStream(new ByteArrayInputStream(b))),
                        "damage " + d + " in channel " + ch);
                assertTrue(e.getMessage().startsWith("PIT channel " + ch), e.getMessage());
            }
        }
    }

    /** {@code c} with field {@code index} (in the struct's order, count first) set to {@code v}. */
    private static PitState.Channel with(PitState.Channel c, int index, int v) {
        int[] f = {c.count(), c.latchedCount(), c.countLatched(), c.statusLatched(), c.status(), c.readState(), c.writeState(), c.writeLatch(),
                c.rwMode(), c.mode(), c.bcd(), c.gate()};
        f[index] = v;
        return new PitState.Channel(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], c.countLoadTime());
    }

    private static byte[] bytes(PitState s) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            PitSection.write(s, new DataOutputStream(out));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return out.toByteArray();
    }
}
