package org.jxen.bench.paired;

import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicLong;

import org.jxen.bench.BenchDomain;
import org.jxen.engine.abi.EvtchnOp;

/**
 * Several vCPU threads sending 2-level or FIFO events to each other through the hypercall layer (EVTCHNOP_send with
 * its struct in guest memory, the fast path in front): thread t sends on port t+1, an IPI bound to vCPU (t+1) % threads,
 * each send preceded by the receiver's undo, all on one shared_info (2-level) or on each receiver's queue and control
 * block (FIFO, whose send takes the queue's lock as Xen's does). The figure is nanoseconds per send per thread
 * (wall time of the batch / sends per thread): flat as threads grow means no convoy; above 2 threads the 2 cores of
 * this machine kind are overcommitted. The C side ({@code ref2l_threads_run}, {@code reffifo_threads_run}) does the same with the same threads.
 */
final class SendThreadsOp implements PairedOp {
    private final int threads;
    private final boolean fifo;
    private final BenchDomain domain;
    /** EVTCHN_FIFO_PRIORITY_DEFAULT: what bind_ipi gives a port. */
    private static final int FIFO_DEFAULT_PRIORITY = 7;
    private final CReferences c;

    SendThreadsOp(int threads, boolean fifo, CReferences c) {
        this.threads = threads;
        this.fifo = fifo;
        this.c = c;
        this.domain = new BenchDomain(threads);
        if (fifo) domain.switchToFifo(threads + 1);
        for (int t = 0; t < threads; t++) {
            if (domain.ports.bindIpi((t + 1) % threads) != t + 1) throw new IllegalStateException("bind_ipi");
            domain.ram.segment().set(ValueLayout.JAVA_INT, argGpa(t), t + 1); // evtchn_send.port
        }
    }

    private static long argGpa(int thread) {
        return BenchDomain.ARG_GPA + 64L * thread;
    }

    @Override
    public String name() {
        return (fifo ? "send-threads-fifo-" : "send-threads-2l-") + threads;
    }

    @Override
    public Double target() {
        return null;
    }

    @Override
    public long batch(boolean quick) {
        return quick ? 100_000 : 1_000_000;
    }

    @Override
    public long runJxen(long iters, long[] samples) {
        CyclicBarrier start = new CyclicBarrier(threads + 1);
        AtomicLong failures = new AtomicLong();
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int port = t + 1, vcpu = (t + 1) % threads;
            long arg = argGpa(t);
            workers.add(Thread.ofPlatform().name("bench-vcpu-" + t).start(() -> {
                long rc = 0;
                try {
                    start.await();
                } catch (Exception e) {
                    failures.incrementAndGet();
                    return;
                }
                for (long i = 0; i < iters; i++) {
                    if (fifo) domain.consumeFifo(vcpu, port, FIFO_DEFAULT_PRIORITY);
                    else domain.consume(vcpu, port);
                    rc |= domain.evtchnOp.invoke(EvtchnOp.SEND, arg, domain.vmem);
                }
                if (rc != 0) failures.incrementAndGet();
            }));
        }
        try {
            start.await();
            long t0 = System.nanoTime();
            for (Thread w : workers) w.join();
            long t1 = System.nanoTime();
            if (failures.get() != 0) throw new IllegalStateException(name() + ": a send failed");
            return t1 - t0;
        } catch (Exception e) {
            throw new IllegalStateException(name() + ": " + e, e);
        }
    }

    @Override
    public long runC(long iters, long[] samples) {
        long ns = fifo ? c.runFifoThreads(threads, iters) : c.run2lThreads(threads, iters);
        if (ns == 0) throw new IllegalStateException(name() + ": C send failed");
        return ns;
    }

    @Override
    public void close() {
        domain.close();
    }
}
