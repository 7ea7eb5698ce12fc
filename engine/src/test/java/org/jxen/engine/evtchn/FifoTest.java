package org.jxen.engine.evtchn;

import static org.jxen.engine.abi.Errno.*;
import static org.jxen.engine.abi.EvtchnOp.*;
import static org.jxen.engine.abi.FifoLayout.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.EvtchnStructs;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.testing.EventFixture;

/** The FIFO ABI through the hypercall layer: init_control, expand_array, set_priority, event words and queues. */
class FifoTest {
    /** 1 MiB of guest RAM: control blocks at gfn 0x10.., event array pages from gfn 0x20. */
    static EventFixture fifoFixture(int vcpus) {
        return new EventFixture(GuestWidth.BITS_64, DomainConfig.of(vcpus), 1 << 20);
    }

    static long initControl(EventFixture f, long gfn, int offset, int vcpu) {
        return f.call(INIT_CONTROL, (int) gfn, (int) (gfn >>> 32), offset, vcpu);
    }

    static long expand(EventFixture f, long gfn) {
        return f.call(EXPAND_ARRAY, (int) gfn, (int) (gfn >>> 32));
    }

    /** init_control for every vCPU (control block of vCPU v at gfn 0x10 + v, offset 8) and one array page. */
    static void switchToFifo(EventFixture f) {
        for (int v = 0; v < f.guest.vcpuCount(); v++) assertEquals(0, initControl(f, 0x10 + v, 8, v));
        assertEquals(0, expand(f, 0x20));
    }

    static FifoAbi fifo(EventFixture f) {
        return (FifoAbi) f.guest.abi();
    }

    static int head(EventFixture f, int vcpu, int priority) {
        return fifo(f).controlBlock(vcpu).getIntVolatile(headOffset(priority));
    }

    static int ready(EventFixture f, int vcpu) {
        return fifo(f).controlBlock(vcpu).getIntVolatile(CONTROL_READY);
    }

    private static void assertRc(long expected, long actual) {
        assertRc(expected, actual, "");
    }

    private static void assertRc(long expected, long actual, String what) {
        assertEquals(expected, actual, () -> what + ": expected " + Errno.name(expected) + " got " + Errno.name(actual));
    }

    @Test
    void initControlRules() {
        try (var f = fifoFixture(2)) {
            assertRc(-ENOENT, initControl(f, 0x10, 0, 2), "no such vCPU");
            assertRc(-EINVAL, initControl(f, 0x10, 4, 0), "offset not 8-byte aligned");
            assertRc(-EINVAL, initControl(f, 0x10, 4096 - 72 + 8, 0), "block crosses the page");
            assertRc(-EINVAL, initControl(f, 0x10, -8, 0), "offset is unsigned");
            assertRc(-EINVAL, initControl(f, 0x1000, 0, 0), "gfn beyond RAM");
            assertInstanceOf(TwoLevelAbi.class, f.guest.abi(), "failed init_control leaves 2-level in place");
            assertRc(0, initControl(f, 0x10, 4096 - 72, 0), "last offset that fits");
            assertEquals(LINK_BITS, f.argU32(EvtchnStructs.INIT_CONTROL_LINK_BITS) & 0xFF, "link_bits 17");
            assertInstanceOf(FifoAbi.class, f.guest.abi());
            assertRc(-EINVAL, initControl(f, 0x11, 0, 0), "once per vCPU");
            assertRc(0, initControl(f, 0x11, 0, 1));
        }
    }

    @Test
    void aDomainNotOfferedFifoAnswersInitControlWithEnosysAndStaysTwoLevel() {
        try (var f = fifoFixture(2)) {
            f.op.offerFifo(false);
            assertFalse(f.op.fifoOffered());
            assertRc(-ENOSYS, initControl(f, 0x10, 8, 0), "as Xen without the FIFO ABI: Linux falls back to 2-level");
            assertInstanceOf(TwoLevelAbi.class, f.guest.abi());
            int port = (int) bindIpi(f, 0);
            assertTrue(port > 0);
            f.op.offerFifo(true);
            assertRc(0, initControl(f, 0x10, 8, 0), "offered again: the switch works, the bound port carried over");
            assertInstanceOf(FifoAbi.class, f.guest.abi());
        }
    }

    @Test
    void expandArrayRules() {
        try (var f = fifoFixture(1)) {
            assertRc(-EOPNOTSUPP, expand(f, 0x20), "before init_control");
            assertRc(0, initControl(f, 0x10, 0, 0));
            assertRc(-EINVAL, expand(f, 1 << 20), "gfn beyond RAM");
            for (int i = 0; i < MAX_EVENT_ARRAY_PAGES; i++) assertRc(0, expand(f, 0x20 + i), "page " + i);
            assertRc(-ENOSPC, expand(f, 0x20), "past 128 pages (131,072 ports)");
        }
    }

    @Test
    void sendLinksTheEventAndRaisesTheQueue() {
        try (var f = fifoFixture(2)) {
            switchToFifo(f);
            int a = (int) bindIpi(f, 1), b = (int) bindIpi(f, 1);
            assertRc(0, f.call(SEND, a), "send a");
            FifoAbi fifo = fifo(f);
            assertEquals((1 << PENDING) | (1 << LINKED), fifo.eventWord(a));
            assertEquals(a, head(f, 1, PRIORITY_DEFAULT));
            assertEquals(1 << PRIORITY_DEFAULT, ready(f, 1));
            assertTrue(f.upcallPending(1));
            assertEquals(List.of(1), List.copyOf(f.upcalls));

            assertRc(0, f.call(SEND, b), "send b");
            assertEquals((1 << PENDING) | (1 << LINKED) | b, fifo.eventWord(a), "a links to b");
            assertEquals((1 << PENDING) | (1 << LINKED), fifo.eventWord(b));
            assertEquals(a, head(f, 1, PRIORITY_DEFAULT), "HEAD is written only into an empty queue");
            assertEquals(1, f.upcalls.size(), "READY was already set: no second upcall");

            assertRc(0, f.call(SEND, a), "a again: already pending and linked");
            assertEquals((1 << PENDING) | (1 << LINKED) | b, fifo.eventWord(a));
        }
    }

