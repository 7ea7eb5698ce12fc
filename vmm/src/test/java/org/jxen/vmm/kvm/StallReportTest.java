package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The stack signature of an interrupt taken with IF clear, on words as two stalled Linux guests had them. */
class StallReportTest {
    private static final long RET = 0xFFFF_FFFF_811B_715FL, KSTACK = 0xFFFF_C900_0000_3F40L;

    @Test
    void aKernelInterruptFrameWithIfClearIsFound() {
        long[] w = {RET, 0, -1L, 0xFFFF_FFFF_8110_6930L, 0x10, 0x46, KSTACK, 0x18, RET};
        assertEquals(2, StallReport.interruptFrameWithIfClear(w), "orig_ax -1, rip, cs 0x10, rflags 0x46, rsp, ss 0x18");
    }

    @Test
    void framesWithIfSetOrFromUserModeOrOtherWordsAreNot() {
        assertEquals(-1, StallReport.interruptFrameWithIfClear(new long[] {-1L, 0xFFFF_FFFF_8110_6930L, 0x10, 0x246, KSTACK, 0x18}),
                "IF set: an ordinary interrupt");
        assertEquals(-1, StallReport.interruptFrameWithIfClear(new long[] {-1L, 0x4010_00L, 0x33, 0x202, 0x7FFF_0000L, 0x2B}),
                "user mode");
        assertEquals(-1, StallReport.interruptFrameWithIfClear(new long[] {0, 0xFFFF_FFFF_8110_6930L, 0x10, 0x46, KSTACK, 0x18}),
                "no vector entry's orig_ax");
        assertEquals(-1, StallReport.interruptFrameWithIfClear(new long[] {-1L, 0x10, 0x46}), "too few words");
    }
}
