package org.jxen.engine.evtchn;

import static org.jxen.engine.abi.EvtchnOp.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntPredicate;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.FifoLayout;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.abi.Virq;

/**
 * Captures a domain's event-channel state into a {@link DomainSnapshot} and rebuilds a domain from one over guest RAM
 * that holds the same contents. Capture runs with the port table frozen (write lock); the guest's vCPUs must be
 * stopped, as for any save. Restore rebuilds ports, bindings, VIRQ/PIRQ maps, layout, locations and the FIFO state;
 * routes and backend eventfds are re-installed by their owners (RouteSync.install, backends re-registering).
 */
public final class Snapshots {
    private Snapshots() {}

    public static DomainSnapshot capture(PortManager ports, GuestMemory ram) {
        return ports.underWriteLock(() -> captureLocked(ports, ram));
    }

    private static DomainSnapshot captureLocked(PortManager pm, GuestMemory ram) {
        GuestDomain g = pm.guest();
        SharedState sh = g.shared();
        MemorySegment ramSeg = ram.segment();
        GuestRegion si = sh.sharedInfo();
        boolean mapped = si.backing() == ramSeg;
        long[] vcpuGpa = new long[g.vcpuCount()];
        List<byte[]> privateVcpu = new ArrayList<>();
        for (int v = 0; v < g.vcpuCount(); v++) {
            GuestRegion vi = sh.vcpuInfo(v);
            vcpuGpa[v] = sh.isRegistered(v) ? vi.baseOffset() : -1;
            boolean privateArea = !sh.isRegistered(v) && v >= SharedInfoLayout.LEGACY_MAX_VCPUS;
            privateVcpu.add(privateArea ? vi.asSegment().toArray(ValueLayout.JAVA_BYTE) : new byte[0]);
        }
        DomainSnapshot.Fifo fifo = null;
        if (g.abi() instanceof FifoAbi f) {
            long[] cb = new long[g.vcpuCount()];
            int[][] tails = new int[g.vcpuCount()][FifoLayout.MAX_QUEUES];
            for (int v = 0; v < g.vcpuCount(); v++) {
                GuestRegion block = f.controlBlock(v);
                cb[v] = block == null ? -1 : block.baseOffset();
                for (int q = 0; q < FifoLayout.MAX_QUEUES; q++) tails[v][q] = f.tail(v, q);
            }
            long[] pages = new long[f.eventPages()];
            for (int i = 0; i < pages.length; i++) pages[i] = f.eventPage(i).baseOffset();
            List<int[]> lastQueues = new ArrayList<>();
            List<Integer> held = new ArrayList<>();
            for (int p = 0; p < g.ports.validPorts(); p++) {
                if (f.lastQueue(p) != 0) lastQueues.add(new int[] {p, f.lastQueue(p)});
                if (f.isHeld(p)) held.add(p);
            }
            fifo = new DomainSnapshot.Fifo(cb, pages, tails, lastQueues, held.stream().mapToInt(Integer::intValue).toArray());
        }
        DomainConfig cfg = g.config();
        return new DomainSnapshot(cfg.domid(), cfg.vcpus(), cfg.nrPirqs(), cfg.maxPort(), sh.width() == GuestWidth.BITS_32,
                mapped ? si.baseOffset() : -1, mapped ? new byte[0] : si.asSegment().toArray(ValueLayout.JAVA_BYTE),
                vcpuGpa, privateVcpu, g.ports.validPorts(), entries(g.ports), pm.backend().ports.validPorts(),
                entries(pm.backend().ports), fifo, List.of());
    }

    private static List<DomainSnapshot.PortEntry> entries(PortTable table) {
        List<DomainSnapshot.PortEntry> out = new ArrayList<>();
        for (int p = 1; p < table.validPorts(); p++) {
            Channel ch = table.get(p);
            DomainSnapshot.PortEntry e = switch (ch.binding()) {
                case Binding.Free f -> null;
                case Binding.Reserved r -> null;
                case Binding.Unbound u -> new DomainSnapshot.PortEntry(p, STAT_UNBOUND, u.remoteDomid(), 0, ch.vcpu(), ch.priority());
                case Binding.Interdomain i -> new DomainSnapshot.PortEntry(p, STAT_INTERDOMAIN, i.remoteDomid(), i.remotePort(), ch.vcpu(), ch.priority());
                case Binding.Pirq q -> new DomainSnapshot.PortEntry(p, STAT_PIRQ, q.pirq(), 0, ch.vcpu(), ch.priority());
                case Binding.Virq v -> new DomainSnapshot.PortEntry(p, STAT_VIRQ, v.virq(), 0, ch.vcpu(), ch.priority());
                case Binding.Ipi i -> new DomainSnapshot.PortEntry(p, STAT_IPI, 0, 0, ch.vcpu(), ch.priority());
            };
            if (e != null) out.add(e);
        }
        return out;
    }

