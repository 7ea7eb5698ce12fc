package org.jxen.engine.model;

import static org.jxen.engine.abi.EvtchnOp.*;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.EvtchnStructs;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.evtchn.Binding;
import org.jxen.engine.evtchn.Channel;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.testing.EventFixture;
import java.lang.foreign.ValueLayout;
import java.util.function.IntPredicate;
import org.jxen.engine.evtchn.FifoAbi;
import org.jxen.engine.evtchn.TwoLevelAbi;

/**
 * Seeded randomized differential test: random operation sequences (every EVTCHNOP through the hypercall layer with
 * good and bad arguments, including the switch to FIFO and its growth; guest-side writes of bits and event words and
 * queue draining; host VIRQ/PIRQ raises; the backend side of interdomain channels; the fast path on or off) run
 * on the engine and on {@link EventModel}; after every step the return code, status output, every port's state,
 * every pending/mask bit, every selector and upcall_pending, every FIFO event word, READY bitmap and HEAD, the upcalls
 * raised and the backend notifications must agree.
 *
 * <p>{@code -Djxen.diff.sequences=N} sets the number of sequences (CI: 100,000); {@code -Djxen.diff.seed=S} the
 * master seed (default: random, printed); {@code -Djxen.diff.sequence=S} replays one sequence. A failure prints the
 * sequence's seed and its trace.
 */
@Tag("slow")
class EventDifferentialTest {
    private static final int DOMID = 1;

    @Test
    void engineMatchesTheSequentialModel() {
        Long one = Long.getLong("jxen.diff.sequence");
        if (one != null) {
            runSequence(one);
            return;
        }
        int sequences = Integer.getInteger("jxen.diff.sequences", 100_000);
        long master = Long.getLong("jxen.diff.seed", System.nanoTime());
        System.out.println("event-channel differential test: " + sequences + " sequences, master seed " + master
                + " (rerun with -Djxen.diff.seed=" + master + ")");
        SplittableRandom seeds = new SplittableRandom(master);
        long ops = 0;
        for (int i = 0; i < sequences; i++) {
            long seed = seeds.nextLong();
            ops += runSequence(seed);
        }
        System.out.println("event-channel differential test: " + ops + " operations compared");
    }

    /** Runs one sequence; returns the number of operations. */
    static int runSequence(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        GuestWidth width = rnd.nextBoolean() ? GuestWidth.BITS_64 : GuestWidth.BITS_32;
        boolean fifoAllowed = rnd.nextBoolean();
        int vcpus = 1 + rnd.nextInt(fifoAllowed ? 4 : rnd.nextInt(8) == 0 ? 40 : 4);
        int maxPort = switch (rnd.nextInt(4)) {
            case 0 -> 5 + rnd.nextInt(10);
            case 1 -> 70 + rnd.nextInt(60);
            default -> Integer.MAX_VALUE;
        };
        int nrPirqs = 8;
        IntPredicate access = p -> p != 3;
        var cfg = new DomainConfig(DOMID, vcpus, nrPirqs, maxPort, access);
        List<String> trace = new ArrayList<>();
        trace.add("width=" + width + " vcpus=" + vcpus + " maxPort=" + maxPort + " fifo allowed=" + fifoAllowed);
        boolean fast = rnd.nextBoolean();
        trace.add("fast path " + (fast ? "on" : "off"));
        long ram = fifoAllowed ? FIFO_RAM : EventFixture.RAM_SIZE;
        try (EventFixture engine = fast ? new EventFixture(width, cfg, ram).withFastPath() : new EventFixture(width, cfg, ram)) {
            EventModel model = new EventModel(DOMID, vcpus, nrPirqs, maxPort, access, width.bitsPerWord());
            List<Integer> backendPorts = new ArrayList<>();
            int length = 1 + rnd.nextInt(60);
            for (int step = 0; step < length; step++) {
                String what = step(rnd, engine, model, vcpus, backendPorts, fifoAllowed);
                trace.add(what);
                String diff = compare(engine, model);
                if (diff != null) fail(report(seed, trace, diff));
            }
            return length;
        } catch (AssertionError e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(report(seed, trace, "exception: " + t), t);
        }
    }

    private static String report(long seed, List<String> trace, String diff) {
        return "engine and model differ (sequence seed " + seed + ", replay with -Djxen.diff.sequence=" + seed + "): " + diff + "\ntrace:\n  " + String.join("\n  ", trace);
    }

    // ---- random arguments ----------------------------------------------------------------------------------------

