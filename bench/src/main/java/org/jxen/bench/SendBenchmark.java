package org.jxen.bench;

import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.fastpath.FastPath;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.jxen.engine.abi.FifoLayout;

/**
 * EVTCHNOP_send on a routed IPI port: through the fast path, through the port manager (the slow path), and through
 * the whole hypercall layer (struct read from guest memory, fast path in front). "Full" variants first undo the
 * previous send the way a guest does (clear pending, selector, upcall_pending), so every send walks the whole 2-level
 * path; "pending" variants send on a port that is already pending (the coalescing case: one atomic operation).
 *
 * <p>Run: {@code java --enable-native-access=ALL-UNNAMED -cp cli/target/jxen.jar org.openjdk.jmh.Main SendBenchmark}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class SendBenchmark {
    private BenchDomain domain;
    private FastPath.Sender sender;
    private int port;
    private BenchDomain fifoDomain;
    private FastPath.Sender fifoSender;
    private int fifoPort;

    @Setup(Level.Trial)
    public void setup() {
        domain = new BenchDomain(2);
        port = domain.ports.bindIpi(0);
        sender = domain.fastPath.newSender();
        domain.ram.segment().set(ValueLayout.JAVA_INT, BenchDomain.ARG_GPA, port);
        fifoDomain = new BenchDomain(2);
        fifoDomain.switchToFifo(64);
        fifoPort = fifoDomain.ports.bindIpi(0);
        fifoSender = fifoDomain.fastPath.newSender();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        fifoDomain.close();
        domain.close();
    }

    @Benchmark
    public long fastPathFull() {
        domain.consume(0, port);
        return sender.trySend(port);
    }

    @Benchmark
    public long fastPathPending() {
        return sender.trySend(port);
    }

    @Benchmark
    public int portManagerFull() {
        domain.consume(0, port);
        return domain.ports.send(port);
    }

    @Benchmark
    public int portManagerPending() {
        return domain.ports.send(port);
    }

    @Benchmark
    public long hypercallFull() {
        domain.consume(0, port);
        return domain.evtchnOp.invoke(EvtchnOp.SEND, BenchDomain.ARG_GPA, domain.vmem);
    }

    /** FIFO: the guest's undo (unlink, clear READY and upcall_pending) then a send that links into an empty queue. */
    @Benchmark
    public long fifoFastPathFull() {
        fifoDomain.consumeFifo(fifoPort, FifoLayout.PRIORITY_DEFAULT);
        return fifoSender.trySend(fifoPort);
    }

    /** FIFO send on a port that is already pending and linked. */
    @Benchmark
    public long fifoFastPathPending() {
        return fifoSender.trySend(fifoPort);
    }

    /** The guest-side undo alone, to subtract from the "full" figures. */
    @Benchmark
    public void consumeOnly() {
        domain.consume(0, port);
    }
}