    /**
     * A new port manager for the domain in {@code snap}, over {@code ram} (which must hold the saved RAM). PIRQ access
     * is a host policy, not guest state: pass the one in force. Throws IllegalArgumentException for a snapshot that
     * does not fit this RAM or contradicts itself.
     */
    public static PortManager restore(DomainSnapshot snap, GuestMemory ram, IntPredicate pirqAccess) {
        DomainConfig cfg = new DomainConfig(snap.domid(), snap.vcpus(), snap.nrPirqs(), snap.maxPort(), pirqAccess);
        GuestDomain g = new GuestDomain(cfg);
        SharedState sh = g.shared();
        sh.latch(snap.width32() ? GuestWidth.BITS_32 : GuestWidth.BITS_64);
        if (snap.sharedInfoGpa() >= 0) {
            sh.relocateSharedInfo(region(ram, snap.sharedInfoGpa(), SharedInfoLayout.PAGE_SIZE), false);
        } else {
            MemorySegment.copy(MemorySegment.ofArray(snap.privateSharedInfo()), 0, sh.sharedInfo().asSegment(), 0, SharedInfoLayout.PAGE_SIZE);
        }
        for (int v = 0; v < snap.vcpus(); v++) {
            if (snap.vcpuInfoGpa()[v] >= 0) {
                sh.restoreVcpuInfo(v, region(ram, snap.vcpuInfoGpa()[v], SharedInfoLayout.VCPU_INFO_SIZE));
            } else if (snap.privateVcpuInfo().get(v).length == SharedInfoLayout.VCPU_INFO_SIZE) {
                MemorySegment.copy(MemorySegment.ofArray(snap.privateVcpuInfo().get(v)), 0, sh.vcpuInfo(v).asSegment(), 0, SharedInfoLayout.VCPU_INFO_SIZE);
            }
        }
        BackendDomain backend = new BackendDomain(DomId.DOM0);
        if (snap.fifo() != null) g.setAbi(restoreFifo(g, snap.fifo(), ram));
        fill(g, g.ports, snap.guestValidPorts(), snap.guestPorts());
        fill(g, backend.ports, snap.backendValidPorts(), snap.backendPorts());
        PortManager pm = new PortManager(g, backend);
        List<String> bad = pm.checkInvariants();
        if (!bad.isEmpty()) throw new IllegalArgumentException("inconsistent snapshot: " + bad.getFirst());
        return pm;
    }

    private static FifoAbi restoreFifo(GuestDomain g, DomainSnapshot.Fifo s, GuestMemory ram) {
        FifoAbi f = g.newFifo();
        for (int v = 0; v < g.vcpuCount(); v++) {
            if (s.controlBlockGpa()[v] >= 0) f.mapControlBlock(v, region(ram, s.controlBlockGpa()[v], FifoLayout.CONTROL_BLOCK_SIZE));
            for (int q = 0; q < FifoLayout.MAX_QUEUES; q++) f.setTail(v, q, s.tails()[v][q]);
        }
        for (long gpa : s.eventPageGpa()) {
            if (f.addEventPage(region(ram, gpa, SharedInfoLayout.PAGE_SIZE)) < 0) throw new IllegalArgumentException("too many event pages");
        }
        for (int[] lq : s.lastQueues()) {
            if (lq[0] < 0 || lq[0] >= FifoLayout.NR_CHANNELS || (lq[1] >>> 8) >= g.vcpuCount() || (lq[1] & 0xFF) > FifoLayout.PRIORITY_MIN) {
                throw new IllegalArgumentException("bad last queue " + lq[0]);
            }
            f.setLastQueue(lq[0], lq[1]);
        }
        for (int p : s.held()) {
            if (p < 0 || p >= FifoLayout.NR_CHANNELS) throw new IllegalArgumentException("bad held port " + p);
            f.hold(p);
        }
        return f;
    }

    private static void fill(GuestDomain g, PortTable table, int valid, List<DomainSnapshot.PortEntry> entries) {
        if (valid < PortTable.BUCKET || valid > FifoLayout.NR_CHANNELS) throw new IllegalArgumentException("valid ports " + valid);
        table.growTo(valid);
        boolean isGuest = table == g.ports;
        for (DomainSnapshot.PortEntry e : entries) {
            if (e.port() <= 0 || e.port() >= table.validPorts()) throw new IllegalArgumentException("port " + e.port() + " out of range");
            if (e.vcpu() < 0 || (isGuest && !g.hasVcpu(e.vcpu())) || e.priority() < 0 || e.priority() > FifoLayout.PRIORITY_MIN) {
                throw new IllegalArgumentException("port " + e.port() + ": bad vcpu or priority");
            }
            Binding b = switch (e.kind()) {
                case STAT_UNBOUND -> new Binding.Unbound(e.a());
                case STAT_INTERDOMAIN -> new Binding.Interdomain(e.a(), e.b());
                case STAT_PIRQ -> new Binding.Pirq(e.a());
                case STAT_VIRQ -> new Binding.Virq(e.a());
                case STAT_IPI -> Binding.IPI;
                default -> throw new IllegalArgumentException("port " + e.port() + ": kind " + e.kind());
            };
            if (isGuest && b instanceof Binding.Virq v) {
                if (v.virq() < 0 || v.virq() >= Virq.COUNT) throw new IllegalArgumentException("virq " + v.virq());
                // Global VIRQs stay in vCPU 0's table when bind_vcpu moves them (Xen's virq_to_evtchn).
                g.setVirqPort(Virq.isGlobal(v.virq()) ? 0 : e.vcpu(), v.virq(), e.port());
            }
            if (isGuest && b instanceof Binding.Pirq q) {
                if (q.pirq() < 0 || q.pirq() >= g.config().nrPirqs()) throw new IllegalArgumentException("pirq " + q.pirq());
                g.setPirqPort(q.pirq(), e.port());
            }
            table.set(e.port(), new Channel(b, e.vcpu(), e.priority()));
        }
    }

    private static GuestRegion region(GuestMemory ram, long gpa, long length) {
        return ram.region(gpa, length).orElseThrow(() -> new IllegalArgumentException(
                "address 0x" + Long.toHexString(gpa) + " is outside guest RAM"));
    }
}
