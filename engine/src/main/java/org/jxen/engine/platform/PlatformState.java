package org.jxen.engine.platform;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.List;

import org.jxen.engine.evtchn.DomainSnapshot;
import org.jxen.engine.hvm.HvmParam;
import org.jxen.engine.hvm.HvmParams;

/**
 * The platform's part of a saved domain, as {@link DomainSnapshot} extensions: "hvm.params" (every HVM parameter and
 * each vCPU's upcall vector: the callback configuration) and "vcpu.timers" (each vCPU's armed singleshot deadline
 * and periodic period). Timer deadlines are absolute Xen system time, so a resumed domain's clock must continue the
 * saved one (the VMM's job); a deadline that passed meanwhile fires at once on restore.
 */
public final class PlatformState {
    public static final String PARAMS = "hvm.params", TIMERS = "vcpu.timers";

    private PlatformState() {}

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
