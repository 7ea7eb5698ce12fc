package org.jxen.bench.paired;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.jxen.bench.BenchDomain;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.EvtchnOp;

/**
 * EVTCHNOP_status over 4,096 ports, as a guest scanning its port space does (every port, struct in guest memory,
 * through the hypercall layer). One operation is the whole scan. No C reference: this is jxen's own EVTCHNOP layer.
 */
final class StatusScanOp implements PairedOp {
    private static final int PORTS = 4096;
    private final BenchDomain domain = new BenchDomain(2);
    private final MemorySegment arg = domain.ram.segment().asSlice(BenchDomain.ARG_GPA, 24);

    StatusScanOp() {
        for (int i = 1; i < PORTS; i++) {
            if (i % 3 == 0) domain.ports.bindIpi(i % 2);
            else domain.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOM0);
        }
    }

    @Override
    public String name() {
        return "status-scan-4096";
    }

    @Override
    public Double target() {
        return null;
    }

    @Override
    public boolean hasC() {
        return false;
    }

    @Override
    public long batch(boolean quick) {
        return quick ? 20 : 200;
    }

    @Override
    public long runJxen(long iters, long[] samples) {
        long sum = 0;
        long t0 = System.nanoTime();
        for (long i = 0; i < iters; i++) {
            for (int port = 0; port < PORTS; port++) {
                arg.set(ValueLayout.JAVA_SHORT, 0, (short) DomId.DOMID_SELF);
                arg.set(ValueLayout.JAVA_INT, 4, port);
                sum += domain.evtchnOp.invoke(EvtchnOp.STATUS, BenchDomain.ARG_GPA, domain.vmem);
            }
        }
        long t1 = System.nanoTime();
        if (sum != 0) throw new IllegalStateException("status failed");
        return t1 - t0;
    }

    @Override
    public long runC(long iters, long[] samples) {
        throw new UnsupportedOperationException();
    }

    @Override
    public void close() {
        domain.close();
    }
}