    private static int port(SplittableRandom rnd, EventModel m) {
        if (rnd.nextBoolean()) {
            int bound = m.randomBoundPort(rnd.nextInt(Integer.MAX_VALUE));
            if (bound > 0) return bound;
        }
        return switch (rnd.nextInt(20)) {
            case 0 -> -1;
            case 1 -> m.validPorts() + rnd.nextInt(70);
            case 2 -> rnd.nextInt();
            case 3 -> 0;
            default -> rnd.nextInt(Math.min(m.validPorts(), 12 + rnd.nextInt(m.validPorts())));
        };
    }

    private static int vcpu(SplittableRandom rnd, int vcpus) {
        return switch (rnd.nextInt(12)) {
            case 0 -> vcpus;
            case 1 -> -1;
            default -> rnd.nextInt(vcpus);
        };
    }

    private static int dom(SplittableRandom rnd) {
        return switch (rnd.nextInt(10)) {
            case 0 -> DomId.DOM0;
            case 1 -> 2 + rnd.nextInt(0x7FFF);
            case 2 -> DOMID;
            default -> DomId.DOMID_SELF;
        };
    }

    private static int virq(SplittableRandom rnd) {
        return switch (rnd.nextInt(10)) {
            case 0 -> 24 + rnd.nextInt(4);
            case 1 -> -1;
            default -> rnd.nextInt(24);
        };
    }

    // ---- one step on both ---------------------------------------------------------------------------------------

    /** FIFO-capable sequences: control block of vCPU v at gfn 4+v, event-array page i at gfn 0x10+i (8 at most). */
    private static final long FIFO_RAM = 128 * 1024;
    private static final long BAD_GFN = 0x1000;
    private static final int MAX_PAGES = 8;

