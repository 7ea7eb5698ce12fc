package org.jxen.engine.model;

import static org.jxen.engine.abi.EvtchnOp.*;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.EvtchnStructs;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.evtchn.Binding;
import org.jxen.engine.evtchn.Channel;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.testing.EventFixture;

/**
 * Seeded randomized differential test: random operation sequences (every EVTCHNOP through the hypercall layer with
 * good and bad arguments, guest-side bit writes, host VIRQ/PIRQ raises, the backend side of interdomain channels) run
 * on the engine and on {@link TwoLevelModel}; after every step the return code, status output, every port's state,
 * every pending/mask bit, every selector and upcall_pending, the upcalls raised and the backend notifications must
 * agree.
 *
 * <p>{@code -Djxen.diff.sequences=N} sets the number of sequences (CI: 100,000); {@code -Djxen.diff.seed=S} the
 * master seed (default: random, printed); {@code -Djxen.diff.sequence=S} replays one sequence. A failure prints the
 * sequence's seed and its trace.
 */
class TwoLevelDifferentialTest {
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
        System.out.println("2-level differential test: " + sequences + " sequences, master seed " + master
                + " (rerun with -Djxen.diff.seed=" + master + ")");
        SplittableRandom seeds = new SplittableRandom(master);
        long ops = 0;
        for (int i = 0; i < sequences; i++) {
            long seed = seeds.nextLong();
            ops += runSequence(seed);
        }
        System.out.println("2-level differential test: " + ops + " operations compared");
    }

    /** Runs one sequence; returns the number of operations. */
    static int runSequence(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        GuestWidth width = rnd.nextBoolean() ? GuestWidth.BITS_64 : GuestWidth.BITS_32;
        int vcpus = 1 + rnd.nextInt(rnd.nextInt(8) == 0 ? 40 : 4);
        int maxPort = switch (rnd.nextInt(4)) {
            case 0 -> 5 + rnd.nextInt(10);
            case 1 -> 70 + rnd.nextInt(60);
            default -> Integer.MAX_VALUE;
        };
        int nrPirqs = 8;
        java.util.function.IntPredicate access = p -> p != 3;
        var cfg = new DomainConfig(DOMID, vcpus, nrPirqs, maxPort, access);
        List<String> trace = new ArrayList<>();
        trace.add("width=" + width + " vcpus=" + vcpus + " maxPort=" + maxPort);
        boolean fast = rnd.nextBoolean();
        trace.add("fast path " + (fast ? "on" : "off"));
        try (EventFixture engine = fast ? new EventFixture(width, cfg).withFastPath() : new EventFixture(width, cfg)) {
            TwoLevelModel model = new TwoLevelModel(DOMID, vcpus, nrPirqs, maxPort, access, width.bitsPerWord());
            List<Integer> backendPorts = new ArrayList<>();
            int length = 1 + rnd.nextInt(60);
            for (int step = 0; step < length; step++) {
                String what = step(rnd, engine, model, vcpus, backendPorts);
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

    private static int port(SplittableRandom rnd, TwoLevelModel m) {
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

    private static String step(SplittableRandom rnd, EventFixture e, TwoLevelModel m, int vcpus, List<Integer> backendPorts) {
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
                return check("set_priority(" + p + ")", e.call(SET_PRIORITY, p, 3), m.setPriority(p));
            }
            case 18 -> {
                int p = rnd.nextInt(Math.min(m.limit(), m.validPorts() + 1));
                switch (rnd.nextInt(3)) {
                    case 0 -> { e.mask(p); m.guestMask(p); return "guest mask " + p; }
                    case 1 -> { e.sharedInfo().clearBit(e.width.maskOffset, p); m.guestClearMask(p); return "guest clear mask " + p; }
                    default -> { e.clearPendingBit(p); m.guestClearPending(p); return "guest clear pending " + p; }
                }
            }
            case 25, 26, 27 -> { // the guest handles everything: acknowledge every vCPU, clear every pending bit
                for (int c = 0; c < vcpus; c++) {
                    e.acknowledge(c);
                    m.guestAcknowledge(c);
                }
                for (int p = 0; p < Math.min(m.limit(), m.validPorts()); p++) {
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

    private static String check(String what, long engineRc, int modelRc) {
        if (engineRc != modelRc) return "MISMATCH " + what + ": engine " + engineRc + " model " + modelRc;
        return what + " = " + engineRc;
    }

    /** A port-returning op: the engine returns 0 and writes the port; the model returns the port. */
    private static String check(String what, long engineRc, int enginePort, int modelRc) {
        long engineResult = engineRc == 0 ? enginePort : engineRc;
        return check(what, engineResult, modelRc);
    }

    private static String checkStatus(EventFixture e, TwoLevelModel m, int dom, int port) {
        var s = e.structBytes();
        s.fill((byte) 0xEE);
        s.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, 0, (short) dom);
        s.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 4, port);
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

    private static String compare(EventFixture e, TwoLevelModel m) {
        if (e.ports.validPorts() != m.validPorts()) return "valid ports " + e.ports.validPorts() + " vs " + m.validPorts();
        int limit = Math.min(m.limit(), m.validPorts() + 64);
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
        for (int p = 0; p < m.validPorts(); p++) {
            int[] want = m.describe(p);
            int[] got = describe(e.ports.channel(p));
            if (!Arrays.equals(got, want)) return "port " + p + ": engine " + Arrays.toString(got) + " model " + Arrays.toString(want);
        }
        return null;
    }

    private static int[] describe(Channel ch) {
        return switch (ch.binding()) {
            case Binding.Free f -> new int[] {TwoLevelModel.FREE, ch.vcpu(), 0, 0};
            case Binding.Reserved r -> new int[] {TwoLevelModel.RESERVED, ch.vcpu(), 0, 0};
            case Binding.Unbound u -> new int[] {TwoLevelModel.UNBOUND, ch.vcpu(), u.remoteDomid(), 0};
            case Binding.Interdomain i -> new int[] {TwoLevelModel.INTERDOMAIN, ch.vcpu(), i.remoteDomid(), i.remotePort()};
            case Binding.Pirq p -> new int[] {TwoLevelModel.PIRQ, ch.vcpu(), p.pirq(), 0};
            case Binding.Virq v -> new int[] {TwoLevelModel.VIRQ, ch.vcpu(), v.virq(), 0};
            case Binding.Ipi i -> new int[] {TwoLevelModel.IPI, ch.vcpu(), 0, 0};
        };
    }
}
