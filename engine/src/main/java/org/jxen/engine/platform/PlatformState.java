package org.jxen.engine.platform;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.DomainSnapshot;
import org.jxen.engine.grant.GrantTable;
import org.jxen.engine.hvm.HvmParam;
import org.jxen.engine.hvm.HvmParams;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.HoleFrames;

/**
 * The platform's part of a saved domain, as {@link DomainSnapshot} extensions: "hvm.params" (every HVM parameter and
 * each vCPU's upcall vector: the callback configuration) and "vcpu.timers" (each vCPU's armed singleshot deadline
 * and periodic period). Timer deadlines are absolute Xen system time, so a resumed domain's clock must continue the
 * saved one (the VMM's job); a deadline that passed meanwhile fires at once on restore.
 */
public final class PlatformState {
    public static final String PARAMS = "hvm.params", TIMERS = "vcpu.timers", RUNSTATES = "vcpu.runstates",
            LIFECYCLE = "vcpu.lifecycle", GRANTS = "grant.table", HOLES = "memory.holes";

    /**
     * The platform parts a whole-domain save carries beside the HVM parameters and timers; {@code holes} backs grant
     * frames placed above RAM, whose contents the save carries (RAM does not hold them).
     */
    public record Parts(Runstates runstates, VcpuSet vcpus, GrantTable grants, GuestMemory ram, HoleFrames holes) {
        public Parts(Runstates runstates, VcpuSet vcpus, GrantTable grants, GuestMemory ram) {
            this(runstates, vcpus, grants, ram, HoleFrames.NONE);
        }
    }

    private PlatformState() {}

    /** Every platform section of a whole domain: parameters, timers, runstates, vCPU lifecycle, grant table, holes. */
    public static List<DomainSnapshot.Extension> capture(HvmParams params, VcpuTimers timers, int vcpus, Parts parts) {
        List<DomainSnapshot.Extension> out = new ArrayList<>(capture(params, timers, vcpus));
        out.add(section(RUNSTATES, o -> writeRunstates(o, parts.runstates().save())));
        out.add(section(LIFECYCLE, o -> writeLifecycle(o, parts.vcpus().save())));
        out.add(section(GRANTS, o -> {
            GrantTable.Saved g = parts.grants().save(parts.ram().frames());
            o.writeInt(g.gfns().length);
            for (int i = 0; i < g.gfns().length; i++) {
                o.writeLong(g.gfns()[i]);
                if (GrantTable.contentsSaved(g.gfns()[i], parts.ram().frames())) o.write(g.privateFrames().get(i));
            }
        }));
        out.add(section(HOLES, o -> {
            long[] h = parts.ram().holes();
            o.writeInt(h.length);
            for (long gfn : h) o.writeLong(gfn);
        }));
        return out;
    }

    /**
     * The frames the saved guest had given back, made holes again in {@code ram} (before the ports are restored: their
     * addresses are checked against populated RAM). IOException for a malformed section.
     */
    public static void restoreHoles(DomainSnapshot snap, GuestMemory ram) throws IOException {
        DataInputStream in = find(snap, HOLES);
        if (in == null) return;
        int n = in.readInt();
        if (n < 0 || n > ram.frames()) throw new IOException("memory.holes: " + n + " frames");
        for (int i = 0; i < n; i++) {
            long gfn = in.readLong();
            if (gfn < 0 || gfn >= ram.frames()) throw new IOException("memory.holes: gfn " + gfn);
            ram.depopulate(gfn);
        }
    }

