package org.jxen.bench.paired;

import org.jxen.vmm.kvm.RunConfig;

/**
 * A KVM row: the same benchmark-guest command run by jxen ({@link JxenKvmSide}, bench-xen.elf) and by the minimal C
 * VMM (kvmref.c, bench-bare.elf), each in its own VM of this process, batches interleaved. Per-operation samples. jxen
 * runs in user mode, or (rows named {@code -kvm}) in kvm mode on KVM's Xen support, where KVM delivers routed sends.
 */
final class KvmRowOp implements PairedOp {
    /** How long a vCPU is left halted before a raise (so the raise wakes a halted vCPU, as the row says). */
    private static final long SETTLE_NANOS = 200_000;
    private final String name;
    private final int cmd;
    private final Double target;
    private final CReferences c;
    private final JxenKvmSide jxen;

    KvmRowOp(String name, int cmd, Double target, CReferences c, RunConfig.Accel accel) throws Exception {
        this.name = name;
        this.cmd = cmd;
        this.target = target;
        this.c = c;
        int rc = c.kvmOpen(BenchGuests.extract("bench-bare.elf"));
        if (rc != 0) throw new IllegalStateException("the C reference VMM did not start: errno " + -rc);
        try {
            jxen = new JxenKvmSide(BenchGuests.extract("bench-xen.elf"), accel);
        } catch (Exception | Error e) {
            c.kvmClose();
            throw e;
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Double target() {
        return target;
    }

    @Override
    public boolean latency() {
        return true;
    }

    @Override
    public long batch(boolean quick) {
        return quick ? 100 : 1000;
    }

    @Override
    public long runJxen(long iters, long[] samples) {
        try {
            jxen.run(cmd, (int) iters, samples, SETTLE_NANOS);
        } catch (Exception e) {
            throw new IllegalStateException(name + " (jxen): " + e.getMessage(), e);
        }
        return 0;
    }

    @Override
    public long runC(long iters, long[] samples) {
        int rc = c.kvmRun(cmd, (int) iters, samples, SETTLE_NANOS);
        if (rc != 0) throw new IllegalStateException(name + " (C VMM): errno " + -rc);
        return 0;
    }

    @Override
    public void close() {
        jxen.close();
        c.kvmClose();
    }
}