    private static String step(SplittableRandom rnd, EventFixture e, EventModel m, int vcpus, List<Integer> backendPorts,
            boolean fifoAllowed) {
        if (fifoAllowed && rnd.nextInt(12) == 0) return fifoStep(rnd, e, m, vcpus);
        if (rnd.nextInt(40) == 0) {
            e.saveAndRestore();
            return "save and restore";
        }
        int kind = rnd.nextInt(28);
        switch (kind) {
            case 0, 1 -> {
                int d = dom(rnd), r = rnd.nextInt(4) == 0 ? DomId.DOM0 : dom(rnd);
                long rc = e.call(ALLOC_UNBOUND, (r << 16) | d);
                return check("alloc_unbound(" + d + "," + r + ")", rc, e.argU32(EvtchnStructs.ALLOC_UNBOUND_PORT), m.allocUnbound(d, r));
            }
            case 2, 3 -> {
                int d = rnd.nextInt(5) == 0 ? DomId.DOM0 : dom(rnd), p = port(rnd, m);
                long rc = e.call(BIND_INTERDOMAIN, d, p);
                return check("bind_interdomain(" + d + "," + p + ")", rc, e.argU32(EvtchnStructs.BIND_INTERDOMAIN_LOCAL_PORT),
                        m.bindInterdomain(d, p));
            }
            case 4 -> {
                int v = virq(rnd), c = vcpu(rnd, vcpus);
                long rc = e.call(BIND_VIRQ, v, c);
                return check("bind_virq(" + v + "," + c + ")", rc, e.argU32(EvtchnStructs.BIND_VIRQ_PORT), m.bindVirq(v, c));
            }
            case 5 -> {
                int p = rnd.nextInt(10) - 1;
                long rc = e.call(BIND_PIRQ, p, 0);
                return check("bind_pirq(" + p + ")", rc, e.argU32(EvtchnStructs.BIND_PIRQ_PORT), m.bindPirq(p));
            }
            case 6, 7 -> {
                int c = vcpu(rnd, vcpus);
                long rc = e.call(BIND_IPI, c);
                return check("bind_ipi(" + c + ")", rc, e.argU32(EvtchnStructs.BIND_IPI_PORT), m.bindIpi(c));
            }
            case 8, 9 -> {
                int p = port(rnd, m);
                return check("close(" + p + ")", e.call(CLOSE, p), m.close(p));
            }
            case 10, 11, 12 -> {
                int p = port(rnd, m);
                return check("send(" + p + ")", e.call(SEND, p), m.send(p));
            }
            case 13 -> {
                int d = rnd.nextInt(6) == 0 ? dom(rnd) : DomId.DOMID_SELF, p = port(rnd, m);
                return checkStatus(e, m, d, p);
            }
            case 14 -> {
                int p = port(rnd, m), c = vcpu(rnd, vcpus);
                return check("bind_vcpu(" + p + "," + c + ")", e.call(BIND_VCPU, p, c), m.bindVcpu(p, c));
            }
            case 15 -> {
                int p = port(rnd, m);
                return check("unmask(" + p + ")", e.call(UNMASK, p), m.unmask(p));
            }
            case 16 -> {
                if (rnd.nextInt(4) != 0) return "skip";
                int d = rnd.nextInt(4) == 0 ? dom(rnd) : DomId.DOMID_SELF;
                return check("reset(" + d + ")", e.call(RESET, d), m.reset(d));
            }
            case 17 -> {
                int p = port(rnd, m);
                int prio = rnd.nextInt(10) == 0 ? 16 + rnd.nextInt(3) : rnd.nextInt(16);
                return check("set_priority(" + p + "," + prio + ")", e.call(SET_PRIORITY, p, prio), m.setPriority(p, prio));
            }
            case 18 -> {
                int p = rnd.nextInt(Math.min(m.twoLevelLimit, m.validPorts() + 1));
                switch (rnd.nextInt(3)) {
                    case 0 -> { e.mask(p); m.guestMask(p); return "guest mask " + p; }
                    case 1 -> { e.sharedInfo().clearBit(e.width.maskOffset, p); m.guestClearMask(p); return "guest clear mask " + p; }
                    default -> { e.clearPendingBit(p); m.guestClearPending(p); return "guest clear pending " + p; }
                }
            }
            case 25, 26, 27 -> { // the guest handles everything: acknowledge every vCPU, clear every pending bit
                if (m.fifo != null) {
                    drainFifo(e, m);
                    m.fifo.drainAll();
                }
                for (int c = 0; c < vcpus; c++) {
                    e.acknowledge(c);
                    m.guestAcknowledge(c);
                }
                for (int p = 0; p < Math.min(m.twoLevelLimit, m.validPorts()); p++) {
                    e.clearPendingBit(p);
                    m.guestClearPending(p);
                }
                return "guest drains all";
            }
            case 19 -> {
                int c = rnd.nextInt(vcpus);
                e.acknowledge(c);
                m.guestAcknowledge(c);
                return "guest acknowledge vcpu " + c;
            }
            case 20 -> {
                int c = vcpu(rnd, vcpus), v = virq(rnd);
                boolean a = e.ports.raiseVirq(c, v), b = m.raiseVirq(c, v);
                return a == b ? "raise_virq(" + c + "," + v + ")" : "MISMATCH raise_virq " + a + " vs " + b;
            }
            case 21 -> {
                int p = rnd.nextInt(10) - 1;
                boolean a = e.ports.raisePirq(p), b = m.raisePirq(p);
                return a == b ? "raise_pirq(" + p + ")" : "MISMATCH raise_pirq " + a + " vs " + b;
            }
            case 22 -> {
                int a = e.ports.backendAllocUnbound(DomId.DOMID_SELF), b = m.backendAllocUnbound();
                if (a >= 0) {
                    backendPorts.add(a);
                    e.registerBackendPort(a);
                }
                return check("backend alloc_unbound", a, b);
            }
            case 23 -> {
                int p = port(rnd, m);
                int a = e.ports.backendBindInterdomain(DOMID, p), b = m.backendBind(p);
                if (a >= 0) {
                    backendPorts.add(a);
                    e.registerBackendPort(a);
                }
                return check("backend bind(" + p + ")", a, b);
            }
            case 24 -> {
                int bp = backendPorts.isEmpty() || rnd.nextInt(5) == 0 ? rnd.nextInt(70) : backendPorts.get(rnd.nextInt(backendPorts.size()));
                if (rnd.nextBoolean()) return check("backend notify(" + bp + ")", e.ports.backendNotify(bp), m.backendNotify(bp));
                return check("backend close(" + bp + ")", e.ports.backendClose(bp), m.backendClose(bp));
            }
            default -> throw new IllegalStateException("kind " + kind);
        }
    }

