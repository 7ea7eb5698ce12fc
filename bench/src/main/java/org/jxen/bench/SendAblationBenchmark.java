package org.jxen.bench;

import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.jxen.engine.abi.FifoLayout;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.fastpath.FastPath;
import org.jxen.engine.memory.GuestRegion;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The send-2l and send-fifo rows taken apart (the guest's undo, then a send), to see which part of jxen's time is the
 * event protocol's guest-memory atomics as Java can issue them and which is jxen's own code around them:
 * <ul>
 *   <li>{@code undo*}: the guest's undo alone;</li>
 *   <li>{@code atomics*}: the undo, then exactly the guest-memory operations a send makes (2-level: test-and-set
 *       pending, read mask, test-and-set selector, test-and-set upcall_pending; FIFO adds the queue lock, LINKED, the
 *       head, READY), with no engine code: the floor for a Java send on FFM memory;</li>
 *   <li>{@code atomics*Global}: the same on a global-arena segment, which FFM need not check for liveness (jxen's
 *       guest memory is freed, so it never uses one: this only prices the check);</li>
 *   <li>{@code fastPath*}: the undo, then jxen's fast path (route lookup, grace-period slot, the ABI's setPending).</li>
 * </ul>
 * Run: {@code java --enable-native-access=ALL-UNNAMED -cp cli/target/jxen.jar org.openjdk.jmh.Main SendAblationBenchmark}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class SendAblationBenchmark {
    private static final GuestWidth W = GuestWidth.BITS_64;
    private static final int PRIORITY = FifoLayout.PRIORITY_DEFAULT;

    private BenchDomain twoLevel;
    private FastPath.Sender twoLevelSender;
    private int port;
    private GuestRegion sharedInfo;
    private GuestRegion vcpuInfo;
    private GuestRegion globalPage;

    private BenchDomain fifo;
    private FastPath.Sender fifoSender;
    private int fifoPort;
    private GuestRegion eventPage;
    private GuestRegion controlBlock;
    private GuestRegion fifoVcpuInfo;
    /** A queue lock as jxen's (CAS to take, release store to give back). */
    private final AtomicInteger queueLock = new AtomicInteger();

    @Setup
    public void setup() {
        twoLevel = new BenchDomain(1);
        port = twoLevel.ports.bindIpi(0);
        twoLevelSender = twoLevel.fastPath.newSender();
        sharedInfo = twoLevel.sharedInfo();
        vcpuInfo = twoLevel.guest.shared().vcpuInfo(0);
        globalPage = GuestRegion.of(Arena.global().allocate(4096, 4096), 0, 4096);
        fifo = new BenchDomain(1);
        fifo.switchToFifo(64);
        fifoPort = fifo.ports.bindIpi(0);
        fifoSender = fifo.fastPath.newSender();
        eventPage = fifo.ram.page(BenchDomain.ARRAY_GFN).orElseThrow();
        controlBlock = fifo.ram.page(BenchDomain.CONTROL_GFN).orElseThrow();
        fifoVcpuInfo = fifo.guest.shared().vcpuInfo(0);
    }

    @TearDown
    public void tearDown() {
        twoLevel.close();
        fifo.close();
    }

    @Benchmark
    public void undo2l() {
        twoLevel.consume(0, port);
    }

    @Benchmark
    public boolean atomics2l() {
        twoLevel.consume(0, port);
        return send2l(sharedInfo, vcpuInfo, port);
    }

    @Benchmark
    public boolean atomics2lGlobal() {
        globalPage.clearBit(W.pendingOffset, port);
        globalPage.getAndSetLong(W.pendingSelOffset, 0);
        globalPage.clearBit(SharedInfoLayout.UPCALL_PENDING, 0);
        return send2l(globalPage, globalPage, port);
    }

    private static boolean send2l(GuestRegion si, GuestRegion vi, int port) {
        if (si.testAndSetBit(W.pendingOffset, port)) return false;
        if (si.testBit(W.maskOffset, port)) return false;
        if (vi.testAndSetBit(W.pendingSelOffset, port >>> W.selectorShift)) return false;
        return !vi.testAndSetBit(SharedInfoLayout.UPCALL_PENDING, 0);
    }

    @Benchmark
    public long fastPath2l() {
        twoLevel.consume(0, port);
        return twoLevelSender.trySend(port);
    }

    @Benchmark
    public void undoFifo() {
        fifo.consumeFifo(fifoPort, PRIORITY);
    }

    @Benchmark
    public boolean atomicsFifo() {
        fifo.consumeFifo(fifoPort, PRIORITY);
        long word = fifoPort * 4L;
        while (!queueLock.compareAndSet(0, 1)) Thread.onSpinWait();
        boolean linkedNow = false;
        try {
            if (!eventPage.testAndSetBit(word, FifoLayout.PENDING) && !eventPage.testBit(word, FifoLayout.MASKED) && !eventPage.testAndSetBit(word, FifoLayout.LINKED)) {
                controlBlock.putIntRelease(FifoLayout.headOffset(PRIORITY), fifoPort); // an empty queue: the head
                linkedNow = true;
            }
        } finally {
            queueLock.setRelease(0);
        }
        if (!linkedNow || controlBlock.testAndSetBit(FifoLayout.CONTROL_READY, PRIORITY)) return false;
        return !fifoVcpuInfo.testAndSetBit(SharedInfoLayout.UPCALL_PENDING, 0);
    }

    @Benchmark
    public long fastPathFifo() {
        fifo.consumeFifo(fifoPort, PRIORITY);
        return fifoSender.trySend(fifoPort);
    }
}
