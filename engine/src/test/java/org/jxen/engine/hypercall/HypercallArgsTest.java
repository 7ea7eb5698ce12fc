package org.jxen.engine.hypercall;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.jxen.engine.abi.GuestWidth;
import org.junit.jupiter.api.Test;

/** The calling convention follows the vCPU's mode at the call, not the guest's latched width. */
class HypercallArgsTest {
    private static final long HIGH = 0xDEAD_BEEF_0000_0000L;

    @Test
    void sixtyFourBitCodeUsesRdiRsiRdxR10R8() {
        HypercallArgs a = HypercallArgs.fromRegisters(true, true, 32, 1, 2, 3, 4, 5, 6, 7);
        assertEquals(new HypercallArgs(GuestWidth.BITS_64, 32, 5, 4, 3, 7, 6), a);
        assertEquals(-22L, a.resultRegister(-22));
    }

    @Test
    void compatibilityModeCodeInALongModeGuestUsesTheThirtyTwoBitConventionWithUpperHalvesIgnored() {
        HypercallArgs a = HypercallArgs.fromRegisters(true, false, HIGH | 32, HIGH | 1, HIGH | 2, HIGH | 3, HIGH | 4,
                HIGH | 5, 6, 7);
        assertEquals(new HypercallArgs(GuestWidth.BITS_32, 32, 1, 2, 3, 4, 5), a);
        assertEquals(0xFFFF_FFEAL, a.resultRegister(-22));
    }

    @Test
    void legacyModeUsesTheThirtyTwoBitConvention() {
        HypercallArgs a = HypercallArgs.fromRegisters(false, true, 17, 1, 2, 3, 4, 5, 6, 7);
        assertEquals(GuestWidth.BITS_32, a.mode());
        assertEquals(1, a.a1());
    }
}