    private static long bindIpi(EventFixture f, int vcpu) {
        assertEquals(0, f.call(BIND_IPI, vcpu));
        return f.argU32(EvtchnStructs.BIND_IPI_PORT);
    }

    @Test
    void prioritiesSelectTheQueue() {
        try (var f = fifoFixture(1)) {
            switchToFifo(f);
            int p = (int) bindIpi(f, 0);
            assertRc(-EINVAL, f.call(SET_PRIORITY, p, 16), "0..15");
            assertRc(-EINVAL, f.call(SET_PRIORITY, p, -1), "unsigned");
            assertRc(-EINVAL, f.call(SET_PRIORITY, 64, 3), "invalid port");
            assertRc(0, f.call(SET_PRIORITY, p, 3), "set_priority");
            assertEquals(3, f.ports.channel(p).priority());
            f.call(SEND, p);
            assertEquals(p, head(f, 0, 3));
            assertEquals(1 << 3, ready(f, 0));
            assertRc(0, f.call(CLOSE, p));
            assertNotEquals(p, (int) bindIpi(f, 0), "a closed port still LINKED is busy: not reused");
            GuestRegion page = f.ram.page(0x20).orElseThrow();
            page.clearBit(p * 4L, LINKED); // the guest consumes it
            assertEquals(p, (int) bindIpi(f, 0), "unlinked: reusable");
        }
    }

    @Test
    void maskedEventsWaitForUnmask() {
        try (var f = fifoFixture(1)) {
            switchToFifo(f);
            int p = (int) bindIpi(f, 0);
            GuestRegion page = f.ram.page(0x20).orElseThrow();
            page.setBit(p * 4L, MASKED);
            f.call(SEND, p);
            assertEquals((1 << PENDING) | (1 << MASKED), fifo(f).eventWord(p));
            assertEquals(0, ready(f, 0));
            assertRc(0, f.call(UNMASK, p), "unmask");
            assertEquals((1 << PENDING) | (1 << LINKED), fifo(f).eventWord(p));
            assertEquals(p, head(f, 0, PRIORITY_DEFAULT));
            assertTrue(f.upcallPending(0));
        }
    }

    @Test
    void eventsBeyondTheArrayAreHeldUntilItGrows() {
        try (var f = fifoFixture(1)) {
            switchToFifo(f);
            int port = 0;
            while (port < 1500) port = (int) bindIpi(f, 0);
            assertEquals(1500, port);
            assertRc(0, f.call(SEND, port), "send beyond the array");
            assertFalse(f.guest.abi().isPending(port));
            assertTrue(f.guest.abi().isMasked(port), "no word: reported masked, as Xen does");
            assertRc(0, expand(f, 0x21), "second page");
            assertEquals((1 << PENDING) | (1 << LINKED), fifo(f).eventWord(port), "the held event is raised");
            assertEquals(port, head(f, 0, PRIORITY_DEFAULT));
        }
    }

    @Test
    void switchCarriesTwoLevelPendingEventsOver() {
        try (var f = fifoFixture(2)) {
            int p = (int) bindIpi(f, 1);
            int q = f.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOMID_SELF);
            int r = f.ports.bindInterdomain(DomId.DOMID_SELF, q); // r pending (bind_interdomain raises it)
            f.call(SEND, p);
            assertTrue(f.pending(p));
            assertEquals(0, initControl(f, 0x10, 0, 0));
            assertEquals(0, initControl(f, 0x11, 0, 1));
            assertFalse(f.guest.abi().isPending(p), "no event word yet");
            assertEquals(0, expand(f, 0x20));
            assertEquals((1 << PENDING) | (1 << LINKED), fifo(f).eventWord(p));
            assertEquals(p, head(f, 1, PRIORITY_DEFAULT));
            assertEquals(r, head(f, 0, PRIORITY_DEFAULT));
            assertEquals(0, fifo(f).eventWord(q));
        }
    }

    @Test
    void portsAbove4096() {
        try (var f = fifoFixture(1)) {
            assertEquals(0, initControl(f, 0x10, 0, 0));
            for (int i = 0; i < 5; i++) assertEquals(0, expand(f, 0x20 + i));
            int port = 0;
            while (port < 5000) port = (int) bindIpi(f, 0);
            assertEquals(5000, port, "FIFO lifts the 2-level limit of 4096");
            f.call(SEND, port);
            assertEquals(port, head(f, 0, PRIORITY_DEFAULT));
            assertEquals(0, f.call(STATUS, DomId.DOMID_SELF, port));
            assertEquals(STAT_IPI, f.argU32(EvtchnStructs.STATUS_STATUS));
        }
    }

    @Test
    void resetReturnsToTwoLevel() {
        try (var f = fifoFixture(1)) {
            switchToFifo(f);
            bindIpi(f, 0);
            assertRc(0, f.call(RESET, DomId.DOMID_SELF), "reset");
            assertInstanceOf(TwoLevelAbi.class, f.guest.abi());
            assertRc(-EOPNOTSUPP, expand(f, 0x20), "2-level again");
            assertRc(0, initControl(f, 0x10, 0, 0), "init_control works again");
        }
    }
}
