package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.PagingState;

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

    /**
     * The vCPU stopped on Linux's IRQ stack, deep in a handler (the frame is not among the words printed), and the
     * interrupt's frame is on the task stack it came from, whose pointer call_on_irqstack left at the IRQ stack's top.
     * Both stacks are 16 KiB, mapped with an unmapped page above each, as Linux's vmapped stacks are.
     */
    @Test
    void theFrameIsFoundOnTheTaskStackTheIrqStackWasEnteredFrom() {
        MemorySegment seg = Arena.ofAuto().allocate(4L << 20, 4096);
        GuestMemory ram = new GuestMemory(seg);
        long pml4 = 0x1000, pdpt = 0x2000, pd = 0x3000, pt = 0x4000;
        long irqStack = 0xFFFF_C900_0001_0000L, taskStack = 0xFFFF_C900_0002_0000L;
        seg.set(ValueLayout.JAVA_LONG, pml4 + ((irqStack >>> 39) & 0x1FF) * 8, pdpt | 3);
        seg.set(ValueLayout.JAVA_LONG, pdpt + ((irqStack >>> 30) & 0x1FF) * 8, pd | 3);
        seg.set(ValueLayout.JAVA_LONG, pd + ((irqStack >>> 21) & 0x1FF) * 8, pt | 3);
        long irqFrames = 0x10_0000, taskFrames = 0x20_0000;
        for (int i = 0; i < 4; i++) {
            seg.set(ValueLayout.JAVA_LONG, pt + (((irqStack >>> 12) & 0x1FF) + i) * 8, irqFrames + 4096L * i | 3);
            seg.set(ValueLayout.JAVA_LONG, pt + (((taskStack >>> 12) & 0x1FF) + i) * 8, taskFrames + 4096L * i | 3);
        }
        PagingState paging = new PagingState(PagingState.CR0_PE | PagingState.CR0_PG, pml4, PagingState.CR4_PAE,
                PagingState.EFER_LME | PagingState.EFER_LMA);
        long rsp = irqStack + 0x1000; // 12 KiB of IRQ stack above it: far more than the words printed
        long taskRsp = taskStack + 0x3E00;
        seg.set(ValueLayout.JAVA_LONG, irqFrames + 0x4000 - 8, taskRsp); // the IRQ stack's top word
        long[] frame = {-1L, 0xFFFF_FFFF_8110_6930L, 0x10, 0x46, KSTACK, 0x18};
        long frameAt = taskFrames + 0x3E00 + 0x40;
        for (int i = 0; i < frame.length; i++) seg.set(ValueLayout.JAVA_LONG, frameAt + 8L * i, frame[i]);

        String found = StallReport.stack(ram, paging, rsp);
        assertTrue(found.contains("an interrupt frame at 0x" + Long.toHexString(taskRsp + 0x48) + " saved rip 0xffffffff81106930 rflags 0x46: "
                + StallReport.INTERRUPT_WITH_IF_CLEAR), found);

        seg.set(ValueLayout.JAVA_LONG, frameAt + 24, 0x246L); // the same frame with IF set: an ordinary interrupt
        assertFalse(StallReport.stack(ram, paging, rsp).contains(StallReport.INTERRUPT_WITH_IF_CLEAR));
    }

    /** A stack of zeros (a guest without paging stopped with rsp 0, or an untouched stack) is one phrase, not 192 words. */
    @Test
    void zeroWordsAreCountedNotPrinted() {
        GuestMemory ram = new GuestMemory(Arena.ofAuto().allocate(1L << 20, 4096));
        assertEquals(" (192 zero words)", StallReport.stack(ram, PagingState.FLAT, 0));
        ram.region(0x8000, 16).orElseThrow().putLongVolatile(8, 0x1234);
        assertEquals(" 0 1234 (then 190 zero words)", StallReport.stack(ram, PagingState.FLAT, 0x8000));
    }
}