    private static String fifoStep(SplittableRandom rnd, EventFixture e, EventModel m, int vcpus) {
        switch (rnd.nextInt(6)) {
            case 0, 1 -> {
                int vcpu = rnd.nextInt(12) == 0 ? vcpus : rnd.nextInt(vcpus);
                int offset = switch (rnd.nextInt(8)) {
                    case 0 -> 4;
                    case 1 -> 4096 - 64;
                    case 2 -> -8;
                    default -> 8 * rnd.nextInt(4);
                };
                boolean goodGfn = rnd.nextInt(8) != 0;
                boolean validVcpu = vcpu >= 0 && vcpu < vcpus;
                long gfn = !goodGfn ? BAD_GFN : validVcpu ? 4 + vcpu : 0x1E; // 0x1E: a scratch page
                boolean registered = m.fifo != null && validVcpu && m.fifo.hasBlock[vcpu];
                if (goodGfn && validVcpu && !registered) e.ram.page(gfn).orElseThrow().clear(); // a fresh, zeroed page
                long rc = e.call(INIT_CONTROL, (int) gfn, 0, offset, vcpu);
                return check("init_control(" + gfn + "," + offset + "," + vcpu + ")", rc, m.initControl(goodGfn, offset, vcpu));
            }
            case 2 -> {
                int pages = m.fifo == null ? 0 : m.fifo.pages;
                if (pages >= MAX_PAGES) return "skip expand";
                boolean goodGfn = rnd.nextInt(8) != 0;
                long gfn = goodGfn ? 0x10 + pages : BAD_GFN;
                if (goodGfn) e.ram.page(gfn).orElseThrow().clear();
                return check("expand_array(" + gfn + ")", e.call(EXPAND_ARRAY, (int) gfn, 0), m.expandArray(goodGfn));
            }
            default -> {
                if (m.fifo == null || m.fifo.pages == 0) return "skip word";
                int p = rnd.nextInt(Math.min(m.fifo.pages * 1024, m.validPorts() + 1));
                var page = e.ram.page(0x10 + p / 1024).orElseThrow();
                long off = (p % 1024) * 4L;
                switch (rnd.nextInt(3)) {
                    case 0 -> {
                        page.setBit(off, 30);
                        m.fifo.words[p] |= EventModel.FifoState.M;
                        return "guest masks word " + p;
                    }
                    case 1 -> {
                        page.clearBit(off, 30);
                        m.fifo.words[p] &= ~EventModel.FifoState.M;
                        return "guest clears mask of word " + p;
                    }
                    default -> {
                        page.clearBit(off, 31);
                        m.fifo.words[p] &= ~EventModel.FifoState.P;
                        return "guest clears pending of word " + p;
                    }
                }
            }
        }
    }

    /** The engine side of {@link EventModel.FifoState#drainAll}: the same walk over guest memory. */
    private static void drainFifo(EventFixture e, EventModel m) {
        FifoAbi fifo = (FifoAbi) e.guest.abi();
        for (int v = 0; v < m.vcpus; v++) {
            var cb = fifo.controlBlock(v);
            if (cb == null) continue;
            cb.getAndSetInt(0, 0);
            for (int q = 0; q < 16; q++) {
                int port = cb.getIntVolatile(8 + 4 * q);
                while (port != 0 && port < m.fifo.pages * 1024) {
                    var page = e.ram.page(0x10 + port / 1024).orElseThrow();
                    long off = (port % 1024) * 4L;
                    int w = page.getIntVolatile(off);
                    page.putIntVolatile(off, w & ~((1 << 29) | ((1 << 17) - 1) | (1 << 31)));
                    port = w & ((1 << 17) - 1);
                }
            }
        }
    }

    private static String check(String what, long engineRc, int modelRc) {
        if (engineRc != modelRc) return "MISMATCH " + what + ": engine " + engineRc + " model " + modelRc;
        return what + " = " + engineRc;
    }

    /** A port-returning op: the engine returns 0 and writes the port; the model returns the port. */
    private static String check(String what, long engineRc, int enginePort, int modelRc) {
        long engineResult = engineRc == 0 ? enginePort : engineRc;
        return check(what, engineResult, modelRc);
    }