    /** Runstates, vCPU lifecycle and grant table from a whole-domain save (sections absent are left alone). */
    public static void restore(DomainSnapshot snap, Parts parts) throws IOException {
        try {
            DataInputStream in = find(snap, RUNSTATES);
            if (in != null) parts.runstates().restore(readRunstates(in, snap.vcpus()));
            in = find(snap, LIFECYCLE);
            if (in != null) parts.vcpus().restore(readLifecycle(in, snap.vcpus()));
            in = find(snap, GRANTS);
            if (in != null) {
                int n = in.readInt();
                if (n < 1 || n > parts.grants().maxFrames()) throw new IOException("grant.table: " + n + " frames");
                long[] gfns = new long[n];
                List<byte[]> priv = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    gfns[i] = in.readLong();
                    byte[] page = new byte[GrantTable.contentsSaved(gfns[i], parts.ram().frames()) ? 4096 : 0];
                    in.readFully(page);
                    priv.add(page);
                }
                parts.grants().restore(new GrantTable.Saved(gfns, priv), parts.ram(), parts.holes());
            }
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage());
        }
    }

    private interface Writer {
        void write(DataOutputStream out) throws IOException;
    }

    private static DomainSnapshot.Extension section(String tag, Writer w) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try {
            w.write(new DataOutputStream(b));
        } catch (IOException e) {
            throw new IllegalStateException(e); // in-memory streams do not fail
        }
        return new DomainSnapshot.Extension(tag, b.toByteArray());
    }

    private static DataInputStream find(DomainSnapshot snap, String tag) {
        for (DomainSnapshot.Extension e : snap.extensions())
            if (e.tag().equals(tag)) return new DataInputStream(new ByteArrayInputStream(e.data()));
        return null;
    }

    private static void writeRunstates(DataOutputStream o, Runstates.Saved r) throws IOException {
        o.writeBoolean(r.updateFlag());
        o.writeInt(r.state().length);
        for (int v = 0; v < r.state().length; v++) {
            o.writeInt(r.state()[v]);
            o.writeLong(r.entryTime()[v]);
            for (long t : r.time()[v]) o.writeLong(t);
            Runstates.Area a = r.areas()[v];
            o.writeBoolean(a != null);
            if (a != null) {
                o.writeLong(a.gpa1());
                o.writeInt(a.len1());
                o.writeLong(a.gpa2());
                o.writeBoolean(a.width() == GuestWidth.BITS_32);
            }
        }
    }

    private static Runstates.Saved readRunstates(DataInputStream in, int vcpus) throws IOException {
        boolean flag = in.readBoolean();
        if (in.readInt() != vcpus) throw new IOException("vcpu.runstates: vCPU count");
        int[] state = new int[vcpus];
        long[] entry = new long[vcpus];
        long[][] time = new long[vcpus][4];
        Runstates.Area[] areas = new Runstates.Area[vcpus];
        for (int v = 0; v < vcpus; v++) {
            state[v] = in.readInt();
            entry[v] = in.readLong();
            for (int i = 0; i < 4; i++) time[v][i] = in.readLong();
            if (in.readBoolean()) areas[v] = new Runstates.Area(in.readLong(), in.readInt(), in.readLong(), in.readBoolean() ? GuestWidth.BITS_32 : GuestWidth.BITS_64);
        }
        return new Runstates.Saved(flag, state, entry, time, areas);
    }

    private static void writeLifecycle(DataOutputStream o, VcpuSet.Saved s) throws IOException {
        o.writeInt(s.up().length);
        for (int v = 0; v < s.up().length; v++) {
            o.writeBoolean(s.initialised()[v]);
            o.writeBoolean(s.up()[v]);
            VcpuHvmContext c = s.pending()[v];
            o.writeBoolean(c != null);
            if (c == null) continue;
            o.writeBoolean(c.longMode());
            for (long r : new long[] {c.rax(), c.rcx(), c.rdx(), c.rbx(), c.rsp(), c.rbp(), c.rsi(), c.rdi(), c.rip(), c.rflags(),
                    c.cr0(), c.cr3(), c.cr4(), c.efer()}) o.writeLong(r);
            for (VcpuHvmContext.Segment g : new VcpuHvmContext.Segment[] {c.cs(), c.ds(), c.ss(), c.es(), c.tr()}) {
                o.writeBoolean(g != null);
                if (g == null) continue;
                o.writeLong(g.base());
                o.writeLong(g.limit());
                o.writeInt(g.attributes());
            }
        }
    }

    private static VcpuSet.Saved readLifecycle(DataInputStream in, int vcpus) throws IOException {
        if (in.readInt() != vcpus) throw new IOException("vcpu.lifecycle: vCPU count");
        boolean[] init = new boolean[vcpus], up = new boolean[vcpus];
        VcpuHvmContext[] pending = new VcpuHvmContext[vcpus];
        for (int v = 0; v < vcpus; v++) {
            init[v] = in.readBoolean();
            up[v] = in.readBoolean();
            if (!in.readBoolean()) continue;
            boolean longMode = in.readBoolean();
            long[] r = new long[14];
            for (int i = 0; i < r.length; i++) r[i] = in.readLong();
            VcpuHvmContext.Segment[] g = new VcpuHvmContext.Segment[5];
            for (int i = 0; i < g.length; i++) if (in.readBoolean()) g[i] = new VcpuHvmContext.Segment(in.readLong(), in.readLong(), in.readInt());
            pending[v] = new VcpuHvmContext(longMode, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
                    g[0], g[1], g[2], g[3], g[4]);
        }
        return new VcpuSet.Saved(init, up, pending);
    }

    public static List<DomainSnapshot.Extension> capture(HvmParams params, VcpuTimers timers, int vcpus) {
        try {
            ByteArrayOutputStream p = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(p);
            out.writeInt(HvmParam.COUNT);
            for (int i = 0; i < HvmParam.COUNT; i++) out.writeLong(params.get(i));
            out.writeInt(vcpus);
            for (int v = 0; v < vcpus; v++) out.writeInt(params.vcpuUpcallVector(v));
            ByteArrayOutputStream t = new ByteArrayOutputStream();
            DataOutputStream tout = new DataOutputStream(t);
            tout.writeInt(vcpus);
            for (int v = 0; v < vcpus; v++) {
                tout.writeLong(timers.singleshotDeadline(v));
                tout.writeLong(timers.period(v));
            }
            return List.of(new DomainSnapshot.Extension(PARAMS, p.toByteArray()), new DomainSnapshot.Extension(TIMERS, t.toByteArray()));
        } catch (IOException e) {
            throw new IllegalStateException(e); // in-memory streams do not fail
        }
    }

    /** Applies the extensions found in {@code snap} (others are ignored); IOException for a malformed one. */
    public static void restore(DomainSnapshot snap, HvmParams params, VcpuTimers timers) throws IOException {
        for (DomainSnapshot.Extension e : snap.extensions()) {
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(e.data()));
            switch (e.tag()) {
                case PARAMS -> {
                    if (in.readInt() != HvmParam.COUNT) throw new IOException("hvm.params: unexpected parameter count");
                    for (int i = 0; i < HvmParam.COUNT; i++) params.set(i, in.readLong());
                    int n = in.readInt();
                    if (n != snap.vcpus()) throw new IOException("hvm.params: vCPU count " + n);
                    for (int v = 0; v < n; v++) {
                        int vector = in.readInt();
                        if (vector != 0 && params.setVcpuUpcallVector(v, vector) != 0) throw new IOException("hvm.params: vector " + vector);
                    }
                }
                case TIMERS -> {
                    int n = in.readInt();
                    if (n != snap.vcpus()) throw new IOException("vcpu.timers: vCPU count " + n);
                    for (int v = 0; v < n; v++) {
                        long deadline = in.readLong(), period = in.readLong();
                        if (deadline != 0) timers.setSingleshot(v, deadline);
                        if (period != 0) {
                            if (period < 1_000_000L) throw new IOException("vcpu.timers: period " + period);
                            timers.setPeriodic(v, period);
                        }
                    }
                }
                default -> {}
            }
        }
    }
}
