package org.jxen.bench.paired;

import org.jxen.bench.BenchDomain;
import org.jxen.engine.abi.FifoLayout;
import org.jxen.engine.fastpath.FastPath;

/**
 * EVTCHNOP_send through the fast path on routed IPI ports, visited in cycle order, each operation first undoing the
 * previous send as a guest does (so every send walks the whole path): 2-level or FIFO, with 1 to 131,071 ports
 * bound. The C side does the same with the same atomics ({@code jxenref.c}).
 */
final class SendOp implements PairedOp {
    private final String name;
    private final Double target;
    private final boolean fifo;
    private final int ports;
    private final BenchDomain domain;
    private final FastPath.Sender sender;
    private final CReferences c;

    SendOp(String name, Double target, boolean fifo, int ports, CReferences c) {
        this.name = name;
        this.target = target;
        this.fifo = fifo;
        this.ports = ports;
        this.c = c;
        this.domain = new BenchDomain(1);
        if (fifo) domain.switchToFifo(ports);
        for (int i = 0; i < ports; i++) {
            if (domain.ports.bindIpi(0) != i + 1) throw new IllegalStateException("bind_ipi");
        }
        this.sender = domain.fastPath.newSender();
        if (fifo) c.setupFifo(ports);
        else c.setup2l(ports);
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
    public long batch(boolean quick) {
        return quick ? 200_000 : 2_000_000;
    }

    @Override
    public long runJxen(long iters, long[] samples) {
        int port = 1, prev = 1;
        long rc = 0;
        long t0 = System.nanoTime();
        if (fifo) {
            for (long i = 0; i < iters; i++) {
                domain.consumeFifo(prev, FifoLayout.PRIORITY_DEFAULT);
                rc |= sender.trySend(port);
                prev = port;
                if (++port > ports) port = 1;
            }
        } else {
            for (long i = 0; i < iters; i++) {
                domain.consume(0, prev);
                rc |= sender.trySend(port);
                prev = port;
                if (++port > ports) port = 1;
            }
        }
        long t1 = System.nanoTime();
        if (rc != 0) throw new IllegalStateException(name + ": send failed");
        return t1 - t0;
    }

    @Override
    public long runC(long iters, long[] samples) {
        long ns = fifo ? c.runFifo(iters) : c.run2l(iters);
        if (ns == 0) throw new IllegalStateException(name + ": C send failed");
        return ns;
    }

    @Override
    public void close() {
        domain.close();
    }
}
