package org.jxen.engine.hypercall;

import static org.jxen.engine.abi.DomId.DOMID_SELF;
import static org.jxen.engine.abi.Errno.*;
import static org.jxen.engine.abi.EvtchnOp.*;
import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.ValueLayout;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.EvtchnStructs;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Virq;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.memory.AddressTranslator;
import org.jxen.engine.memory.GuestVirtualMemory;
import org.jxen.engine.testing.EventFixture;

/** Every EVTCHNOP through the hypercall layer (structs in guest memory), per result and error code, both layouts. */
class EventChannelOpTest {
    private static final int DOMID = 1;

    /** alloc_unbound(dom, remote_dom): the u16 pair in word 0. */
    private static long allocUnbound(EventFixture f, int dom, int remote) {
        return f.call(ALLOC_UNBOUND, (remote << 16) | dom);
    }

    private static long bindInterdomain(EventFixture f, int remoteDom, int remotePort) {
        return f.call(BIND_INTERDOMAIN, remoteDom, remotePort);
    }

    private static long status(EventFixture f, int dom, int port) {
        return f.call(STATUS, dom, port);
    }

    private static void assertRc(long expected, long actual) {
        assertRc(expected, actual, "");
    }

    private static void assertRc(long expected, long actual, String what) {
        assertEquals(expected, actual, () -> what + ": expected " + Errno.name(expected) + " got " + Errno.name(actual));
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void allocUnboundReturnsLowestFreePortAndRecordsRemote(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            assertRc(0, allocUnbound(f, DOMID_SELF, DomId.DOM0));
            assertEquals(1, f.argU32(EvtchnStructs.ALLOC_UNBOUND_PORT));
            assertRc(0, allocUnbound(f, DOMID, DOMID_SELF));
            assertEquals(2, f.argU32(EvtchnStructs.ALLOC_UNBOUND_PORT));
            assertRc(0, status(f, DOMID_SELF, 2));
            assertEquals(STAT_UNBOUND, f.argU32(EvtchnStructs.STATUS_STATUS));
            assertEquals(DOMID, f.argU16(EvtchnStructs.STATUS_U_DOM), "DOMID_SELF is recorded as the guest's id");
            assertRc(-EPERM, allocUnbound(f, DomId.DOM0, DOMID_SELF));
            assertRc(-ESRCH, allocUnbound(f, 42, DOMID_SELF));
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void loopbackBindInterdomainConnectsBothEndsAndRaisesTheLocalPort(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            allocUnbound(f, DOMID_SELF, DOMID_SELF);
            assertRc(0, bindInterdomain(f, DOMID_SELF, 1));
            int local = f.argU32(EvtchnStructs.BIND_INTERDOMAIN_LOCAL_PORT);
            assertEquals(2, local);
            assertTrue(f.pending(2), "bind_interdomain sets the new local port pending");
            assertFalse(f.pending(1));
            assertEquals(1L, f.selector(0) & 1);
            assertTrue(f.upcallPending(0));
            assertEquals(List.of(0), List.copyOf(f.upcalls));

            assertRc(0, status(f, DOMID_SELF, 1));
            assertEquals(STAT_INTERDOMAIN, f.argU32(EvtchnStructs.STATUS_STATUS));
            assertEquals(DOMID, f.argU16(EvtchnStructs.STATUS_U_DOM));
            assertEquals(2, f.argU32(EvtchnStructs.STATUS_U_PORT));

            f.clearPendingBit(2);
            assertRc(0, f.call(SEND, 1));
            assertTrue(f.pending(2), "send on one end raises the other");
            assertFalse(f.pending(1));
            f.clearPendingBit(2);
            assertRc(0, f.call(SEND, 2));
            assertTrue(f.pending(1));
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void bindInterdomainErrors(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            assertRc(-ESRCH, bindInterdomain(f, 42, 1));
            assertRc(-EINVAL, bindInterdomain(f, DOMID_SELF, 1), "free remote port");
            assertRc(-EINVAL, bindInterdomain(f, DOMID_SELF, 64), "remote port beyond the valid range");
            assertRc(-EINVAL, bindInterdomain(f, DOMID_SELF, -1));
            allocUnbound(f, DOMID_SELF, DomId.DOM0); // port 1, for dom0 only
            assertRc(-EINVAL, bindInterdomain(f, DOMID_SELF, 1), "unbound for another domain");
            f.call(BIND_IPI, 0); // port 2
            assertRc(-EINVAL, bindInterdomain(f, DOMID_SELF, 2), "remote not unbound");
            assertRc(-EINVAL, bindInterdomain(f, DomId.DOM0, 1), "dom0 has no such unbound port");
            // Failed binds leave no port behind.
            assertRc(0, f.call(BIND_IPI, 0));
            assertEquals(3, f.argU32(EvtchnStructs.BIND_IPI_PORT));
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void bindVirqRules(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            assertRc(0, f.call(BIND_VIRQ, Virq.TIMER, 2));
            int timer = f.argU32(EvtchnStructs.BIND_VIRQ_PORT);
            assertEquals(1, timer);
            assertRc(-EEXIST, f.call(BIND_VIRQ, Virq.TIMER, 2));
            assertRc(0, f.call(BIND_VIRQ, Virq.TIMER, 3), "per-vCPU VIRQ binds once per vCPU");
            assertRc(-EINVAL, f.call(BIND_VIRQ, Virq.CONSOLE, 1), "global VIRQ on vcpu != 0");
            assertRc(-EINVAL, f.call(BIND_VIRQ, Virq.COUNT, 0));
            assertRc(-EINVAL, f.call(BIND_VIRQ, -1, 0));
            assertRc(-ENOENT, f.call(BIND_VIRQ, Virq.DEBUG, 4));
            assertRc(-ENOENT, f.call(BIND_VIRQ, Virq.TIMER, -1));
            assertRc(-EINVAL, f.call(BIND_VIRQ, Virq.DOM_EXC, -1), "global check comes before the vCPU lookup");
            assertRc(0, f.call(BIND_VIRQ, Virq.ARCH_0, 0));

            assertRc(0, status(f, DOMID_SELF, timer));
            assertEquals(STAT_VIRQ, f.argU32(EvtchnStructs.STATUS_STATUS));
            assertEquals(2, f.argU32(EvtchnStructs.STATUS_VCPU));
            assertEquals(Virq.TIMER, f.argU32(EvtchnStructs.STATUS_U_WORD));

            assertRc(-EINVAL, f.call(SEND, timer), "VIRQ ports cannot be sent on");
            assertTrue(f.ports.raiseVirq(2, Virq.TIMER));
            assertTrue(f.pending(timer));
            assertTrue(f.upcallPending(2));
            assertFalse(f.upcallPending(0));
            assertFalse(f.ports.raiseVirq(1, Virq.TIMER), "not bound on vCPU 1");

            assertRc(0, f.call(CLOSE, timer));
            assertRc(0, f.call(BIND_VIRQ, Virq.TIMER, 2), "close unbinds the VIRQ");
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void bindPirqRules(GuestWidth w) {
        var cfg = DomainConfig.of(2).withPirqAccess(pirq -> pirq != 7);
        try (var f = new EventFixture(w, cfg)) {
            assertRc(0, f.call(BIND_PIRQ, 5, BIND_PIRQ_WILL_SHARE));
            int port = f.argU32(EvtchnStructs.BIND_PIRQ_PORT);
            assertRc(-EEXIST, f.call(BIND_PIRQ, 5, 0));
            assertRc(-EINVAL, f.call(BIND_PIRQ, 256, 0));
            assertRc(-EINVAL, f.call(BIND_PIRQ, -1, 0));
            assertRc(-EPERM, f.call(BIND_PIRQ, 7, 0));
            assertRc(0, status(f, DOMID_SELF, port));
            assertEquals(STAT_PIRQ, f.argU32(EvtchnStructs.STATUS_STATUS));
            assertEquals(5, f.argU32(EvtchnStructs.STATUS_U_WORD));
            assertRc(-EINVAL, f.call(SEND, port));
            assertTrue(f.ports.raisePirq(5));
            assertTrue(f.pending(port));
            assertFalse(f.ports.raisePirq(6));
            assertRc(0, f.call(CLOSE, port));
            assertRc(0, f.call(BIND_PIRQ, 5, 0));
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void ipiRaisesItselfOnItsVcpu(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            assertRc(-ENOENT, f.call(BIND_IPI, 4));
            assertRc(-ENOENT, f.call(BIND_IPI, -1));
            assertRc(0, f.call(BIND_IPI, 3));
            int port = f.argU32(EvtchnStructs.BIND_IPI_PORT);
            assertRc(0, f.call(SEND, port));
            assertTrue(f.pending(port));
            assertTrue(f.upcallPending(3));
            assertEquals(List.of(3), List.copyOf(f.upcalls));
            assertRc(0, f.call(SEND, port));
            assertEquals(1, f.upcalls.size(), "a pending port coalesces");
            assertRc(0, status(f, DOMID_SELF, port));
            assertEquals(STAT_IPI, f.argU32(EvtchnStructs.STATUS_STATUS));
            assertEquals(3, f.argU32(EvtchnStructs.STATUS_VCPU));
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void selectorBitFollowsTheLayoutWordSize(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            int port = 0;
            for (int i = 0; i < 40; i++) {
                f.call(BIND_IPI, 1);
                port = f.argU32(EvtchnStructs.BIND_IPI_PORT);
            }
            assertEquals(40, port);
            f.call(SEND, port);
            long expectedSel = 1L << (port / w.bitsPerWord());
            assertEquals(expectedSel, f.selector(1));
            // The bit sits where the layout says, at evtchn_pending + port/8.
            byte b = f.ram.segment().get(ValueLayout.JAVA_BYTE, EventFixture.SHARED_INFO_GPA + w.pendingOffset + port / 8);
            assertEquals(1 << (port % 8), b & 0xFF);
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void sendRules(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            assertRc(-EINVAL, f.call(SEND, 0), "reserved port");
            assertRc(-EINVAL, f.call(SEND, 1), "free port");
            assertRc(-EINVAL, f.call(SEND, 5000));
            allocUnbound(f, DOMID_SELF, DOMID_SELF);
            assertRc(0, f.call(SEND, 1), "unbound: silently dropped");
            assertFalse(f.pending(1));
            assertTrue(f.upcalls.isEmpty());
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void maskedPortIsPendingWithoutUpcallUntilUnmasked(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            f.call(BIND_IPI, 1);
            f.mask(1);
            f.call(SEND, 1);
            assertTrue(f.pending(1));
            assertEquals(0, f.selector(1));
            assertFalse(f.upcallPending(1));
            assertRc(0, f.call(UNMASK, 1));
            assertFalse(f.masked(1));
            assertEquals(1, f.selector(1));
            assertTrue(f.upcallPending(1));
            assertEquals(List.of(1), List.copyOf(f.upcalls));
            assertRc(0, f.call(UNMASK, 1), "unmasking an unmasked port is harmless");
            assertEquals(1, f.upcalls.size());
            assertRc(0, f.call(UNMASK, 5), "a free port in a valid bucket can be unmasked");
            assertRc(-EINVAL, f.call(UNMASK, 64));
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void closeRules(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            assertRc(-EINVAL, f.call(CLOSE, 0));
            assertRc(-EINVAL, f.call(CLOSE, 1));
            assertRc(-EINVAL, f.call(CLOSE, 64));
            allocUnbound(f, DOMID_SELF, DOMID_SELF);
            bindInterdomain(f, DOMID_SELF, 1); // 1 <-> 2, 2 pending
            f.mask(2);
            assertRc(0, f.call(BIND_VCPU, 2, 3));
            assertRc(0, f.call(CLOSE, 2));
            assertFalse(f.pending(2), "close clears pending");
            assertTrue(f.masked(2), "close leaves the mask alone");
            assertRc(0, status(f, DOMID_SELF, 1));
            assertEquals(STAT_UNBOUND, f.argU32(EvtchnStructs.STATUS_STATUS), "the peer reverts to unbound");
            assertEquals(DOMID, f.argU16(EvtchnStructs.STATUS_U_DOM));
            assertRc(0, status(f, DOMID_SELF, 2));
            assertEquals(STAT_CLOSED, f.argU32(EvtchnStructs.STATUS_STATUS));
            assertEquals(0, f.argU32(EvtchnStructs.STATUS_VCPU), "a freed port goes back to vCPU 0");
            assertRc(-EINVAL, f.call(CLOSE, 2));
            assertRc(0, bindInterdomain(f, DOMID_SELF, 1), "the unbound peer can be bound again");
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void statusValidityAndUntouchedBytes(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            assertRc(-EINVAL, status(f, DOMID_SELF, 64), "beyond the first bucket");
            assertRc(-EINVAL, status(f, DOMID_SELF, -1));
            assertRc(-ESRCH, status(f, 42, 1));
            assertRc(-EPERM, status(f, DomId.DOM0, 1));
            assertRc(0, status(f, DOMID_SELF, 0));
            assertEquals(STAT_CLOSED, f.argU32(EvtchnStructs.STATUS_STATUS));
            assertRc(0, status(f, DOMID_SELF, 63));
            f.call(BIND_IPI, 0);
            // Xen copies the whole struct back: the unused union keeps what the guest wrote.
            f.structBytes().fill((byte) 0);
            f.structBytes().set(ValueLayout.JAVA_INT_UNALIGNED, 4, 1);
            f.structBytes().set(ValueLayout.JAVA_INT_UNALIGNED, 16, 0xA5A5A5A5);
            f.structBytes().set(ValueLayout.JAVA_INT_UNALIGNED, 20, 0x5A5A5A5A);
            f.structBytes().set(ValueLayout.JAVA_SHORT_UNALIGNED, 0, (short) DOMID);
            assertRc(0, f.callRaw(STATUS));
            assertEquals(STAT_IPI, f.argU32(EvtchnStructs.STATUS_STATUS));
            assertEquals(0xA5A5A5A5, f.argU32(16));
            assertEquals(0x5A5A5A5A, f.argU32(20));
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void bindVcpuRules(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            f.call(BIND_IPI, 0); // 1
            f.call(BIND_VIRQ, Virq.TIMER, 0); // 2
            f.call(BIND_VIRQ, Virq.CONSOLE, 0); // 3
            allocUnbound(f, DOMID_SELF, DOMID_SELF); // 4
            assertRc(-ENOENT, f.call(BIND_VCPU, 1, 4));
            assertRc(-EINVAL, f.call(BIND_VCPU, 1, 1), "IPI");
            assertRc(-EINVAL, f.call(BIND_VCPU, 2, 1), "per-vCPU VIRQ");
            assertRc(0, f.call(BIND_VCPU, 3, 1), "global VIRQ");
            assertRc(0, f.call(BIND_VCPU, 4, 2), "unbound");
            assertRc(-EINVAL, f.call(BIND_VCPU, 5, 1), "free");
            assertRc(-EINVAL, f.call(BIND_VCPU, 0, 1), "reserved");
            assertRc(-EINVAL, f.call(BIND_VCPU, 99, 1));
            assertTrue(f.ports.raiseVirq(0, Virq.CONSOLE));
            assertTrue(f.upcallPending(1), "global VIRQ goes to the bound vCPU");
            assertRc(0, bindInterdomain(f, DOMID_SELF, 4)); // 5 <-> 4, 4 keeps vCPU 2
            f.acknowledge(0);
            f.acknowledge(1);
            f.call(SEND, 5);
            assertTrue(f.upcallPending(2));
            assertFalse(f.upcallPending(1));
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void resetClosesEverything(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            f.call(BIND_IPI, 0);
            f.call(BIND_VIRQ, Virq.TIMER, 1);
            allocUnbound(f, DOMID_SELF, DOMID_SELF);
            bindInterdomain(f, DOMID_SELF, 3);
            f.mask(4);
            assertRc(-ESRCH, f.call(RESET, 42));
            assertRc(-EPERM, f.call(RESET, DomId.DOM0));
            assertRc(0, f.call(RESET, DOMID_SELF));
            for (int p = 1; p < 6; p++) {
                assertRc(0, status(f, DOMID_SELF, p));
                assertEquals(STAT_CLOSED, f.argU32(EvtchnStructs.STATUS_STATUS));
                assertFalse(f.pending(p));
            }
            assertTrue(f.masked(4), "reset leaves masks alone");
            assertRc(0, f.call(BIND_VIRQ, Virq.TIMER, 1), "VIRQ bindings are gone");
            assertEquals(1, f.argU32(EvtchnStructs.BIND_VIRQ_PORT));
            assertRc(0, f.call(RESET_CONT, DOMID));
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void fifoCommandsOnTwoLevelAndUnknownCommands(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            assertRc(-EOPNOTSUPP, f.call(EXPAND_ARRAY, 5, 0), "expand_array before init_control");
            f.call(BIND_IPI, 0);
            assertRc(-ENOSYS, f.call(SET_PRIORITY, 1, 3), "2-level has no priorities");
            assertRc(-EINVAL, f.call(SET_PRIORITY, 64, 3));
            assertRc(-ENOSYS, f.call(15));
            assertRc(-ENOSYS, f.call(-1));
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void portSpaceIsLimitedByTheLayout(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            int limit = w.twoLevelPorts();
            for (int p = 1; p < limit; p++) {
                assertRc(0, f.call(BIND_IPI, p % 4));
                assertEquals(p, f.argU32(EvtchnStructs.BIND_IPI_PORT));
            }
            assertRc(-ENOSPC, f.call(BIND_IPI, 0));
            assertRc(-ENOSPC, allocUnbound(f, DOMID_SELF, DOMID_SELF));
            f.call(SEND, limit - 1);
            assertTrue(f.pending(limit - 1));
            assertEquals(1L << ((limit - 1) / w.bitsPerWord()), f.selector((limit - 1) % 4));
            assertRc(0, f.call(CLOSE, 700));
            assertRc(0, f.call(BIND_IPI, 0));
            assertEquals(700, f.argU32(EvtchnStructs.BIND_IPI_PORT), "the lowest free port is reused");
        }
    }

    @Test
    void maxEvtchnPortLimitsAllocation() {
        try (var f = new EventFixture(GuestWidth.BITS_64, DomainConfig.of(1).withMaxPort(70))) {
            for (int p = 1; p <= 70; p++) assertRc(0, f.call(BIND_IPI, 0));
            assertRc(-ENOSPC, f.call(BIND_IPI, 0));
        }
    }

    @ParameterizedTest
    @EnumSource(GuestWidth.class)
    void badPointersAreEfault(GuestWidth w) {
        try (var f = EventFixture.of(w)) {
            for (int cmd = 0; cmd <= 10; cmd++) {
                assertRc(-EFAULT, f.op.invoke(cmd, EventFixture.RAM_SIZE - 1, f.vmem), "cmd " + cmd + " straddling RAM end");
                assertRc(-EFAULT, f.op.invoke(cmd, -8, f.vmem));
                assertRc(-EFAULT, f.op.invoke(cmd, Long.MAX_VALUE, f.vmem));
            }
            // The output cannot be written: the port is allocated anyway and the call is -EFAULT.
            AddressTranslator readOnly = (gva, write) -> write ? AddressTranslator.FAULT : gva;
            var ro = new GuestVirtualMemory(f.ram, readOnly);
            f.structBytes().fill((byte) 0);
            assertRc(-EFAULT, f.op.invoke(BIND_IPI, EventFixture.ARG_GPA, ro));
            assertRc(0, status(f, DOMID_SELF, 1));
            assertEquals(STAT_IPI, f.argU32(EvtchnStructs.STATUS_STATUS));
        }
    }

    @Test
    void structsStraddlingPagesAreCopiedPieceByPiece() {
        try (var f = EventFixture.of(GuestWidth.BITS_64)) {
            // Virtual page 0x10000 -> physical 0x5000; 0x11000 -> 0x3000: an evtchn_status split across them.
            AddressTranslator split = (gva, write) -> {
                long page = gva & ~0xFFFL;
                if (page == 0x10000) return 0x5000 | (gva & 0xFFF);
                if (page == 0x11000) return 0x3000 | (gva & 0xFFF);
                return AddressTranslator.FAULT;
            };
            var vm = new GuestVirtualMemory(f.ram, split);
            f.call(BIND_IPI, 2);
            long gva = 0x10FF8; // 8 bytes on the first page, 16 on the second
            f.ram.segment().set(ValueLayout.JAVA_SHORT_UNALIGNED, 0x5FF8, (short) DOMID_SELF);
            f.ram.segment().set(ValueLayout.JAVA_INT_UNALIGNED, 0x5FFC, 1);
            assertRc(0, f.op.invoke(STATUS, gva, vm));
            assertEquals(STAT_IPI, f.ram.segment().get(ValueLayout.JAVA_INT_UNALIGNED, 0x3000));
            assertEquals(2, f.ram.segment().get(ValueLayout.JAVA_INT_UNALIGNED, 0x3004));
            assertRc(-EFAULT, f.op.invoke(STATUS, 0x11FF8, vm), "second page unmapped");
        }
    }

    @Test
    void hypercallRegistersDecodeBothConventions() {
        var a64 = HypercallArgs.from64(32, 0xFFFF_FFFF_0000_0004L, 0x1000, 3, 4, 5);
        assertEquals(32, a64.number());
        assertEquals(0xFFFF_FFFF_0000_0004L, a64.a1());
        assertEquals(-22L, a64.resultRegister(-22));
        var a32 = HypercallArgs.from32(0xDEAD_0000_0000_0020L, 0xFFFF_FFFF_0000_0004L, 0x1_0000_1000L, 3, 4, 5);
        assertEquals(32, a32.number(), "upper halves ignored");
        assertEquals(4, a32.a1());
        assertEquals(0x1000, a32.a2());
        assertEquals(0xFFFF_FFEAL, a32.resultRegister(-22));
        assertEquals(Integer.MAX_VALUE, HypercallArgs.from64(1L << 40, 0, 0, 0, 0, 0).number());
    }
}