    private static String checkStatus(EventFixture e, EventModel m, int dom, int port) {
        var s = e.structBytes();
        s.fill((byte) 0xEE);
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, 0, (short) dom);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, 4, port);
        long rc = e.callRaw(STATUS);
        int[] want = m.status(dom, port);
        String what = "status(" + dom + "," + port + ")";
        if (rc != want[0]) return "MISMATCH " + what + ": engine " + rc + " model " + want[0];
        if (rc != 0) return what + " = " + rc;
        int[] got = {0, e.argU32(8), e.argU32(12), want[3] < 0 ? -1 : e.argU16(16), want[4] < 0 ? -1 : e.argU32(20),
                want[5] < 0 ? -1 : e.argU32(16)};
        if (!Arrays.equals(got, want)) return "MISMATCH " + what + ": engine " + Arrays.toString(got) + " model " + Arrays.toString(want);
        if (want[3] < 0 && want[5] < 0 && e.argU32(16) != 0xEEEEEEEE) return "MISMATCH " + what + ": union bytes overwritten";
        return what + " = " + Arrays.toString(got);
    }

    // ---- full state comparison ---------------------------------------------------------------------------------

    private static String compare(EventFixture e, EventModel m) {
        if (e.ports.validPorts() != m.validPorts()) return "valid ports " + e.ports.validPorts() + " vs " + m.validPorts();
        int limit = Math.min(m.twoLevelLimit, m.validPorts() + 64);
        var si = e.sharedInfo();
        for (int p = 0; p < limit; p++) {
            if (si.testBit(e.width.pendingOffset, p) != m.pending[p]) return "pending bit " + p;
            if (si.testBit(e.width.maskOffset, p) != m.mask[p]) return "mask bit " + p;
        }
        for (int v = 0; v < m.vcpus; v++) {
            if (e.selector(v) != m.sel[v]) return "selector of vcpu " + v + ": " + Long.toHexString(e.selector(v)) + " vs " + Long.toHexString(m.sel[v]);
            if (e.upcallPending(v) != m.upcallPending[v]) return "upcall_pending of vcpu " + v;
            if (e.guest.shared().vcpuInfo(v).getByte(SharedInfoLayout.UPCALL_MASK) != 0) return "upcall_mask written";
        }
        if (!List.copyOf(e.upcalls).equals(m.upcalls)) return "upcalls " + e.upcalls + " vs " + m.upcalls;
        if (!List.copyOf(e.backendNotifications).equals(m.backendNotifications))
            return "backend notifications " + e.backendNotifications + " vs " + m.backendNotifications;
        if (m.fifo != null) {
            if (!(e.guest.abi() instanceof FifoAbi fifo)) return "engine is not on FIFO";
            int words = Math.min(m.fifo.pages * 1024, m.validPorts() + 64);
            for (int p = 0; p < words; p++) {
                if (fifo.eventWord(p) != m.fifo.words[p])
                    return "event word " + p + ": engine 0x" + Integer.toHexString(fifo.eventWord(p)) + " model 0x" + Integer.toHexString(m.fifo.words[p]);
            }
            for (int v = 0; v < m.vcpus; v++) {
                var cb = fifo.controlBlock(v);
                if ((cb != null) != m.fifo.hasBlock[v]) return "control block of vcpu " + v;
                if (cb == null) continue;
                if (cb.getIntVolatile(0) != m.fifo.ready[v]) return "READY of vcpu " + v + ": engine " + cb.getIntVolatile(0) + " model " + m.fifo.ready[v];
                for (int q = 0; q < 16; q++) {
                    if (cb.getIntVolatile(8 + 4 * q) != m.fifo.head[v][q]) return "HEAD[" + q + "] of vcpu " + v;
                }
            }
        } else if (!(e.guest.abi() instanceof TwoLevelAbi)) {
            return "engine is not on 2-level";
        }
        for (int p = 0; p < m.validPorts(); p++) {
            int[] want = m.describe(p);
            int[] got = describe(e.ports.channel(p));
            if (!Arrays.equals(got, want)) return "port " + p + ": engine " + Arrays.toString(got) + " model " + Arrays.toString(want);
        }
        return null;
    }

    private static int[] describe(Channel ch) {
        return switch (ch.binding()) {
            case Binding.Free f -> new int[] {EventModel.FREE, ch.vcpu(), 0, 0, 7}; // unobservable: the next bind resets it
            case Binding.Reserved r -> new int[] {EventModel.RESERVED, ch.vcpu(), 0, 0, 7};
            case Binding.Unbound u -> new int[] {EventModel.UNBOUND, ch.vcpu(), u.remoteDomid(), 0, ch.priority()};
            case Binding.Interdomain i -> new int[] {EventModel.INTERDOMAIN, ch.vcpu(), i.remoteDomid(), i.remotePort(), ch.priority()};
            case Binding.Pirq p -> new int[] {EventModel.PIRQ, ch.vcpu(), p.pirq(), 0, ch.priority()};
            case Binding.Virq v -> new int[] {EventModel.VIRQ, ch.vcpu(), v.virq(), 0, ch.priority()};
            case Binding.Ipi i -> new int[] {EventModel.IPI, ch.vcpu(), 0, 0, ch.priority()};
        };
    }
}
